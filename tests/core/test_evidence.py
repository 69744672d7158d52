"""Evidence, proven TLSA suggestions and look-ahead (scanner.core.evidence).

A suggestion is checked here the way a sender would check it: the record is evaluated
against the chain with the matching code (``certs``) *and* recomputed independently
from the certificate with ``cryptography``'s own SPKI encoding (RFC 6698 §2.1.2:
selector 1 is the DER SubjectPublicKeyInfo; RFC 7671 §5.1: ``3 1 1`` is its SHA-256).
"""

from __future__ import annotations

import hashlib

from msgspec.structs import replace

from scanner.core.certs import authenticates, evaluate_chain
from scanner.core.evidence import (
    DAY,
    certificate_info,
    host_evidence,
    lookahead,
    suggest_records,
)
from scanner.core.hosts import HostAssessment, assess_host
from scanner.core.model import (
    DnsLookup,
    DomainFacts,
    Ede,
    MtaSts,
    MxHost,
    ProbeStatus,
    Rrsig,
    SmtpProbe,
)
from scanner.core.tlsa import parse_tlsa
from tests.core.dane_fixtures import (
    NOW_TS,
    chain,
    domain,
    handshake,
    host_dns,
    leaf,
    lk,
    pki,
    probe,
    tlsa_for,
)
from tests.core.test_rules import PKIX, WRONG, ee, ta

D = "example.com"
MX = "mx1.example.com"


def assessed(
    tlsa: list[str] | None,
    probes: tuple[SmtpProbe, ...],
    *,
    host: str = MX,
    dns: object = None,
) -> HostAssessment:
    h = dns if dns is not None else host_dns(host, tlsa=tlsa)
    return assess_host(MxHost(10, host), h, probes, D, NOW_TS)  # type: ignore[arg-type]


def good(host: str = MX, **kw: object) -> tuple[bytes, ...]:
    return chain(leaf((host,), cn=host, **kw))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- certificates


def test_certificate_info() -> None:
    lf = leaf((MX, "mx.example.net"), cn=MX)
    info = certificate_info(lf.der)
    assert info["subject"] == f"CN={MX}"
    assert info["sans"] == [MX, "mx.example.net"]
    assert info["issuer"] == "CN=Inter ec"
    assert info["key_type"] == "ecdsa"
    assert info["spki_sha256"] == hashlib.sha256(lf.spki).hexdigest()
    assert info["sha256"] == hashlib.sha256(lf.der).hexdigest()
    assert info["not_after"].endswith("Z") and info["not_before"] < info["not_after"]
    junk = certificate_info(b"\x30\x03\x02\x01\x00")
    assert junk["spki_sha256"] is None and "unparsable" in junk["error"]


# --------------------------------------------------------------------------- host evidence


def test_host_evidence_shows_records_matches_and_chains() -> None:
    rec = ee(MX)
    probes = (probe(MX, good(MX)), probe(MX, good(MX), address="2001:db8::1"))
    a = assessed([rec, WRONG, PKIX], probes)
    ev = host_evidence(a, probes, D, NOW_TS)
    assert ev["outcome"] == "authenticated"
    assert ev["tlsa"]["owner"] == f"_25._tcp.{MX}" and ev["tlsa"]["status"] == "secure"
    by_record = {r["record"]: r for r in ev["tlsa"]["records"]}
    assert by_record[rec]["usable"] and by_record[rec]["matched"] == [
        {"address": "192.0.2.1", "depth": 0, "chain_ok": True},
        {"address": "2001:db8::1", "depth": 0, "chain_ok": True},
    ]
    assert by_record[WRONG]["matched"] == []
    assert by_record[PKIX] == {
        "record": PKIX,
        "usable": False,
        "unusable_reason": "pkix_usage",
        "matched": [],
    }
    first = ev["probes"][0]
    assert first["stage"] == "tls" and first["tls_version"] == "TLSv1.3"
    assert first["outcome"] == "authenticated"
    assert [c["subject"] for c in first["handshakes"][0]["chain"]] == [
        f"CN={MX}",
        "CN=Inter ec",
        "CN=Root ec",
    ]
    assert ev["addresses_dns"] == ["192.0.2.1", "2001:db8::1"]
    assert ev["suggested_tlsa"] == []


