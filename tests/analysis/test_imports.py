"""The analysis modules import one way: cli → report → queries → tables, no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"


def _imports() -> dict[str, set[str]]:
    """Every ``analysis.*`` module each analysis module imports, in functions too."""
    graph: dict[str, set[str]] = {}
    for path in ANALYSIS.rglob("*.py"):
        parts = path.relative_to(ANALYSIS.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "analysis":
                found |= {f"analysis.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis."):
                found.add(str(node.module))
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("analysis.")}
        graph[name] = found - {name}
    return graph


def test_no_import_cycle() -> None:
    graph = _imports()
    assert "analysis.report" in graph and "analysis.queries" in graph

    def visit(module: str, path: tuple[str, ...]) -> None:
        for dep in graph.get(module, set()):
            assert dep not in path, " -> ".join((*path, dep))
            visit(dep, (*path, dep))

    for module in graph:
        visit(module, (module,))
    assert "analysis.report" not in graph["analysis.queries"]
    assert graph["analysis.tables"] == set()


def test_queries_and_cli_do_not_load_matplotlib() -> None:
    code = (
        "import sys, analysis.cli, analysis.queries; "
        "assert 'matplotlib' not in sys.modules and 'analysis.report' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ANALYSIS.parent)
