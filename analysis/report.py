"""The adoption report: one small function per section, assembled and rendered.

What must live here: what the report says — its sections, in order
(:data:`SECTIONS`), each a function from the shared :class:`ReportContext` to a
:class:`Section` (heading, what it counts, a sentence, notes, charts, tables), or to
``None`` when it does not apply — and the two renderings of the sections, HTML and
Markdown. The numbers come from named queries (``analysis.queries``), which a
section runs through the context so that :attr:`Report.data` keeps every full
result; tables are drawn by ``analysis.tables`` and charts by ``analysis.charts``,
so a section only chooses the query, the columns, the chart and the words.

:func:`build` runs the sections over a connection; :func:`render_html` makes one
self-contained page (inline CSS, SVG charts as data: URIs, no scripts, nothing
fetched when viewed; every table in a horizontally scrolling box, so a wide table
never widens the page on a phone); :func:`render_markdown` makes the same tables in
Markdown, with the charts as SVG files in a directory beside it. Every piece of text
in the Markdown goes through ``analysis.tables.md_escape`` (MX names and error
strings come from the network). :func:`write_report` does all of it for
``danescan report``.

Detail sections describe the most recent scan given; the trend charts and the diff
section appear when several scans are given. Every table and chart says what it
counts — domains, MX hosts, TLSA RRsets or TLSA records — and column headers name
the grain, so that no statistic silently mixes them; the Methods section says how
the scans were made and defines the units.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb

from analysis import db, queries
from analysis.charts import (
    SEVERITY_COLOURS,
    VERDICT_COLOURS,
    Chart,
    grouped,
    hbar,
    lines,
    stacked,
)
from analysis.queries import ParamValue, QueryResult
from analysis.tables import cell, header, html_table, markdown_table, md_escape
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
    """A heading, what it counts, a sentence of explanation, notes, charts and tables."""

    key: str
    title: str
    counts: str
    text: str = ""
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown as a list after the text


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


# ----------------------------------------------------------------------------- helpers


def _ordered_verdicts(present: Iterable[str]) -> list[str]:
    """Verdicts in the colour order (good to bad), unknown ones after, sorted."""
    seen = set(present)
    known = [v for v in VERDICT_COLOURS if v in seen]
    return known + sorted(seen - set(known))


def _pivot(
    result: QueryResult, row_key: str, col_key: str, value: str
) -> tuple[list[Any], dict[str, list[float]]]:
    """Long rows to one series per ``col_key`` value, verdicts in their colour order."""
    rows: list[Any] = []
    for r in result.column(row_key):
        if r not in rows:
            rows.append(r)
    cols = _ordered_verdicts(result.column(col_key))
    series = {c: [0.0] * len(rows) for c in cols}
    for rec in result.records():
        series[rec[col_key]][rows.index(rec[row_key])] = float(rec[value])
    return rows, series


def _wide(
    result: QueryResult, row_key: str, col_key: str, value: str, first: Sequence[str] = ()
) -> QueryResult:
    """One row per ``row_key`` value (with the ``first`` columns, which must be the same
    on all its long rows), one column per ``col_key`` value holding ``value``."""
    rows, series = _pivot(result, row_key, col_key, value)
    leading = {rec[row_key]: tuple(rec[c] for c in first) for rec in result.records()}
    return QueryResult(
        (row_key, *first, *series),
        tuple((r, *leading[r], *(int(series[c][i]) for c in series)) for i, r in enumerate(rows)),
    )


def _options(row: dict[str, Any]) -> dict[str, Any]:
    """The scan's recorded settings (``scans.options``, JSON), or nothing."""
    raw = row.get("options")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"options": str(raw)}
    return parsed if isinstance(parsed, dict) else {"options": parsed}


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


