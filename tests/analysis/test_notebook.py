"""The adoption overview notebook runs clean (nbclient) against a scan directory."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.analysis.analysis_synthetic import SyntheticScans

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def run_notebook(
    name: str, scan_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> nbformat.NotebookNode:
    """Execute a notebook with ``DANESCAN_SCAN_DIR`` set; raises on any cell error."""
    monkeypatch.setenv("DANESCAN_SCAN_DIR", str(scan_dir))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append(o.get("text", ""))
            parts.extend(str(v) for v in o.get("data", {}).values())
    return "\n".join(parts)


def test_adoption_overview_runs(synthetic: SyntheticScans, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run_notebook("adoption_overview.ipynb", synthetic.root, monkeypatch)
    text = outputs_text(nb)
    assert "2 scan(s)" in text
    assert "<table" in text  # the query results render as tables
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    assert os.environ["DANESCAN_SCAN_DIR"] == str(synthetic.root)
