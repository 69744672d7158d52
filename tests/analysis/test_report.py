"""The report: its numbers, its files, its charts, and what headless Chromium renders of it."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from analysis import charts, db, report
from analysis.tables import md_escape
from tests.analysis.analysis_synthetic import (
    SCAN2_PROFILES,
    SCAN_IDS,
    STARTS,
    SyntheticScans,
    build_rows,
    usable_record,
    write_table,
)

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
SVG_NS = "{http://www.w3.org/2000/svg}"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")


@pytest.fixture(scope="module")
def written(
    synthetic: SyntheticScans, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, report.Report]:
    out = tmp_path_factory.mktemp("report") / "adoption.html"
    return report.write_report([synthetic.root], out)


def svg_texts(svg: bytes) -> list[str]:
    """The text of every <text> element of an SVG (matplotlib with svg.fonttype none)."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG_NS}text")]


def md_table(md: str, caption: str) -> list[list[str]]:
    """The rows (header first) of the Markdown table under ``**caption**``."""
    block = md.split(f"**{caption}**", 1)[1].strip().split("\n\n", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[:1] + lines[2:]]


def section(built: report.Report, key: str) -> report.Section:
    return next(s for s in built.sections if s.key == key)


def test_files_and_paths(written: tuple[Path, Path, report.Report]) -> None:
    html_path, md_path, _ = written
    assert html_path.name == "adoption.html" and md_path.name == "adoption.md"
    svgs = sorted((html_path.parent / "adoption_charts").glob("*.svg"))
    assert {c.stem for c in svgs} >= {
        "funnel",
        "verdicts",
        "verdicts_by_tld",
        "providers",
        "ranks",
        "findings",
        "findings_info",
        "tlsa_rrsets",
        "trend",
        "trend_verdicts",
    }
    assert not list((html_path.parent / "adoption_charts").glob("*.png"))
    md = md_path.read_text()
    for c in svgs:
        root = ET.fromstring(c.read_bytes())  # well-formed SVG
        assert root.tag == f"{SVG_NS}svg"
        assert f"(adoption_charts/{c.name})" in md
    # What GitHub makes of the Markdown: every chart an image of the SVG file beside it.
    rendered = cmarkgfm.github_flavored_markdown_to_html(md)
    assert sorted(re.findall(r'<img src="adoption_charts/([^"]+)"', rendered)) == [
        c.name for c in svgs
    ]
    assert report.report_paths(Path("x/r.md"))[:2] == (Path("x/r.html"), Path("x/r.md"))
    assert report.report_paths(Path("r"))[:2] == (Path("r.html"), Path("r.md"))


def test_html_is_self_contained(written: tuple[Path, Path, report.Report]) -> None:
    page = written[0].read_text()
    assert "<script" not in page
    # Nothing to fetch: every src is an embedded SVG, no stylesheet links, no URLs.
    assert re.findall(r'src="(?!data:image/svg\+xml;base64,)', page) == []
    assert (
        "<link" not in page
        and "http://" not in page.replace("http://www.w3.org/", "")
        and "https://" not in page
    )
    uris = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(uris) >= 10
    for uri in uris:
        assert ET.fromstring(base64.b64decode(uri)).tag == f"{SVG_NS}svg"
    # Every table sits in a labelled, keyboard-scrollable box.
    tables = page.count('<table class="data">')
    boxed = r'<div class="scroll" role="region" tabindex="0" aria-label="[^"]+">'
    assert tables == len(re.findall(boxed + '<table class="data">', page))


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
    for s in built.sections:
        assert any(g in s.counts for g in grains), s.key
        for table in s.tables:
            assert "counts" in table.caption.lower() or "one row per" in table.caption, (
                table.caption
            )
    md = md_path.read_text()
    assert "TLSA records" in md and "TLSA RRsets" in md and "MX hosts" in md


