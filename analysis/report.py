"""The adoption report: one small function per section, assembled and rendered.

What must live here: what the report says — its sections, in order
(:data:`SECTIONS`), each a function from the shared :class:`ReportContext` to a
:class:`Section` (heading, what it counts, a sentence, charts, tables), or to
``None`` when it does not apply — and the two renderings of the sections, HTML and
Markdown. The numbers come from named queries (``analysis.queries``), which a
section runs through the context so that :attr:`Report.data` keeps every full
result; tables are drawn by ``analysis.tables`` and charts by ``analysis.charts``,
so a section only chooses the query, the columns, the chart and the words.

:func:`build` runs the sections over a connection; :func:`render_html` makes one
self-contained page (inline CSS, charts as base64 PNG data: URIs, nothing fetched
when viewed); :func:`render_markdown` makes the same tables in Markdown, with the
charts as PNG files in a directory beside it. :func:`write_report` does all of it
for ``danescan report``.

Detail sections describe the most recent scan given; the trend chart and the diff
section appear when several scans are given. Every table and chart says what it
counts — domains, MX hosts, TLSA RRsets or TLSA records — and column headers name
the grain, so that no statistic silently mixes them.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analysis import db, queries
from analysis.charts import VERDICT_COLOURS, Chart, hbar, lines, stacked
from analysis.queries import ParamValue, QueryResult
from analysis.tables import cell, header, html_table, markdown_table
from scanner.errors import DanescanError

__all__ = [
    "SECTIONS",
    "Report",
    "ReportContext",
    "ReportWriteError",
    "Section",
    "Table",
    "build",
    "render_html",
    "render_markdown",
    "report_paths",
    "write_report",
]


class ReportWriteError(DanescanError):
    """The report's files cannot be written where ``--out`` says."""


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Table:
    """A query result shown as a table: which columns, under which caption."""

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


@dataclass
class ReportContext:
    """What every section reads: the connection, the scans in time order, the results."""

    con: duckdb.DuckDBPyConnection
    scan_ids: list[str]
    data: dict[str, QueryResult] = field(default_factory=dict)

    @property
    def latest(self) -> str:
        """The scan the detail sections describe: the most recent."""
        return self.scan_ids[-1]

    def run(self, name: str, **params: ParamValue) -> QueryResult:
        """Run a named query and keep its full result (``Report.data[name]``)."""
        result = queries.run(self.con, name, **params)
        self.data[name] = result
        return result


# ----------------------------------------------------------------------------- sections


