"""Streaming Parquet output with atomic, resumable checkpoints.

Rows are buffered in memory per table and written at each checkpoint as one part file
per table. A checkpoint is all-or-nothing across tables:

1. every table's rows are written to ``_staging/<seq>/<table>.parquet``;
2. an empty ``COMMIT`` marker is written (and fsynced) in that directory;
3. each file is moved to ``<table>/part-<seq>.parquet`` and the staging dir removed.

A scan killed at any point is repaired by ``recover``: staged checkpoints with a marker
are rolled forward (finishing step 3), those without are deleted. So a domain row is on
disk exactly when its whole checkpoint is, and a resumed scan neither loses nor doubles
rows. Readers never see a half-written file: files are renamed into place complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from scanner.store.schema import TABLES

STAGING = "_staging"
COMMIT = "COMMIT"
STATE_FILE = "scan.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_table(path: Path, name: str, rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(rows, schema=TABLES[name])
    tmp = path.with_suffix(".inprogress")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def recover(out: Path) -> int:
    """Repair ``out`` after a crash; return the highest committed checkpoint number."""
    staging = out / STAGING
    if staging.is_dir():
        for seq_dir in sorted(staging.iterdir()):
            if (seq_dir / COMMIT).exists():
                _roll_forward(out, seq_dir)
            else:
                shutil.rmtree(seq_dir)
    highest = 0
    for name in TABLES:
        for part in (out / name).glob("part-*.parquet"):
            number = part.stem.split("-")[1]
            if number.isdigit():
                highest = max(highest, int(number))
    return highest


def _roll_forward(out: Path, seq_dir: Path) -> None:
    seq = seq_dir.name
    for staged in seq_dir.glob("*.parquet"):
        dest_dir = out / staged.stem
        dest_dir.mkdir(parents=True, exist_ok=True)
        os.replace(staged, dest_dir / f"part-{seq}.parquet")
    for name in {p.stem for p in seq_dir.glob("*.parquet")} | set(TABLES):
        if (out / name).is_dir():
            _fsync_dir(out / name)
    shutil.rmtree(seq_dir)


class ScanSink:
    """Buffers rows per table and writes them out in atomic checkpoints.

    ``add`` is called from the trio thread; ``take_batch`` swaps the buffers out there,
    and ``write_batch`` (blocking, meant for a worker thread) writes one checkpoint.
    """

    def __init__(self, out: Path, scan_id: str, first_seq: int = 1) -> None:
        self.out = out
        self.scan_id = scan_id
        self._seq = first_seq
        self._rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        out.mkdir(parents=True, exist_ok=True)

    def add(self, table: str, row: dict[str, Any]) -> None:
        row["scan_id"] = self.scan_id
        self._rows[table].append(row)

    def add_many(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.add(table, row)

    @property
    def pending(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def take_batch(self) -> tuple[int, dict[str, list[dict[str, Any]]]]:
        """Swap the buffers out; the returned batch is owned by the caller."""
        batch = {name: rows for name, rows in self._rows.items() if rows}
        self._rows = {name: [] for name in TABLES}
        seq = self._seq
        if batch:
            self._seq += 1
        return seq, batch

    def write_batch(self, seq: int, batch: dict[str, list[dict[str, Any]]]) -> None:
        """Write one checkpoint (blocking). Safe to kill at any instruction."""
        if not batch:
            return
        seq_dir = self.out / STAGING / f"{seq:06d}"
        seq_dir.mkdir(parents=True, exist_ok=True)
        for name, rows in batch.items():
            _write_table(seq_dir / f"{name}.parquet", name, rows)
        marker = seq_dir / COMMIT
        with open(marker, "wb") as f:
            os.fsync(f.fileno())
        _fsync_dir(seq_dir)
        _roll_forward(self.out, seq_dir)

    def write_scan_row(self, row: dict[str, Any]) -> None:
        """Replace the single-row ``scans`` table (metadata changes as the scan runs)."""
        row = dict(row, scan_id=self.scan_id)
        dest = self.out / "scans"
        dest.mkdir(parents=True, exist_ok=True)
        _write_table(dest / "part-scan.parquet", "scans", [row])


def write_state(out: Path, state: dict[str, Any]) -> None:
    """Atomically write the scan's resumable state (configuration, scan id, status)."""
    tmp = out / (STATE_FILE + ".inprogress")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, out / STATE_FILE)


def read_state(out: Path) -> dict[str, Any] | None:
    path = out / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def read_column_values(out: Path, table: str, columns: list[str]) -> pa.Table:
    """Read some columns of a table's committed parts (for resume)."""
    parts = sorted((out / table).glob("part-*.parquet"))
    if not parts:
        return TABLES[table].empty_table().select(columns)
    return pa.concat_tables(pq.read_table(p, columns=columns) for p in parts)
