"""Reading domain lists as a stream: plain lists, CSV with a domain column, Tranco lists.

The format is decided from the first non-blank, non-comment line: a line with a comma
is CSV. A header naming a ``domain`` column selects that column (and ``rank`` if
present); without a header, ``rank,domain`` (Tranco) is assumed when the first field
is an integer, else the first field is the domain.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import IO

import trio

from scanner.core.names import InvalidName, normalize_domain

_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class InputLine:
    """One input line: either a normalised domain or the reason it is not one."""

    line_no: int
    raw: str
    domain: str | None
    rank: int | None
    reason: str = ""


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
        fields = [f.strip().lower() for f in next(csv.reader([line]))]
        if "domain" in fields:
            self.domain_col = fields.index("domain")
            self.rank_col = fields.index("rank") if "rank" in fields else None
            return True
        if len(fields) >= 2 and fields[0].isdigit():
            self.rank_col, self.domain_col = 0, 1
        return False

    def split(self, line: str) -> tuple[int | None, str]:
        if not self.csv:
            return None, line
        fields = next(csv.reader([line]))
        name = fields[self.domain_col].strip() if self.domain_col < len(fields) else ""
        rank: int | None = None
        if self.rank_col is not None and self.rank_col < len(fields):
            text = fields[self.rank_col].strip()
            rank = int(text) if text.isdigit() else None
        return rank, name


class LineParser:
    """Turns raw text lines into InputLines; blanks, comments and a CSV header give None."""

    def __init__(self) -> None:
        self._fmt = _Format()

    def parse(self, line_no: int, text: str) -> InputLine | None:
        line = text.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            return None
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


async def read_input(f: IO[bytes]) -> AsyncGenerator[InputLine, None]:
    """Stream InputLines from a binary file object (a file or standard input).

    Reads 64 KiB chunks on a worker thread: one thread hop per chunk, not per line.
    """
    parser = LineParser()
    line_no = 0
    pending = b""
    while True:
        chunk = await trio.to_thread.run_sync(f.read, _CHUNK)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            line_no += 1
            parsed = parser.parse(line_no, raw.decode("utf-8", errors="replace"))
            if parsed is not None:
                yield parsed
    if pending:
        parsed = parser.parse(line_no + 1, pending.decode("utf-8", errors="replace"))
        if parsed is not None:
            yield parsed
