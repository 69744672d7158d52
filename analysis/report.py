"""The adoption report: named queries turned into tables and charts, as HTML and Markdown.

:func:`build` runs the named queries (``analysis.queries``) over a connection and
collects sections; :func:`render_html` makes one self-contained page (inline CSS,
charts as base64 PNG from matplotlib's Agg backend, nothing fetched when viewed);
:func:`render_markdown` makes the same tables in Markdown, with the charts as PNG
files in a directory beside it. :func:`write_report` does all of it for
``danescan report``.

Detail sections describe the most recent scan given; the trend and the diff
sections appear when several scans are given. Every table and chart says what it
counts — domains, MX hosts, TLSA RRsets or TLSA records — and column headers name
the grain, so that no statistic silently mixes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.pyplot as plt

from analysis import db, queries
from analysis.queries import QueryResult

__all__ = [
    "Chart",
    "Report",
    "Section",
    "build",
    "html_table",
    "markdown_table",
    "render_html",
    "render_markdown",
    "report_paths",
    "text_table",
    "write_report",
]

# Stable colours per verdict, from good (green) to bad (red), neutral greys last.
VERDICT_COLOURS: dict[str, str] = {
    "dane_valid": "#1a9850",
    "dane_degraded": "#91cf60",
    "dane_partial": "#d9ef8b",
    "dane_unusable": "#fee08b",
    "dane_broken": "#d73027",
    "dnssec_bogus": "#a50026",
    "dnssec_no_dane": "#4575b4",
    "insecure": "#abd9e9",
    "unverified": "#e0e0e0",
    "no_mail": "#bababa",
    "nxdomain": "#878787",
    "dns_error": "#4d4d4d",
}

_HEADERS = {
    "mx_hosts": "MX hosts",
    "mx_hosts_with_tlsa": "MX hosts with TLSA",
    "tlsa_rrsets": "TLSA RRsets",
    "tlsa_records": "TLSA records",
    "pct_of_rrsets": "% of TLSA RRsets",
    "pct_of_domains": "% of domains",
    "pct_of_domains_scanned": "% of domains scanned",
    "pct_of_tld": "% of the TLD's domains",
    "pct_of_signed_domains": "% of signed-MX domains",
    "pct_dane_valid": "% dane_valid",
    "tld_domains": "domains in TLD",
    "domain_mx_pairs": "(domain, MX host) pairs",
}


def header(column: str) -> str:
    """Display name of a column: the grain spelled out (``mx_hosts`` → ``MX hosts``)."""
    if column in _HEADERS:
        return _HEADERS[column]
    if column.startswith("pct_"):
        return "% " + column[4:].replace("_", " ")
    return column.replace("_", " ")


def cell(value: Any) -> str:
    """Text of one value in a table."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def _shown(result: QueryResult, columns: Sequence[str] | None) -> tuple[list[str], list[list[str]]]:
    cols = list(columns) if columns is not None else list(result.columns)
    idx = [result.columns.index(c) for c in cols]
    return cols, [[cell(row[i]) for i in idx] for row in result.rows]


def html_table(result: QueryResult, columns: Sequence[str] | None = None, caption: str = "") -> str:
    """An HTML ``<table>`` of a query result (values escaped)."""
    cols, rows = _shown(result, columns)
    out = ['<table class="data">']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<thead><tr>")
    out.extend(f'<th scope="col">{html.escape(header(c))}</th>' for c in cols)
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>")
    if not rows:
        out.append(f'<tr><td colspan="{len(cols)}"><em>no rows</em></td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def markdown_table(result: QueryResult, columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of a query result."""
    cols, rows = _shown(result, columns)

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(esc(header(c)) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    lines.extend("| " + " | ".join(esc(v) for v in row) + " |" for row in rows)
    if not rows:
        lines.append("| " + " | ".join(["*no rows*"] + [""] * (len(cols) - 1)) + " |")
    return "\n".join(lines)


def text_table(result: QueryResult, columns: Sequence[str] | None = None) -> str:
    """A fixed-width plain-text table (the shell's ``--format table``)."""
    cols, rows = _shown(result, columns)
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class Chart:
    """One chart: a PNG and the text that says what it shows and counts."""

    name: str  # file-name stem
    title: str
    png: bytes

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _hbar(
    name: str,
    title: str,
    labels: list[str],
    values: list[float],
    xlabel: str,
    colours: list[str] | None = None,
) -> Chart:
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(labels), 2) + 1.2))
    positions = list(range(len(labels)))
    bars = ax.barh(positions, values, color=colours or "#4575b4")
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.bar_label(bars, labels=[f"{v:g}" for v in values], padding=3, fontsize=8)
    ax.margins(x=0.12)
    return Chart(name, title, _png(fig))