def test_tlsa_parameters_by_records_and_rrsets(
    written: tuple[Path, Path, report.Report], synthetic: SyntheticScans
) -> None:
    """3 1 1 is a usable parameter set although one 3 1 1 record has truncated data."""
    _, md_path, built = written
    recs = {
        (r["tlsa_base"], r["usage"], r["selector"], r["mtype"], r["data_hex"])
        for r in synthetic.table(SCAN_IDS[-1], "tlsa_records")
        if r["dnssec_status"] == "secure"
    }
    of_311 = [r for r in recs if r[1:4] == (3, 1, 1)]
    usable = [r for r in of_311 if usable_record(*r[1:])]
    rows = md_table(
        md_path.read_text(),
        "TLSA usage / selector / matching type (counts: TLSA records; TLSA RRsets; MX hosts; "
        "domains)",
    )
    head = rows[0]
    assert head[:6] == [
        "parameters",
        "usage name",
        "parameters usable",
        "TLSA records",
        "usable TLSA records",
        "unusable TLSA records",
    ]
    row = next(r for r in rows if r[0] == "3 1 1")
    assert row[2] == "yes"
    assert row[3:6] == [str(len(of_311)), str(len(usable)), str(len(of_311) - len(usable))]
    assert len(of_311) - len(usable) == 1
    rrsets = {r[0] for r in of_311}
    assert row[head.index("TLSA RRsets")] == str(len(rrsets))
    assert row[head.index("TLSA RRsets with a usable record")] == str(len({r[0] for r in usable}))
    assert next(r for r in rows if r[0] == "1 0 1")[2] == "no"
    chart = next(c for c in section(built, "tlsa").charts if c.name == "tlsa_rrsets")
    assert {"with a usable record", "no usable record"} <= set(svg_texts(chart.svg))


def test_findings_split_by_severity(written: tuple[Path, Path, report.Report]) -> None:
    built = written[2]
    s = section(built, "misconfigurations")
    by_name = {c.name: c for c in s.charts}
    problems = set(svg_texts(by_name["findings"].svg))
    info = set(svg_texts(by_name["findings_info"].svg))
    assert {"tlsa_pkix_usage", "tlsa_single_record"} <= problems
    assert "tlsa_ignored_insecure" in info and "tlsa_ignored_insecure" not in problems
    assert "tlsa_pkix_usage" not in info
    errors_table, info_table = s.tables[0].result, s.tables[1].result
    assert set(errors_table.column("severity")) == {"error", "warning"}
    assert errors_table.column("severity")[0] == "error"  # errors first
    assert set(info_table.column("severity")) == {"info"}


def test_verdicts_by_tld_one_row_per_tld(
    written: tuple[Path, Path, report.Report], synthetic: SyntheticScans
) -> None:
    md = written[1].read_text()
    ds = synthetic.table(SCAN_IDS[-1], "domains")
    counts = Counter((d["domain"].rsplit(".", 1)[1], d["verdict"]) for d in ds)
    sizes = Counter(d["domain"].rsplit(".", 1)[1] for d in ds)
    rows = md_table(
        md,
        "Verdicts by TLD (counts: domains; one row per TLD, one column per verdict; "
        "top TLDs by domains scanned)",
    )
    head, body = rows[0], rows[1:]
    assert head[:2] == ["tld", "domains in TLD"]
    assert sorted(r[0] for r in body) == sorted(sizes)  # each TLD once
    verdict_columns = [h.replace(" ", "_") for h in head[2:]]
    assert set(verdict_columns) == {v for _, v in counts}
    for r in body:
        assert r[1] == str(sizes[r[0]])
        assert [int(x) for x in r[2:]] == [counts[r[0], v] for v in verdict_columns]
        assert sum(int(x) for x in r[2:]) == sizes[r[0]]


def test_adoption_by_rank(
    written: tuple[Path, Path, report.Report], synthetic: SyntheticScans
) -> None:
    built = written[2]
    ds = synthetic.table(SCAN_IDS[-1], "domains")
    got = {r["bucket"]: r for r in built.data["adoption_by_rank"].records()}
    assert list(got) == ["top 1k", "top 10k", "top 100k", "top 1M"]
    for name, limit in (("top 1k", 1e3), ("top 10k", 1e4), ("top 100k", 1e5), ("top 1M", 1e6)):
        inside = [d for d in ds if d["rank"] <= limit]
        assert got[name]["domains"] == len(inside)
        assert got[name]["dane_valid"] == sum(d["verdict"] == "dane_valid" for d in inside)
        # DuckDB rounds half away from zero, Python to even: 0.01 apart at most.
        want = 100 * got[name]["dane_valid"] / len(inside)
        assert abs(got[name]["pct_dane_valid"] - want) <= 0.005 + 1e-9
    chart = section(built, "ranks").charts[0]
    texts = svg_texts(chart.svg)
    assert "top 1k" in texts and f"{got['top 1M']['pct_dane_valid']:.2f}" in texts


