"""Sender profiles (scanner.core.profiles): the same facts judged for six senders.

Expectations come from the senders' documented behaviour: Postfix's smtp_tls_policy.c
(``dane_init``: "non DNSSEC destination", "no TLSA records found", "TLSA records
unusable", "TLSA lookup error for HOST:25", all 4.7.5 at ``dane-only``) and postconf(5)
(``smtp_tls_dane_insecure_mx_policy = dane`` applies TLSA behind an insecure MX at level
``dane``), Exchange Online's mandatory mode (DESIGN §1), RFC 8461 §4 for MTA-STS and
RFC 8460 §4.3 for its result types.
"""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from scanner.core.model import (
    DomainFacts,
    HostOutcome,
    MailOutcome,
    MtaSts,
    ProbeStatus,
    SmtpProbe,
    TlsaRecord,
)
from scanner.core.profiles import (
    CODE_NO_DANE,
    PF_CONNECT,
    PF_DNS,
    PF_NO_ADDRESS,
    PF_NO_STARTTLS,
    PF_SESSION,
    PF_TLS,
    RPT_DNSSEC,
    RPT_EXPIRED,
    RPT_HOST_MISMATCH,
    RPT_NOT_TRUSTED,
    RPT_STARTTLS,
    RPT_VALIDATION,
    PkixTrust,
    Sender,
    SenderOutcome,
    judge_senders,
    pkix_failure,
    sender_outcome,
)
from scanner.core.rules import judge_domain
from tests.core.dane_fixtures import (
    NOW_TS,
    chain,
    domain,
    host_dns,
    leaf,
    lk,
    make_cert,
    pki,
    probe,
    tlsa_for,
)
from tests.core.test_rules import CASES, PKIX, WRONG, Case, ee, good_chain, ta

D = "example.com"
MX1 = "mx1.example.com"
MX2 = "mx2.example.com"
M = MailOutcome
S = Sender


def judge(facts: DomainFacts, trust: PkixTrust | None = None) -> dict[Sender, SenderOutcome]:
    j = judge_domain(facts, NOW_TS)
    return {o.sender: o for o in judge_senders(facts, j, NOW_TS, trust)}


def one_host(
    tlsa: list[str] | None,
    probes: tuple[SmtpProbe, ...] | None = None,
    *,
    mx_status: str = "secure",
    addr: str = "secure",
    tlsa_status: str = "secure",
    host: str = MX1,
    **kw: object,
) -> DomainFacts:
    h = host_dns(host, tlsa=tlsa, addr=addr, tlsa_status=tlsa_status)
    pr = {host: probes} if probes is not None else {}
    return domain(D, [f"10 {host}."], [h], pr, mx_status=mx_status, **kw)


def ok_probe(host: str = MX1, ch: tuple[bytes, ...] | None = None) -> tuple[SmtpProbe, ...]:
    return (probe(host, ch if ch is not None else good_chain(host)),)


def failed_probe(status: ProbeStatus, host: str = MX1, **kw: object) -> tuple[SmtpProbe, ...]:
    return (replace(probe(host, status=status), **kw),)  # type: ignore[arg-type]


def trust() -> PkixTrust:
    root, _ = pki()
    return PkixTrust.from_der([root.der])


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_profiles_hold_together_on_every_rule_case(case: Case) -> None:
    """Over every case of the rules' table: RFC 7672 and Exchange's opportunistic mode are
    the rules' answer; Postfix at ``dane`` is too where the MX RRset is secure (the
    insecure-MX policy is the only difference); ``dane-only`` and Exchange's mandatory
    mode agree with each other and deliver only with DANE authentication."""
    facts = case.facts()
    j = judge_domain(facts, case.now)
    got = {o.sender: o for o in judge_senders(facts, j, case.now)}
    assert list(got) == list(Sender)
    assert got[S.RFC7672].outcome is j.mail_outcome
    assert got[S.RFC7672].error_code == j.error_code
    assert got[S.EXCHANGE_OPPORTUNISTIC].outcome is j.mail_outcome
    if j.mx_status.value == "secure":
        assert got[S.POSTFIX_DANE].outcome is j.mail_outcome, got[S.POSTFIX_DANE]
    strict = got[S.EXCHANGE_MANDATORY].outcome
    assert got[S.POSTFIX_DANE_ONLY].outcome is strict
    assert strict in (M.DELIVER_AUTHENTICATED, M.DEFER_OR_BOUNCE, M.UNKNOWN, M.NO_MAIL)
    if j.mail_outcome is M.DELIVER_AUTHENTICATED:
        assert strict is M.DELIVER_AUTHENTICATED
    for o in got.values():
        assert o.reason
        assert o.receives == (
            o.outcome
            in (M.DELIVER_AUTHENTICATED, M.DELIVER_OPPORTUNISTIC, M.DELIVER_UNAUTHENTICATED_TLS)
        )
        if o.receives:
            assert o.error_code == ""


