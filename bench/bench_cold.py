"""A scan of every bench domain against a *cold* validating resolver, and that resolver's capacity.

The realistic case for a large scan: nothing is in Unbound's cache, every answer is
validated. Run from outside the namespace (it restarts the world to empty the cache):

    DANESCAN_WORLD_QUERY_LOG=0 danescan world build --bench 1000000
    .venv/bin/python bench/bench_cold.py [--no-probe]

Baseline, in the same run: dnsperf asking the same domains' MX questions of a freshly
started (cold) Unbound, 500 in flight: the resolver's capacity for this workload in
queries/s. Then the world is restarted again and `danescan scan` runs over the same
domains. Printed: both rates, the scan's queries per domain, its peak RSS, and the
ratio of the scan's query rate to dnsperf's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import dnsperf_qps, run_measured, scan_argv, scan_counts

from scanner.world.info import WorldInfo, world_dir

DANESCAN = [sys.executable, "-m", "scanner"]


def restart_world() -> None:
    subprocess.run([*DANESCAN, "world", "down"], check=True, capture_output=True)
    subprocess.run([*DANESCAN, "world", "up"], check=True, capture_output=True)


def inside(argv: list[str]) -> list[str]:
    return [*DANESCAN, "world", "exec", "--", *argv]


def dnsperf_cold(world: WorldInfo, domains: list[str], work: Path) -> float:
    restart_world()
    return dnsperf_qps(world.resolver6, domains, work, prefix=inside([]))


def scan_cold(world: WorldInfo, listing: Path, out: Path, extra: list[str]) -> dict[str, float]:
    restart_world()
    argv = inside(scan_argv(world, listing, out, *extra))
    elapsed, rss = run_measured(argv, out.with_suffix(".log"))
    domains, queries = scan_counts(out)
    return {"elapsed": elapsed, "domains": domains, "queries": queries, "rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-probe", action="store_true", help="DNS-only scan")
    parser.add_argument("--limit", type=int, default=0, help="first N bench domains only")
    args = parser.parse_args()
    world = WorldInfo.load(world_dir() / "world.json")
    assert world.bench_domains, "the world has no bench domains: danescan world build --bench N"
    domains = Path(world.bench_domains).read_text().split()
    if args.limit:
        domains = domains[: args.limit]
    with tempfile.TemporaryDirectory(dir=Path.cwd() / "work") as tmp:
        work = Path(tmp)
        listing = work / "domains.txt"
        listing.write_text("\n".join(domains) + "\n")
        base = dnsperf_cold(world, domains, work)
        extra = ["--no-probe"] if args.no_probe else []
        r = scan_cold(world, listing, work / "scan", extra)
    qps = r["queries"] / r["elapsed"]
    label = "dns-only" if args.no_probe else "with probes"
    print(f"{len(domains):,} bench domains, cold Unbound (1 thread) each time, one run")
    print(f"dnsperf MX baseline (cold Unbound): {base:,.0f} queries/s")
    print(
        f"scan {label}: {r['elapsed']:.0f} s, {r['domains'] / r['elapsed']:,.0f} domains/s, "
        f"{qps:,.0f} queries/s, {r['queries'] / r['domains']:.2f} queries/domain, "
        f"peak RSS {r['rss_mib']:.0f} MiB, ratio to dnsperf {qps / base:.2f}"
    )


if __name__ == "__main__":
    main()
