"""The benchmark generator: shape of the domain mix and the zones it publishes (offline)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from scanner.world.bench import BOGUS, CATEGORIES, SIGNED, UNSIGNED
from scanner.world.build import build
from scanner.world.info import WorldInfo

N = 4000


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> WorldInfo:
    return build(tmp_path_factory.mktemp("bench"), bench=N)


def test_domain_list_and_expected_verdicts(bench: WorldInfo) -> None:
    assert bench.bench_count == N and bench.bench_domains is not None
    domains = Path(bench.bench_domains).read_text().split()
    assert len(domains) == len(set(domains)) == N
    with (Path(bench.dir) / "bench-expected.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["domain"] for r in rows] == domains
    shares = Counter(r["category"] for r in rows)
    for category, share, _verdict in CATEGORIES:
        assert abs(shares[category] / N - share) < 0.02 + share / 3, category
    # the real internet's shape: mostly insecure, a minority signed, fewer with DANE
    verdicts = Counter(r["verdict"] for r in rows)
    assert verdicts["insecure"] > N / 2 > verdicts["dane_valid"] * 4


def test_bench_zones_are_delegated_and_signed_as_intended(bench: WorldInfo) -> None:
    zones = Path(bench.dir) / "zones"
    signed = (zones / f"{SIGNED}.signed").read_text()
    assert "NSEC3PARAM" in signed and "\tRRSIG\tMX " in signed and "\tTLSA\t3 1 1 " in signed
    assert "RRSIG" not in (zones / f"{UNSIGNED}.signed").read_text()
    assert (zones / f"{BOGUS}.signed").exists()
    net = (zones / "net.signed").read_text()
    assert f"{SIGNED}.\t3600\tIN\tDS\t" in net
    com = (zones / "com.signed").read_text()
    assert f"{UNSIGNED}.\t3600\tIN\tNS\t" in com and f"{UNSIGNED}.\t3600\tIN\tDS" not in com
    listeners = (Path(bench.dir) / "smtpd.json").read_text()
    assert "127.25.102.50" in listeners and "127.25.100.1" in listeners