# --------------------------------------------------------------------------- Postfix


def test_postfix_enforces_tlsa_behind_an_insecure_mx() -> None:
    """postconf(5) smtp_tls_dane_insecure_mx_policy = dane (3.6+ default)."""
    broken = judge(one_host([WRONG], ok_probe(), mx_status="insecure"))
    assert broken[S.RFC7672].outcome is M.DELIVER_OPPORTUNISTIC
    assert broken[S.POSTFIX_DANE].outcome is M.DEFER_OR_BOUNCE
    assert broken[S.POSTFIX_DANE].error_code == PF_TLS
    assert broken[S.POSTFIX_DANE].reason == "Server certificate not trusted"
    assert broken[S.POSTFIX_DANE].host == MX1
    good = judge(one_host([ee(MX1)], ok_probe(), mx_status="insecure"))
    assert good[S.POSTFIX_DANE].outcome is M.DELIVER_AUTHENTICATED
    # dane-only: dane_init's "non DNSSEC destination"; Exchange mandatory: no DANE.
    for facts in (broken, good):
        assert facts[S.POSTFIX_DANE_ONLY].outcome is M.DEFER_OR_BOUNCE
        assert facts[S.POSTFIX_DANE_ONLY].reason == "non DNSSEC destination"
        assert facts[S.EXCHANGE_MANDATORY].outcome is M.DEFER_OR_BOUNCE
        assert facts[S.EXCHANGE_MANDATORY].error_code == CODE_NO_DANE
        assert "24 hours" in facts[S.EXCHANGE_MANDATORY].reason


def test_postfix_insecure_host_behind_insecure_mx_is_opportunistic() -> None:
    got = judge(one_host([ee(MX1)], ok_probe(), mx_status="insecure", addr="insecure"))
    assert got[S.POSTFIX_DANE].outcome is M.DELIVER_OPPORTUNISTIC


@pytest.mark.parametrize(
    ("facts", "code", "text"),
    [
        (
            lambda: one_host([ta()], ok_probe(ch=chain(leaf(("other.example.net",)))), host=MX1),
            PF_TLS,
            "Server certificate not verified",
        ),
        (
            lambda: one_host([ee(MX1)], failed_probe(ProbeStatus.STARTTLS_MISSING)),
            PF_NO_STARTTLS,
            f"TLS is required, but was not offered by host {MX1}",
        ),
        (
            lambda: one_host(
                [ee(MX1)],
                failed_probe(
                    ProbeStatus.STARTTLS_REJECTED, starttls_reply="454 4.7.0 TLS not available"
                ),
            ),
            PF_TLS,
            f"TLS is required, but host {MX1} refused to start TLS: 454 4.7.0 TLS not available",
        ),
        (
            lambda: one_host([ee(MX1)], failed_probe(ProbeStatus.TLS_FAILED)),
            PF_TLS,
            "Cannot start TLS: handshake failure",
        ),
        (
            lambda: one_host([ee(MX1)], failed_probe(ProbeStatus.CONNECT_REFUSED)),
            PF_CONNECT,
            f"connect to {MX1}[192.0.2.1]:25: Connection refused",
        ),
        (
            lambda: one_host([ee(MX1)], failed_probe(ProbeStatus.CONNECT_TIMEOUT)),
            PF_CONNECT,
            f"connect to {MX1}[192.0.2.1]:25: Connection timed out",
        ),
        (
            lambda: one_host([ee(MX1)], failed_probe(ProbeStatus.CONNECT_ERROR)),
            PF_CONNECT,
            f"connect to {MX1}[192.0.2.1]:25: Network is unreachable",
        ),
        (
            lambda: one_host([ee(MX1)], failed_probe(ProbeStatus.BANNER_TIMEOUT)),
            PF_SESSION,
            f"conversation with {MX1}[192.0.2.1] timed out while receiving the initial "
            "server greeting",
        ),
        (
            lambda: one_host(
                [ee(MX1)], failed_probe(ProbeStatus.BANNER_REJECTED, banner="554 go away")
            ),
            PF_SESSION,
            f"host {MX1}[192.0.2.1] refused to talk to me: 554 go away",
        ),
        (
            lambda: one_host([ee(MX1)], failed_probe(ProbeStatus.PROTOCOL_ERROR)),
            PF_SESSION,
            f"lost connection with {MX1} while receiving the initial server greeting",
        ),
        (
            lambda: one_host([ee(MX1)], addr="bogus"),
            PF_DNS,
            f"Host or domain name not found. Name service error for name={MX1} type=A: "
            "Host not found, try again",
        ),
        (
            lambda: one_host([ee(MX1)], tlsa_status="bogus"),
            PF_TLS,
            f"TLSA lookup error for {MX1}:25",
        ),
    ],
)
def test_postfix_reasons(facts: object, code: str, text: str) -> None:
    got = judge(facts())  # type: ignore[operator]
    for sender in (S.POSTFIX_DANE, S.POSTFIX_DANE_ONLY):
        assert got[sender].outcome is M.DEFER_OR_BOUNCE
        assert (got[sender].error_code, got[sender].reason) == (code, text)


