"""CPU of the scan's diagnose stage alone: ``stages._diagnose_stage`` over a scan's bogus questions.

Takes the bogus questions a finished scan diagnosed (its ``dnssec_diagnoses`` table),
writes them as the domain and host tasks do (one bogus file, sorted by the hash key of
the registered domain), and runs the scan's diagnose tasks over them in this process:
the same key ranges, one chain walker per task, the CD queries to the world's Unbound,
the checks and the Parquet rows. It prints the process's CPU time
(``time.process_time``: user + system) per bogus question and per domain the scan
judged, as one JSON line: the second figure compares with the other stages' per-domain
cost.

The code measured is whatever ``scanner`` this process imports, so the same script
measures an older checkout with ``PYTHONPATH=/that/checkout``::

    danescan world exec -- env PYTHONPATH=. .venv/bin/python \\
        bench/bench_diagnose_stage.py /tmp/scan-100k --runs 3
    danescan world exec -- env PYTHONPATH=/tmp/base .venv/bin/python \\
        bench/bench_diagnose_stage.py /tmp/scan-100k --runs 3

Without ``--trust-anchor`` the walk starts from IANA's root anchors, which the local
world's private root does not match: every diagnosis stops at the root's keys. With
the world's anchor (``work/world/root.key``) every link's signatures are checked, as
on the real Internet.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import trio

from scanner.runs import stages
from scanner.runs.stages import BOGUS_SCHEMA, Plan, TaskSpec, _diagnose_stage
from scanner.runs.wiring import GatherOptions, Seams
from scanner.store import dataset as ds
from scanner.store.objstore import open_store
from scanner.store.psl import registered_domain


def _scan(scan: Path) -> tuple[list[tuple[str, str]], int, int]:
    """The scan's bogus questions, its number of judged domains and of diagnose tasks."""
    db = duckdb.connect()
    questions = db.sql(
        f"select distinct name, rrtype from read_parquet('{scan}/dnssec_diagnoses/**/*.parquet')"
    ).fetchall()
    [row] = db.sql(f"select count(*) from read_parquet('{scan}/domains/**/*.parquet')").fetchall()
    tasks = json.loads((scan / "scan.json").read_text())["plan"]["zone_tasks"]
    return [(str(n), str(r)) for n, r in questions], int(row[0]), max(1, int(tasks))


def _spec(location: str, options: GatherOptions, part: int, tasks: int) -> TaskSpec:
    return TaskSpec(
        stage="diagnose",
        part=part,
        location=location,
        scan_id="bench",
        scan_date="2026-11-30",
        plan=Plan(1, 1, 1, tasks),
        options=options,
        owner_path="",
        owner_token="",
        concurrency=256,
    )


def _run(location: str, options: GatherOptions, tasks: int) -> tuple[int, float, float]:
    """Every diagnose task in turn; (queries, CPU s, wall s), the bogus file's writing
    not counted."""
    store = open_store(location)
    queries, cpu, wall = 0, 0.0, 0.0
    for part in range(tasks):
        spec = _spec(location, options, part, tasks)
        w, c = time.monotonic(), time.process_time()
        result = trio.run(_diagnose_stage, spec, store, Seams())
        cpu += time.process_time() - c
        wall += time.monotonic() - w
        queries += result.counts.get("queries", 0)
    return queries, cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scan", type=Path, help="a finished scan's output directory")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--resolver", default="127.53.0.53")
    parser.add_argument(
        "--trust-anchor",
        type=Path,
        default=None,
        help="the scan's --trust-anchor (the world's root.key: every signature is checked)",
    )
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    questions, domains, tasks = _scan(args.scan)
    options = GatherOptions(
        resolvers=((args.resolver, 53),), probe=False, trust_anchor=args.trust_anchor
    )
    bogus = [
        {"key": ds.hash_key(registered_domain(n) or n), "name": n, "rrtype": r}
        for n, r in questions
    ]
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-diagnose-stage-") as tmp:
            ds.write_sorted(open_store(tmp), ds.bogus_file("d-00000"), BOGUS_SCHEMA, bogus, "key")
            queries, cpu, wall = _run(tmp, options, tasks)
        runs.append((queries, cpu, wall))
        print(
            f"# run {len(runs)}: {len(questions)} questions in {tasks} tasks, {queries} "
            f"queries, cpu {cpu:.3f} s, wall {wall:.2f} s",
            file=sys.stderr,
        )
    cpu = statistics.median(r[1] for r in runs)
    print(
        json.dumps(
            {
                "label": args.label or str(Path(stages.__file__).parents[2]),
                "questions": len(questions),
                "domains": domains,
                "tasks": tasks,
                "queries": statistics.median(r[0] for r in runs),
                "runs": len(runs),
                "cpu_s": [round(r[1], 3) for r in runs],
                "cpu_us_per_question": round(cpu / len(questions) * 1e6, 1),
                "cpu_us_per_domain": round(cpu / domains * 1e6, 2),
                "wall_s": round(statistics.median(r[2] for r in runs), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
