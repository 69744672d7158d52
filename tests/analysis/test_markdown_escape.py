"""Markdown escaping of network strings (issue 13 item 9), checked with GitHub's own
renderer (cmark-gfm through ``cmarkgfm``, with its table, autolink, strike-through and
tag-filter extensions): what a hostile MX name, banner or error string becomes in the
report must render as exactly that text, in one table cell, with no markup."""

from __future__ import annotations

import html
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.queries import QueryResult
from analysis.tables import markdown_table, md_escape

HOSTILE = [
    "mx|evil.example",  # a cell separator
    "mx.example | 999 | forged row",
    "**bold** _emph_ __strong__ *x*",
    "`code` ``more``",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](https://evil.example/)",
    "![img](https://evil.example/x.png)",
    "https://evil.example/phish",
    "www.evil.example",
    "220 mx.example ESMTP\r\n250-PIPELINING\n250 STARTTLS",
    "# heading",
    "- item",
    "1. item",
    "> quote",
    "---",
    "~~strike~~",
    "&lt;b&gt; &#124; &amp;",
    "back\\slash\\|\\",
    "tab\there",
    "nul\x00byte\x1bescape",
    "line\u2028separator",
    "[^1] footnote",
    "a_b_c dane_valid mx_not_covered",
    "| leading pipe",
    "trailing \\",
]


def gfm(markdown: str) -> str:
    """GitHub's rendering of ``markdown`` (raw HTML allowed, so that an escaping
    failure shows as a tag rather than being dropped by the renderer)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def shown(text: str) -> str:
    """What a reader should see: line breaks as one space, control characters as
    U+FFFD, white space around dropped."""
    text = re.sub(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+", " ", text)
    return re.sub(r"[\x00-\x08\x0e-\x1b\x1f\x7f]", "\ufffd", text).strip()


def cells(rendered: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", rendered, flags=re.S)


def assert_plain_cell(text: str) -> None:
    table = QueryResult(("host", "n"), ((text, 1),))
    rendered = gfm(markdown_table(table))
    body = rendered.split("<tbody>", 1)[1]
    got = cells(body)
    assert len(got) == 2, (text, rendered)  # one row, two cells: nothing forged
    assert "<" not in got[0], (text, got[0])  # no tag: no link, emphasis, code or HTML
    assert html.unescape(got[0]) == shown(text)
    assert got[1] == "1"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_stay_text_in_a_table_cell(text: str) -> None:
    assert_plain_cell(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_stay_text_in_a_paragraph(text: str) -> None:
    rendered = gfm(md_escape(text)).strip()
    if not shown(text):
        assert rendered == ""
        return
    assert rendered.startswith("<p>") and rendered.endswith("</p>"), (text, rendered)
    assert "<" not in rendered[3:-4], (text, rendered)
    assert html.unescape(rendered[3:-4]) == shown(text)


def test_names_stay_readable() -> None:
    """Only what could be markup is escaped: names and numbers read as they are."""
    for plain in ("dane_valid", "mx1.bigmail.example", "12.50", "5.7.323", "-x", "2026-10-01"):
        assert md_escape(plain) == plain


# Text with many Markdown-significant characters, so that mixes are tried often.
_MARKUP = st.sampled_from([*"|*_`<>[]()!#-+=.~&\\:/ \t\r\n", "www.", "://", "&#124;"])
_TEXT = st.lists(st.one_of(_MARKUP, st.text(max_size=3)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_any_text_stays_text_in_a_table_cell(text: str) -> None:
    assert_plain_cell(text)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_any_text_stays_text_in_a_paragraph(text: str) -> None:
    rendered = gfm("Intro: " + md_escape(text)).strip()
    assert rendered.startswith("<p>Intro:") and rendered.endswith("</p>"), (text, rendered)
    inner = rendered[3:-4]
    assert "<" not in inner, (text, rendered)
    assert html.unescape(inner).rstrip() == ("Intro: " + shown(text)).rstrip()
