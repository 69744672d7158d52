"""Scan throughput against the local world, measured against the resolver's own capacity.

Run inside the world's namespace (the world must be up; it carries 20,000 bench domains,
or `danescan world build --bench N` for more):

    danescan world exec -- .venv/bin/python bench/bench_scan.py [--runs 3] [--limit N]

Baseline, in the same run: dnsperf sending the same domains' MX questions to the same
Unbound (warm cache) gives the resolver's capacity in queries/s. Then `danescan scan`
DNS-only and with SMTP probes. Printed: medians of the runs; the ratio is the scanner's
query rate over dnsperf's (how close the scanner comes to saturating the resolver).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchlib import dnsperf_qps, run_measured, scan_argv, scan_counts

from scanner.world.info import WorldInfo, world_dir


def scan(world: WorldInfo, domains: Path, out: Path, *extra: str) -> tuple[float, int, int]:
    elapsed, _, _ = run_measured(scan_argv(world, domains, out, *extra), out.with_suffix(".log"))
    scanned, queries = scan_counts(out)
    return elapsed, scanned, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=20_000)
    args = parser.parse_args()
    world = WorldInfo.load(world_dir() / "world.json")
    assert world.bench_domains, "the world has no bench domains: danescan world build --bench N"
    domains = Path(world.bench_domains).read_text().split()[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        listing = work / "domains.txt"
        listing.write_text("\n".join(domains) + "\n")
        # dnsperf over IPv6: inside the namespace getaddrinfo (AI_ADDRCONFIG) refuses
        # IPv4 when the only IPv4 addresses are loopback ones.
        dnsperf_qps(world.resolver6, domains, work)  # warm the cache once
        base = [dnsperf_qps(world.resolver6, domains, work) for _ in range(args.runs)]
        rows = {"dns-only": ["--no-probe"], "with probes": []}
        print(f"{len(domains):,} bench domains, {args.runs} runs each, medians")
        print(f"dnsperf MX baseline (warm Unbound): {statistics.median(base):,.0f} queries/s")
        for label, extra in rows.items():
            runs = []
            for i in range(args.runs):
                runs.append(scan(world, listing, work / f"{label}-{i}", *extra))
            elapsed = statistics.median(r[0] for r in runs)
            qps = statistics.median(r[2] / r[0] for r in runs)
            print(
                f"scan {label:12s}: {elapsed:6.1f} s, "
                f"{statistics.median(r[1] / r[0] for r in runs):7,.0f} domains/s, "
                f"{qps:7,.0f} queries/s, {statistics.median(r[2] / r[1] for r in runs):.2f} "
                f"queries/domain, ratio to dnsperf {qps / statistics.median(base):.2f}"
            )


if __name__ == "__main__":
    main()