def test_host_evidence_stages_ede_and_unresolved_hosts() -> None:
    stages = {
        ProbeStatus.CONNECT_REFUSED: "connect",
        ProbeStatus.BANNER_TIMEOUT: "banner",
        ProbeStatus.EHLO_FAILED: "ehlo",
        ProbeStatus.PROTOCOL_ERROR: "ehlo",
        ProbeStatus.STARTTLS_MISSING: "starttls",
        ProbeStatus.SKIPPED: "not contacted",
        ProbeStatus.TLS_FAILED: "tls",
    }
    probes = tuple(
        probe(MX, status=status, address=f"192.0.2.{i}") for i, status in enumerate(stages)
    )
    dns = host_dns(MX, tlsa=[ee(MX)])
    tlsa = replace(dns.tlsa_lookups[0], ede=(Ede(6, "signature crypto failed"),))
    dns = replace(dns, tlsa_lookups=(tlsa,))
    a = assessed(None, probes, dns=dns)
    ev = host_evidence(a, probes, D, NOW_TS)
    assert [p["stage"] for p in ev["probes"]] == list(stages.values())
    assert ev["probes"][-1]["tls_version"] == ""
    assert ev["ede"] == [
        {"lookup": f"_25._tcp.{MX} TLSA", "code": 6, "text": "signature crypto failed"}
    ]
    unresolved = assess_host(MxHost(10, MX), None, None, D, NOW_TS)
    ev = host_evidence(unresolved, (), D, NOW_TS)
    assert ev["tlsa"]["owner"] is None and ev["addresses_dns"] == [] and ev["cname_chain"] == []


# --------------------------------------------------------------------------- proven fixes


def _proven(suggestion: dict[str, object], ch: tuple[bytes, ...], names: tuple[str, ...]) -> bool:
    rec = parse_tlsa(str(suggestion["record"]))
    return authenticates(evaluate_chain((rec,), ch, NOW_TS), names)


def test_a_dane_ee_mismatch_gets_the_leaf_key() -> None:
    ch = good(MX)
    probes = (probe(MX, ch),)
    a = assessed([WRONG], probes)
    (s,) = suggest_records(a, probes, D, NOW_TS)
    lf = leaf((MX,), cn=MX)
    assert s["record"] == f"3 1 1 {hashlib.sha256(lf.spki).hexdigest()}"
    assert s["owner"] == f"_25._tcp.{MX}" and s["for"] == ["192.0.2.1 default"]
    assert "beside the current records" in str(s["advice"])
    assert _proven(s, ch, (MX,))


def test_a_dane_ta_setup_gets_the_issuer_key() -> None:
    other_root = tlsa_for(pki("rsa")[0], 2, 1, 1).presentation()
    ch = good(MX)
    probes = (probe(MX, ch),)
    (s,) = suggest_records(assessed([other_root], probes), probes, D, NOW_TS)
    _root, inter = pki()
    assert s["record"] == tlsa_for(inter, 2, 1, 1).presentation()
    assert _proven(s, ch, (MX,))


def test_a_dane_ta_name_failure_gets_a_dane_ee_record() -> None:
    ch = chain(leaf(("other.example.net",), cn="other.example.net"))
    probes = (probe(MX, ch),)
    a = assessed([ta()], probes)
    (s,) = suggest_records(a, probes, D, NOW_TS)
    assert s["record"].startswith("3 1 1 ")
    assert _proven(s, ch, (MX,))


def test_every_failing_key_type_gets_its_record_once() -> None:
    ec_chain, rsa_chain = good(MX), chain(leaf((MX,), cn=MX, kind="rsa"), kind="rsa")
    alt = handshake(rsa_chain, "rsa")
    probes = (
        probe(MX, ec_chain, alternates=[alt]),
        probe(MX, ec_chain, address="2001:db8::1", alternates=[alt]),
    )
    a = assessed([ee(MX)], probes)  # matches the ECDSA key only
    (s,) = suggest_records(a, probes, D, NOW_TS)
    assert s["for"] == ["192.0.2.1 rsa", "2001:db8::1 rsa"]
    assert _proven(s, rsa_chain, (MX,))