def _stacked(
    name: str,
    title: str,
    categories: list[str],
    series: dict[str, list[float]],
    xlabel: str,
    colours: dict[str, str],
) -> Chart:
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(categories), 2) + 1.8))
    positions = list(range(len(categories)))
    left = [0.0] * len(categories)
    for label, values in series.items():
        ax.barh(positions, values, left=left, label=label, color=colours.get(label, "#999999"))
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(positions, categories)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return Chart(name, title, _png(fig))


def _trend_chart(trend: QueryResult) -> Chart:
    title = "Trend across scans (% of domains scanned)"
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [cell(s) for s in trend.column("scan_id")]
    x = list(range(len(labels)))
    for column, colour in (
        ("pct_signed_mx", "#4575b4"),
        ("pct_dane_valid", "#1a9850"),
        ("pct_defer_or_bounce", "#d73027"),
    ):
        ax.plot(x, trend.column(column), marker="o", label=header(column), color=colour)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("% of domains scanned")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8)
    ax.set_ylim(bottom=0)
    return Chart("trend", title, _png(fig))


# ----------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class Table:
    result: QueryResult
    caption: str
    columns: tuple[str, ...] | None = None


@dataclass
class Section:
    """A heading, what it counts, a sentence of explanation, charts and tables."""

    key: str
    title: str
    counts: str
    text: str = ""
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Report:
    """Everything a rendered report shows; ``data`` keeps each query's full result."""

    title: str
    scan_ids: list[str]
    latest: str
    generated_at: dt.datetime
    sections: list[Section]
    data: dict[str, QueryResult]


def _pivot(
    result: QueryResult, row_key: str, col_key: str, value: str
) -> tuple[list[str], dict[str, list[float]]]:
    rows: list[str] = []
    for r in result.column(row_key):
        if r not in rows:
            rows.append(r)
    cols = [c for c in VERDICT_COLOURS if c in set(result.column(col_key))]
    cols += sorted({c for c in result.column(col_key)} - set(cols))
    series = {c: [0.0] * len(rows) for c in cols}
    for rec in result.records():
        series[rec[col_key]][rows.index(rec[row_key])] = float(rec[value])
    return rows, series


