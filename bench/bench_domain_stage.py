"""CPU of the scan's domain stage alone (issue 10): ``stages._gather_domains`` over a slice.

Runs exactly what a domain task runs per domain (``Gatherer.own_facts`` through the
resolver, the deadline, the bogus and host-reference bookkeeping, the facts JSON and the
Parquet row of each domain) against the world's Unbound, in this process, and prints the
process's CPU time (``time.process_time``: user + system) per domain and per query sent,
as one JSON line. No driver, no other stage, no Dask: the figure is the domain stage's.

The code measured is whatever ``scanner`` this process imports, so the same script
measures an older checkout with ``PYTHONPATH=/that/checkout``::

    danescan world exec -- env PYTHONPATH=. .venv/bin/python bench/bench_domain_stage.py \\
        /tmp/d20k.txt --runs 3
    danescan world exec -- env PYTHONPATH=/tmp/base .venv/bin/python \\
        bench/bench_domain_stage.py /tmp/d20k.txt --runs 3

Use names the resolver has answered before (a warm cache) so that every run, old code
and new, sees the same resolver; ``--warm`` makes one untimed pass first.

Every run asks the same names in one process, which a scan never does: a task asks
names no earlier task of its process asked. ``--fresh-tables`` empties the codec's
module-level tables of names (``scanner.gather.dnswire``: wire forms of names asked,
texts of names read; whichever the code measured has) before each run, so that the
figure is not flattered by names the warm-up pass left there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

from scanner.gather import dnswire
from scanner.runs import stages
from scanner.runs.stages import DOMAIN_SCHEMA, Plan, TaskSpec, _gather_domains
from scanner.runs.wiring import GatherOptions, Seams
from scanner.store import dataset as ds
from scanner.store.inputs import InputLine
from scanner.store.objstore import open_store


def _lines(path: Path, limit: int | None) -> list[InputLine]:
    lines: list[InputLine] = []
    for n, raw in enumerate(path.read_text().split(), start=1):
        lines.append(InputLine(n, raw, raw.lower().rstrip("."), n))
        if limit is not None and len(lines) >= limit:
            break
    return lines


def _spec(location: str, options: GatherOptions, concurrency: int) -> TaskSpec:
    return TaskSpec(
        stage="domain",
        part=0,
        location=location,
        scan_id="bench",
        scan_date="2026-11-30",
        plan=Plan(1, 1, 1),
        options=options,
        owner_path="",
        owner_token="",
        concurrency=concurrency,
    )


async def _stage(spec: TaskSpec, lines: list[InputLine]) -> tuple[int, float, float]:
    store = open_store(spec.location)
    if hasattr(stages, "collector"):  # as a task does (older code bases have no baseline)
        stages.collector.baseline()
    refs: set[str] = set()
    bogus: set[tuple[str, str]] = set()
    wall = time.monotonic()
    cpu = time.process_time()
    with ds.RowWriter(store, ds.domain_file(0), DOMAIN_SCHEMA) as out:
        queries = await _gather_domains(spec, store, Seams(), lines, out, refs, bogus)
    return queries, time.process_time() - cpu, time.monotonic() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domains", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm", action="store_true", help="one untimed pass first")
    parser.add_argument("--resolver", default="127.53.0.53")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--in-flight", type=int, default=512)
    parser.add_argument("--sockets", type=int, default=None, help="UDP sockets per resolver")
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--fresh-tables", action="store_true", help="empty the codec's name tables each run"
    )
    args = parser.parse_args()
    lines = _lines(args.domains, args.limit)
    options = GatherOptions(
        resolvers=((args.resolver, 53),), probe=False, dns_in_flight=args.in_flight
    )
    if args.sockets is not None:  # older code bases have one socket and no such option
        options = dataclasses.replace(options, dns_sockets=args.sockets)
    runs = []
    for i in range(args.runs + (1 if args.warm else 0)):
        if args.fresh_tables:
            for table in ("_qname_cache", "_name_text"):
                getattr(dnswire, table, {}).clear()
        with tempfile.TemporaryDirectory(prefix="bench-domain-stage-") as tmp:
            queries, cpu, wall = trio.run(_stage, _spec(tmp, options, args.concurrency), lines)
        if args.warm and i == 0:
            continue
        runs.append((queries, cpu, wall))
        print(
            f"# run {len(runs)}: {len(lines)} domains, {queries} queries, "
            f"cpu {cpu:.2f} s, wall {wall:.2f} s",
            file=sys.stderr,
        )
    cpu = statistics.median(r[1] for r in runs)
    wall = statistics.median(r[2] for r in runs)
    queries_sent = statistics.median(r[0] for r in runs)
    print(
        json.dumps(
            {
                "label": args.label or str(Path(stages.__file__).parents[2]),
                "domains": len(lines),
                "queries": queries_sent,
                "runs": len(runs),
                "cpu_s": [round(r[1], 3) for r in runs],
                "cpu_us_per_domain": round(cpu / len(lines) * 1e6, 1),
                "cpu_us_per_query": round(cpu / queries_sent * 1e6, 1),
                "wall_s": round(wall, 2),
                "domains_per_s": round(len(lines) / wall),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