def test_no_suggestion_without_published_tlsa_or_a_chain() -> None:
    ch = good(MX)
    assert suggest_records(assessed(None, (probe(MX, ch),)), (probe(MX, ch),), D, NOW_TS) == []
    failed = (probe(MX, status=ProbeStatus.TLS_FAILED), probe(MX, ch, alternates=[]))
    failed = (failed[0], replace(failed[1], handshakes=(handshake(ch, ok=False),)))
    assert suggest_records(assessed([WRONG], failed), failed, D, NOW_TS) == []
    # Only unusable records: the suggestion is made (nothing authenticates today).
    ok = (probe(MX, ch),)
    (s,) = suggest_records(assessed([PKIX], ok), ok, D, NOW_TS)
    assert _proven(s, ch, (MX,))
    # A leaf whose SPKI cannot be found gives no candidate.
    junk = (probe(MX, (b"\x30\x03\x02\x01\x00",)),)
    assert suggest_records(assessed([WRONG], junk), junk, D, NOW_TS) == []
    # A DANE-TA setup whose issuer is unparsable falls back to the leaf key.
    odd = (probe(MX, (ch[0], b"\x30\x03\x02\x01\x00")),)
    (s,) = suggest_records(assessed([ta()], odd), odd, D, NOW_TS)
    assert s["record"].startswith("3 1 1 ")


def test_a_candidate_that_would_not_authenticate_is_not_offered() -> None:
    """An expired leaf under DANE-TA: 2 1 1 of the issuer still fails (dates count for
    DANE-TA), so the DANE-EE record, which ignores dates, is offered."""
    ch = good(MX, na_days=-1, nb_days=-30)
    probes = (probe(MX, ch),)
    (s,) = suggest_records(assessed([ta()], probes), probes, D, NOW_TS)
    assert s["record"].startswith("3 1 1 ")


# --------------------------------------------------------------------------- look-ahead


def _facts(probes: tuple[SmtpProbe, ...], tlsa: list[str], **kw: object) -> DomainFacts:
    return domain(D, [f"10 {MX}."], [host_dns(MX, tlsa=tlsa)], {MX: probes}, **kw)


def _hosts(facts: DomainFacts) -> list[HostAssessment]:
    return [assess_host(MxHost(10, MX), facts.hosts[MX], facts.probes[MX], D, NOW_TS)]


def test_lookahead_certificates_signatures_and_single_records() -> None:
    soon = good(MX, na_days=10)
    probes = (probe(MX, soon), probe(MX, (b"junk",), address="192.0.2.9"))
    sig = Rrsig("MX", 13, D, int(NOW_TS + 5 * DAY), int(NOW_TS - DAY))
    late = Rrsig("MX", 13, D, int(NOW_TS + 90 * DAY), int(NOW_TS - DAY))
    facts = _facts(probes, [ee(MX)])
    facts = replace(facts, mx=replace(facts.mx, rrsigs=(sig, late)))
    sts_txt = replace(lk(f"_mta-sts.{D}", "TXT", ['"v=STSv1; id=1"']), rrsigs=(sig,))
    facts = replace(facts, mta_sts=MtaSts(sts_txt=sts_txt))
    warnings = lookahead(facts, _hosts(facts), NOW_TS, 30)
    kinds = [(w["kind"], w["host"]) for w in warnings]
    assert kinds == [
        ("rrsig_expires", None),
        ("rrsig_expires", None),
        ("certificate_expires", MX),
        ("tlsa_single_record", MX),
    ]
    assert warnings[2]["detail"] == f"leaf CN={MX}"
    assert warnings[0]["date"] <= warnings[2]["date"]
    assert "next key change" in warnings[3]["detail"] and warnings[3]["date"] is None
    # A shorter window drops what expires later; the single-record warning stays.
    assert [w["kind"] for w in lookahead(facts, _hosts(facts), NOW_TS, 1)] == ["tlsa_single_record"]


def test_lookahead_reports_expired_certificates_and_skips_hosts_without_dns() -> None:
    old = good(MX, na_days=-1, nb_days=-30)
    facts = _facts((probe(MX, old),), [ee(MX), tlsa_for(leaf(), 3, 1, 1).presentation()])
    warnings = lookahead(facts, _hosts(facts), NOW_TS, 30)
    assert [w["kind"] for w in warnings] == ["certificate_expired"]
    unresolved = assess_host(MxHost(10, MX), None, None, D, NOW_TS)
    no_dns = replace(facts, probes={})
    assert lookahead(no_dns, [unresolved], NOW_TS, 30) == []


def test_lookahead_depths_name_the_chain_position() -> None:
    _root, inter = pki()
    facts = _facts((probe(MX, good(MX)),), [])
    warnings = lookahead(facts, _hosts(facts), NOW_TS, 4000)
    details = [w["detail"] for w in warnings if w["kind"] == "certificate_expires"]
    assert f"chain depth 1 {inter.cert.subject.rfc4514_string()}" in details
    assert isinstance(facts.mx, DnsLookup)