def test_no_rank_section_without_ranks(synthetic: SyntheticScans, tmp_path: Path) -> None:
    rows = build_rows("unranked", STARTS[0], dict(list(SCAN2_PROFILES.items())[:6]))
    for d in rows["domains"]:
        d["rank"] = None
    for table, table_rows in rows.items():
        write_table(tmp_path / "unranked", table, table_rows)
    con = db.connect([tmp_path / "unranked"])
    built = report.build(con)
    con.close()
    assert "ranks" not in [s.key for s in built.sections]


def test_methods_section(
    written: tuple[Path, Path, report.Report], synthetic: SyntheticScans
) -> None:
    _, md_path, built = written
    s = section(built, "methods")
    (meta,) = synthetic.table(SCAN_IDS[-1], "scans")
    settings = dict(
        zip(s.tables[0].result.column("setting"), s.tables[0].result.column("value"), strict=True)
    )
    assert settings["resolvers"] == "127.0.0.53:53"
    assert settings["trust anchor"] == meta["trust_anchor"]
    assert settings["EHLO name"] == meta["ehlo_name"]
    assert settings["SMTP probing"] == "yes"
    assert settings["Public Suffix List (recorded by the scan)"] == meta["psl_version"]
    assert settings["software version"] == meta["software_version"]
    assert settings["rules version"] == meta["rules_version"]
    options = json.loads(meta["options"])
    assert options["canary_secure"] in settings.values()
    assert options["canary_bogus"] in settings.values()
    assert settings["opt-out list"] == options["blocklist"]
    units = s.tables[1].result.column("unit")
    assert {"domains", "MX hosts", "TLSA RRsets", "TLSA records"} <= set(units)
    text = " ".join(s.notes)
    assert db.psl_version() in text and "ICANN" in text and "github.io" in text
    assert "AD" in text and "SERVFAIL" in text and "CD" in text
    md = md_path.read_text()
    assert "## Methods" in md and md_escape(db.psl_version()) in md


def test_trend_on_a_time_axis_with_every_verdict(
    written: tuple[Path, Path, report.Report], synthetic: SyntheticScans
) -> None:
    built = written[2]
    s = section(built, "trend")
    verdict_chart = next(c for c in s.charts if c.name == "trend_verdicts")
    every = {d["verdict"] for scan in SCAN_IDS for d in synthetic.table(scan, "domains")}
    assert every <= set(svg_texts(verdict_chart.svg))
    per_scan = s.tables[1].result
    assert per_scan.column("scan_id") == list(SCAN_IDS)
    for rec in per_scan.records():
        counts = Counter(d["verdict"] for d in synthetic.table(rec["scan_id"], "domains"))
        assert {v: rec[v] for v in every} == {v: counts[v] for v in every}


def _marker_xs(svg: bytes) -> list[float]:
    """x positions of a line's markers. matplotlib draws markers and tick marks alike as
    <use href=#shape x=.. y=..>; a line's markers are the shape used at points that
    differ in both x and y (tick marks share one coordinate), outside the legend."""
    by_shape: dict[str, list[tuple[float, float]]] = {}

    def uses(node: ET.Element) -> list[ET.Element]:  # the legend's sample marker left out
        if node.get("id", "").startswith("legend"):
            return []
        return ([node] if node.tag == f"{SVG_NS}use" else []) + [u for c in node for u in uses(c)]

    for use in uses(ET.fromstring(svg)):
        href = use.get("{http://www.w3.org/1999/xlink}href") or use.get("href") or ""
        if use.get("x") is not None and use.get("y") is not None:
            by_shape.setdefault(href, []).append((float(use.get("x", 0)), float(use.get("y", 0))))
    (points,) = [
        pts
        for pts in by_shape.values()
        if len({x for x, _ in pts}) == len(pts) == len({y for _, y in pts}) > 1
    ]
    return sorted(x for x, _ in points)


