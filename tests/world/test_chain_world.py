"""Why each bogus scenario is bogus: the chain walk's diagnosis, confirmed by three validators.

Every scenario with a ``diagnosis`` in the catalog (all dnssec_bogus ones, plus a bogus
host of a degraded domain and the lame delegation) is walked through the world's
validating resolver with CD set (``scanner.gather.chainwalk``) and must name exactly the
broken link the catalog states: finding code, zone, record type. The cause is then
confirmed independently, per code, by

- ``unbound-host -v`` (libunbound's own validation and its "why bogus" text),
- ``delv +vtrace`` pointed at a *non-validating* Unbound started here (delv cannot set
  CD against a validating resolver, NOTES), whose trace names the failing RRset and
  key tag,
- ``ldns-verify-zone`` over the served zone file, given the parent's DS as its trust
  anchor for the DS links (NOTES: it sees DS/DNSKEY breaks only that way).

Secure names must not be diagnosed at all: every link validates.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import pytest
import trio

from scanner.core.chain import (
    CHAIN_UNREACHABLE,
    DENIAL_WRONG,
    DS_ALGORITHM_MISSING,
    DS_DIGEST_MISMATCH,
    NO_BROKEN_LINK,
    RRSIG_EXPIRED,
    RRSIG_INVALID,
    RRSIG_KEY_MISSING,
    RRSIG_NOT_YET_VALID,
    ChainFacts,
    Diagnosis,
)
from scanner.gather.chainwalk import ChainWalker, WalkConfig, load_trust_anchor
from scanner.world.catalog import Catalog, ExpectedDiagnosis, load_catalog
from scanner.world.info import WorldInfo

pytestmark = pytest.mark.world

NON_VALIDATING = "127.53.0.57"  # an iterator-only Unbound for delv (see the docstring)


def catalog_of(world: WorldInfo) -> Catalog:
    return load_catalog(world.catalog)


def walker(world: WorldInfo) -> ChainWalker:
    config = WalkConfig((world.resolver, world.resolver_port))
    return ChainWalker(config, load_trust_anchor(Path(world.trust_anchor_file)))


@pytest.fixture(scope="module")
def diagnosed(world: WorldInfo) -> dict[str, tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]]:
    """Every expected diagnosis of the catalog, walked through one walker (as a scan would)."""
    cat = catalog_of(world)

    async def run() -> dict[str, tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]]:
        w = walker(world)
        out = {}
        for s in cat.scenarios:
            if s.diagnosis is not None:
                d, facts = await w.diagnose_with_facts(s.diagnosis.name, s.diagnosis.rrtype)
                out[s.domain] = (s.diagnosis, d, facts)
        return out

    return trio.run(run)


def test_every_bogus_scenario_has_its_expected_diagnosis(
    world: WorldInfo, diagnosed: dict[str, tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]]
) -> None:
    cat = catalog_of(world)
    assert {s.domain for s in cat.scenarios if s.bogus} <= set(diagnosed)
    codes = {want.code for want, _, _ in diagnosed.values()}
    assert codes >= {
        RRSIG_EXPIRED,
        RRSIG_NOT_YET_VALID,
        DS_DIGEST_MISMATCH,
        DS_ALGORITHM_MISSING,
        RRSIG_KEY_MISSING,
        RRSIG_INVALID,
        DENIAL_WRONG,
        CHAIN_UNREACHABLE,
    }
    wrong = [
        f"{domain}: got {d.code} {d.zone} {d.record_type} ({d.reason}), want "
        f"{want.code} {want.zone} {want.record_type}"
        for domain, (want, d, _) in diagnosed.items()
        if (d.code, d.zone, d.record_type) != (want.code, want.zone, want.record_type)
    ]
    assert not wrong, "\n".join(wrong)
    for want, d, _ in diagnosed.values():
        assert d.fix and d.rfc.startswith("RFC ") and d.reason
        if d.broken and want.code != DENIAL_WRONG:
            assert d.key_tag is not None and d.algorithm is not None, d


def test_a_broken_zone_costs_a_few_queries(
    diagnosed: dict[str, tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]],
) -> None:
    """The root and TLD cuts are fetched once; each broken zone then costs the question
    and its DS and DNSKEY (a lame zone: the question and one DS)."""
    spent = [facts.queries for _, _, facts in diagnosed.values()]
    assert sum(spent) <= 3 * len(spent) + 2 * 6  # + the root and five TLDs, once
    assert sorted(spent)[len(spent) // 2] <= 3  # the median diagnosis


def test_secure_names_have_no_broken_link(world: WorldInfo) -> None:
    cat = catalog_of(world)
    names: list[tuple[str, str]] = []
    for s in cat.scenarios:
        z = s.spec
        if not s.exists or z.zone_bogus or s.diagnosis is not None or not z.signed:
            continue
        if z.breaks("no-ds") or z.breaks("lame"):
            continue
        if s.mx:
            names.append((s.domain, "MX"))
        for h in z.hosts:
            if not h.cname and (h.name, "A") not in z.bogus_rrsets():
                names.append((h.name, "A"))
            # dnspython parses no TLSA whose digest has the wrong length ("short"): such an
            # answer cannot be checked (test_unparsable_answer_is_said_so)
            parsable = not any(t.ref == "short" for t in h.tlsa)
            bogus = (h.tlsa_owner, "TLSA") in z.bogus_rrsets()
            if h.tlsa and not h.tlsa_cname and parsable and not bogus:
                names.append((h.tlsa_owner, "TLSA"))
    assert len(names) >= 60

    async def run() -> list[Diagnosis]:
        w = walker(world)
        return [(await w.diagnose_with_facts(n, t))[0] for n, t in names]

    found = [d for d in trio.run(run) if d.code != NO_BROKEN_LINK or "every link" not in d.reason]
    assert not found, found


def test_unparsable_answer_is_said_so(world: WorldInfo) -> None:
    cat = catalog_of(world)
    owner = next(
        h.tlsa_owner for z in cat.zones() for h in z.hosts if any(t.ref == "short" for t in h.tlsa)
    )

    async def run() -> Diagnosis:
        return (await walker(world).diagnose_with_facts(owner, "TLSA"))[0]

    d = trio.run(run)
    assert d.code == CHAIN_UNREACHABLE and not d.broken
    assert d.zone == owner.split(".", 3)[3] and "could not be parsed" in d.reason


@pytest.mark.slow
def test_bench_domains_only_the_bogus_zone_is_diagnosed(world: WorldInfo) -> None:
    """Over the bench world's signed domains (1 % of them in one expired zone): every
    bogus MX is named expired in that zone, every secure one has no broken link, and the
    whole walk costs about one query per name (zone cuts are fetched once)."""
    assert world.bench_domains is not None
    rows = Path(world.bench_domains).with_name("bench-expected.csv").read_text().splitlines()[1:]
    unsigned = ("insecure", "nxdomain")
    expected = {d: v for d, _, v in (r.split(",") for r in rows) if v not in unsigned}
    assert len(expected) >= 5_000
    w = walker(world)
    results: dict[str, Diagnosis] = {}

    async def one(name: str, limiter: trio.CapacityLimiter) -> None:
        async with limiter:
            results[name] = (await w.diagnose_with_facts(name, "MX"))[0]

    async def run() -> None:
        limiter = trio.CapacityLimiter(64)
        async with trio.open_nursery() as nursery:
            for name in expected:
                nursery.start_soon(one, name, limiter)

    started = time.monotonic()
    trio.run(run)
    elapsed = time.monotonic() - started
    bogus = [d for n, d in results.items() if expected[n] == "dnssec_bogus"]
    others = [d for n, d in results.items() if expected[n] != "dnssec_bogus"]
    assert len(bogus) >= len(expected) // 200
    assert all(
        (d.code, d.zone, d.record_type) == (RRSIG_EXPIRED, "bench-bogus.org", "DNSKEY")
        for d in bogus
    )
    assert all(d.code == NO_BROKEN_LINK for d in others), [
        d for d in others if d.code != NO_BROKEN_LINK
    ][:5]
    assert w.queries <= len(expected) + 20, (w.queries, len(expected))
    print(f"\n{len(expected)} names diagnosed in {elapsed:.1f} s, {w.queries} queries")


# --------------------------------------------------------------------------- cross-checks


def _run(argv: list[str]) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    return res.stdout + res.stderr


# What libunbound says (unbound-host -v, "validation failure <...>: REASON") per cause.
UNBOUND_HOST = {
    RRSIG_EXPIRED: "signature expired",
    RRSIG_NOT_YET_VALID: "signature before inception date",
    DS_DIGEST_MISMATCH: "DS hash mismatches key",
    DS_ALGORITHM_MISSING: "no keys have a DS with algorithm",
    RRSIG_KEY_MISSING: "signatures from unknown keys",
    RRSIG_INVALID: "signature verification failed",
    DENIAL_WRONG: "nodata proof failed",
}


def test_unbound_host_names_the_same_cause(
    world: WorldInfo, diagnosed: dict[str, tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]]
) -> None:
    def check(item: tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]) -> str:
        want, d, _ = item
        out = _run(
            [
                "unbound-host",
                "-r",
                "-v",
                "-f",
                world.trust_anchor_file,
                "-t",
                want.rrtype,
                want.name,
            ]
        )
        if want.code == CHAIN_UNREACHABLE:
            ok = "SERVFAIL" in out and "validation failure" not in out
        else:
            ok = f"validation failure <{want.name}. {want.rrtype} IN>:" in out
            ok = ok and UNBOUND_HOST[want.code] in out
            if want.record_type in ("DS", "DNSKEY"):  # a key link: libunbound names the zone
                ok = ok and f"for key {want.zone}. while building chain of trust" in out
        return "" if ok else f"{want.name} {want.rrtype} ({d.code}): {out.strip()!r}"

    with ThreadPoolExecutor(8) as pool:
        problems = [p for p in pool.map(check, diagnosed.values()) if p]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def non_validating(world: WorldInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Unbound over the world's servers with the validator module off (iterator only),
    so delv gets the bogus data and validates it itself."""
    work = tmp_path_factory.mktemp("nonvalidating")
    text = (Path(world.dir) / "unbound.conf").read_text()
    text = re.sub(r"(?m)^\s*(interface|trust-anchor-file|val-[a-z-]+): .*\n", "", text)
    text = re.sub(r"(?m)^(\s*)module-config: .*$", r'\1module-config: "iterator"', text)
    text = re.sub(r"(?m)^(\s*)pidfile: .*$", rf'\1pidfile: "{work}/unbound.pid"', text)
    text = re.sub(r"(?m)^(\s*)logfile: .*$", rf'\1logfile: "{work}/unbound.log"', text)
    text = text.replace("server:\n", f"server:\n    interface: {NON_VALIDATING}@53\n", 1)
    (work / "unbound.conf").write_text(text)
    proc = subprocess.Popen(
        ["unbound", "-d", "-c", str(work / "unbound.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = dns.message.make_query(world.canary_secure, "SOA", want_dnssec=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = dns.query.udp(query, NON_VALIDATING, timeout=0.5)
                assert not reply.flags & dns.flags.AD, "the delv resolver must not validate"
                break
            except (dns.exception.Timeout, OSError):
                assert time.monotonic() < deadline, "non-validating unbound did not start"
                time.sleep(0.1)
        yield NON_VALIDATING
    finally:
        proc.kill()
        proc.wait(5)


def _delv_anchor(world: WorldInfo, directory: Path) -> Path:
    """The world's root DS in delv's (named.conf) trust-anchors syntax."""
    _owner, _ttl, _cls, _type, tag, alg, dtype, digest = world.trust_anchor.split()
    path = directory / "anchor.conf"
    path.write_text(f'trust-anchors {{ "." static-ds {tag} {alg} {dtype} "{digest}"; }};\n')
    return path


def _delv_expects(want: ExpectedDiagnosis, d: Diagnosis) -> list[str]:
    """The lines of delv's +vtrace that name the same broken link."""
    at = f"validating {want.zone}/{want.record_type}:"
    question = f"validating {want.name}/{want.rrtype}:"
    return {
        RRSIG_EXPIRED: [
            f"{at} verify failed due to bad signature (keyid={d.key_tag}): RRSIG has expired"
        ],
        RRSIG_NOT_YET_VALID: [
            f"{at} verify failed due to bad signature (keyid={d.key_tag}): "
            "RRSIG validity period has not begun"
        ],
        DS_DIGEST_MISMATCH: [f"validating {want.zone}/DNSKEY: no DNSKEY matching DS"],
        DS_ALGORITHM_MISSING: [f"validating {want.zone}/DNSKEY: no DNSKEY matching DS"],
        RRSIG_INVALID: [f"{question} verify rdataset (keyid={d.key_tag}): RRSIG failed to verify"],
        RRSIG_KEY_MISSING: [
            f"{question} no valid signature found",
            "resolution failed: no valid RRSIG",
        ],
        DENIAL_WRONG: [
            f"{question} NSEC3 proves name exists",
            f"{question} nonexistence proof(s) not found",
        ],
        CHAIN_UNREACHABLE: ["resolution failed: failure"],
    }[want.code]


def test_delv_traces_the_same_broken_link(
    world: WorldInfo,
    non_validating: str,
    diagnosed: dict[str, tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]],
    tmp_path: Path,
) -> None:
    anchor = _delv_anchor(world, tmp_path)

    def check(item: tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]) -> str:
        want, d, _ = item
        out = _run(
            [
                "delv",
                f"@{non_validating}",
                "-a",
                str(anchor),
                "+root=.",
                "+vtrace",
                "-t",
                want.rrtype,
                want.name,
            ]
        )
        missing = [line for line in _delv_expects(want, d) if line not in out]
        if want.code == CHAIN_UNREACHABLE and f"validating {want.name}/" in out:
            missing.append("(a validation trace for an unreachable zone)")
        return f"{want.name} {want.rrtype} ({d.code}): missing {missing}" if missing else ""

    with ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(check, diagnosed.values()) if p]
    assert not problems, "\n".join(problems)


