"""The table renderers: rows and column names as HTML, Markdown or fixed-width text.

What must live here: how one value and one column header are shown (:func:`cell`,
:func:`header`) and the three table formats built from them. Anything with
``columns`` and ``rows`` can be rendered (:class:`Tabular`), so this module imports
nothing else of ``analysis``: query results show themselves through it in a shell
or a notebook (``analysis.queries``), and the report builds its tables with it
(``analysis.report``), without either of those depending on the other.

Column headers spell the grain out (``mx_hosts`` → "MX hosts"), so that a table
never leaves the reader guessing whether a number counts domains, MX hosts, TLSA
RRsets or TLSA records.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Tabular", "cell", "header", "html_table", "markdown_table", "text_table"]


class Tabular(Protocol):
    """Column names and rows of values (``analysis.queries.QueryResult``)."""

    @property
    def columns(self) -> tuple[str, ...]: ...

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]: ...


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


def _shown(result: Tabular, columns: Sequence[str] | None) -> tuple[list[str], list[list[str]]]:
    cols = list(columns) if columns is not None else list(result.columns)
    idx = [result.columns.index(c) for c in cols]
    return cols, [[cell(row[i]) for i in idx] for row in result.rows]


def html_table(result: Tabular, columns: Sequence[str] | None = None, caption: str = "") -> str:
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


def markdown_table(result: Tabular, columns: Sequence[str] | None = None) -> str:
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


def text_table(result: Tabular, columns: Sequence[str] | None = None) -> str:
    """A fixed-width plain-text table (the shell's ``--format table``)."""
    cols, rows = _shown(result, columns)
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
    return "\n".join(lines)
