"""Peak memory of a scan with and without spilling shared results, against the local world.

Run inside the world's namespace (world up; `danescan world build --bench 200000` gives a
bench world whose self-hosted domains bring tens of thousands of distinct MX hosts):

    danescan world exec -- .venv/bin/python bench/bench_memory.py [--resident 10000] [--limit N]

Baseline, in the same run: the same scan with spilling switched off in effect
(``--resident`` larger than any memo gets). Printed: peak RSS of each scan process
(``ru_maxrss`` of the child), wall time, and whether both scans wrote the same verdicts,
mail outcomes and findings for every domain (they must: spilling changes where a result
lives, never what it is).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb
from benchlib import run_measured, scan_argv

from scanner.world.info import WorldInfo, world_dir

UNBOUNDED = 10**9


def scan(world: WorldInfo, domains: Path, out: Path, resident: int) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one scan subprocess."""
    argv = scan_argv(world, domains, out, "--resident", str(resident))
    return run_measured(argv, out.with_suffix(".log"))


def outcomes(out: Path) -> set[tuple[str, str, str, str]]:
    sql = (
        "SELECT domain, verdict, mail_outcome, list_sort(findings)::VARCHAR "
        f"FROM read_parquet('{out}/domains/*.parquet')"
    )
    return {tuple(r) for r in duckdb.connect().execute(sql).fetchall()}


def counts(out: Path) -> dict[str, int]:
    return {
        t: duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{out}/{t}/*.parquet')")
        .fetchall()[0][0]
        for t in ("domains", "hosts", "addresses")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resident", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=0, help="first N bench domains only")
    args = parser.parse_args()
    world = WorldInfo.load(world_dir() / "world.json")
    assert world.bench_domains, "the world has no bench domains: world build --bench N"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        domains = Path(world.bench_domains)
        if args.limit:
            lines = domains.read_text().splitlines()[: args.limit]
            domains = work / "domains.txt"
            domains.write_text("\n".join(lines) + "\n")
        spilled = scan(world, domains, work / "spill", args.resident)
        unbounded = scan(world, domains, work / "unbounded", UNBOUNDED)
        same = outcomes(work / "spill") == outcomes(work / "unbounded")
        c = counts(work / "spill")
        print(
            f"{c['domains']:,} domains, {c['hosts']:,} distinct MX hosts, "
            f"{c['addresses']:,} probed (host, address) pairs"
        )
        print(
            f"--resident {args.resident:>10,}: peak RSS {spilled[1]:7.0f} MiB, {spilled[0]:6.1f} s"
        )
        print(f"unbounded (baseline)  : peak RSS {unbounded[1]:7.0f} MiB, {unbounded[0]:6.1f} s")
        print(f"same verdicts, mail outcomes and findings for every domain: {same}")


if __name__ == "__main__":
    main()
