"""Reading domain lists as a stream: plain lists, CSV with a domain column, Tranco lists.

What must live here: bytes in, ``InputLine``s out, with the guarantee that no input
line can stop a scan. Every line either becomes a domain or an ``InputLine`` with a
``reason`` (which the scan records in ``invalid_inputs``); nothing here raises for
what a line contains. Only an input that cannot be a domain list at all (UTF-16 or
UTF-32, binary) raises ``InputError``, before any line is used.

Lines end in LF, CRLF or a lone CR (old Mac files): all three end a line, and a CRLF
split across two reads still counts once. A line longer than ``MAX_LINE`` bytes is
recorded as ``line_too_long`` and skipped without being held in memory. Bytes that
are not UTF-8 are replaced (the line then fails as a domain name with its reason).

The format is decided from the first non-blank, non-comment line: a line with a comma
is CSV. A header naming a ``domain`` column selects that column (and ``rank`` if
present); without a header, ``rank,domain`` (Tranco) is assumed when the first field
is an integer, else the first field is the domain.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import AsyncGenerator, Iterator
from typing import IO

import msgspec
import trio

from scanner.core.names import InvalidName, normalize_domain
from scanner.errors import DanescanError

_CHUNK = 1 << 16
MAX_LINE = 4096  # bytes; a domain name is at most 253 characters, a CSV line a few more


class InputError(DanescanError):
    """The input is not a domain list this reader can read (encoding, binary)."""


class InputLine(msgspec.Struct, frozen=True, gc=False):
    """One input line: either a normalised domain or the reason it is not one."""

    line_no: int
    raw: str
    domain: str | None
    rank: int | None
    reason: str = ""


def _rank(text: str) -> int | None:
    # str.isdigit() accepts "¹" and other digits int() refuses: ASCII digits only.
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


class _Format:
    """Decides the layout from the first data line and extracts (rank, name) pairs."""

    def __init__(self) -> None:
        self.decided = False
        self.csv = False
        self.domain_col = 0
        self.rank_col: int | None = None

    def decide(self, line: str) -> bool:
        """Look at the first data line; True when it is a header to skip."""
        self.decided = True
        if "," not in line:
            return False
        self.csv = True
        try:
            fields = [f.strip().lower() for f in next(csv.reader([line]))]
        except csv.Error:
            return False  # not a header; the line itself is judged by split()
        if "domain" in fields:
            self.domain_col = fields.index("domain")
            self.rank_col = fields.index("rank") if "rank" in fields else None
            return True
        if len(fields) >= 2 and _rank(fields[0]) is not None:
            self.rank_col, self.domain_col = 0, 1
        return False

    def split(self, line: str) -> tuple[int | None, str]:
        if not self.csv:
            return None, line
        fields = next(csv.reader([line]))
        name = fields[self.domain_col].strip() if self.domain_col < len(fields) else ""
        rank: int | None = None
        if self.rank_col is not None and self.rank_col < len(fields):
            rank = _rank(fields[self.rank_col])
        return rank, name


class LineParser:
    """Turns raw text lines into InputLines; blanks, comments and a CSV header give None."""

    def __init__(self) -> None:
        self._fmt = _Format()

    def parse(self, line_no: int, text: str) -> InputLine | None:
        line = text.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            return None
        if "\x00" in line:
            return InputLine(line_no, line, None, None, "nul_byte")
        if not self._fmt.decided and self._fmt.decide(line):
            return None
        try:
            rank, name = self._fmt.split(line)
        except csv.Error as exc:
            return InputLine(line_no, line, None, None, f"bad_csv: {exc}")
        try:
            return InputLine(line_no, line, normalize_domain(name), rank)
        except InvalidName as exc:
            return InputLine(line_no, line, None, rank, exc.reason)


def parse_lines(lines: Iterator[str]) -> Iterator[InputLine]:
    """Parse an iterator of text lines (numbered from 1)."""
    parser = LineParser()
    for line_no, text in enumerate(lines, start=1):
        parsed = parser.parse(line_no, text)
        if parsed is not None:
            yield parsed


def refuse_encoding(head: bytes) -> None:
    """Raise ``InputError`` when the first bytes of an input show it cannot be a list."""
    utf16_ascii = len(head) >= 4 and (head[1::2][:2] == b"\0\0" or head[0::2][:2] == b"\0\0")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or utf16_ascii:
        raise InputError("the input looks like UTF-16 or UTF-32; convert it to UTF-8")
    if b"\0" in head[:512] and head.count(b"\0") > len(head[:512]) // 4:
        raise InputError("the input looks binary, not a list of domain names")


HEAD_BYTES = 4096  # what the encoding is judged on


class LineSplitter:
    """Bytes in, (line_no, text) out: LF, CRLF and lone CR end lines; long lines are cut.

    ``sha256`` digests every byte fed, for the scan's input identity (resume checks it).
    """

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0
        self._pending = b""
        self._line_no = 0
        self._skipping = False  # inside an over-long line, until its end
        self._cr_at_end = False  # the last chunk ended in CR: a following LF is its pair
        self._head: bytes | None = b""  # the first bytes, until the encoding is judged

    def feed(self, chunk: bytes) -> Iterator[tuple[int, str | None]]:
        """Complete lines in ``chunk``; text None marks an over-long line."""
        if self._head is not None:
            # The encoding is judged on the same first bytes however the input is
            # read in pieces: nothing is split before they are all here.
            self._head += chunk
            if len(self._head) < HEAD_BYTES:
                return
            chunk, self._head = self._head, None
            refuse_encoding(chunk[:HEAD_BYTES])
        yield from self._split(chunk)

    def _split(self, chunk: bytes) -> Iterator[tuple[int, str | None]]:
        self.sha256.update(chunk)
        self.bytes_read += len(chunk)
        if self._cr_at_end and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._cr_at_end = chunk.endswith(b"\r")
        data = self._pending + chunk
        # Everything up to the last line end is whole lines, which bytes.splitlines
        # splits at LF, CRLF and CR alone (bytes, unlike str, know no other line ends).
        end = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        lines = data[:end].splitlines()
        if lines and self._skipping:  # the end of a line already reported as too long
            self._skipping = False
            del lines[0]
        for raw in lines:
            yield self._numbered(raw)
        rest = data[end:]
        if len(rest) > MAX_LINE:
            if not self._skipping:
                self._line_no += 1
                self._skipping = True
                yield self._line_no, None
            rest = b""
        self._pending = rest

    def _numbered(self, raw: bytes) -> tuple[int, str | None]:
        self._line_no += 1
        if len(raw) > MAX_LINE:
            return self._line_no, None
        return self._line_no, raw.decode("utf-8", errors="replace")

    def finish(self) -> Iterator[tuple[int, str | None]]:
        if self._head is not None:
            head, self._head = self._head, None
            refuse_encoding(head)
            yield from self._split(head)
        if self._pending and not self._skipping:
            yield self._numbered(self._pending)
        self._pending = b""


def iter_input(f: IO[bytes], splitter: LineSplitter | None = None) -> Iterator[InputLine]:
    """Stream InputLines from a binary file object (blocking reads)."""
    splitter = splitter or LineSplitter()
    parser = LineParser()
    while chunk := f.read(_CHUNK):
        yield from _parse_pairs(parser, splitter.feed(chunk))
    yield from _parse_pairs(parser, splitter.finish())


async def read_input(f: IO[bytes]) -> AsyncGenerator[InputLine, None]:
    """``iter_input`` for trio code: the blocking reads run on a worker thread, one hop
    per 64 KiB chunk, not per line."""
    splitter = LineSplitter()
    parser = LineParser()
    while True:
        chunk = await trio.to_thread.run_sync(f.read, _CHUNK)
        if not chunk:
            break
        for line in _parse_pairs(parser, splitter.feed(chunk)):
            yield line
    for line in _parse_pairs(parser, splitter.finish()):
        yield line


def _parse_pairs(
    parser: LineParser, pairs: Iterator[tuple[int, str | None]]
) -> Iterator[InputLine]:
    for line_no, text in pairs:
        if text is None:
            yield InputLine(
                line_no, f"<line of more than {MAX_LINE} bytes>", None, None, "line_too_long"
            )
            continue
        got = parser.parse(line_no, text)
        if got is not None:
            yield got