def _scans(ctx: ReportContext) -> Section:
    meta = ctx.run("scan_metadata")
    return Section(
        "scans",
        "Scans",
        "scans (one row per scan)",
        f"{len(ctx.scan_ids)} scan(s); detail sections describe the most recent, {ctx.latest}.",
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


def _funnel(ctx: ReportContext) -> Section:
    funnel = ctx.run("funnel", scan=ctx.latest)
    return Section(
        "funnel",
        "Adoption funnel",
        "domains",
        "Each stage is a subset of the one before: accept mail (MX or implicit MX found), "
        "signed MX (DNSSEC-secure MX RRset), TLSA published (DANE applies to at least one "
        "MX host), DANE valid (every MX host authenticates).",
        charts=[
            hbar(
                "funnel",
                f"Adoption funnel, {ctx.latest} (domains)",
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


def _pivot(
    result: QueryResult, row_key: str, col_key: str, value: str
) -> tuple[list[str], dict[str, list[float]]]:
    """Long rows to one series per ``col_key`` value, verdicts in their colour order."""
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


def _verdicts(ctx: ReportContext) -> Section:
    vs = ctx.run("verdict_shares", scan=ctx.latest)
    vbt = ctx.run("verdict_by_tld", scan=ctx.latest, top=15)
    tlds, tld_series = _pivot(vbt, "tld", "verdict", "pct_of_tld")
    return Section(
        "verdicts",
        "Verdicts",
        "domains (each domain once, under its one verdict)",
        charts=[
            hbar(
                "verdicts",
                f"Verdicts, {ctx.latest} (domains)",
                vs.column("verdict"),
                vs.column("domains"),
                "domains",
                [VERDICT_COLOURS.get(v, "#999999") for v in vs.column("verdict")],
            ),
            stacked(
                "verdicts_by_tld",
                "Verdict shares by TLD (% of the TLD's domains)",
                tlds,
                tld_series,
                "% of the TLD's domains",
                VERDICT_COLOURS,
            ),
        ],
        tables=[
            Table(vs, "Verdict shares (counts: domains)", ("verdict", "domains", "pct_of_domains")),
            Table(
                vbt,
                "Verdicts by TLD (counts: domains; top TLDs by domains scanned)",
                ("tld", "tld_domains", "verdict", "domains", "pct_of_tld"),
            ),
        ],
    )


# The verdict_by_provider query's columns splitting a provider's domains by verdict.
_PROVIDER_STATUS_COLOURS = {
    "dane_valid": VERDICT_COLOURS["dane_valid"],
    "dane_degraded_or_partial": VERDICT_COLOURS["dane_degraded"],
    "dane_or_dnssec_failing": VERDICT_COLOURS["dane_broken"],
    "dnssec_no_dane": VERDICT_COLOURS["dnssec_no_dane"],
    "insecure": VERDICT_COLOURS["insecure"],
    "other": VERDICT_COLOURS["no_mail"],
}


def _providers(ctx: ReportContext) -> Section:
    prov = ctx.run("verdict_by_provider", scan=ctx.latest, top=15)
    status_cols = tuple(_PROVIDER_STATUS_COLOURS)
    return Section(
        "providers",
        "Top mail providers",
        "domains served (a domain with MX hosts at several "
        "providers counts once for each) and, separately, MX hosts",
        "Provider = registered domain of the MX host name (Public Suffix List). The verdict "
        "columns split the domains a provider serves by the domain's verdict.",
        charts=[
            stacked(
                "providers",
                "Top providers: domains served, by verdict (domains)",
                prov.column("provider"),
                {c: [float(v) for v in prov.column(c)] for c in status_cols},
                "domains served",
                _PROVIDER_STATUS_COLOURS,
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


def _mail_outcomes(ctx: ReportContext) -> Section:
    mo = ctx.run("mail_outcome_shares", scan=ctx.latest)
    labels = [
        f"{m} {e}".strip()
        for m, e in zip(mo.column("mail_outcome"), mo.column("error_code"), strict=True)
    ]
    return Section(
        "mail_outcomes",
        "What a DANE-enforcing sender does",
        "domains (each domain once, under its mail outcome and error code)",
        "As Exchange Online with mandatory DANE or Postfix at security level dane would "
        "today; the error code is what such a sender reports.",
        charts=[
            hbar(
                "mail_outcomes",
                f"Mail outcomes, {ctx.latest} (domains)",
                labels,
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


def _misconfigurations(ctx: ReportContext) -> Section:
    fb = ctx.run("findings_breakdown", scan=ctx.latest)
    ho = ctx.run("host_outcomes", scan=ctx.latest)
    charts = []
    if len(fb):
        charts.append(
            hbar(
                "findings",
                f"Findings, {ctx.latest} (domains affected)",
                fb.column("code"),
                fb.column("domains"),
                "domains affected",
            )
        )
    charts.append(
        hbar(
            "host_outcomes",
            f"MX host outcomes, {ctx.latest} (MX hosts)",
            ho.column("outcome"),
            ho.column("mx_hosts"),
            "MX hosts",
        )
    )
    return Section(
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
                ("code", "severity", "rfc", "domains", "pct_of_domains", "mx_hosts", "findings"),
            ),
            Table(
                ho,
                "MX host outcomes (counts: MX hosts; domains with such a host; "
                "(domain, MX host) pairs)",
                ("outcome", "mx_hosts", "domains", "domain_mx_pairs"),
            ),
        ],
    )


def _tlsa(ctx: ReportContext) -> Section:
    tp = ctx.run("tlsa_parameters", scan=ctx.latest)
    return Section(
        "tlsa",
        "TLSA parameters in use",
        "TLSA records and TLSA RRsets, separately",
        "Only DNSSEC-secure TLSA RRsets. A record is counted once per owner name however "
        "many MX hosts share it; an RRset is counted under each parameter combination it "
        "holds.",
        charts=[
            hbar(
                "tlsa_rrsets",
                f"TLSA parameters, {ctx.latest} (TLSA RRsets)",
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


def _dnssec(ctx: ReportContext) -> Section:
    alg = ctx.run("dnssec_algorithms", scan=ctx.latest)
    return Section(
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


def _mta_sts(ctx: ReportContext) -> Section:
    sts = ctx.run("mta_sts", scan=ctx.latest)
    return Section(
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


def _trend(ctx: ReportContext) -> Section:
    trend = ctx.run("trend")
    charts = []
    if len(trend) > 1:  # one point is no trend
        charts.append(
            lines(
                "trend",
                "Trend across scans (% of domains scanned)",
                [cell(s) for s in trend.column("scan_id")],
                [
                    (header(column), trend.column(column), colour)
                    for column, colour in (
                        ("pct_signed_mx", "#4575b4"),
                        ("pct_dane_valid", "#1a9850"),
                        ("pct_defer_or_bounce", "#d73027"),
                    )
                ],
                "% of domains scanned",
            )
        )
    return Section(
        "trend",
        "Trend across scans",
        "domains (per scan)",
        "Shares of the domains scanned in each scan; compare only scans of the same input.",
        charts=charts,
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


def _diff(ctx: ReportContext) -> Section | None:
    if len(ctx.scan_ids) < 2:
        return None
    previous = ctx.scan_ids[-2]
    diff = ctx.run("diff", scan_a=previous, scan_b=ctx.latest)
    counter: Counter[str] = Counter(c for changes in diff.column("changes") for c in changes)
    summary = QueryResult(
        ("change", "domains"),
        tuple((k, counter[k]) for k in sorted(counter, key=lambda k: (-counter[k], k))),
    )
    return Section(
        "diff",
        f"Changes from {previous} to {ctx.latest}",
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


SECTIONS: tuple[Callable[[ReportContext], Section | None], ...] = (
    _scans,
    _funnel,
    _verdicts,
    _providers,
    _mail_outcomes,
    _misconfigurations,
    _tlsa,
    _dnssec,
    _mta_sts,
    _trend,
    _diff,
)
"""The report's sections, in the order shown; ``None`` from one means "not here"."""


def build(con: duckdb.DuckDBPyConnection, title: str = "DANE for SMTP adoption report") -> Report:
    """Run every section's queries and assemble the report (no files written)."""
    scan_ids = db.scan_ids(con)
    if not scan_ids:
        raise db.NoScanError("the scans given hold no domains and no scans rows")
    ctx = ReportContext(con, scan_ids)
    sections = [s for make in SECTIONS if (s := make(ctx)) is not None]
    return Report(title, scan_ids, ctx.latest, dt.datetime.now(dt.UTC), sections, ctx.data)


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
    """Build the report over the scans at ``paths``; write HTML, Markdown and chart PNGs.

    Raises :class:`ReportWriteError` when a file cannot be written (a read-only
    directory, a file where the chart directory should be).
    """
    con = db.connect(paths)
    try:
        report = build(con, title)
    finally:
        con.close()
    html_path, md_path, chart_dir = report_paths(Path(out))
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        chart_dir.mkdir(exist_ok=True)
        for s in report.sections:
            for c in s.charts:
                (chart_dir / f"{c.name}.png").write_bytes(c.png)
        html_path.write_text(render_html(report), encoding="utf-8")
        md_path.write_text(render_markdown(report, chart_dir.name), encoding="utf-8")
    except OSError as exc:
        where = exc.filename if exc.filename is not None else out
        raise ReportWriteError(f"cannot write the report: {where}: {exc.strerror or exc}") from exc
    return html_path, md_path, report
