"""DNSSEC of the running world: AD where signed, SERVFAIL (and success with CD) where bogus.

Expectations are derived from the catalog's DNS set-up (signed or not, breakage), not from
the resolver's answers, and cross-checked with two independent clients: ``dig`` (EDE present
on bogus answers) and ``unbound-host`` (secure / insecure / BOGUS).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.flags
import dns.rcode
import pytest

from scanner.world.catalog import Catalog, ZoneSpec, load_catalog
from scanner.world.info import WorldInfo
from scanner.world.ready import ask, ask_header

pytestmark = pytest.mark.world


@dataclass(frozen=True)
class Expect:
    name: str
    rrtype: str
    status: str  # secure | insecure | bogus | nxdomain | error


def _zone_broken(z: ZoneSpec) -> bool:
    return z.zone_bogus  # expired / not-yet-valid signatures, a DS that matches no key


def _zone_insecure(z: ZoneSpec) -> bool:
    return not z.signed or z.breaks("no-ds")


def _host_queries(z: ZoneSpec) -> Iterator[Expect]:
    bogus = set(z.bogus_rrsets())
    for h in z.hosts:
        rrtypes = [] if h.cname else ["A"] * h.ipv4 + ["AAAA"] * h.ipv6
        for rrtype in rrtypes:
            yield Expect(h.name, rrtype, _status(z, h.name, rrtype, bogus))
        if h.tlsa:
            owner = h.tlsa_cname or h.tlsa_owner
            yield Expect(h.tlsa_owner, "TLSA", _status(z, owner, "TLSA", bogus))


def _status(z: ZoneSpec, owner: str, rrtype: str, bogus: set[tuple[str, str]]) -> str:
    if _zone_insecure(z):
        return "insecure"
    if _zone_broken(z) or (owner, rrtype) in bogus:
        return "bogus"
    return "secure"


def expectations(catalog: Catalog) -> list[Expect]:
    out = []
    for s in catalog.scenarios:
        z = s.spec
        if not s.exists:
            out.append(Expect(s.domain, "MX", "nxdomain"))
        elif z.breaks("lame"):
            out.append(Expect(s.domain, "MX", "error"))
        else:
            out.append(Expect(s.domain, "MX", _status(z, s.domain, "MX", set(z.bogus_rrsets()))))
            out.extend(_host_queries(z))
    for p in catalog.providers:
        out.extend(_host_queries(p.spec))
    return out


CATALOG = load_catalog()
EXPECT = expectations(CATALOG)


def _observed(e: Expect) -> str:
    rcode, ad = ask_header(e.name, e.rrtype)
    if rcode == dns.rcode.SERVFAIL:
        cd_rcode, _ = ask_header(e.name, e.rrtype, cd=True)
        return "bogus" if cd_rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) else "error"
    if rcode == dns.rcode.NXDOMAIN:
        return "nxdomain" if ad else "nxdomain-insecure"
    if rcode != dns.rcode.NOERROR:
        return dns.rcode.to_text(dns.rcode.Rcode(rcode))
    return "secure" if ad else "insecure"


def test_the_expectations_cover_every_kind(world: WorldInfo) -> None:
    kinds = {e.status for e in EXPECT}
    assert kinds == {"secure", "insecure", "bogus", "nxdomain", "error"}
    assert len(EXPECT) > 150


def test_every_answer_has_the_expected_dnssec_status(world: WorldInfo) -> None:
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(_observed, EXPECT))
    wrong = [
        f"{e.name} {e.rrtype}: {g}, want {e.status}"
        for e, g in zip(EXPECT, got, strict=True)
        if g != e.status
    ]
    assert not wrong, "\n".join(wrong)


def test_every_signed_scenario_mx_answer_has_ad(world: WorldInfo) -> None:
    signed = [
        s
        for s in CATALOG.scenarios
        if s.exists and not _zone_insecure(s.spec) and not s.bogus and s.mx
    ]
    assert len(signed) >= 30
    for s in signed:
        r = ask(s.domain, "MX")
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AD, s.domain
        assert r.answer, s.domain


def _dig(name: str, rrtype: str, *opts: str) -> str:
    return subprocess.run(
        ["dig", f"@{CATALOG_RESOLVER}", "+dnssec", "+tries=1", "+time=5", *opts, name, rrtype],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout


CATALOG_RESOLVER = "127.53.0.53"


def test_dig_sees_servfail_with_ede_and_cd_success_on_every_bogus_answer(world: WorldInfo) -> None:
    bogus = [e for e in EXPECT if e.status == "bogus"]
    assert len(bogus) >= 8

    def check(e: Expect) -> str:
        plain = _dig(e.name, e.rrtype)
        if "status: SERVFAIL" not in plain:
            return f"{e.name} {e.rrtype}: no SERVFAIL"
        if "; EDE:" not in plain:
            return f"{e.name} {e.rrtype}: SERVFAIL without EDE"
        if "status: NOERROR" not in _dig(e.name, e.rrtype, "+cd"):
            return f"{e.name} {e.rrtype}: CD query did not succeed"
        return ""

    with ThreadPoolExecutor(8) as pool:
        problems = [p for p in pool.map(check, bogus) if p]
    assert not problems, "\n".join(problems)


def test_dig_ad_flag_on_secure_answers(world: WorldInfo) -> None:
    secure = [e for e in EXPECT if e.status == "secure"]
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda e: _dig(e.name, e.rrtype), secure))
    missing = [
        f"{e.name} {e.rrtype}"
        for e, out in zip(secure, outs, strict=True)
        if " ad;" not in out.split("QUERY:")[0]
    ]
    assert not missing, missing


def test_unbound_host_agrees_on_every_scenario_mx(world: WorldInfo) -> None:
    words = {"secure": "(secure)", "insecure": "(insecure)", "bogus": "(BOGUS"}
    mx = [e for e in EXPECT if e.rrtype == "MX" and e.status in words]

    def run(e: Expect) -> str:
        out = subprocess.run(
            ["unbound-host", "-r", "-v", "-f", world.trust_anchor_file, "-t", "MX", e.name],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout
        return "" if words[e.status] in out else f"{e.name}: {out.strip()!r}, want {e.status}"

    with ThreadPoolExecutor(8) as pool:
        problems = [p for p in pool.map(run, mx) if p]
    assert not problems, "\n".join(problems)


def test_the_query_log_records_client_queries(world: WorldInfo) -> None:
    ask("ee-311.com", "MX")
    with open(world.unbound_log) as fh:
        log = fh.read()
    assert "ee-311.com. MX IN" in log