def test_postfix_host_without_addresses() -> None:
    dead = replace(host_dns(MX1, tlsa=[ee(MX1)]), a=lk(MX1, "A", []), aaaa=lk(MX1, "AAAA", []))
    facts = domain(D, [f"10 {MX1}."], [dead], {})
    got = judge(facts)
    assert got[S.POSTFIX_DANE].error_code == PF_NO_ADDRESS
    assert "Host found but no data record" in got[S.POSTFIX_DANE].reason


def test_dane_only_refuses_hosts_without_usable_tlsa() -> None:
    none = judge(one_host(None, ok_probe()))
    assert none[S.POSTFIX_DANE].outcome is M.DELIVER_OPPORTUNISTIC
    assert (none[S.POSTFIX_DANE_ONLY].error_code, none[S.POSTFIX_DANE_ONLY].reason) == (
        PF_TLS,
        "no TLSA records found",
    )
    unusable = judge(one_host([PKIX], ok_probe()))
    assert unusable[S.POSTFIX_DANE].outcome is M.DELIVER_UNAUTHENTICATED_TLS
    assert unusable[S.POSTFIX_DANE_ONLY].reason == "TLSA records unusable"
    assert unusable[S.EXCHANGE_MANDATORY].error_code == CODE_NO_DANE


def test_strict_senders_move_on_to_an_authenticating_backup() -> None:
    """RFC 7672 delivers opportunistically to the preferred host without TLSA; the strict
    senders skip it and deliver to the DANE-authenticated backup."""
    h1, h2 = host_dns(MX1, tlsa=[]), host_dns(MX2, tlsa=[ee(MX2)])
    facts = domain(
        D, [f"10 {MX1}.", f"20 {MX2}."], [h1, h2], {MX1: ok_probe(MX1), MX2: ok_probe(MX2)}
    )
    got = judge(facts)
    assert got[S.RFC7672].outcome is M.DELIVER_OPPORTUNISTIC
    for sender in (S.POSTFIX_DANE_ONLY, S.EXCHANGE_MANDATORY):
        assert got[sender].outcome is M.DELIVER_AUTHENTICATED
        assert got[sender].host == MX2


def test_the_reported_failure_prefers_a_dane_failure_over_a_dead_connection() -> None:
    h1, h2 = host_dns(MX1, tlsa=[ee(MX1)]), host_dns(MX2, tlsa=[WRONG])
    probes = {MX1: failed_probe(ProbeStatus.CONNECT_REFUSED, MX1), MX2: ok_probe(MX2)}
    got = judge(domain(D, [f"10 {MX1}.", f"20 {MX2}."], [h1, h2], probes))
    assert got[S.POSTFIX_DANE].host == MX2
    assert got[S.POSTFIX_DANE].reason == "Server certificate not trusted"
    assert got[S.EXCHANGE_MANDATORY].host == MX2