# Settings the Methods table names (in this order), read from the scans row or its
# options JSON; every other recorded option follows under its own name.
_OPTION_LABELS = {
    "canary_secure": "validation check: known-signed name (must come back AD)",
    "canary_bogus": "validation check: known-bogus name (must come back SERVFAIL)",
    "ehlo_name": "EHLO name",
    "probe": "SMTP probing",
    "blocklist": "opt-out list",
    "blocklist_sha256": "opt-out list (SHA-256)",
    "per_destination": "connections at a time per IP address",
}

_COUNTING_UNITS = QueryResult(
    ("unit", "what one count is"),
    (
        ("domains", "one input domain in one scan, under its one verdict and mail outcome"),
        (
            "MX hosts",
            "one distinct MX host name in one scan, looked up and probed once however "
            "many domains use it",
        ),
        ("(domain, MX host) pairs", "one MX host as used by one domain (its outcome there)"),
        (
            "TLSA RRsets",
            "one owner name _25._tcp.<TLSA base domain> with TLSA records, however many "
            "MX hosts share it",
        ),
        (
            "TLSA records",
            "one distinct (owner name, usage, selector, matching type, data) record; "
            "studies counting records and studies counting RRsets differ by up to 10x",
        ),
        ("providers", "one registered domain of MX host names (ICANN suffixes only)"),
    ),
)


def _setting_rows(row: dict[str, Any]) -> dict[str, str]:
    """One scan's settings as (label → text), in the Methods table's order."""
    options = _options(row)
    out: dict[str, str] = {}
    out["resolvers"] = cell(row.get("resolvers")) or "the system's resolvers (not recorded)"
    for key in ("canary_secure", "canary_bogus"):
        out[_OPTION_LABELS[key]] = cell(options.pop(key, None)) or "not recorded"
    out["trust anchor"] = cell(row.get("trust_anchor")) or "not recorded"
    probing = row.get("probing")
    out["SMTP probing"] = cell(probing if probing is not None else options.get("probe"))
    options.pop("probe", None)
    out["EHLO name"] = cell(row.get("ehlo_name") or options.get("ehlo_name")) or "not recorded"
    options.pop("ehlo_name", None)
    optout = [
        f"{cell(options.pop(k))}" for k in ("blocklist", "blocklist_sha256") if options.get(k)
    ]
    for k in ("blocklist", "blocklist_sha256"):
        options.pop(k, None)
    out["opt-out list"] = "; ".join(optout) or "none given"
    if "per_destination" in options:
        out[_OPTION_LABELS["per_destination"]] = cell(options.pop("per_destination"))
    out["Public Suffix List (recorded by the scan)"] = (
        cell(row.get("psl_version")) or "not recorded"
    )
    out["software version"] = cell(row.get("software_version"))
    out["rules version"] = cell(row.get("rules_version"))
    out["schema version"] = cell(row.get("schema_version"))
    if row.get("parent_scan_id"):
        out["regrade of scan"] = cell(row["parent_scan_id"])
    out["input"] = cell(row.get("input"))
    if row.get("input_sha256"):
        out["input SHA-256"] = cell(row["input_sha256"])
    for key in sorted(options):
        value = options[key]
        out[key.replace("_", " ")] = (
            json.dumps(value) if isinstance(value, list | dict) else cell(value)
        )
    return out


