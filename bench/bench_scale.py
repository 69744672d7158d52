"""Benchmark of the staged scan at scale (issue 14): domains/s, scanner CPU per domain
and peak RSS per worker process, with 1 and 2 Dask workers, on the world's bench list.

    danescan world build --bench 1000000      # once (about 33 s; NSD needs ~1 GiB)
    danescan world up
    danescan world exec -- .venv/bin/python bench/bench_scale.py --domains 100000 \\
        --workers 1 2 --runs 3 --no-probe

Printed per configuration (medians of ``--runs``): wall seconds, domains/s, scanner CPU
per domain twice — the stage tasks' CPU time (from the scan's own statistics in
``scan.json``) and the whole run's (the driver, Dask's scheduler, nannies and workers,
compaction: the rusage of the process tree) — and the largest peak RSS of any one task
in a worker process (each task reports its own peak). A baseline from the same
run: dnsperf asking every domain's MX against the same (warm) resolver. The first run of
a configuration warms the resolver's cache, which the bench zones' TTL (300 s) lets go
again a few minutes later: compare configurations within one invocation only. ``--baseline SRC`` (a
checkout or ``git archive`` of other code) runs that code's scans alternating with this
tree's, each from a neutral directory with ``PYTHONPATH`` naming its code::

    git archive 143907b | tar -x -C /tmp/base
    danescan world exec -- .venv/bin/python bench/bench_scale.py --domains 100000 \\
        --workers 1 --runs 3 --no-probe --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import dnsperf_qps, run_measured, scan_argv, scan_counts

from scanner.world.control import world_info


def one_scan(
    world: object,
    domains: Path,
    out: Path,
    workers: int,
    extra: list[str],
    code: Path | None = None,
) -> dict[str, float]:
    argv = scan_argv(world, domains, out, "--workers", str(workers), *extra)  # type: ignore[arg-type]
    wall, driver_rss, whole_cpu = run_measured(argv, out.with_suffix(".log"), code)
    state = json.loads((out / "scan.json").read_text())
    stats = state.get("stats", {})
    cpu = sum(float(s["cpu_seconds"]) for s in stats.values())
    peak = max(
        (mib for s in stats.values() for mib in s["peak_rss_mib_per_process"].values()),
        default=0,
    )
    scanned, queries = scan_counts(out)
    return {
        "wall": wall,
        "domains": scanned,
        "queries": queries,
        "cpu_per_domain_us": cpu / max(1, scanned) * 1e6,
        "whole_cpu_per_domain_us": whole_cpu / max(1, scanned) * 1e6,
        "peak_worker_mib": float(peak),
        "driver_mib": driver_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-probe", action="store_true")
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another code base (a checkout or git archive) measured in the same run, "
        "its scans alternating with this tree's",
    )
    args = parser.parse_args()
    world = world_info()
    assert world.bench_domains, "the world has no bench domains: danescan world build --bench N"
    names = Path(world.bench_domains).read_text().split()
    assert len(names) >= args.domains, f"the world has {len(names)} bench domains"
    extra = ["--no-probe"] if args.no_probe else []
    if args.partitions:
        extra += ["--partitions", str(args.partitions)]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        domains = work / "domains.txt"
        domains.write_text("\n".join(names[: args.domains]) + "\n")
        # dnsperf sends nothing to the IPv4 address inside the namespace: its IPv6 one.
        baseline = dnsperf_qps(world.resolver6, names[: args.domains], work)
        print(f"dnsperf (MX, DO, same resolver, before the scans): {baseline:,.0f} queries/s")
        here = Path(__file__).resolve().parents[1]
        codes = {"this tree": here, "baseline": args.baseline} if args.baseline else {"": None}
        for workers in args.workers:
            by_code: dict[str, list[dict[str, float]]] = {label: [] for label in codes}
            for run in range(args.runs):
                for label, code in codes.items():
                    out = work / f"w{workers}-{run}-{label.replace(' ', '-') or 'scan'}"
                    by_code[label].append(one_scan(world, domains, out, workers, extra, code))
            for label, results in by_code.items():
                report(label, workers, results)


def report(label: str, workers: int, results: list[dict[str, float]]) -> None:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(
        f"{label + ': ' if label else ''}--workers {workers}: {med('domains'):,.0f} domains "
        f"in {med('wall'):.1f} s = "
        f"{med('domains') / med('wall'):,.0f} domains/s; "
        f"{med('queries') / med('domains'):.2f} queries/domain; scanner CPU "
        f"{med('cpu_per_domain_us'):,.0f} µs/domain in tasks, "
        f"{med('whole_cpu_per_domain_us'):,.0f} µs/domain in all (driver, Dask, "
        f"compaction); peak RSS per worker "
        f"{med('peak_worker_mib'):,.0f} MiB (driver {med('driver_mib'):,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