def build(con: duckdb.DuckDBPyConnection, title: str = "DANE for SMTP adoption report") -> Report:
    """Run the named queries and assemble the report's sections (no files written)."""
    scan_ids = db.scan_ids(con)
    if not scan_ids:
        raise db.NoScanError("the scans given hold no domains and no scans rows")
    latest = scan_ids[-1]
    q = {
        "scan_metadata": queries.run(con, "scan_metadata"),
        "funnel": queries.run(con, "funnel", scan=latest),
        "verdict_shares": queries.run(con, "verdict_shares", scan=latest),
        "mail_outcome_shares": queries.run(con, "mail_outcome_shares", scan=latest),
        "verdict_by_tld": queries.run(con, "verdict_by_tld", scan=latest, top=15),
        "verdict_by_provider": queries.run(con, "verdict_by_provider", scan=latest, top=15),
        "findings_breakdown": queries.run(con, "findings_breakdown", scan=latest),
        "host_outcomes": queries.run(con, "host_outcomes", scan=latest),
        "tlsa_parameters": queries.run(con, "tlsa_parameters", scan=latest),
        "dnssec_algorithms": queries.run(con, "dnssec_algorithms", scan=latest),
        "mta_sts": queries.run(con, "mta_sts", scan=latest),
        "trend": queries.run(con, "trend"),
    }
    if len(scan_ids) > 1:
        q["diff"] = queries.run(con, "diff", scan_a=scan_ids[-2], scan_b=latest)
    sections: list[Section] = []

    meta = q["scan_metadata"]
    sections.append(
        Section(
            "scans",
            "Scans",
            "scans (one row per scan)",
            f"{len(scan_ids)} scan(s); detail sections describe the most recent, {latest}.",
            tables=[
                Table(
                    meta,
                    "Scan metadata: what was scanned, when, how (one row per scan)",
                    (
                        "scan_id",
                        "started_at",
                        "finished_at",
                        "status",
                        "input",
                        "resolvers",
                        "software_version",
                        "rules_version",
                        "schema_version",
                        "probing",
                        "domains_input",
                        "domains_scanned",
                        "domains_invalid",
                        "mx_hosts",
                        "addresses",
                    ),
                )
            ],
        )
    )

    funnel = q["funnel"]
    sections.append(
        Section(
            "funnel",
            "Adoption funnel",
            "domains",
            "Each stage is a subset of the one before: accept mail (MX or implicit MX found), "
            "signed MX (DNSSEC-secure MX RRset), TLSA published (DANE applies to at least one "
            "MX host), DANE valid (every MX host authenticates).",
            charts=[
                _hbar(
                    "funnel",
                    f"Adoption funnel, {latest} (domains)",
                    funnel.column("stage"),
                    funnel.column("domains"),
                    "domains",
                )
            ],
            tables=[
                Table(
                    funnel,
                    "Adoption funnel (counts: domains)",
                    ("stage", "domains", "pct_of_domains_scanned"),
                )
            ],
        )
    )

    vs = q["verdict_shares"]
    vbt = q["verdict_by_tld"]
    tlds, tld_series = _pivot(vbt, "tld", "verdict", "pct_of_tld")
    sections.append(
        Section(
            "verdicts",
            "Verdicts",
            "domains (each domain once, under its one verdict)",
            charts=[
                _hbar(
                    "verdicts",
                    f"Verdicts, {latest} (domains)",
                    vs.column("verdict"),
                    vs.column("domains"),
                    "domains",
                    [VERDICT_COLOURS.get(v, "#999999") for v in vs.column("verdict")],
                ),
                _stacked(
                    "verdicts_by_tld",
                    "Verdict shares by TLD (% of the TLD's domains)",
                    tlds,
                    tld_series,
                    "% of the TLD's domains",
                    VERDICT_COLOURS,
                ),
            ],
            tables=[
                Table(
                    vs, "Verdict shares (counts: domains)", ("verdict", "domains", "pct_of_domains")
                ),
                Table(
                    vbt,
                    "Verdicts by TLD (counts: domains; top TLDs by domains scanned)",
                    ("tld", "tld_domains", "verdict", "domains", "pct_of_tld"),
                ),
            ],
        )
    )

    prov = q["verdict_by_provider"]
    status_cols = (
        "dane_valid",
        "dane_degraded_or_partial",
        "dane_or_dnssec_failing",
        "dnssec_no_dane",
        "insecure",
        "other",
    )
    prov_colours = {
        "dane_valid": VERDICT_COLOURS["dane_valid"],
        "dane_degraded_or_partial": VERDICT_COLOURS["dane_degraded"],
        "dane_or_dnssec_failing": VERDICT_COLOURS["dane_broken"],
        "dnssec_no_dane": VERDICT_COLOURS["dnssec_no_dane"],
        "insecure": VERDICT_COLOURS["insecure"],
        "other": VERDICT_COLOURS["no_mail"],
    }
    sections.append(
        Section(
            "providers",
            "Top mail providers",
            "domains served (a domain with MX hosts at several "
            "providers counts once for each) and, separately, MX hosts",
            "Provider = registered domain of the MX host name (Public Suffix List). The verdict "
            "columns split the domains a provider serves by the domain's verdict.",
            charts=[
                _stacked(
                    "providers",
                    "Top providers: domains served, by verdict (domains)",
                    prov.column("provider"),
                    {c: [float(v) for v in prov.column(c)] for c in status_cols},
                    "domains served",
                    prov_colours,
                )
            ]
            if len(prov)
            else [],
            tables=[
                Table(
                    prov,
                    "Top providers by domains served (counts: domains; MX hosts "
                    "columns: distinct MX host names)",
                    (
                        "provider_rank",
                        "provider",
                        "domains",
                        "dane_valid",
                        "pct_dane_valid",
                        *status_cols[1:],
                        "mx_hosts",
                        "mx_hosts_with_tlsa",
                    ),
                )
            ],
        )
    )

    mo = q["mail_outcome_shares"]
    sections.append(
        Section(
            "mail_outcomes",
            "What a DANE-enforcing sender does",
            "domains (each domain once, under its mail outcome and error code)",
            "As Exchange Online with mandatory DANE or Postfix at security level dane would "
            "today; the error code is what such a sender reports.",
            charts=[
                _hbar(
                    "mail_outcomes",
                    f"Mail outcomes, {latest} (domains)",
                    [
                        f"{m} {e}".strip()
                        for m, e in zip(
                            mo.column("mail_outcome"), mo.column("error_code"), strict=True
                        )
                    ],
                    mo.column("domains"),
                    "domains",
                )
            ],
            tables=[
                Table(
                    mo,
                    "Mail outcomes with error codes (counts: domains)",
                    ("mail_outcome", "error_code", "domains", "pct_of_domains"),
                )
            ],
        )
    )

    fb = q["findings_breakdown"]
    ho = q["host_outcomes"]
    charts = []
    if len(fb):
        charts.append(
            _hbar(
                "findings",
                f"Findings, {latest} (domains affected)",
                fb.column("code"),
                fb.column("domains"),
                "domains affected",
            )
        )
    charts.append(
        _hbar(
            "host_outcomes",
            f"MX host outcomes, {latest} (MX hosts)",
            ho.column("outcome"),
            ho.column("mx_hosts"),
            "MX hosts",
        )
    )
    sections.append(
        Section(
            "misconfigurations",
            "Misconfigurations",
            "findings: domains affected and, separately, MX hosts; host outcomes: MX hosts and, "
            "separately, domains",
            charts=charts,
            tables=[
                Table(
                    fb,
                    "Findings by code (counts: domains affected; MX hosts the code was "
                    "reported on; finding rows)",
                    (
                        "code",
                        "severity",
                        "rfc",
                        "domains",
                        "pct_of_domains",
                        "mx_hosts",
                        "findings",
                    ),
                ),
                Table(
                    ho,
                    "MX host outcomes (counts: MX hosts; domains with such a host; "
                    "(domain, MX host) pairs)",
                    ("outcome", "mx_hosts", "domains", "domain_mx_pairs"),
                ),
            ],
        )
    )

    tp = q["tlsa_parameters"]
    sections.append(
        Section(
            "tlsa",
            "TLSA parameters in use",
            "TLSA records and TLSA RRsets, separately",
            "Only DNSSEC-secure TLSA RRsets. A record is counted once per owner name however "
            "many MX hosts share it; an RRset is counted under each parameter combination it "
            "holds.",
            charts=[
                _hbar(
                    "tlsa_rrsets",
                    f"TLSA parameters, {latest} (TLSA RRsets)",
                    tp.column("parameters"),
                    tp.column("tlsa_rrsets"),
                    "TLSA RRsets",
                )
            ]
            if len(tp)
            else [],
            tables=[
                Table(
                    tp,
                    "TLSA usage / selector / matching type (counts: TLSA records; TLSA "
                    "RRsets; MX hosts; domains)",
                    (
                        "parameters",
                        "usage_name",
                        "usable",
                        "tlsa_records",
                        "tlsa_rrsets",
                        "pct_of_rrsets",
                        "mx_hosts",
                        "domains",
                    ),
                )
            ],
        )
    )

    alg = q["dnssec_algorithms"]
    sections.append(
        Section(
            "dnssec",
            "DNSSEC algorithms",
            "domains with a signed MX RRset (and signer zones)",
            tables=[
                Table(
                    alg,
                    "DNSSEC algorithms and DS digest types (counts: domains with a "
                    "DNSSEC-secure MX RRset; zones)",
                    ("kind", "number", "name", "weak", "domains", "pct_of_signed_domains", "zones"),
                )
            ],
        )
    )

    sts = q["mta_sts"]
    sections.append(
        Section(
            "mta_sts",
            "MTA-STS and TLS-RPT next to DANE",
            "domains that accept mail",
            "MTA-STS (RFC 8461) is the PKIX alternative to DANE; senders that support both "
            "prefer DANE. policy_error: a _mta-sts record is published but no valid policy "
            "could be fetched over HTTPS. mx_not_covered: the policy's mx patterns miss an "
            "MX host.",
            tables=[
                Table(
                    sts,
                    "MTA-STS state by DANE group (counts: domains that accept mail)",
                    (
                        "mta_sts",
                        "dane",
                        "domains",
                        "pct_of_mail_domains",
                        "with_tlsrpt",
                        "mx_not_covered",
                    ),
                )
            ],
        )
    )

    trend = q["trend"]
    trend_section = Section(
        "trend",
        "Trend across scans",
        "domains (per scan)",
        "Shares of the domains scanned in each scan; compare only scans of the same input.",
        tables=[
            Table(
                trend,
                "Trend (counts: domains per scan)",
                (
                    "scan_id",
                    "started_at",
                    "domains",
                    "accept_mail",
                    "signed_mx",
                    "tlsa_published",
                    "dane_valid",
                    "defer_or_bounce",
                    "pct_signed_mx",
                    "pct_dane_valid",
                    "pct_defer_or_bounce",
                ),
            )
        ],
    )
    if len(trend) > 1:
        trend_section.charts.append(_trend_chart(trend))
    sections.append(trend_section)

    if "diff" in q:
        diff = q["diff"]
        counter: Counter[str] = Counter(c for changes in diff.column("changes") for c in changes)
        summary = QueryResult(
            ("change", "domains"),
            tuple((k, counter[k]) for k in sorted(counter, key=lambda k: (-counter[k], k))),
        )
        sections.append(
            Section(
                "diff",
                f"Changes from {scan_ids[-2]} to {latest}",
                "domains (a domain can show several changes)",
                tables=[
                    Table(summary, "Changes (counts: domains)"),
                    Table(
                        diff,
                        "Domains that changed (one row per domain)",
                        (
                            "domain",
                            "changes",
                            "verdict_a",
                            "verdict_b",
                            "mail_outcome_b",
                            "error_code_b",
                            "providers_a",
                            "providers_b",
                        ),
                    ),
                ],
            )
        )
    return Report(title, scan_ids, latest, dt.datetime.now(dt.UTC), sections, q)


