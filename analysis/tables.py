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

:func:`md_escape` is the one place text becomes Markdown: MX names, banners, error
strings and anything else a scanned network sent must not turn into tables, links,
HTML or emphasis in a published report, so every Markdown producer (these tables and
``analysis.report``) passes each piece of text through it and adds markup only around it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = [
    "Tabular",
    "cell",
    "header",
    "html_table",
    "markdown_table",
    "md_escape",
    "text_table",
]


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
    "usable_records": "usable TLSA records",
    "unusable_records": "unusable TLSA records",
    "usable_rrsets": "TLSA RRsets with a usable record",
    "unusable_rrsets": "TLSA RRsets without a usable record",
    "signed_mx": "signed MX",
    "pct_signed_mx": "% signed MX",
    "tlsa_published": "TLSA published",
    "pct_tlsa_published": "% TLSA published",
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


# Characters that are Markdown wherever they stand (CommonMark §2.4 lets a backslash
# escape any ASCII punctuation; GitHub's table extension also honours ``\|`` in a cell).
# ``&`` starts entities (``&#124;``), ``~`` GitHub's strike-through.
_MD_ALWAYS = frozenset("\\`*[]<>|~&")
# Line endings of CommonMark and of str.splitlines(): a network string never starts a
# new line (a heading, a list item, a table row) in the report.
_MD_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
# Control characters other than tab: shown as U+FFFD, as CommonMark does with NUL.
_MD_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")
# Block markers at the start of a line (CommonMark §4-5): "# heading", "- item",
# "1. item" (each followed by white space or nothing), or a line of "=" or "-" only
# (a setext underline or a thematic break). "12.50" or "-x" are no markers.
_MD_LINE_START = re.compile(r"^(?:(?:#{1,6}|[-+=])(?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|[-=](?=[-=]*$))")
# GitHub's autolink extension turns scheme://... and www.... into links even without
# <...>; escaping the ":" or the "." stops it (mail addresses stay links: GitHub
# recognises those after unescaping).
_MD_AUTOLINK = re.compile(r"(?i)(www)\.|:(?=//)")


def md_escape(text: str) -> str:
    """``text`` as Markdown that GitHub and CommonMark show as exactly that text.

    Every Markdown-significant character is backslash-escaped (``\\ ` * [ ] < > | ~ &``,
    and ``_`` unless it stands between two letters or digits, where it can neither open
    nor close emphasis, so ``dane_valid`` stays readable); line breaks become one space;
    control characters become U+FFFD; white space around is dropped; block markers at
    the start, ``www.`` and ``://`` are escaped so that nothing becomes a heading, a list
    or a link.
    """
    # Leading white space would make an indented code block at the start of a line;
    # Markdown drops it (and trailing white space) anyway.
    text = _MD_CONTROLS.sub("\ufffd", _MD_LINE_BREAKS.sub(" ", text)).strip()
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch in _MD_ALWAYS:
            out.append("\\" + ch)
        elif ch == "_":
            between_words = 0 < i < last and text[i - 1].isalnum() and text[i + 1].isalnum()
            out.append("_" if between_words else "\\_")
        else:
            out.append(ch)
    escaped = "".join(out)
    escaped = _MD_AUTOLINK.sub(lambda m: f"{m.group(1)}\\." if m.group(1) else "\\:", escaped)
    # "\\-" or "1\\." (the digits kept, the dot escaped) stop a list or a heading.
    return _MD_LINE_START.sub(
        lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0),
        escaped,
        count=1,
    )


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
    lines = [
        "| " + " | ".join(md_escape(header(c)) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    lines.extend("| " + " | ".join(md_escape(v) for v in row) + " |" for row in rows)
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