def test_unprobed_hosts_are_unknown() -> None:
    got = judge(one_host([ee(MX1)], None, probing=False))
    for sender in (S.RFC7672, S.POSTFIX_DANE, S.EXCHANGE_MANDATORY):
        assert got[sender].outcome is M.UNKNOWN
    unusable = judge(one_host([PKIX], None, probing=False))
    assert unusable[S.POSTFIX_DANE].outcome is M.UNKNOWN


# --------------------------------------------------------------------------- domain level


def test_domains_decided_before_the_hosts() -> None:
    nx = judge(domain(D, [], mx_rcode="NXDOMAIN"))
    assert all(o.outcome is M.NO_MAIL for o in nx.values())
    bogus = judge(domain(D, [f"10 {MX1}."], mx_status="bogus"))
    assert bogus[S.RFC7672].error_code == "4.4.312"
    assert bogus[S.EXCHANGE_MANDATORY].error_code == "4.4.312"
    assert bogus[S.POSTFIX_DANE].error_code == PF_DNS
    assert f"name={D} type=MX" in bogus[S.POSTFIX_DANE_ONLY].reason
    assert bogus[S.MTA_STS].error_code == RPT_DNSSEC
    assert all(o.outcome is M.DEFER_OR_BOUNCE for o in bogus.values())
    error = judge(domain(D, [f"10 {MX1}."], mx_status="error"))
    assert all(o.outcome is M.UNKNOWN for o in error.values())
    assert error[S.MTA_STS].error_code == ""
    assert error[S.EXCHANGE_OPPORTUNISTIC].error_code == "4.4.312"


def test_sender_outcome_picks_one() -> None:
    facts = one_host([ee(MX1)], ok_probe())
    outcomes = judge_senders(facts, judge_domain(facts, NOW_TS), NOW_TS)
    assert sender_outcome(outcomes, S.MTA_STS).sender is S.MTA_STS


# --------------------------------------------------------------------------- MTA-STS


def sts(mode: str = "enforce", patterns: tuple[str, ...] = (MX1,), **kw: object) -> MtaSts:
    return MtaSts(policy_id="1", policy_fetched=True, mode=mode, mx_patterns=patterns, **kw)  # type: ignore[arg-type]


def sts_host(
    probes: tuple[SmtpProbe, ...] | None, policy: MtaSts | None, **kw: object
) -> DomainFacts:
    return one_host(None, probes, mta_sts=policy, **kw)


def test_mta_sts_without_an_enforced_policy_is_opportunistic() -> None:
    for policy, why in (
        (None, "no MTA-STS policy"),
        (MtaSts(policy_error="HTTP 404"), "no MTA-STS policy could be read (HTTP 404)"),
        (MtaSts(), "no MTA-STS policy"),
        (sts("testing"), "MTA-STS policy in mode testing"),
    ):
        got = judge(sts_host(ok_probe(), policy), trust())[S.MTA_STS]
        assert got.outcome is M.DELIVER_OPPORTUNISTIC
        assert got.reason == f"{why}: opportunistic TLS"
    # A DANE failure does not concern an MTA-STS sender: it ignores TLSA.
    assert judge(one_host([WRONG], ok_probe()))[S.MTA_STS].outcome is M.DELIVER_OPPORTUNISTIC
    bogus = judge(one_host(None, ok_probe(), addr="bogus"))[S.MTA_STS]
    assert (bogus.outcome, bogus.error_code) == (M.DEFER_OR_BOUNCE, RPT_DNSSEC)
    refused = judge(one_host(None, failed_probe(ProbeStatus.CONNECT_REFUSED)))[S.MTA_STS]
    assert (refused.outcome, refused.error_code) == (M.DEFER_OR_BOUNCE, "")


def test_mta_sts_enforce_needs_a_pkix_valid_certificate_for_a_covered_host() -> None:
    good = judge(sts_host(ok_probe(), sts()), trust())[S.MTA_STS]
    assert (good.outcome, good.host) == (M.DELIVER_AUTHENTICATED, MX1)
    # Every other profile is unaffected by the policy.
    assert judge(sts_host(ok_probe(), sts()), trust())[S.RFC7672].outcome is M.DELIVER_OPPORTUNISTIC
    wildcard = judge(sts_host(ok_probe(), sts(patterns=("*.example.com",))), trust())
    assert wildcard[S.MTA_STS].outcome is M.DELIVER_AUTHENTICATED


