"""The report: its numbers, its files, and what headless Chromium renders of it."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from analysis import report
from tests.analysis.analysis_synthetic import SCAN_IDS, SyntheticScans

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(
    synthetic: SyntheticScans, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, report.Report]:
    out = tmp_path_factory.mktemp("report") / "adoption.html"
    return report.write_report([synthetic.root], out)


def test_files_and_paths(written: tuple[Path, Path, report.Report]) -> None:
    html_path, md_path, _ = written
    assert html_path.name == "adoption.html" and md_path.name == "adoption.md"
    charts = sorted((html_path.parent / "adoption_charts").glob("*.png"))
    assert {c.stem for c in charts} >= {
        "funnel",
        "verdicts",
        "verdicts_by_tld",
        "providers",
        "trend",
    }
    for c in charts:
        assert c.read_bytes().startswith(PNG_MAGIC)
    md = md_path.read_text()
    for c in charts:
        assert f"(adoption_charts/{c.name})" in md
    assert report.report_paths(Path("x/r.md"))[:2] == (Path("x/r.html"), Path("x/r.md"))
    assert report.report_paths(Path("r"))[:2] == (Path("r.html"), Path("r.md"))


def test_html_is_self_contained(written: tuple[Path, Path, report.Report]) -> None:
    page = written[0].read_text()
    assert "<script" not in page
    # Nothing to fetch: every src is an embedded image, no stylesheet links, no URLs.
    assert re.findall(r'src="(?!data:image/png;base64,)', page) == []
    assert "<link" not in page and "http://" not in page and "https://" not in page
    for uri in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        assert base64.b64decode(uri).startswith(PNG_MAGIC)


def test_report_numbers_match_the_rows(
    written: tuple[Path, Path, report.Report], synthetic: SyntheticScans
) -> None:
    _, md_path, built = written
    latest = SCAN_IDS[-1]
    assert built.latest == latest and built.scan_ids == list(SCAN_IDS)
    ds = synthetic.table(latest, "domains")
    verdicts = Counter(d["verdict"] for d in ds)
    md = md_path.read_text()
    for verdict, n in verdicts.items():
        assert f"| {verdict} | {n} | {100 * n / len(ds):.2f} |" in md
    assert f"| DANE valid | {verdicts['dane_valid']} |" in md
    assert f"| domains scanned | {len(ds)} | 100.00 |" in md


def test_every_section_says_what_it_counts(written: tuple[Path, Path, report.Report]) -> None:
    _, md_path, built = written
    grains = ("domains", "MX hosts", "TLSA RRsets", "TLSA records", "scans")
    for section in built.sections:
        assert any(g in section.counts for g in grains), section.key
        for table in section.tables:
            assert "counts" in table.caption.lower() or "one row per" in table.caption, (
                table.caption
            )
    md = md_path.read_text()
    assert "TLSA records" in md and "TLSA RRsets" in md and "MX hosts" in md


def test_single_scan_has_no_trend_chart_or_diff(synthetic: SyntheticScans, tmp_path: Path) -> None:
    _, _, built = report.write_report([synthetic.scan_dir(SCAN_IDS[0])], tmp_path / "one.html")
    keys = [s.key for s in built.sections]
    assert "diff" not in keys
    trend = next(s for s in built.sections if s.key == "trend")
    assert trend.charts == []


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_chromium_renders_charts_and_tables(
    written: tuple[Path, Path, report.Report], tmp_path: Path
) -> None:
    html_path = written[0]
    base = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*base, "--dump-dom", html_path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    images = re.findall(r'<img class="chart" src="data:image/png;base64,([^"]+)"', dom)
    assert len(images) >= 8
    assert all(len(base64.b64decode(i)) > 1000 for i in images)
    tables = re.findall(r"<table class=\"data\">.*?</table>", dom, flags=re.S)
    assert len(tables) >= 10
    assert all("<td>" in t for t in tables[:3])
    for heading in (
        "Adoption funnel",
        "Verdicts",
        "Top mail providers",
        "Misconfigurations",
        "TLSA parameters in use",
        "Trend across scans",
    ):
        assert f"<h2>{heading}</h2>" in dom
    # A screenshot, through the script users run.
    shot = tmp_path / "report.png"
    script = Path(__file__).resolve().parents[2] / "scripts" / "screenshot-report"
    subprocess.run(
        [str(script), str(html_path), str(shot), "1200x3000"],
        check=True,
        timeout=120,
        capture_output=True,
    )
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 50_000