def test_delv_fully_validates_a_secure_name(
    world: WorldInfo, non_validating: str, tmp_path: Path
) -> None:
    out = _run(
        [
            "delv",
            f"@{non_validating}",
            "-a",
            str(_delv_anchor(world, tmp_path)),
            "+root=.",
            "-t",
            "MX",
            world.canary_secure,
        ]
    )
    assert "; fully validated" in out


def _parent_ds(world: WorldInfo, zone: str, directory: Path) -> Path:
    parent = zone.split(".", 1)[1]
    lines = (Path(world.dir) / "zones" / f"{parent}.signed").read_text().splitlines()
    ds = [ln for ln in lines if re.match(rf"^{re.escape(zone)}\.\s+\d+\s+IN\s+DS\s", ln)]
    assert ds, zone
    path = directory / f"{zone}.ds"
    path.write_text("\n".join(ds) + "\n")
    return path


def test_ldns_verify_zone_finds_the_same_break(
    world: WorldInfo,
    diagnosed: dict[str, tuple[ExpectedDiagnosis, Diagnosis, ChainFacts]],
    tmp_path: Path,
) -> None:
    """ldns-verify-zone checks signatures of a zone file, not type bitmaps (so it passes
    the lying NSEC3) and has no zone file for a lame delegation: those two are delv's
    and unbound-host's alone."""
    checked = set()
    problems = []
    for want, _d, _ in diagnosed.values():
        if want.code in (DENIAL_WRONG, CHAIN_UNREACHABLE):
            continue
        zone_file = Path(world.dir) / "zones" / f"{want.zone}.signed"
        alone = _run(["ldns-verify-zone", str(zone_file)])
        owner = f"{want.name}.\t{want.rrtype}"
        if want.code in (DS_DIGEST_MISMATCH, DS_ALGORITHM_MISSING):
            # the zone is fine on its own; chased to the parent's DS it is not
            chased = _run(
                [
                    "ldns-verify-zone",
                    "-k",
                    str(_parent_ds(world, want.zone, tmp_path)),
                    str(zone_file),
                ]
            )
            ok = "Zone is verified and complete" in alone and (
                "Cannot chase the root: No keys with the keytag and algorithm" in chased
            )
        else:
            expect = {
                RRSIG_EXPIRED: "DNSSEC signature has expired for",
                RRSIG_NOT_YET_VALID: "DNSSEC signature not incepted yet for",
                RRSIG_INVALID: f"Bogus DNSSEC signature for {owner}",
                RRSIG_KEY_MISSING: "No keys with the keytag and algorithm from the RRSIG found "
                f"for {owner}",
            }[want.code]
            ok = expect in alone
        checked.add(want.code)
        if not ok:
            problems.append(f"{want.zone} ({want.code}): {alone.strip()[-300:]!r}")
    assert not problems, "\n".join(problems)
    assert len(checked) >= 6
