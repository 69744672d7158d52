"""Domain-list parsing: plain lists, CSV with a header, Tranco, bad lines."""

from __future__ import annotations

import io

from scanner.store.inputs import MAX_LINE, InputLine, LineSplitter, parse_lines, read_input


def _parse(text: str) -> list[InputLine]:
    return list(parse_lines(iter(text.splitlines())))


def test_plain_list_normalises_and_numbers_lines() -> None:
    got = _parse("Example.COM.\n\n# comment\nbücher.de\n")
    assert [(g.line_no, g.domain, g.rank) for g in got] == [
        (1, "example.com", None),
        (4, "xn--bcher-kva.de", None),
    ]


def test_tranco_keeps_rank() -> None:
    got = _parse("1,google.com\n2,Facebook.com\n")
    assert [(g.rank, g.domain) for g in got] == [(1, "google.com"), (2, "facebook.com")]


def test_csv_header_selects_domain_column() -> None:
    got = _parse("id,rank,domain\nx,7,a.example\ny,,b.example\n")
    assert [(g.line_no, g.rank, g.domain) for g in got] == [
        (2, 7, "a.example"),
        (3, None, "b.example"),
    ]


def test_invalid_lines_carry_a_reason_and_are_not_fatal() -> None:
    got = _parse("localhost\n-bad.example\nxn--zz.com\nok.example\n" + "a" * 64 + ".com\n")
    assert got[-2].domain == "ok.example"
    bad = [g for g in got if g.domain is None]
    assert len(bad) == 4
    assert all(g.reason for g in bad)


async def test_stream_reader_matches_line_parser_across_chunk_boundaries() -> None:
    names = [f"d{i}.example" for i in range(20000)]
    text = "\n".join(names)  # no final newline: the last line must not be lost

    got = [line async for line in read_input(io.BytesIO(text.encode()))]
    assert [g.domain for g in got] == names
    assert got[-1].line_no == 20000
    assert got == _parse(text)


def test_line_ends_and_long_lines_wherever_the_chunks_break() -> None:
    """LF, CRLF and a lone CR each end one line; an over-long line is one numbered
    line without text, even when a chunk ends inside it or between CR and LF."""
    long = b"x" * (MAX_LINE + 1)
    data = long + b"\na.example\r\nb.example\rc.example\n" + long + b"\r\nd.example\r\n\r\ne"
    expected = [
        (1, None),
        (2, "a.example"),
        (3, "b.example"),
        (4, "c.example"),
        (5, None),
        (6, "d.example"),
        (7, ""),
        (8, "e"),
    ]
    for cut in range(len(data) + 1):
        splitter = LineSplitter()
        got = [*splitter.feed(data[:cut]), *splitter.feed(data[cut:]), *splitter.finish()]
        assert got == expected, cut
        assert splitter.bytes_read == len(data)
