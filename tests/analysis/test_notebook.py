"""The notebooks run clean (nbclient) against the synthetic scans: the adoption overview
of one scan, and the longitudinal and provider analysis over several."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.analysis.analysis_synthetic import SCAN_IDS, SyntheticScans

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


def test_longitudinal_runs(synthetic: SyntheticScans, monkeypatch: pytest.MonkeyPatch) -> None:
    """The longitudinal notebook over both scans: runs clean, and its provider and
    verdict lines say what the rows say, scan by scan."""
    nb = run_notebook("longitudinal.ipynb", synthetic.root, monkeypatch)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    text = outputs_text(nb)
    assert f"2 scan(s) under {synthetic.root}" in text
    assert "warning" not in text  # both scans read the same input
    for provider in ("bigmail.example", "cheap.co.uk"):
        served = [
            len(
                {
                    m["domain"]
                    for m in synthetic.table(s, "domain_mx")
                    if m["host"].endswith(provider)
                }
            )
            for s in SCAN_IDS
        ]
        assert f"{provider}: {served[0]} → {served[1]} domains served" in text
    for verdict in ("dane_valid", "dane_broken"):
        shares = []
        for s in SCAN_IDS:
            ds = synthetic.table(s, "domains")
            shares.append(100 * sum(d["verdict"] == verdict for d in ds) / len(ds))
        assert f"{verdict} {shares[0]:.2f} % → {shares[1]:.2f} %" in text
    # The domain that moved from cheap.co.uk to bigmail.example is named.
    assert "cheap.co.uk → bigmail.example" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the time charts