def test_lines_are_placed_at_their_times() -> None:
    """Scans a day apart sit closer than scans a month apart (a real time axis)."""
    times = [
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 31, tzinfo=dt.UTC),
    ]
    chart = charts.lines("t", "t", times, [("share", [1.0, 2.0, 3.0], "#000000")], "%")
    x = _marker_xs(chart.svg)
    assert len(x) == 3
    assert (x[1] - x[0]) / (x[2] - x[0]) == pytest.approx(1 / 30, abs=0.002)


def test_provider_bars_carry_their_values(
    written: tuple[Path, Path, report.Report], synthetic: SyntheticScans
) -> None:
    built = written[2]
    chart = section(built, "providers").charts[0]
    texts = svg_texts(chart.svg)
    served: dict[str, set[str]] = {}
    for m in synthetic.table(SCAN_IDS[-1], "domain_mx"):
        served.setdefault(db.provider_of(m["host"]) or "", set()).add(m["domain"])
    for provider in built.data["verdict_by_provider"].column("provider"):
        assert provider in texts
    assert str(len(served["bigmail.example"])) in texts  # the bar's total
    con = db.connect([synthetic.root])
    again = section(report.build(con), "providers").charts[0]
    con.close()
    assert again.svg == chart.svg  # the same numbers, the same bytes


def test_single_scan_has_no_trend_chart_or_diff(synthetic: SyntheticScans, tmp_path: Path) -> None:
    _, _, built = report.write_report([synthetic.scan_dir(SCAN_IDS[0])], tmp_path / "one.html")
    keys = [s.key for s in built.sections]
    assert "diff" not in keys
    trend = next(s for s in built.sections if s.key == "trend")
    assert trend.charts == []


HOSTILE_PROVIDER = "ev|l*_<b>x</b>[y](http:`z`~#"


def test_network_strings_are_escaped_in_markdown(synthetic: SyntheticScans, tmp_path: Path) -> None:
    """An MX host name full of Markdown (a name the network gave) stays text: GitHub's
    renderer finds no tag, link or extra cell in the report."""
    hostile_host = f"mx.{HOSTILE_PROVIDER}.org"
    for scan_id, start in zip(SCAN_IDS, STARTS, strict=True):
        rows = build_rows(scan_id, start, synthetic.profiles[scan_id])
        if scan_id == SCAN_IDS[-1]:
            for table in ("domain_mx", "hosts", "tlsa_records", "findings", "addresses"):
                for r in rows[table]:
                    if r.get("host") == "mx.broken.org":
                        r["host"] = hostile_host
            for d in rows["domains"]:
                d["mx_hosts"] = [hostile_host if h == "mx.broken.org" else h for h in d["mx_hosts"]]
        for table, table_rows in rows.items():
            write_table(tmp_path / "scans" / scan_id, table, table_rows)
    _, md_path, built = report.write_report([tmp_path / "scans"], tmp_path / "r.html")
    provider = f"{HOSTILE_PROVIDER}.org"
    assert provider in built.data["verdict_by_provider"].column("provider")
    rendered = cmarkgfm.github_flavored_markdown_to_html(
        md_path.read_text(), options=Options.CMARK_OPT_UNSAFE
    )
    assert "<b>" not in rendered and "<a " not in rendered and "<code>" not in rendered
    assert "<del>" not in rendered
    for table in re.findall(r"<table>.*?</table>", rendered, flags=re.S):
        head = len(re.findall(r"<th[ >]", table.split("</thead>")[0]))
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[-1], flags=re.S):
            assert len(re.findall(r"<td[ >]", row)) == head  # no forged cell
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", rendered, flags=re.S)]
    assert provider in cells  # the provider table shows it as it is
    assert any(provider in c for c in cells if c != provider)  # and the diff's provider list


# ----------------------------------------------------------------------------- Chromium

