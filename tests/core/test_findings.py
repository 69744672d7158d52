"""The findings catalogue, its documentation, and one case per finding."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from msgspec.structs import replace

from scanner.core.findings import (
    CATALOGUE,
    DIAGNOSIS_CODES,
    SEVERITIES,
    WEAK_ALGORITHMS,
    render_markdown,
)
from scanner.core.model import DomainFacts, MtaSts, ProbeStatus, Rrsig, TlsaRecord, ZoneKeys
from scanner.core.rules import judge_domain
from tests.core.dane_fixtures import (
    DAY,
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

D = "example.com"
MX1 = "mx1.example.com"
MX2 = "mx2.example.com"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "findings.md"


def ee(host: str = MX1, selector: int = 1) -> str:
    return tlsa_for(leaf((host,), cn=host), 3, selector, 1).presentation()


def ta() -> str:
    root, _ = pki()
    return tlsa_for(root, 2, 1, 1).presentation()


def good(host: str = MX1, **kw: object) -> DomainFacts:
    """A DANE-valid single-MX domain with two records (no findings of its own)."""
    h = host_dns(host, tlsa=[ee(host), ta()])
    return domain(
        D, [f"10 {host}."], [h], {host: (probe(host, chain(leaf((host,), cn=host))),)}, **kw
    )


def sig(expires_in_days: float, algorithm: int = 13, covered: str = "MX") -> Rrsig:
    return Rrsig(covered, algorithm, D, int(NOW_TS + expires_in_days * DAY), int(NOW_TS - DAY))


def zone_keys(dnskey: list[str], ds: list[str]) -> ZoneKeys:
    return ZoneKeys(D, lk(D, "DNSKEY", dnskey), lk(D, "DS", ds))


def with_mx_sigs(*sigs: Rrsig) -> DomainFacts:
    f = good()
    return replace(f, mx=replace(f.mx, rrsigs=sigs))


def sts(**kw: object) -> MtaSts:
    txt = lk(f"_mta-sts.{D}", "TXT", ['"v=STSv1; id=1"'])
    rpt = lk(f"_smtp._tls.{D}", "TXT", ['"v=TLSRPTv1; rua=mailto:r@example.com"'])
    base: dict[str, object] = dict(
        sts_txt=txt, policy_fetched=True, mode="enforce", mx_patterns=(MX1,), tlsrpt_txt=rpt
    )
    base.update(kw)
    return MtaSts(**base)  # type: ignore[arg-type]


def codes(facts: DomainFacts) -> set[str]:
    return {f.code for f in judge_domain(facts, NOW_TS).findings}


FIRES: list[tuple[str, Callable[[], DomainFacts]]] = [
    ("null_mx_mixed", lambda: replace(good(), mx=lk(D, "MX", ["0 .", f"10 {MX1}."]))),
    ("mx_invalid_target", lambda: replace(good(), mx=lk(D, "MX", [f"10 {MX1}.", "5 192.0.2.1."]))),
    ("mx_invalid_target", lambda: replace(good(), mx=lk(D, "MX", [f"10 {MX1}.", "x y z"]))),
    (
        "mx_limit_exceeded",
        lambda: replace(good(), mx=lk(D, "MX", [f"{i} h{i}.example.com." for i in range(33)])),
    ),
    (
        "mx_is_cname",
        lambda: domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=[], cname="smtp.provider.net")]),
    ),
    (
        "tlsa_single_record",
        lambda: domain(
            D,
            [f"10 {MX1}."],
            [host_dns(MX1, tlsa=[ee()])],
            {MX1: (probe(MX1, chain(leaf((MX1,), cn=MX1))),)},
        ),
    ),
    (
        "tlsa_selector0",
        lambda: domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=[ee(selector=0), ta()])]),
    ),
    (
        "tlsa_pkix_usage",
        lambda: domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=["1 1 1 " + "00" * 32])]),
    ),
    (
        "tlsa_unusable_params",
        lambda: domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=["3 1 1 00", ta()])]),
    ),
    (
        "tlsa_unusable_params",
        lambda: domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=["3 1 1 0", ta()])]),
    ),
    (
        "tlsa_ignored_insecure_mx",
        lambda: replace(good(), mx=lk(D, "MX", [f"10 {MX1}."], status="insecure")),
    ),
    (
        "tlsa_on_insecure_mx_postfix",
        lambda: domain(
            D,
            [f"10 {MX1}."],
            [host_dns(MX1, tlsa=[ee()])],
            {MX1: (probe(MX1, status=ProbeStatus.STARTTLS_MISSING),)},
            mx_status="insecure",
        ),
    ),
    (
        "tlsa_ignored_insecure_host",
        lambda: domain(
            D, [f"10 {MX1}."], [host_dns(MX1, addr="insecure", tlsa=[ee()], tlsa_status="insecure")]
        ),
    ),
    ("rrsig_expiring", lambda: with_mx_sigs(sig(3))),
    ("rrsig_expiring", lambda: with_mx_sigs(sig(0))),
    ("weak_dnssec_algorithm", lambda: with_mx_sigs(sig(30, algorithm=5))),
    ("weak_dnssec_algorithm", lambda: good(zone_keys=zone_keys(["257 3 7 AwEAAQ=="], []))),
    ("weak_dnssec_algorithm", lambda: good(zone_keys=zone_keys(["257 3 1 AwEAAQ=="], []))),
    ("ds_sha1_only", lambda: good(zone_keys=zone_keys([], ["12345 13 1 " + "ab" * 20]))),
    (
        "dane_ee_cert_expired",
        lambda: domain(
            D,
            [f"10 {MX1}."],
            [host_dns(MX1, tlsa=[ee(), ta()])],
            {MX1: (probe(MX1, chain(leaf((MX1,), cn=MX1, na_days=-1, nb_days=-30))),)},
        ),
    ),
    (
        "dane_ee_cert_misnamed",
        lambda: domain(
            D,
            [f"10 {MX1}."],
            [host_dns(MX1, tlsa=[ee(), ta()])],
            {MX1: (probe(MX1, chain(leaf(("other.example.net",), cn="other"))),)},
        ),
    ),
    (
        "host_bogus_others_fine",
        lambda: domain(
            D,
            [f"10 {MX1}.", f"20 {MX2}."],
            [host_dns(MX1, tlsa=[]), host_dns(MX2, tlsa=[], tlsa_status="bogus")],
        ),
    ),
    (
        "tlsa_matches_one_key_type",
        lambda: domain(
            D,
            [f"10 {MX1}."],
            [host_dns(MX1, tlsa=[ee(), ta().replace("2 1 1 ", "2 1 1 00")[:-2]])],
            {
                MX1: (
                    probe(
                        MX1,
                        chain(leaf((MX1,), cn=MX1)),
                        alternates=[
                            handshake(chain(leaf((MX1,), cn=MX1, kind="rsa"), "rsa"), "rsa")
                        ],
                    ),
                )
            },
        ),
    ),
    (
        "address_auth_differs",
        lambda: domain(
            D,
            [f"10 {MX1}."],
            [host_dns(MX1, tlsa=[ee(), ta()])],
            {
                MX1: (
                    probe(MX1, chain(leaf((MX1,), cn=MX1))),
                    probe(MX1, address="2001:db8::1", status=ProbeStatus.CONNECT_TIMEOUT),
                )
            },
        ),
    ),
    ("mta_sts_testing", lambda: good(mta_sts=sts(mode="testing"))),
    ("mta_sts_policy_error", lambda: good(mta_sts=sts(policy_fetched=False, policy_error="404"))),
    ("mta_sts_mx_mismatch", lambda: good(mta_sts=sts(mx_patterns=("*.other.net",)))),
    ("tlsrpt_missing", lambda: good(mta_sts=sts(tlsrpt_txt=None))),
    ("tlsrpt_missing", lambda: good(mta_sts=sts(tlsrpt_txt=lk(D, "TXT", ['"v=spf1 -all"'])))),
]

QUIET: list[tuple[str, Callable[[], DomainFacts]]] = [
    ("clean", good),
    ("clean_sts", lambda: good(mta_sts=sts(mx_patterns=("*.example.com",)))),
    ("sts_none_mode", lambda: good(mta_sts=sts(mode="none", mx_patterns=()))),
    ("no_sts_txt", lambda: good(mta_sts=MtaSts(tlsrpt_txt=sts().tlsrpt_txt))),
    ("bogus_mx", lambda: replace(good(), mx=lk(D, "MX", [], status="bogus"))),
    ("sig_far", lambda: with_mx_sigs(sig(30))),
    ("sig_expired", lambda: with_mx_sigs(sig(-1))),
    (
        "good_keys",
        lambda: good(
            zone_keys=zone_keys(["257 3 13 AwEAAQ==", "x"], ["1 13 1 ab", "1 13 2 cd", "bad"])
        ),
    ),
    (
        "bogus_tlsa_no_tlsa_findings",
        lambda: domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=["1 1 1 00"], tlsa_status="bogus")]),
    ),
    (
        "postfix_ok_when_authenticating",
        lambda: replace(good(), mx=lk(D, "MX", [f"10 {MX1}."], status="insecure")),
    ),
]


@pytest.mark.parametrize(
    ("code", "build"), FIRES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(FIRES)]
)
def test_finding_fires(code: str, build: Callable[[], DomainFacts]) -> None:
    assert code in codes(build())


@pytest.mark.parametrize(("name", "build"), QUIET, ids=[n for n, _ in QUIET])
def test_no_spurious_findings(name: str, build: Callable[[], DomainFacts]) -> None:
    found = codes(build())
    if name == "postfix_ok_when_authenticating":
        assert found == {"tlsa_ignored_insecure_mx"}
    else:
        assert found == set(), found


def test_every_catalogue_code_is_exercised() -> None:
    # The DNSSEC diagnoses are never domain findings: tests/core/test_chain.py raises each.
    assert {c for c, _ in FIRES} == set(CATALOGUE) - DIAGNOSIS_CODES


def test_catalogue_entries() -> None:
    for code, spec in CATALOGUE.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]+", code) and spec.code == code
        assert spec.severity in SEVERITIES
        assert re.fullmatch(r"RFC \d{4} §[\d.]+", spec.rfc), spec.rfc
        assert spec.text.endswith(".") and spec.fix.endswith(".")
    assert set(WEAK_ALGORITHMS) == {1, 3, 5, 6, 7, 12}


def test_docs_match_catalogue() -> None:
    assert DOCS.read_text() == render_markdown(), "regenerate docs/findings.md"


def test_findings_sorted_and_unique() -> None:
    facts = with_mx_sigs(sig(3), sig(3), sig(2, covered="MX"))
    found = judge_domain(facts, NOW_TS).findings
    assert list(found) == sorted(set(found), key=lambda f: (f.code, f.host or "", f.detail))


def test_rrsig_on_host_lookups_names_the_host() -> None:
    f = good()
    h = f.hosts[MX1]
    h = replace(h, a=replace(h.a, rrsigs=(sig(1, covered="A"),)))
    found = judge_domain(replace(f, hosts={MX1: h}), NOW_TS).findings
    assert any(x.code == "rrsig_expiring" and x.host == MX1 for x in found)


def test_unusable_record_type() -> None:
    assert TlsaRecord(3, 1, 1, b"").presentation() == "3 1 1 "
