"""The rules modules stay pure: no network, event loop or clock (STYLE §1-2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PURE = ["names", "tlsa", "certs", "rules", "findings", "dnssec", "mtasts"]
BANNED_MODULES = {"trio", "socket", "ssl", "time", "asyncio", "httpx", "h11", "dns"}
ROOT = Path(__file__).resolve().parents[2] / "scanner"


@pytest.mark.parametrize("module", PURE)
def test_no_io_imports(module: str) -> None:
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & BANNED_MODULES
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            # datetime.now() / date.today() read the clock too
            assert node.attr not in ("now", "today", "utcnow"), module