# Measures, after load, every element of the page outside the scroll boxes that
# reaches past the viewport, and posts the result to the page that framed it.
_MEASURE = """<script>
window.addEventListener("load", () => {
  const vw = document.documentElement.clientWidth;
  const over = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.parentElement && el.parentElement.closest(".scroll")) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + 0.5 || r.left < -0.5) {
      over.push(el.tagName.toLowerCase() + "." + el.className + " " + Math.round(r.left)
                + ".." + Math.round(r.right));
    }
  }
  const boxes = [...document.querySelectorAll(".scroll")];
  parent.postMessage(JSON.stringify({
    viewport: vw, page: document.documentElement.scrollWidth, over: over,
    boxes: boxes.length, scrolling: boxes.filter(b => b.scrollWidth > b.clientWidth + 0.5).length,
    charts: [...document.querySelectorAll("img.chart")].filter(i => i.naturalWidth > 0).length,
  }), "*");
});
</script>"""


def measure(page: Path, width: int, tmp_path: Path) -> dict[str, object]:
    """Lay ``page`` out in a ``width``-pixel viewport in headless Chromium and measure it.

    Chromium's headless window is at least 500 px wide, so the page is shown in an
    iframe of exactly ``width`` pixels (its own viewport: media queries and layout
    follow it); the page, given the measuring script, posts its measurement to the
    frame page, which writes it into its DOM for ``--dump-dom``.
    """
    measured = tmp_path / f"measured-{width}.html"
    measured.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    frame = tmp_path / f"frame-{width}.html"
    frame.write_text(
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe src="{measured.name}" style="border:0;width:{width}px;height:900px"></iframe>'
        '<script>addEventListener("message", e => { const p = document.createElement("pre");'
        ' p.id = "measurement"; p.textContent = e.data; document.body.appendChild(p); });'
        "</script></body></html>"
    )
    dom = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            "--hide-scrollbars",  # overlay scrollbars, as on a phone
            f"--user-data-dir={tmp_path / f'profile-{width}'}",
            "--window-size=1600,1000",
            "--virtual-time-budget=10000",
            "--dump-dom",
            frame.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r'<pre id="measurement">(.*?)</pre>', dom, flags=re.S)
    assert found, dom[-2000:]
    result: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return result


@needs_chromium
@pytest.mark.parametrize("width", [390, 1440])
def test_nothing_overflows_at_phone_and_desktop_widths(
    written: tuple[Path, Path, report.Report], tmp_path: Path, width: int
) -> None:
    got = measure(written[0], width, tmp_path)
    assert got["viewport"] == width
    assert got["over"] == [] and got["page"] == width, got
    assert got["boxes"] == written[0].read_text().count('<table class="data">')
    assert got["charts"] == sum(len(s.charts) for s in written[2].sections)  # SVGs decoded
    if width == 390:
        assert got["scrolling"], got  # wide tables do scroll, inside their boxes


@needs_chromium
def test_the_overflow_check_sees_an_overflow(
    written: tuple[Path, Path, report.Report], tmp_path: Path
) -> None:
    """Without the scroll boxes, the phone-width page overflows and the check says so."""
    unboxed = tmp_path / "unboxed.html"
    unboxed.write_text(written[0].read_text().replace('class="scroll"', 'class="plain"'))
    got = measure(unboxed, 390, tmp_path)
    assert got["over"] and int(str(got["page"])) > 390
    assert any(str(o).startswith("table.data") for o in got["over"])  # type: ignore[attr-defined]


@needs_chromium
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
    images = re.findall(r'<img class="chart" src="data:image/svg\+xml;base64,([^"]+)"', dom)
    assert len(images) >= 10
    assert all(len(base64.b64decode(i)) > 1000 for i in images)
    tables = re.findall(r"<table class=\"data\">.*?</table>", dom, flags=re.S)
    assert len(tables) >= 12
    assert all("<td>" in t for t in tables[:3])
    for heading in (
        "Methods",
        "Adoption funnel",
        "Verdicts",
        "Top mail providers",
        "Adoption by popularity rank",
        "Misconfigurations",
        "TLSA parameters in use",
        "Trend across scans",
    ):
        assert f"<h2>{heading}</h2>" in dom
    # A screenshot, through the script users run.
    shot = tmp_path / "report.png"
    script = Path(__file__).resolve().parents[2] / "scripts" / "screenshot-report"
    subprocess.run(
        [str(script), str(html_path), str(shot), "1440x3000"],
        check=True,
        timeout=120,
        capture_output=True,
    )
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 50_000
