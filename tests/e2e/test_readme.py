"""Every example of the README runs as written (issue 12), against the local world.

Each fenced ``sh`` block runs as one bash script from the repository root, with the
project's virtualenv first on PATH (as after ``. .venv/bin/activate``); a line ending
in ``# exit N`` may end with status N. ``sql`` blocks run in DuckDB from the same
directory. The one exception is ``scripts/test``: it is the command running these
tests. The examples write under ``out/``; the directories they create are removed
first, since a scan refuses an output directory that is not empty.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from scanner.world.info import WorldInfo

pytestmark = [pytest.mark.world, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
EXPECTED_EXIT = re.compile(r"#\s*exit (\d+)")


def blocks(kind: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [body for lang, body in FENCE.findall(text) if lang == kind]


def _runnable(block: str) -> str:
    """The block as a bash script: ``scripts/test`` left out, ``# exit N`` honoured."""
    lines = []
    for line in block.splitlines():
        if line.split("#")[0].strip() == "scripts/test":
            continue
        expected = EXPECTED_EXIT.search(line)
        if expected:
            code = expected.group(1)
            line = f'{line.split("#")[0].rstrip()} || test "$?" -eq {code}'
        lines.append(line)
    return "set -euo pipefail\n" + "\n".join(lines) + "\n"


def _out_dirs(block: str) -> set[str]:
    return set(re.findall(r"--out (out/[\w.-]+)", block))


def test_the_readme_has_examples() -> None:
    assert len(blocks("sh")) >= 3 and blocks("sql")


@pytest.mark.parametrize("index", range(len(blocks("sh"))))
def test_shell_example_runs_as_written(world: WorldInfo, index: int) -> None:
    block = blocks("sh")[index]
    for name in _out_dirs(block):
        shutil.rmtree(ROOT / name, ignore_errors=True)
    (ROOT / "out").mkdir(exist_ok=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    got = subprocess.run(
        ["bash", "-c", _runnable(block)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert got.returncode == 0, (
        f"{block}\n--- stdout\n{got.stdout[-3000:]}\n--- stderr\n{got.stderr[-3000:]}"
    )


def test_sql_examples_run_over_the_example_scans(world: WorldInfo) -> None:
    # The SQL reads what the shell examples wrote under out/.
    assert list((ROOT / "out").glob("*/domains/**/*.parquet")), "run the shell examples first"
    for query in blocks("sql"):
        with duckdb.connect() as con:
            con.execute(f"SET file_search_path = '{ROOT}'")
            rows = con.sql(query.replace("'out/", f"'{ROOT}/out/")).fetchall()
        assert rows, query
