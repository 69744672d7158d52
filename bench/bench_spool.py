"""CPU of the driver's input spooling alone: ``Scan._spool`` over a domain list.

Runs exactly what a scan's driver runs before any stage (reading the input in chunks,
the encoding check, splitting and normalising lines, recording invalid ones, and
writing each domain partition's input files) into a temporary directory, and prints
the process's CPU time (``time.process_time``) per input line as one JSON line.

The code measured is whatever ``scanner`` this process imports, so the same script
measures an older checkout with ``PYTHONPATH=/that/checkout``::

    PYTHONPATH=. .venv/bin/python bench/bench_spool.py /tmp/d100k.txt --runs 5
    PYTHONPATH=/tmp/base .venv/bin/python bench/bench_spool.py /tmp/d100k.txt --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from scanner.runs import scan as scan_module
from scanner.runs.scan import Scan, ScanConfig
from scanner.runs.stages import Plan
from scanner.runs.wiring import GatherOptions
from scanner.store.inputs import LineSplitter
from scanner.store.objstore import open_store


def _spool(domains: Path, out: str, parts: int) -> tuple[int, float]:
    """One ``_spool`` of ``domains`` into ``out``: (lines, CPU seconds)."""
    scan = Scan(
        ScanConfig(str(domains), out, GatherOptions(resolvers=(("127.0.0.1", 53),), probe=False))
    )
    scan.store = open_store(out)
    scan.plan = Plan(parts)
    scan.scan_id = "bench"
    cpu = time.process_time()
    counts = scan._spool(LineSplitter(), writes_invalid=True)
    return int(counts["lines"]), time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domains", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parts", type=int, default=6, help="domain partitions")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-spool-") as tmp:
            lines, cpu = _spool(args.domains, tmp, args.parts)
        runs.append(cpu)
        print(f"# run {len(runs)}: {lines} lines, cpu {cpu:.3f} s", file=sys.stderr)
    cpu = statistics.median(runs)
    print(
        json.dumps(
            {
                "label": args.label or str(Path(scan_module.__file__).parents[2]),
                "lines": lines,
                "runs": len(runs),
                "cpu_s": [round(r, 3) for r in runs],
                "cpu_us_per_line": round(cpu / lines * 1e6, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