# ----------------------------------------------------------------------------- rendering

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
p.counts{color:#555;font-size:.9em}
table.data{border-collapse:collapse;margin:1em 0;font-size:.85em}
table.data caption{text-align:left;font-weight:600;padding:.3em 0}
table.data th,table.data td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
table.data th{background:#f2f2f2}
table.data td{font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
nav ul{columns:2}
"""


def render_html(report: Report) -> str:
    """One self-contained HTML page: inline CSS, charts as data: URIs, no scripts."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(report.title)}</h1>",
        f"<p>Scans: {esc(', '.join(report.scan_ids))}. Detail sections: <strong>"
        f"{esc(report.latest)}</strong>. Generated {esc(cell(report.generated_at))}.</p>",
        "<nav><ul>",
    ]
    out.extend(f'<li><a href="#{s.key}">{esc(s.title)}</a></li>' for s in report.sections)
    out.append("</ul></nav>")
    for s in report.sections:
        out.append(f'<section id="{s.key}"><h2>{esc(s.title)}</h2>')
        out.append(f'<p class="counts">Counts: {esc(s.counts)}.</p>')
        if s.text:
            out.append(f"<p>{esc(s.text)}</p>")
        for c in s.charts:
            out.append(
                f'<figure><img class="chart" src="{c.data_uri()}" alt="{esc(c.title)}">'
                f"<figcaption>{esc(c.title)}</figcaption></figure>"
            )
        for t in s.tables:
            out.append(html_table(t.result, t.columns, t.caption))
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def render_markdown(report: Report, chart_dir: str | None = None) -> str:
    """The report in Markdown; charts are linked as ``chart_dir/NAME.png`` when given."""
    out = [
        f"# {report.title}",
        "",
        f"Scans: {', '.join(report.scan_ids)}. Detail sections: **{report.latest}**. "
        f"Generated {cell(report.generated_at)}.",
    ]
    for s in report.sections:
        out += ["", f"## {s.title}", "", f"*Counts: {s.counts}.*"]
        if s.text:
            out += ["", s.text]
        if chart_dir is not None:
            for c in s.charts:
                out += ["", f"![{c.title}]({chart_dir}/{c.name}.png)"]
        for t in s.tables:
            out += ["", f"**{t.caption}**", "", markdown_table(t.result, t.columns)]
    out.append("")
    return "\n".join(out)


def report_paths(out: Path) -> tuple[Path, Path, Path]:
    """(HTML file, Markdown file, chart directory) for ``--out FILE``.

    ``report.html`` → ``report.html``, ``report.md``, ``report_charts/``; a name
    without a suffix gets both suffixes added; ``report.md`` works the same way.
    """
    stem = out.with_suffix("") if out.suffix.lower() in (".html", ".htm", ".md") else out
    html_path = (
        out if out.suffix.lower() in (".html", ".htm") else stem.with_name(stem.name + ".html")
    )
    return html_path, stem.with_name(stem.name + ".md"), stem.with_name(stem.name + "_charts")


def write_report(
    paths: Iterable[str | Path], out: Path, title: str = "DANE for SMTP adoption report"
) -> tuple[Path, Path, Report]:
    """Build the report over the scans at ``paths``; write HTML, Markdown and chart PNGs."""
    con = db.connect(paths)
    try:
        report = build(con, title)
    finally:
        con.close()
    html_path, md_path, chart_dir = report_paths(Path(out))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    chart_dir.mkdir(exist_ok=True)
    for s in report.sections:
        for c in s.charts:
            (chart_dir / f"{c.name}.png").write_bytes(c.png)
    html_path.write_text(render_html(report), encoding="utf-8")
    md_path.write_text(render_markdown(report, chart_dir.name), encoding="utf-8")
    return html_path, md_path, report
