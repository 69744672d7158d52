"""Facts survive the JSON round trip used by the facts columns and regrade."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import typing
from typing import Any, Literal, NamedTuple

import pytest

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


@dataclasses.dataclass(frozen=True, slots=True)
class _Sample:
    """A fact shape the model may grow into: a fixed-length tuple, a float, free fields."""

    pair: tuple[int, str]
    ratio: float
    extra: Any = None
    mode: Literal["enforce", "testing", "none", ""] = ""


def test_fixed_length_tuple_round_trip() -> None:
    sample = _Sample((25, "smtp"), 0.5)
    text = factjson.dumps(sample)
    assert json.loads(text) == {"pair": [25, "smtp"], "ratio": 0.5, "extra": None, "mode": ""}
    back = factjson.loads(_Sample, text)
    assert back == sample and type(back.pair) is tuple


def test_fixed_length_tuple_of_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        factjson.loads(_Sample, '{"pair": [25, "smtp", "extra"], "ratio": 0.5}')


def test_integral_float_from_json_is_a_float() -> None:
    # JSON has one number type; another writer may store 2.0 as 2.
    back = factjson.loads(_Sample, '{"pair": [1, "a"], "ratio": 2}')
    assert back.ratio == 2.0 and type(back.ratio) is float


def test_untyped_field_keeps_plain_json() -> None:
    # Hints that name no dataclass, enum, bytes or float (Any, a Literal) leave data as is.
    text = '{"pair": [1, "a"], "ratio": 1.5, "extra": {"k": [1, 2]}, "mode": "testing"}'
    back = factjson.loads(_Sample, text)
    assert back.extra == {"k": [1, 2]}
    assert back.mode == "testing"
    assert factjson.from_plain(typing.Any, [1, "x"]) == [1, "x"]
    assert factjson.from_plain(Literal["a", "b"], "b") == "b"


class _Point(NamedTuple):
    x: int
    y: bytes


class _Label(str):
    pass


def test_to_plain_of_tuple_subclass_and_other_values() -> None:
    # A tuple subclass is a JSON list, its items converted like any other.
    assert factjson.to_plain(_Point(1, b"\xff")) == [1, "/w=="]
    # A value of no known kind (a str subclass here) is left for json to handle.
    label = _Label("mx.example")
    assert factjson.to_plain(label) is label
    assert factjson.dumps({"host": label}) == '{"host":"mx.example"}'
