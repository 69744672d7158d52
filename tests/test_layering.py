"""The layering of DEVELOPERS.md holds: no import cycles, and the per-folder rules bite.

The rules themselves live in one place per layer (``scanner/<layer>/ruff.toml``,
``analysis/ruff.toml``) and ruff enforces them on every lint run; these tests check
what ruff cannot: that the import graph among our modules has no cycle (counting
imports inside functions, and ``scanner.cli``'s commands imported by name, too), and
that the folder rules are really in force.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.cli import LAZY_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scanner", "analysis")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every project module → the project modules it imports (anywhere in its body, or
    by name: ``scanner.cli.LAZY_COMMANDS``)."""
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from pkg import sub`` depends on pkg.sub; ``from pkg import name``
                # on pkg itself.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                # The longest project module that the import names.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    # The commands ``scanner.cli`` imports by name when they are asked for.
    graph["scanner.cli"] |= {module for module, _ in LAZY_COMMANDS.values()}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    # The checker itself can fail: a planted two-module circle is reported.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    # scanner.cli imports the check machinery inside ``check`` and the analysis
    # commands by name (``LAZY_COMMANDS``); both must be seen as edges.
    assert "scanner.runs.check" in graph["scanner.cli"]
    assert "analysis.cli" in graph["scanner.cli"]
    assert "scanner.core.model" in graph["scanner.core.rules"]


RUFF = Path(sys.executable).with_name("ruff")


@pytest.mark.parametrize(
    ("folder", "source", "banned"),
    [
        ("scanner/core", "import trio\n", "trio"),
        ("scanner/core", "import socket\n", "socket"),
        ("scanner/core", "import ssl\n", "ssl"),
        ("scanner/core", "import time\n", "time"),
        ("scanner/core", "import datetime\n\nNOW = datetime.datetime.now()\n", "datetime"),
        ("scanner/core", "from scanner.gather import resolve\n", "scanner.gather"),
        ("scanner/core", "from scanner.store import rows\n", "scanner.store"),
        ("scanner/gather", "from scanner.store import sink\n", "scanner.store"),
        ("scanner/gather", "from scanner.runs import scan\n", "scanner.runs"),
        ("scanner/store", "from scanner.gather import probe\n", "scanner.gather"),
        ("scanner/runs", "from scanner import cli\n", "scanner.cli"),
        ("scanner/world", "from scanner.runs import scan\n", "scanner.runs"),
        ("analysis", "from scanner.gather import resolve\n", "scanner.gather"),
    ],
)
def test_folder_rule_is_enforced(folder: str, source: str, banned: str) -> None:
    ruff = str(RUFF) if RUFF.exists() else shutil.which("ruff")
    assert ruff, "ruff is part of the dev extra"
    got = subprocess.run(
        [
            ruff,
            "check",
            "--no-cache",
            "--select",
            "TID251",
            "--output-format",
            "concise",
            "--stdin-filename",
            f"{folder}/_layer_probe.py",
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert got.returncode == 1, got.stdout + got.stderr
    assert "TID251" in got.stdout and banned in got.stdout


def test_allowed_import_passes() -> None:
    ruff = str(RUFF) if RUFF.exists() else shutil.which("ruff")
    assert ruff
    got = subprocess.run(
        [
            ruff,
            "check",
            "--no-cache",
            "--select",
            "TID251",
            "--stdin-filename",
            "scanner/gather/_layer_probe.py",
            "-",
        ],
        input="import trio\n\nfrom scanner.core import rules\n\nprint(trio, rules)\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert got.returncode == 0, got.stdout