@pytest.mark.parametrize(
    ("probes", "policy", "code"),
    [
        (lambda: ok_probe(), sts(patterns=("mx9.example.com",)), RPT_VALIDATION),
        (lambda: ok_probe(ch=chain(leaf(("other.example.net",)))), sts(), RPT_HOST_MISMATCH),
        (lambda: ok_probe(ch=chain(leaf((MX1,), na_days=-1, nb_days=-30))), sts(), RPT_EXPIRED),
        (lambda: ok_probe(ch=chain(leaf((MX1,), nb_days=2))), sts(), RPT_EXPIRED),
        (lambda: ok_probe(ch=(make_cert(MX1, "self", sans=(MX1,)).der,)), sts(), RPT_NOT_TRUSTED),
        (lambda: ok_probe(ch=(b"\x30\x03junk",)), sts(), RPT_VALIDATION),
        (lambda: failed_probe(ProbeStatus.STARTTLS_MISSING), sts(), RPT_STARTTLS),
        (lambda: failed_probe(ProbeStatus.STARTTLS_REJECTED), sts(), RPT_STARTTLS),
        (lambda: failed_probe(ProbeStatus.TLS_FAILED), sts(), RPT_VALIDATION),
        (lambda: failed_probe(ProbeStatus.CONNECT_REFUSED), sts(), ""),
    ],
)
def test_mta_sts_enforce_failures(probes: object, policy: MtaSts, code: str) -> None:
    got = judge(sts_host(probes(), policy), trust())[S.MTA_STS]  # type: ignore[operator]
    assert (got.outcome, got.error_code) == (M.DEFER_OR_BOUNCE, code)


def test_mta_sts_enforce_dns_and_unknowns() -> None:
    bogus = judge(sts_host(ok_probe(), sts(), addr="bogus"), trust())[S.MTA_STS]
    assert (bogus.outcome, bogus.error_code) == (M.DEFER_OR_BOUNCE, RPT_DNSSEC)
    error = judge(sts_host(ok_probe(), sts(), addr="error"), trust())[S.MTA_STS]
    assert (error.outcome, error.error_code) == (M.DEFER_OR_BOUNCE, "")
    dead = replace(host_dns(MX1), a=lk(MX1, "A", []), aaaa=lk(MX1, "AAAA", []))
    facts = domain(
        D,
        [f"10 {MX1}.", f"20 {MX2}."],
        [dead, host_dns(MX2)],
        {MX2: ok_probe(MX2)},
        mta_sts=sts(patterns=(MX1,)),
    )
    got = judge(facts, trust())[S.MTA_STS]
    # MX2 is not covered (a policy failure), MX1 has no address (minor): MX2 is reported.
    assert (got.host, got.error_code) == (MX2, RPT_VALIDATION)
    assert judge(sts_host(None, sts(), probing=False), trust())[S.MTA_STS].outcome is M.UNKNOWN
    no_trust = judge(sts_host(ok_probe(), sts()), None)[S.MTA_STS]
    assert no_trust.outcome is M.UNKNOWN and "trust roots" in no_trust.reason


def test_pkix_failure_directly() -> None:
    t = trust()
    assert pkix_failure(good_chain(MX1), MX1, NOW_TS, t) == ""
    assert pkix_failure((), MX1, NOW_TS, t) == RPT_VALIDATION
    # An unparsable intermediate is skipped; the path still needs the real one.
    lf, inter = good_chain(MX1)[:2]
    assert pkix_failure((lf, b"junk", inter), MX1, NOW_TS, t) == ""
    assert pkix_failure((lf,), MX1, NOW_TS, t) == RPT_NOT_TRUSTED
    cn_only = leaf(None, cn=MX1)
    assert pkix_failure(chain(cn_only), MX1, NOW_TS, t) == RPT_NOT_TRUSTED  # known limitation


def test_pkix_trust_from_der() -> None:
    root, inter = pki()
    assert len(PkixTrust.from_der([root.der, inter.der]).roots) == 2


def test_tlsa_record_helpers_are_shared() -> None:
    # The profiles read the rules' assessments: a DANE-TA chain authenticates for both.
    root, _ = pki()
    rec = tlsa_for(root, 2, 1, 1)
    assert isinstance(rec, TlsaRecord)
    got = judge(one_host([rec.presentation()], ok_probe()))
    assert got[S.POSTFIX_DANE_ONLY].outcome is M.DELIVER_AUTHENTICATED
    assert HostOutcome.AUTHENTICATED.value == "authenticated"
