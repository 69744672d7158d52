"""Facts survive the JSON round trip used by the facts columns and regrade."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from typing import Any

from scanner.core import factjson
from scanner.core.model import (
    DnsLookup,
    DomainFacts,
    Ede,
    HostDns,
    ProbeStatus,
    Rrsig,
    SmtpProbe,
    TlsHandshake,
)


def _lookup(name: str, rrtype: str, *records: str) -> DnsLookup:
    return DnsLookup(
        name,
        rrtype,
        "NOERROR",
        ad=True,
        records=records,
        cname_chain=("alias.example",),
        ttl=300,
        ede=(Ede(6, "DNSSEC Bogus"),),
        rrsigs=(Rrsig(rrtype, 13, "example", 1_900_000_000, 1_800_000_000),),
    )


def test_domain_facts_round_trip() -> None:
    host = HostDns(
        "mx.example",
        _lookup("mx.example", "A", "127.0.0.1"),
        DnsLookup("mx.example", "AAAA", "SERVFAIL", cd_rcode="NOERROR"),
        (_lookup("_25._tcp.mx.example", "TLSA", "3 1 1 " + "ab" * 32),),
    )
    probe = SmtpProbe(
        "mx.example",
        "127.0.0.1",
        "mx.example",
        ProbeStatus.OK,
        banner="220 hi",
        ehlo=("250-x", "250 STARTTLS"),
        starttls_offered=True,
        handshakes=(TlsHandshake("default", True, "TLSv1.3", "X", (b"\x30\x82\x00", b"\x00\xff")),),
        elapsed=0.25,
    )
    facts = DomainFacts(
        "example",
        _lookup("example", "MX", "10 mx.example."),
        hosts={"mx.example": host},
        probes={"mx.example": (probe,)},
    )
    text = factjson.dumps(facts)
    assert factjson.loads(DomainFacts, text) == facts
    assert factjson.to_plain(facts) == _reference_plain(facts)
    plain = json.loads(text)
    assert plain["probes"]["mx.example"][0]["status"] == "ok"  # enum by value
    assert plain["probes"]["mx.example"][0]["handshakes"][0]["chain"] == ["MIIA", "AP8="]


def _reference_plain(value: Any) -> Any:
    """The obvious generic conversion, against which the cached fast path is checked."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _reference_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [_reference_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _reference_plain(v) for k, v in value.items()}
    return value


def test_missing_fields_take_defaults() -> None:
    got = factjson.loads(DnsLookup, '{"name": "a", "rrtype": "MX", "rcode": "NXDOMAIN"}')
    assert got == DnsLookup("a", "MX", "NXDOMAIN")
