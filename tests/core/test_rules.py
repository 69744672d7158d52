"""Host outcomes, domain verdicts, mail outcome, error codes (DESIGN §4), table-driven."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from scanner.core.model import (
    DnsLookup,
    DomainFacts,
    HostDns,
    HostOutcome,
    MailOutcome,
    ProbeStatus,
    SmtpProbe,
    TlsaRecord,
    Verdict,
)
from scanner.core.mxset import MAX_MX_HOSTS, hosts_to_resolve, parse_mx
from scanner.core.rules import RULES_VERSION, judge_domain, mail_outcome
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


def ee(host: str) -> str:
    return tlsa_for(leaf((host,), cn=host), 3, 1, 1).presentation()


def ta() -> str:
    root, _ = pki()
    return tlsa_for(root, 2, 1, 1).presentation()


def good_chain(host: str) -> tuple[bytes, ...]:
    return chain(leaf((host,), cn=host))


WRONG = TlsaRecord(3, 1, 1, bytes(32)).presentation()
PKIX = TlsaRecord(1, 1, 1, bytes(32)).presentation()


def p(host: str, status: ProbeStatus = ProbeStatus.OK, **kw: object) -> tuple[SmtpProbe, ...]:
    return (probe(host, good_chain(host) if status is ProbeStatus.OK else (), status=status, **kw),)  # type: ignore[arg-type]


@dataclass
class Case:
    name: str
    facts: Callable[[], DomainFacts]
    verdict: Verdict
    mail: MailOutcome
    code: str = ""
    outcomes: tuple[HostOutcome, ...] | None = None
    findings: tuple[str, ...] = ()
    fix: str | None = None  # substring expected in the fix ("" = empty fix)
    now: float = NOW_TS
    extra: dict[str, object] = field(default_factory=dict)


def one(
    tlsa: list[str] | None,
    probes: tuple[SmtpProbe, ...] | None = None,
    *,
    mx_status: str = "secure",
    tlsa_status: str = "secure",
    addr: str = "secure",
    probing: bool = True,
    host: str = MX1,
) -> Callable[[], DomainFacts]:
    def build() -> DomainFacts:
        h = host_dns(host, tlsa=tlsa, tlsa_status=tlsa_status, addr=addr)
        pr = {host: probes} if probes is not None else {}
        return domain(D, [f"10 {host}."], [h], pr, mx_status=mx_status, probing=probing)

    return build


def two(
    h1: HostDns,
    p1: tuple[SmtpProbe, ...] | None,
    h2: HostDns,
    p2: tuple[SmtpProbe, ...] | None,
    prefs: tuple[int, int] = (10, 20),
    mx_status: str = "secure",
) -> Callable[[], DomainFacts]:
    def build() -> DomainFacts:
        pr = {h.host: x for h, x in ((h1, p1), (h2, p2)) if x is not None}
        mx = [f"{prefs[0]} {h1.host}.", f"{prefs[1]} {h2.host}."]
        return domain(D, mx, [h1, h2], pr, mx_status=mx_status)

    return build


def _dead(host: str) -> HostDns:
    """A host whose address records are securely absent (NODATA for A and AAAA)."""
    return replace(host_dns(host), a=lk(host, "A", []), aaaa=lk(host, "AAAA", []))


def expired_leaf_chain(host: str) -> tuple[bytes, ...]:
    return chain(leaf((host,), cn=host, na_days=-1, nb_days=-40))


def misnamed_chain() -> tuple[bytes, ...]:
    return chain(leaf(("wrong.example.net",), cn="wrong.example.net"))


A = HostOutcome
V = Verdict
M = MailOutcome

CASES = [
    Case(
        "valid_ee",
        one([ee(MX1), ta()], p(MX1)),
        V.DANE_VALID,
        M.DELIVER_AUTHENTICATED,
        outcomes=(A.AUTHENTICATED,),
        fix="",
    ),
    Case(
        "valid_ta",
        one([ta()], p(MX1)),
        V.DANE_VALID,
        M.DELIVER_AUTHENTICATED,
        findings=("tlsa_single_record",),
    ),
    Case(
        "valid_two",
        two(
            host_dns(MX1, tlsa=[ee(MX1), ta()]), p(MX1), host_dns(MX2, tlsa=[ee(MX2), ta()]), p(MX2)
        ),
        V.DANE_VALID,
        M.DELIVER_AUTHENTICATED,
        outcomes=(A.AUTHENTICATED, A.AUTHENTICATED),
    ),
    Case(
        "degraded_backup_fails",
        two(host_dns(MX1, tlsa=[ee(MX1), ta()]), p(MX1), host_dns(MX2, tlsa=[WRONG]), p(MX2)),
        V.DANE_DEGRADED,
        M.DELIVER_AUTHENTICATED,
        outcomes=(A.AUTHENTICATED, A.TLSA_MISMATCH),
        fix="_25._tcp.mx2.example.com",
    ),
    Case(
        "degraded_primary_fails",
        two(host_dns(MX1, tlsa=[WRONG]), p(MX1), host_dns(MX2, tlsa=[ee(MX2), ta()]), p(MX2)),
        V.DANE_DEGRADED,
        M.DELIVER_AUTHENTICATED,
        fix="mx1",
    ),
    Case(
        "degraded_tlsa_bogus",
        two(
            host_dns(MX1, tlsa=[ee(MX1), ta()]),
            p(MX1),
            host_dns(MX2, tlsa=[ee(MX2)], tlsa_status="bogus"),
            None,
        ),
        V.DANE_DEGRADED,
        M.DELIVER_AUTHENTICATED,
        outcomes=(A.AUTHENTICATED, A.TLSA_LOOKUP_FAILED),
        findings=("host_bogus_others_fine",),
        fix="Repair DNSSEC for the TLSA",
    ),
    Case(
        "degraded_dead_host",
        two(
            host_dns(MX1, tlsa=[ee(MX1), ta()]),
            p(MX1),
            replace(_dead(MX2), a=lk(MX2, "A", [], rcode="NXDOMAIN")),
            None,
        ),
        V.DANE_DEGRADED,
        M.DELIVER_AUTHENTICATED,
        outcomes=(A.AUTHENTICATED, A.UNREACHABLE),
        fix="give it an address",
    ),
    Case(
        "partial_primary_dane",
        two(host_dns(MX1, tlsa=[ee(MX1), ta()]), p(MX1), host_dns(MX2, tlsa=[]), None),
        V.DANE_PARTIAL,
        M.DELIVER_AUTHENTICATED,
        outcomes=(A.AUTHENTICATED, A.NOT_DANE),
        fix="Publish TLSA records for mx2",
    ),
    Case(
        "partial_primary_open",
        two(host_dns(MX1, tlsa=[]), None, host_dns(MX2, tlsa=[ee(MX2), ta()]), p(MX2)),
        V.DANE_PARTIAL,
        M.DELIVER_OPPORTUNISTIC,
    ),
    Case(
        "partial_insecure_provider",
        two(
            host_dns(MX1, tlsa=[ee(MX1), ta()]),
            p(MX1),
            host_dns(MX2, addr="insecure", tlsa=[ee(MX2)], tlsa_status="insecure"),
            None,
        ),
        V.DANE_PARTIAL,
        M.DELIVER_AUTHENTICATED,
        findings=("tlsa_ignored_insecure_host",),
    ),
    Case(
        "partial_equal_preference_weakest",
        two(
            host_dns(MX1, tlsa=[ee(MX1), ta()]),
            p(MX1),
            host_dns(MX2, tlsa=[]),
            None,
            prefs=(10, 10),
        ),
        V.DANE_PARTIAL,
        M.DELIVER_OPPORTUNISTIC,
    ),
    Case(
        "unusable_pkix",
        one([PKIX], p(MX1)),
        V.DANE_UNUSABLE,
        M.DELIVER_UNAUTHENTICATED_TLS,
        outcomes=(A.TLSA_UNUSABLE,),
        findings=("tlsa_pkix_usage",),
        fix="3 1 1",
    ),
    Case(
        "unusable_unprobed",
        one([PKIX], None, probing=False),
        V.DANE_UNUSABLE,
        M.UNKNOWN,
        outcomes=(A.TLSA_UNUSABLE,),
    ),
    Case(
        "unusable_no_starttls",
        one([PKIX], p(MX1, ProbeStatus.STARTTLS_MISSING)),
        V.DANE_UNUSABLE,
        M.DEFER_OR_BOUNCE,
        "5.7.321",
        outcomes=(A.STARTTLS_MISSING,),
    ),
    Case(
        "unusable_garbage_rdata",
        one(["3 1 1 zz"], p(MX1)),
        V.DANE_UNUSABLE,
        M.DELIVER_UNAUTHENTICATED_TLS,
        findings=("tlsa_unusable_params",),
    ),
    Case(
        "broken_mismatch",
        one([WRONG], p(MX1)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.323",
        outcomes=(A.TLSA_MISMATCH,),
        fix="Update the TLSA records at _25._tcp.mx1",
    ),
    Case(
        "broken_expired_ta",
        one([ta()], (probe(MX1, expired_leaf_chain(MX1)),)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.322",
        fix="Renew",
    ),
    Case(
        "broken_misnamed_ta",
        one([ta()], (probe(MX1, misnamed_chain()),)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.325",
        fix="certificate whose DNS names",
    ),
    Case(
        "broken_no_starttls",
        one([ee(MX1)], p(MX1, ProbeStatus.STARTTLS_MISSING)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.321",
        outcomes=(A.STARTTLS_MISSING,),
        fix="Offer STARTTLS",
    ),
    Case(
        "broken_starttls_rejected",
        one([ee(MX1)], p(MX1, ProbeStatus.STARTTLS_REJECTED)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.321",
    ),
    Case(
        "broken_tls_failed",
        one([ee(MX1)], p(MX1, ProbeStatus.TLS_FAILED)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.323",
        outcomes=(A.TLS_FAILED,),
        fix="Fix the TLS handshake",
    ),
    Case(
        "broken_handshake_not_ok",
        one([ee(MX1)], (replace(probe(MX1, ()), handshakes=(handshake((), ok=False),)),)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.323",
        outcomes=(A.TLS_FAILED,),
    ),
    Case(
        "broken_unreachable",
        one([ee(MX1)], p(MX1, ProbeStatus.CONNECT_REFUSED)),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "4.4.316",
        outcomes=(A.UNREACHABLE,),
        fix="reachable on port 25",
    ),
    Case(
        "broken_prefers_dane_code",
        two(
            host_dns(MX1, tlsa=[ee(MX1)]),
            p(MX1, ProbeStatus.CONNECT_TIMEOUT),
            host_dns(MX2, tlsa=[ee(MX2)]),
            p(MX2, ProbeStatus.STARTTLS_MISSING),
        ),
        V.DANE_BROKEN,
        M.DEFER_OR_BOUNCE,
        "5.7.321",
    ),
    Case(
        "no_dane",
        one([], None),
        V.DNSSEC_NO_DANE,
        M.DELIVER_OPPORTUNISTIC,
        outcomes=(A.NOT_DANE,),
        fix="",
    ),
    Case(
        "no_dane_no_lookup",
        one(None, None),
        V.DNSSEC_NO_DANE,
        M.DELIVER_OPPORTUNISTIC,
        outcomes=(A.NOT_DANE,),
    ),
    Case(
        "no_dane_insecure_tlsa",
        one([ee(MX1)], None, tlsa_status="insecure"),
        V.DNSSEC_NO_DANE,
        M.DELIVER_OPPORTUNISTIC,
        outcomes=(A.NOT_DANE,),
    ),
    Case(
        "no_dane_probed_unreachable",
        one([], p(MX1, ProbeStatus.BANNER_TIMEOUT)),
        V.DNSSEC_NO_DANE,
        M.DEFER_OR_BOUNCE,
        "4.4.316",
    ),
    Case(
        "no_dane_plaintext_ok",
        one([], p(MX1, ProbeStatus.STARTTLS_MISSING)),
        V.DNSSEC_NO_DANE,
        M.DELIVER_OPPORTUNISTIC,
    ),
    Case(
        "no_dane_one_bogus",
        two(host_dns(MX1, tlsa=[]), None, host_dns(MX2, addr="bogus"), None),
        V.DNSSEC_NO_DANE,
        M.DELIVER_OPPORTUNISTIC,
        findings=("host_bogus_others_fine",),
    ),
    Case(
        "no_dane_all_dead",
        lambda: domain(D, [f"10 {MX1}."], [_dead(MX1)]),
        V.DNSSEC_NO_DANE,
        M.DEFER_OR_BOUNCE,
        "4.4.316",
        outcomes=(A.UNREACHABLE,),
        fix="give it an address",
    ),
    Case(
        "bogus_and_dead",
        lambda: domain(D, [f"10 {MX1}.", f"20 {MX2}."], [_dead(MX1), host_dns(MX2, addr="bogus")]),
        V.DNSSEC_BOGUS,
        M.DEFER_OR_BOUNCE,
        "5.7.324",
    ),
    Case(
        "insecure",
        one([ee(MX1)], p(MX1), mx_status="insecure"),
        V.INSECURE,
        M.DELIVER_OPPORTUNISTIC,
        outcomes=(A.NOT_DANE,),
        findings=("tlsa_ignored_insecure_mx",),
    ),
    Case(
        "insecure_postfix_fails",
        one([WRONG], p(MX1), mx_status="insecure"),
        V.INSECURE,
        M.DELIVER_OPPORTUNISTIC,
        findings=("tlsa_ignored_insecure_mx", "tlsa_on_insecure_mx_postfix"),
    ),
    Case(
        "insecure_unreachable",
        one([], p(MX1, ProbeStatus.CONNECT_ERROR), mx_status="insecure"),
        V.INSECURE,
        M.DEFER_OR_BOUNCE,
        "4.4.316",
    ),
    Case(
        "insecure_address_bogus",
        one(None, None, addr="bogus", mx_status="insecure"),
        V.INSECURE,
        M.DEFER_OR_BOUNCE,
        "5.7.324",
    ),
    Case(
        "bogus_mx",
        one([], None, mx_status="bogus"),
        V.DNSSEC_BOGUS,
        M.DEFER_OR_BOUNCE,
        "4.4.312",
        fix="Repair DNSSEC for example.com",
    ),
    Case(
        "bogus_all_tlsa",
        one([ee(MX1)], None, tlsa_status="bogus"),
        V.DNSSEC_BOGUS,
        M.DEFER_OR_BOUNCE,
        "5.7.324",
        outcomes=(A.TLSA_LOOKUP_FAILED,),
    ),
    Case(
        "bogus_all_addresses",
        one(None, None, addr="bogus"),
        V.DNSSEC_BOGUS,
        M.DEFER_OR_BOUNCE,
        "5.7.324",
        outcomes=(A.UNREACHABLE,),
        fix="address records",
    ),
    Case(
        "error_mx",
        one([], None, mx_status="error"),
        V.DNS_ERROR,
        M.UNKNOWN,
        "4.4.312",
        fix="answer MX queries",
    ),
    Case(
        "error_all_tlsa",
        one([ee(MX1)], None, tlsa_status="error"),
        V.DNS_ERROR,
        M.DEFER_OR_BOUNCE,
        "4.4.312",
        outcomes=(A.TLSA_LOOKUP_FAILED,),
        fix="answer its address and TLSA",
    ),
    Case(
        "error_mixed",
        two(host_dns(MX1, addr="bogus"), None, host_dns(MX2, addr="error"), None),
        V.DNS_ERROR,
        M.DEFER_OR_BOUNCE,
        "5.7.324",
    ),
    Case(
        "unverified",
        one([ee(MX1)], None, probing=False),
        V.UNVERIFIED,
        M.UNKNOWN,
        outcomes=(A.UNPROBED,),
        fix="",
    ),
    Case(
        "unverified_skipped",
        one([ee(MX1)], p(MX1, ProbeStatus.SKIPPED)),
        V.UNVERIFIED,
        M.UNKNOWN,
        outcomes=(A.UNPROBED,),
    ),
    Case(
        "degraded_with_unprobed",
        two(
            host_dns(MX1, tlsa=[ee(MX1)]),
            p(MX1, ProbeStatus.SKIPPED),
            host_dns(MX2, tlsa=[ee(MX2), ta()]),
            p(MX2),
        ),
        V.DANE_DEGRADED,
        M.UNKNOWN,
    ),
    Case("no_mail_null_mx", lambda: domain(D, ["0 ."]), V.NO_MAIL, M.NO_MAIL, fix=""),
    Case("no_mail_dot_any_pref", lambda: domain(D, ["10 ."]), V.NO_MAIL, M.NO_MAIL),
    Case("no_mail_implicit_no_address", lambda: domain(D, None, [_dead(D)]), V.NO_MAIL, M.NO_MAIL),
    Case("nxdomain", lambda: domain(D, [], mx_rcode="NXDOMAIN"), V.NXDOMAIN, M.NO_MAIL, fix=""),
    Case(
        "nxdomain_insecure",
        lambda: domain(D, [], mx_rcode="NXDOMAIN", mx_status="insecure"),
        V.NXDOMAIN,
        M.NO_MAIL,
    ),
    Case(
        "implicit_mx_dane",
        lambda: domain(D, None, [host_dns(D, tlsa=[ee(D), ta()])], {D: p(D)}),
        V.DANE_VALID,
        M.DELIVER_AUTHENTICATED,
    ),
    Case(
        "implicit_mx_nodata",
        lambda: domain(D, [], [host_dns(D, tlsa=[])]),
        V.DNSSEC_NO_DANE,
        M.DELIVER_OPPORTUNISTIC,
    ),
    Case(
        "implicit_mx_bogus_address",
        lambda: domain(D, None, [host_dns(D, addr="bogus")]),
        V.DNSSEC_BOGUS,
        M.DEFER_OR_BOUNCE,
        "5.7.324",
    ),
    Case(
        "host_not_resolved",
        lambda: domain(D, [f"10 {MX1}."]),
        V.DNS_ERROR,
        M.DEFER_OR_BOUNCE,
        "4.4.312",
        outcomes=(A.UNREACHABLE,),
    ),
]


def _ids(c: Case) -> str:
    return c.name


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_case(case: Case) -> None:
    facts = case.facts()
    j = judge_domain(facts, case.now)
    assert j.verdict is case.verdict
    assert j.mail_outcome is case.mail
    assert j.error_code == case.code
    assert j.rules_version == RULES_VERSION
    assert j.domain == facts.domain
    if case.outcomes is not None:
        assert tuple(h.outcome for h in j.hosts) == case.outcomes
    codes = {f.code for f in j.findings}
    assert set(case.findings) <= codes, codes
    if case.fix is not None:
        if case.fix:
            assert case.fix in j.fix
        else:
            assert j.fix == ""


def test_every_verdict_outcome_and_mail_outcome_is_covered() -> None:
    assert {c.verdict for c in CASES} == set(Verdict)
    assert {c.mail for c in CASES} == set(MailOutcome)
    outcomes = {o for c in CASES if c.outcomes for o in c.outcomes}
    assert outcomes == set(HostOutcome)


# --------------------------------------------------------------------------- CNAMEs, bases

PROVIDER = "smtp.provider.net"


def _cname_host(tlsa_at: str) -> HostDns:
    """mx1.example.com CNAME smtp.provider.net, TLSA at the given owner only."""
    records = [ee(tlsa_at.removeprefix("_25._tcp."))]
    expanded = lk(
        f"_25._tcp.{PROVIDER}",
        "TLSA",
        records if PROVIDER in tlsa_at else [],
        rcode="NOERROR" if PROVIDER in tlsa_at else "NXDOMAIN",
    )
    original = lk(
        f"_25._tcp.{MX1}",
        "TLSA",
        records if MX1 in tlsa_at else [],
        rcode="NOERROR" if MX1 in tlsa_at else "NXDOMAIN",
    )
    h = host_dns(MX1, cname=PROVIDER)
    return replace(h, tlsa_lookups=(expanded, original))


@pytest.mark.parametrize("owner", [PROVIDER, MX1])
def test_tlsa_base_through_cname(owner: str) -> None:
    lf = leaf((owner,), cn=owner)
    facts = domain(D, [f"10 {MX1}."], [_cname_host(owner)], {MX1: (probe(MX1, chain(lf)),)})
    j = judge_domain(facts, NOW_TS)
    assert j.verdict is Verdict.DANE_VALID
    assert j.hosts[0].tlsa_base == owner
    assert "mx_is_cname" in {f.code for f in j.findings}


def test_ta_name_check_accepts_base_host_and_domain() -> None:
    for name in (MX1, D):
        lf = leaf((name,), cn=name)
        facts = domain(
            D, [f"10 {MX1}."], [host_dns(MX1, tlsa=[ta()])], {MX1: (probe(MX1, chain(lf)),)}
        )
        assert judge_domain(facts, NOW_TS).verdict is Verdict.DANE_VALID


# --------------------------------------------------------------------------- addresses


def test_host_authenticates_if_any_address_does() -> None:
    good = probe(MX1, good_chain(MX1), address="192.0.2.1")
    bad = probe(MX1, misnamed_chain(), address="2001:db8::1")
    facts = domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=[ta(), WRONG])], {MX1: (bad, good)})
    j = judge_domain(facts, NOW_TS)
    assert j.hosts[0].outcome is HostOutcome.AUTHENTICATED
    assert j.verdict is Verdict.DANE_VALID
    finding = next(f for f in j.findings if f.code == "address_auth_differs")
    assert "2001:db8::1=tlsa_mismatch" in finding.detail


def test_alternate_key_type_only_produces_a_finding() -> None:
    rsa_leaf = leaf((MX1,), cn=MX1, kind="rsa")
    ec_leaf = leaf((MX1,), cn=MX1)
    alt = handshake(chain(rsa_leaf, "rsa"), variant="rsa")
    pr = probe(MX1, chain(ec_leaf), alternates=[alt, handshake((), "broken", ok=False)])
    rec = tlsa_for(ec_leaf, 3, 1, 1).presentation()
    facts = domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=[rec])], {MX1: (pr,)})
    j = judge_domain(facts, NOW_TS)
    assert j.verdict is Verdict.DANE_VALID
    assert "tlsa_matches_one_key_type" in {f.code for f in j.findings}


def test_alternate_matching_when_primary_fails() -> None:
    rsa_leaf = leaf((MX1,), cn=MX1, kind="rsa")
    ec_leaf = leaf((MX1,), cn=MX1)
    alt = handshake(chain(rsa_leaf, "rsa"), variant="rsa")
    pr = probe(MX1, chain(ec_leaf), alternates=[alt])
    rec = tlsa_for(rsa_leaf, 3, 1, 1).presentation()
    facts = domain(D, [f"10 {MX1}."], [host_dns(MX1, tlsa=[rec])], {MX1: (pr,)})
    j = judge_domain(facts, NOW_TS)
    assert j.verdict is Verdict.DANE_BROKEN  # the default handshake decides
    assert "tlsa_matches_one_key_type" in {f.code for f in j.findings}


# --------------------------------------------------------------------------- MX parsing


def test_parse_mx() -> None:
    s = parse_mx(["20 b.example.", "10 A.Example.", "bad", "70000 c.example.", "30 a.example."])
    assert [(m.preference, m.host) for m in s.hosts] == [(10, "a.example"), (20, "b.example")]
    assert s.invalid == ("bad", "70000 c.example.") and not s.null_mx


def test_parse_mx_null_mixed_and_cap() -> None:
    s = parse_mx(["0 .", *[f"{i} h{i}.example." for i in range(40)]])
    assert s.null_mx and s.null_mx_mixed
    assert len(s.hosts) == MAX_MX_HOSTS and s.truncated == 8
    assert not parse_mx(["0 ."]).null_mx_mixed
    assert parse_mx(["0 .", "x"]).null_mx_mixed


def _walk_order(records: list[str]) -> list[tuple[int, str]]:
    """RFC 5321 §5.1 read plainly, as the oracle: lowest preference first, records of
    equal preference in the order given, a host listed again later dropped."""
    valid = []
    for text in records:
        parts = text.split()
        if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) <= 65535:
            host = parts[1].lower().rstrip(".")
            if host:
                valid.append((int(parts[0]), host))
    out: list[tuple[int, str]] = []
    for pref, host in sorted(valid, key=lambda v: v[0]):
        if host not in {h for _, h in out}:
            out.append((pref, host))
    return out[:MAX_MX_HOSTS]


_MX_RECORDS = st.lists(
    st.one_of(
        st.builds(
            "{} {}".format,
            st.sampled_from(["0", "5", "10", "10", "20", "65535", "65536", "x"]),
            st.sampled_from(["a.example.", "A.example.", "b.example.", "c.example", ".", ""]),
        ),
        st.just("garbage"),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_MX_RECORDS)
def test_mx_hosts_are_walked_by_preference_then_order_each_once(records: list[str]) -> None:
    s = parse_mx(records)
    assert [(m.preference, m.host) for m in s.hosts] == _walk_order(records)
    # The gatherer's shortcut names the same hosts in the same order.
    mx = DnsLookup("d.example", "MX", "NOERROR", records=tuple(records), ad=True)
    names, implicit = hosts_to_resolve("d.example", mx)
    assert not implicit or not records
    if records:
        assert list(names) == [m.host for m in s.hosts]


def test_null_mx_mixed_is_ignored() -> None:
    facts = domain(D, ["0 .", f"10 {MX1}."], [host_dns(MX1, tlsa=[ee(MX1), ta()])], {MX1: p(MX1)})
    j = judge_domain(facts, NOW_TS)
    assert j.verdict is Verdict.DANE_VALID
    assert "null_mx_mixed" in {f.code for f in j.findings}


def test_only_invalid_mx_is_no_mail() -> None:
    j = judge_domain(domain(D, ["garbage"]), NOW_TS)
    assert j.verdict is Verdict.NO_MAIL
    assert "mx_invalid_target" in {f.code for f in j.findings}


def test_mail_outcome_all_failing_is_defer() -> None:
    assert mail_outcome((), True) is MailOutcome.DEFER_OR_BOUNCE


# --------------------------------------------------------------------------- host judgement


def test_host_judgement_fields() -> None:
    facts = CASES[0].facts()
    h = judge_domain(facts, NOW_TS).hosts[0]
    assert h.dane_applies and h.usable_records == 2 and h.tlsa_base == MX1 and h.preference == 10
    insecure = judge_domain(one([ee(MX1)], p(MX1), mx_status="insecure")(), NOW_TS).hosts[0]
    assert not insecure.dane_applies and insecure.detail == "MX RRset insecure"


def test_time_is_an_argument() -> None:
    facts = one([ta()], p(MX1))()
    assert judge_domain(facts, NOW_TS).verdict is Verdict.DANE_VALID
    assert judge_domain(facts, NOW_TS + 400 * DAY).verdict is Verdict.DANE_BROKEN


# --------------------------------------------------------------------------- the table


def test_verdict_table_matches_enum() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "verdicts.md"
    names = re.findall(r"^\| `([a-z_]+)` \|", doc.read_text(), flags=re.MULTILINE)
    assert names == [v.value for v in Verdict]
