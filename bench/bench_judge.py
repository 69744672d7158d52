"""The judge stage's CPU per domain, on a stored scan, without a network.

Prepares once (``--work``, kept between runs) what the judge stage reads: a regrade of
``SCAN`` whose domain and host (and probe) stages run but whose judge does not, so its
``_work`` directory holds each domain partition's own facts and the host (and probe)
facts routed to it. Then, in a fresh process per code base, calls
``stages._judge_stage`` on every domain partition, one at a time, and measures each
call with ``time.process_time()`` (nothing else runs in that process: no overlap of
concurrent tasks as in ``scan.json``'s stats). ``--baseline SRC`` (a checkout or
``git archive`` of the old code) is measured the same way in the same run, runs of the
two alternating, and each run's outputs are compared with the first one's.

    .venv/bin/python bench/bench_judge.py /tmp/p1 --work /tmp/judge-work \
        --baseline /tmp/judge-base --runs 5

Prints, per code base, the median over runs of CPU µs per domain (and of wall time).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
TABLES = ("domains", "domain_mx", "findings", "sender_outcomes")


def prepare(scan: Path, work: Path) -> None:
    """A regrade of ``scan`` into ``work`` stopped before its judge stage."""
    from scanner.runs.engine import InProcess
    from scanner.runs.regrade import Regrade

    class UpToJudge(Regrade):
        def _run_stage(self, stage: str) -> None:
            if stage != "judge":
                super()._run_stage(stage)

        def _finish(self) -> None:
            pass  # keep _work

    if work.exists():
        shutil.rmtree(work)
    UpToJudge(str(scan), str(work), engine=InProcess(1)).run()


def _readable(work: Path) -> bool:
    """Is ``work`` prepared, by code whose plan this tree reads (an older checkout's
    plan may have other fields)?"""
    from scanner.runs import stages

    try:
        stages.Plan(**json.loads((work / "scan.json").read_text())["plan"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def judge_once(work: Path, out: Path | None) -> dict[str, Any]:
    """Every domain partition judged in turn in this process: CPU and wall seconds."""
    from scanner.runs import stages
    from scanner.runs.wiring import GatherOptions
    from scanner.store import dataset as ds
    from scanner.store.objstore import open_store

    state = json.loads((work / "scan.json").read_text())
    plan = stages.Plan(**state["plan"])
    probe = bool(state["settings"]["probe"])
    store = open_store(str(work))
    cpu = wall = 0.0
    judged = 0
    for part in range(plan.domain_parts):
        spec = stages.TaskSpec(
            stage="judge",
            part=part,
            location=str(work),
            scan_id=str(state["scan_id"]),
            scan_date=str(state["scan_date"]),
            plan=plan,
            options=GatherOptions(resolvers=(("127.0.0.1", 53),), probe=probe),
            owner_path="",
            owner_token="",
            mode="regrade",
        )
        t0, c0 = time.perf_counter(), time.process_time()
        result = stages._judge_stage(spec, store)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - t0
        judged += result.counts["judged"]
        if out is not None:
            for table in TABLES:
                src = Path(store.path(ds.work_final(table, f"d-{part:05d}")))
                dest = out / table / src.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
    return {"cpu": cpu, "wall": wall, "domains": judged}


def measure(src: Path, work: Path, out: Path | None) -> dict[str, Any]:
    """``judge_once`` in a fresh process importing ``scanner`` from ``src``."""
    argv = [sys.executable, __file__, "--worker", str(src), str(work)]
    if out is not None:
        argv += ["--save", str(out)]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker for {src} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def same_outputs(a: Path, b: Path) -> list[str]:
    """The tables whose rows differ (as multisets; scan_id aside) between two runs."""
    import duckdb

    differ = []
    con = duckdb.connect()
    for table in TABLES:
        q = "SELECT * EXCLUDE (scan_id) FROM read_parquet('{}/{}/*.parquet')"
        left, right = q.format(a, table), q.format(b, table)
        n = con.execute(
            f"SELECT count(*) FROM (({left} EXCEPT ALL {right}) UNION ALL "
            f"({right} EXCEPT ALL {left}))"
        ).fetchone()
        if n is None or n[0]:
            differ.append(table)
    return differ


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scan", type=Path, nargs="?", help="a complete stored scan")
    p.add_argument("--work", type=Path, default=Path("/tmp/judge-work"))
    p.add_argument("--baseline", type=Path, help="source tree of the code to compare with")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--prepare", action="store_true", help="prepare --work again")
    p.add_argument("--worker", nargs=2, metavar=("SRC", "WORK"), help=argparse.SUPPRESS)
    p.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        sys.path.insert(0, args.worker[0])
        print(json.dumps(judge_once(Path(args.worker[1]), args.save)))
        return
    sys.path.insert(0, str(HERE))
    if args.prepare or not _readable(args.work):
        if args.scan is None:
            p.error(f"SCAN is needed to prepare {args.work} (absent, or made by other code)")
        prepare(args.scan, args.work)
    bases = {"this tree": HERE}
    if args.baseline:
        bases = {"baseline": args.baseline, **bases}
    saved = args.work.parent / f"{args.work.name}-outputs"
    shutil.rmtree(saved, ignore_errors=True)
    got: dict[str, list[dict[str, Any]]] = {name: [] for name in bases}
    for run in range(args.runs):
        for name, src in bases.items():
            out = saved / name.replace(" ", "-") if run == 0 else None
            got[name].append(measure(src, args.work, out))
    differ: list[str] = []
    same_bytes = False
    if args.baseline:
        differ = same_outputs(saved / "baseline", saved / "this-tree")
        same_bytes = all(
            filecmp.cmp(f, saved / "this-tree" / f.relative_to(saved / "baseline"), shallow=False)
            for f in (saved / "baseline").rglob("*.parquet")
        )
    print(
        f"judge stage, {got['this tree'][0]['domains']:,} domains, {args.runs} runs each "
        f"(medians), {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    for name, results in got.items():
        n = results[0]["domains"]
        cpu = statistics.median(r["cpu"] for r in results) / n * 1e6
        wall = statistics.median(r["wall"] for r in results) / n * 1e6
        print(f"{name:10}: {cpu:7.1f} µs CPU/domain  {wall:7.1f} µs wall/domain")
    if args.baseline:
        print("outputs identical to the baseline's:", "yes" if not differ else f"NO: {differ}")
        print("Parquet files byte-identical too:", "yes" if same_bytes else "no")
        if differ:
            sys.exit(1)


if __name__ == "__main__":
    main()