def _methods(ctx: ReportContext) -> Section:
    settings = ctx.run("scan_settings")
    by_scan = {r["scan_id"]: _setting_rows(r) for r in settings.records()}
    latest = by_scan.get(ctx.latest, {})
    earlier = [s for s in ctx.scan_ids[:-1] if s in by_scan]
    labels = list(latest) + [k for s in earlier for k in by_scan[s] if k not in latest]
    labels = list(dict.fromkeys(labels))
    rows = []
    for label in labels:
        differs = [
            f"{s}: {by_scan[s].get(label, 'not recorded')}"
            for s in earlier
            if by_scan[s].get(label) != latest.get(label)
        ]
        rows.append(
            (
                label,
                latest.get(label, "not recorded"),
                "; ".join(differs) if differs else ("same" if earlier else ""),
            )
        )
    table = QueryResult(("setting", "value", "earlier_scans"), tuple(rows))
    canaries = ", ".join(
        v
        for v in (
            latest.get(_OPTION_LABELS["canary_secure"]),
            latest.get(_OPTION_LABELS["canary_bogus"]),
        )
        if v and v != "not recorded"
    )
    return Section(
        "methods",
        "Methods",
        "scans (settings of the most recent scan; earlier scans where they differ) and "
        "the units every other section counts in",
        "How the scans were made, as each scan recorded it, and what the numbers count.",
        notes=[
            "DNS: every answer comes from a DNSSEC-validating resolver queried with the DO "
            "bit. secure = the AD bit set; insecure = validated as provably unsigned; bogus "
            "= SERVFAIL that succeeds when repeated with CD (checking disabled); error = "
            "timeout, REFUSED, or SERVFAIL also with CD, after retries. Extended DNS Errors "
            "are kept as evidence, never used to classify.",
            "Validation check: before scanning, the resolver must answer a known-signed name "
            "with AD and a known-bogus name with SERVFAIL; otherwise the scan refuses to run"
            + (f" (names: {canaries})." if canaries else "."),
            "SMTP: each address of each MX host is probed once per scan (banner, EHLO, "
            "STARTTLS, TLS handshake with SNI = the TLSA base domain, QUIT); no mail is "
            "ever sent. The scanner waits for the final 220 line, limits connections per "
            "IP address, and never connects to networks or domains on the opt-out list "
            "(a line of the list that does not parse refuses the scan).",
            "Providers: the registered domain of each MX host name under the ICANN section "
            "of the Public Suffix List; private suffixes are ignored (mx.foo.github.io → "
            "github.io, not foo.github.io), names under TLDs the list does not know count "
            f"one label below the TLD. This report used the snapshot {db.psl_version()}.",
            "Verdicts follow RFC 7672 (DANE for SMTP) with RFC 7671, RFC 6698 and RFC 7505; "
            "the rules version says which edition of the rules judged a scan.",
        ],
        tables=[
            Table(
                table,
                "How the scans were made (one row per setting; the most recent scan's "
                "value, and earlier scans' values where they differ)",
            ),
            Table(_COUNTING_UNITS, "Counting units (one row per unit)"),
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


def _verdicts(ctx: ReportContext) -> Section:
    vs = ctx.run("verdict_shares", scan=ctx.latest)
    vbt = ctx.run("verdict_by_tld", scan=ctx.latest, top=15)
    tlds, tld_series = _pivot(vbt, "tld", "verdict", "pct_of_tld")
    by_tld = _wide(vbt, "tld", "verdict", "domains", first=("tld_domains",))
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
                [str(t) for t in tlds],
                tld_series,
                "% of the TLD's domains",
                VERDICT_COLOURS,
                totals=False,  # shares of each TLD: every bar is 100 %
            ),
        ],
        tables=[
            Table(vs, "Verdict shares (counts: domains)", ("verdict", "domains", "pct_of_domains")),
            Table(
                by_tld,
                "Verdicts by TLD (counts: domains; one row per TLD, one column per verdict; "
                "top TLDs by domains scanned)",
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
        "Provider = registered domain of the MX host name (Public Suffix List, ICANN "
        "suffixes only: see Methods). The verdict columns split the domains a provider "
        "serves by the domain's verdict.",
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


def _ranks(ctx: ReportContext) -> Section | None:
    buckets = ctx.run("adoption_by_rank", scan=ctx.latest)
    if not len(buckets):
        return None  # the input had no ranks
    shares = {
        "signed MX": ("pct_signed_mx", VERDICT_COLOURS["dnssec_no_dane"]),
        "TLSA published": ("pct_tlsa_published", VERDICT_COLOURS["dane_degraded"]),
        "DANE valid": ("pct_dane_valid", VERDICT_COLOURS["dane_valid"]),
        "defer or bounce": ("pct_defer_or_bounce", VERDICT_COLOURS["dane_broken"]),
    }
    return Section(
        "ranks",
        "Adoption by popularity rank",
        "domains with a rank in the input list (buckets are cumulative: the top 10k "
        "include the top 1k)",
        "Shares of each bucket's domains; a bucket appears when the list reaches past "
        "the one before.",
        charts=[
            grouped(
                "ranks",
                f"Adoption by rank bucket, {ctx.latest} (% of the bucket's domains)",
                buckets.column("bucket"),
                {
                    label: [float(v or 0) for v in buckets.column(c)]
                    for label, (c, _) in shares.items()
                },
                "% of the bucket's domains",
                {label: colour for label, (_, colour) in shares.items()},
            )
        ],
        tables=[
            Table(
                buckets,
                "Adoption by rank bucket (counts: domains)",
                (
                    "bucket",
                    "domains",
                    "signed_mx",
                    "tlsa_published",
                    "dane_valid",
                    "defer_or_bounce",
                    "pct_signed_mx",
                    "pct_tlsa_published",
                    "pct_dane_valid",
                    "pct_defer_or_bounce",
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


def _senders(ctx: ReportContext) -> Section | None:
    so = ctx.run("sender_outcomes", scan=ctx.latest)
    if not so.rows:
        return None  # a scan written before the sender_outcomes table
    return Section(
        "senders",
        "Share of domains that receive mail from each sender",
        "domains that accept mail (each domain once per sender profile)",
        "The same facts judged for each sender: RFC 7672; Postfix 3.6+ at security level "
        "dane (which also enforces TLSA behind an unsigned MX RRset) and dane-only; "
        "Exchange Online with opportunistic and with mandatory DANE (no DANE: queued 24 h, "
        "then dropped); a sender enforcing MTA-STS policies (PKIX certificates).",
        charts=[
            hbar(
                "senders",
                f"Domains that receive mail, by sender, {ctx.latest} (% of domains)",
                so.column("sender"),
                so.column("pct_receive"),
                "% of domains",
            )
        ],
        tables=[
            Table(
                so,
                "Outcome by sender (counts: domains that accept mail)",
                (
                    "sender",
                    "domains",
                    "receive",
                    "pct_receive",
                    "authenticated",
                    "deferred",
                    "unknown",
                    "top_error",
                    "top_error_domains",
                ),
            )
        ],
    )


def _bogus_causes(ctx: ReportContext) -> Section | None:
    causes = ctx.run("bogus_causes", scan=ctx.latest)
    if not causes.rows:
        return None  # nothing bogus, or a scan written before the diagnoses
    return Section(
        "bogus-causes",
        "Why DNSSEC validation fails: the broken link",
        "domains (a domain counts once per cause) and zones where the link is broken",
        "Every bogus answer the scan met was explained by walking its chain of trust from "
        "the trust anchor with CD-set queries and validating each link (DS, DNSKEY, RRSIGs, "
        "denial proofs) with dnspython; the first broken link names the cause. The "
        "resolver's validation stays the verdict; this says why.",
        charts=[
            hbar(
                "bogus-causes",
                f"Domains by the cause of their bogus answers, {ctx.latest}",
                causes.column("code"),
                causes.column("domains"),
                "domains",
            )
        ],
        tables=[
            Table(
                causes,
                "Causes by domains and by zones",
                ("code", "domains", "bogus_domains", "zones", "questions", "example_zone"),
            )
        ],
    )


_FINDING_COLUMNS = ("code", "severity", "rfc", "domains", "pct_of_domains", "mx_hosts", "findings")


def _misconfigurations(ctx: ReportContext) -> Section:
    fb = ctx.run("findings_breakdown", scan=ctx.latest)
    ho = ctx.run("host_outcomes", scan=ctx.latest)
    # Errors and warnings apart from info: a common info finding (no TLS-RPT record)
    # would otherwise set the scale and flatten the errors that break mail.
    problems = QueryResult(
        fb.columns,
        tuple(
            sorted(
                (r for r in fb.rows if r[fb.columns.index("severity")] in ("error", "warning")),
                key=lambda r: r[fb.columns.index("severity")] != "error",
            )
        ),
    )
    info = QueryResult(
        fb.columns,
        tuple(r for r in fb.rows if r[fb.columns.index("severity")] not in ("error", "warning")),
    )
    charts = []
    for part, name, what in (
        (problems, "findings", "errors and warnings"),
        (info, "findings_info", "information"),
    ):
        if len(part):
            charts.append(
                hbar(
                    name,
                    f"Findings: {what}, {ctx.latest} (domains affected)",
                    part.column("code"),
                    part.column("domains"),
                    "domains affected",
                    [SEVERITY_COLOURS.get(s, "#999999") for s in part.column("severity")],
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
        "Errors break or weaken DANE for a sender; warnings are risks; information "
        "findings (such as no TLS-RPT record) are shown apart, so that they do not set "
        "the scale of the errors.",
        charts=charts,
        tables=[
            Table(
                problems,
                "Findings: errors and warnings (counts: domains affected; MX hosts the code "
                "was reported on; finding rows)",
                _FINDING_COLUMNS,
            ),
            Table(
                info,
                "Findings: information (counts: domains affected; MX hosts the code was "
                "reported on; finding rows)",
                _FINDING_COLUMNS,
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
        "holds. Usable parameters (DANE-TA or DANE-EE, selector 0 or 1, matching type 0, "
        "1 or 2) can still carry unusable records, such as a digest of the wrong length.",
        charts=[
            stacked(
                "tlsa_rrsets",
                f"TLSA parameters, {ctx.latest} (TLSA RRsets)",
                tp.column("parameters"),
                {
                    "with a usable record": [float(v) for v in tp.column("usable_rrsets")],
                    "no usable record": [float(v) for v in tp.column("unusable_rrsets")],
                },
                "TLSA RRsets",
                {
                    "with a usable record": VERDICT_COLOURS["dane_valid"],
                    "no usable record": VERDICT_COLOURS["dane_unusable"],
                },
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
                    "parameters_usable",
                    "tlsa_records",
                    "usable_records",
                    "unusable_records",
                    "tlsa_rrsets",
                    "usable_rrsets",
                    "unusable_rrsets",
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


_TREND_LINES = (
    ("pct_signed_mx", VERDICT_COLOURS["dnssec_no_dane"]),
    ("pct_tlsa_published", VERDICT_COLOURS["dane_degraded"]),
    ("pct_dane_valid", VERDICT_COLOURS["dane_valid"]),
    ("pct_defer_or_bounce", VERDICT_COLOURS["dane_broken"]),
)


def _trend(ctx: ReportContext) -> Section:
    trend = ctx.run("trend")
    shares = ctx.run("verdict_shares")  # every scan
    times = dict(zip(trend.column("scan_id"), trend.column("started_at"), strict=True))
    by_scan = _wide(shares, "scan_id", "verdict", "domains")
    charts = []
    if len(trend) > 1 and all(isinstance(t, dt.datetime) for t in times.values()):
        ordered = [times[s] for s in trend.column("scan_id")]
        charts.append(
            lines(
                "trend",
                "Adoption over time (% of domains scanned)",
                ordered,
                [(header(c), trend.column(c), colour) for c, colour in _TREND_LINES],
                "% of domains scanned",
            )
        )
        scan_order = trend.column("scan_id")
        scans, verdict_series = _pivot(shares, "scan_id", "verdict", "pct_of_domains")
        charts.append(
            lines(
                "trend_verdicts",
                "Verdict shares over time (% of domains scanned)",
                ordered,
                [
                    (
                        v,
                        [
                            verdict_series[v][scans.index(s)] if s in scans else 0.0
                            for s in scan_order
                        ],
                        VERDICT_COLOURS.get(v, "#999999"),
                    )
                    for v in verdict_series
                ],
                "% of domains scanned",
            )
        )
    return Section(
        "trend",
        "Trend across scans",
        "domains (per scan)",
        "Shares of the domains scanned in each scan, placed at each scan's start time; "
        "compare only scans of the same input.",
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
                    "pct_tlsa_published",
                    "pct_dane_valid",
                    "pct_defer_or_bounce",
                ),
            ),
            Table(
                by_scan,
                "Verdicts per scan (counts: domains; one row per scan, one column per verdict)",
            ),
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
    _methods,
    _funnel,
    _verdicts,
    _providers,
    _ranks,
    _mail_outcomes,
    _senders,
    _misconfigurations,
    _tlsa,
    _dnssec,
    _bogus_causes,
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

# Nothing may widen the page: tables scroll inside their own box (.scroll), charts
# shrink to the column, and long words (scan ids, host names) break in running text.
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:80em;
color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h1,h2,p,li,figcaption{overflow-wrap:anywhere}
p.counts{color:#555;font-size:.9em}
.scroll{overflow-x:auto;max-width:100%;margin:1em 0}
.scroll:focus{outline:2px solid #4575b4}
table.data{border-collapse:collapse;font-size:.85em}
table.data caption{text-align:left;font-weight:600;padding:.3em 0;position:sticky;left:0;
max-width:calc(100vw - 2.5em)}
table.data th,table.data td{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top}
table.data th{background:#f2f2f2}
table.data td{font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
nav ul{columns:2}
@media (max-width:40em){body{margin:1em auto;padding:0 .6em}nav ul{columns:1}}
"""


def render_html(report: Report) -> str:
    """One self-contained HTML page: inline CSS, SVG charts as data: URIs, no scripts."""
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
        if s.notes:
            out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in s.notes) + "</ul>")
        for c in s.charts:
            out.append(
                f'<figure><img class="chart" src="{c.data_uri()}" alt="{esc(c.title)}">'
                f"<figcaption>{esc(c.title)}</figcaption></figure>"
            )
        for t in s.tables:
            # A labelled, focusable region: keyboard users can scroll it too.
            out.append(
                f'<div class="scroll" role="region" tabindex="0" aria-label="{esc(t.caption)}">'
                f"{html_table(t.result, t.columns, t.caption)}</div>"
            )
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def render_markdown(report: Report, chart_dir: str | None = None) -> str:
    """The report in Markdown; charts are linked as ``chart_dir/NAME.svg`` when given.

    Every piece of text is escaped (:func:`analysis.tables.md_escape`); markup is only
    ever added around it.
    """
    esc = md_escape
    out = [
        f"# {esc(report.title)}",
        "",
        f"Scans: {esc(', '.join(report.scan_ids))}. Detail sections: **{esc(report.latest)}**. "
        f"Generated {esc(cell(report.generated_at))}.",
    ]
    for s in report.sections:
        out += ["", f"## {esc(s.title)}", "", f"*Counts: {esc(s.counts)}.*"]
        if s.text:
            out += ["", esc(s.text)]
        if s.notes:
            out += [""] + [f"- {esc(n)}" for n in s.notes]
        if chart_dir is not None:
            for c in s.charts:
                out += ["", f"![{esc(c.title)}]({quote(chart_dir)}/{quote(c.filename)})"]
        for t in s.tables:
            out += ["", f"**{esc(t.caption)}**", "", markdown_table(t.result, t.columns)]
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
    """Build the report over the scans at ``paths``; write HTML, Markdown and chart SVGs.

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
                (chart_dir / c.filename).write_bytes(c.svg)
        html_path.write_text(render_html(report), encoding="utf-8")
        md_path.write_text(render_markdown(report, chart_dir.name), encoding="utf-8")
    except OSError as exc:
        where = exc.filename if exc.filename is not None else out
        raise ReportWriteError(f"cannot write the report: {where}: {exc.strerror or exc}") from exc
    return html_path, md_path, report
