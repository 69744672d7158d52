"""What the benchmark scripts share: dnsperf's baseline and one measured `danescan scan`.

Imported by the scripts next to it (``python bench/bench_*.py`` puts this directory on
the import path).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from scanner.world.info import WorldInfo


def dnsperf_qps(
    resolver: str, domains: Sequence[str], workdir: Path, prefix: Sequence[str] = ()
) -> float:
    """Queries/s dnsperf gets asking ``resolver`` every domain's MX with DO set, 500 in
    flight, as the scanner asks; ``prefix`` wraps the command (e.g. ``world exec``)."""
    queries = workdir / "queries.txt"
    queries.write_text("".join(f"{d} MX\n" for d in domains))
    argv = ["dnsperf", "-s", resolver, "-d", str(queries), "-n", "1", "-q", "500", "-D"]
    out = subprocess.run([*prefix, *argv], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    assert m, out
    return float(m.group(1))


def scan_argv(world: WorldInfo, domains: Path, out: Path, *extra: str) -> list[str]:
    """`danescan scan` of ``domains`` into ``out`` against the world's resolver."""
    return [
        sys.executable,
        "-m",
        "scanner",
        "scan",
        str(domains),
        "--out",
        str(out),
        "--resolver",
        world.resolver_spec,
        "--no-progress",
        *extra,
    ]


def medians(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each figure's median over ``runs`` (dicts with the same keys)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def run_measured(
    argv: Sequence[str], log: Path, code: Path | None = None
) -> tuple[float, float, float]:
    """Run ``argv`` (stderr to ``log``); its wall seconds, its own peak RSS in MiB and
    the CPU seconds (user + system) of it and every descendant it waited for (Dask's
    nannies and worker processes included).

    ``code``: a checkout (or ``git archive``) whose ``scanner`` the command imports, by
    ``PYTHONPATH`` from a neutral working directory (``python -m`` would otherwise find
    the one in the current directory first); every process the command starts inherits
    both.

    ``wait4`` gives the rusage of this one child, where RUSAGE_CHILDREN would be the
    maximum over every child so far. A command that execs (``world exec``) is measured
    as what it became.
    """
    started = time.monotonic()
    with log.open("w") as err:
        env = None if code is None else {**os.environ, "PYTHONPATH": str(code.resolve())}
        cwd = None if code is None else log.parent
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    assert proc.returncode == 0, f"{argv[:4]} failed ({proc.returncode}): {log.read_text()[-2000:]}"
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def scan_counts(out: Path) -> tuple[int, int]:
    """(domains scanned, DNS queries sent) from a scan's metadata row."""
    row = (
        duckdb.connect()
        .execute(f"SELECT domains_scanned, queries FROM read_parquet('{out}/scans/**/*.parquet')")
        .fetchall()[0]
    )
    return int(row[0]), int(row[1])
