"""``scanner.core.memo.JudgeMemo``: judging with the memo gives exactly what judging
without it gives, whatever else the domains sharing the hosts differ in (their name,
MX answer, zone keys, MTA-STS policy, the time), and whatever was judged before.

The facts are every case of the rules', findings' and profiles' tests; the variants of
one case share its host facts and probes (the very objects, as the judge stage's
domains do), so the memo's hits are exercised, not just its misses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from msgspec.structs import replace

from scanner.core.findings import detect
from scanner.core.memo import JudgeMemo
from scanner.core.model import DnssecStatus, DomainFacts, MtaSts, MxHost, ProbeStatus
from scanner.core.profiles import PkixTrust, judge_senders
from scanner.core.rules import assess_domain
from tests.core import test_findings, test_profiles, test_rules
from tests.core.dane_fixtures import DAY, NOW_TS, domain, host_dns, lk, probe

MX1 = "mx1.example.com"


def policies() -> list[MtaSts | None]:
    return [
        None,
        MtaSts(),
        MtaSts(policy_error="HTTP 404", sts_txt=lk("_mta-sts.x", "TXT", ['"v=STSv1; id=1"'])),
        test_profiles.sts("testing"),
        test_profiles.sts(),
        test_profiles.sts(patterns=("*.example.com", "other.example.net")),
        test_profiles.sts("none"),
    ]


def variants(facts: DomainFacts, now: float) -> Iterator[tuple[DomainFacts, float]]:
    """``facts`` and domains that share its hosts and probes but little else."""
    yield facts, now
    yield facts, now  # the same again: hits
    yield replace(facts, domain="other.example.org"), now
    yield replace(facts, domain=f"{MX1}"), now + 3 * DAY
    for policy in policies():
        yield replace(facts, mta_sts=policy), now
    yield replace(facts, zone_keys=None), now - 400 * DAY
    insecure = replace(facts.mx, ad=False)
    yield replace(facts, mx=insecure, domain="insecure.example.net"), now
    yield facts, now + 800 * DAY


def all_facts() -> list[tuple[DomainFacts, float]]:
    found = [(case.facts(), case.now) for case in test_rules.CASES]
    found += [(build(), NOW_TS) for _, build in test_findings.FIRES]
    found += [(build(), NOW_TS) for _, build in test_findings.QUIET]
    ok = test_profiles.ok_probe()
    for policy in policies():
        found.append((test_profiles.sts_host(ok, policy), NOW_TS))
        found.append((test_profiles.sts_host(None, policy, probing=False), NOW_TS))
    return found


TRUSTS: list[Callable[[], PkixTrust | None]] = [lambda: None, test_profiles.trust]


def check(memo: JudgeMemo, facts: DomainFacts, now: float, trust: PkixTrust | None) -> None:
    want, want_hosts = assess_domain(facts, now)
    got, got_hosts = assess_domain(facts, now, memo)
    assert got == want
    assert got_hosts == want_hosts
    senders = judge_senders(facts, want, now, trust, want_hosts)
    assert judge_senders(facts, got, now, trust, got_hosts, memo) == senders


@pytest.mark.parametrize("make_trust", TRUSTS, ids=["no-trust", "trust"])
@pytest.mark.parametrize("max_entries", [50_000, 7, 1])
def test_every_case_and_its_variants_judge_alike(
    make_trust: Callable[[], PkixTrust | None], max_entries: int
) -> None:
    trust = make_trust()
    memo = JudgeMemo(max_entries)  # one memo for everything: host names repeat across cases
    for facts, now in all_facts():
        for variant, at in variants(facts, now):
            check(memo, variant, at, trust)


def test_a_host_is_assessed_again_when_its_facts_or_probes_differ() -> None:
    memo = JudgeMemo()
    mx = MxHost(10, MX1)
    dns = host_dns(MX1, tlsa=["3 1 1 " + "ab" * 32])
    other_dns = host_dns(MX1, tlsa=[])
    probes = (probe(MX1, status=ProbeStatus.CONNECT_REFUSED),)
    first = memo.assess(mx, dns, probes, "a.example", NOW_TS)
    second = memo.assess(mx, dns, probes, "b.example", NOW_TS)  # kept from here on
    assert second == first
    assert memo.assess(mx, dns, tuple(probes), "c.example", NOW_TS) is second
    assert memo.ids((second,)) is not None
    assert memo.assess(mx, dns, None, "e.example", NOW_TS).reachable is None
    more = (*probes, probe(MX1, status=ProbeStatus.CONNECT_REFUSED))
    assert len(memo.assess(mx, dns, more, "f.example", NOW_TS).addresses) == 2
    same_length = (probe(MX1, status=ProbeStatus.CONNECT_REFUSED),)
    assert memo.assess(mx, dns, probes, "g.example", NOW_TS) == first
    assert memo.assess(mx, dns, same_length, "g.example", NOW_TS) == first
    assert memo.assess(mx, other_dns, probes, "d.example", NOW_TS) != first
    # The first sight of a host is never kept: nothing is derived from it.
    assert memo.ids((memo.assess(MxHost(5, MX1), dns, probes, "h.example", NOW_TS),)) is None


def test_ids_of_objects_not_made_by_the_memo() -> None:
    memo = JudgeMemo()
    mx = MxHost(10, MX1)
    dns = host_dns(MX1)
    memo.assess(mx, dns, None, "a.example", NOW_TS)
    kept = memo.assess(mx, dns, None, "a.example", NOW_TS)
    assert memo.ids([kept]) == memo.ids((kept,)) is not None  # lists are not remembered
    assert memo.ids((kept, object())) is None
    assert memo.ids(()) is not None
    keys = memo.ids((kept,))
    memo.clear()
    assert memo.ids((kept,)) is None  # cleared: no longer kept
    again = memo.assess(mx, dns, None, "a.example", NOW_TS)
    again = memo.assess(mx, dns, None, "a.example", NOW_TS)
    assert memo.ids((again,)) != keys  # a new generation


def test_derived_values_are_not_kept_past_the_bound() -> None:
    memo = JudgeMemo(max_entries=1)
    calls: list[int] = []

    def make() -> int:
        calls.append(1)
        return len(calls)

    assert memo.derived("k", make) == 1
    assert memo.derived("k", make) == 1
    assert memo.derived("l", make) == 2  # the memo was full: cleared, nothing stored
    assert memo.derived("k", make) == 3
    assert memo.derived("k", make) == 3


def test_parse_mx_is_shared() -> None:
    memo = JudgeMemo()
    records = ["10 mx1.example.com.", "20 mx2.example.com."]
    mxset = memo.parse_mx(records)
    assert memo.parse_mx(tuple(records)) is mxset
    assert memo.key_of(mxset) == memo.ids((mxset,)) is not None
    assert memo.key_of(object()) is None


def test_detect_with_a_memo_and_no_mx_set() -> None:
    facts = domain("example.com", [f"10 {MX1}."], [host_dns(MX1)])
    memo = JudgeMemo()
    found = detect(facts, DnssecStatus.SECURE, None, (), NOW_TS, memo)
    assert found == detect(facts, DnssecStatus.SECURE, None, (), NOW_TS)


def test_enforced_policy_with_probes_is_judged_per_domain() -> None:
    # The PKIX check reads the time: the same hosts a day apart may differ.
    trust = test_profiles.trust()
    facts = test_profiles.sts_host(test_profiles.ok_probe(), test_profiles.sts())
    memo = JudgeMemo()
    for at in (NOW_TS, NOW_TS + 1000 * DAY, NOW_TS):
        check(memo, facts, at, trust)
