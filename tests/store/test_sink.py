"""Checkpoints are atomic across tables, and recovery rolls forward or discards."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scanner.store.sink import COMMIT, STAGING, ScanSink, read_column_values, recover


def _domain(name: str) -> dict[str, object]:
    return {"domain": name, "verdict": "insecure", "mail_outcome": "deliver_opportunistic"}


def test_checkpoint_writes_one_part_per_table(tmp_path: Path) -> None:
    sink = ScanSink(tmp_path, "scan-1")
    sink.add("domains", _domain("a.example"))
    sink.add("findings", {"domain": "a.example", "code": "mx_is_cname"})
    seq, batch = sink.take_batch()
    sink.write_batch(seq, batch)
    assert sink.pending == 0
    table = pq.read_table(tmp_path / "domains" / "part-000001.parquet")
    assert table.column("scan_id").to_pylist() == ["scan-1"]
    assert (tmp_path / "findings" / "part-000001.parquet").exists()
    assert not (tmp_path / STAGING / "000001").exists()
    # an empty batch does not consume a sequence number
    assert sink.take_batch() == (2, {})


def test_recover_discards_uncommitted_and_rolls_committed_forward(tmp_path: Path) -> None:
    sink = ScanSink(tmp_path, "scan-1")
    sink.add("domains", _domain("a.example"))
    seq, batch = sink.take_batch()
    sink.write_batch(seq, batch)
    # A checkpoint killed after its marker but before the moves: must be completed.
    staged = tmp_path / STAGING / "000002"
    staged.mkdir(parents=True)
    other = ScanSink(tmp_path / "elsewhere", "scan-1")
    other.add("domains", _domain("b.example"))
    other.add("hosts", {"host": "mx.example"})
    s2, b2 = other.take_batch()
    other.write_batch(s2, b2)
    for name in ("domains", "hosts"):
        (tmp_path / "elsewhere" / name / "part-000001.parquet").rename(staged / f"{name}.parquet")
    (staged / COMMIT).touch()
    # A checkpoint killed before its marker: must vanish.
    torn = tmp_path / STAGING / "000003"
    torn.mkdir()
    (torn / "domains.parquet").write_bytes(b"half a file")

    assert recover(tmp_path) == 2
    domains = read_column_values(tmp_path, "domains", ["domain"]).column("domain").to_pylist()
    assert sorted(domains) == ["a.example", "b.example"]
    assert (tmp_path / "hosts" / "part-000002.parquet").exists()
    assert not any((tmp_path / STAGING).iterdir())


def test_rows_must_fit_the_schema(tmp_path: Path) -> None:
    sink = ScanSink(tmp_path, "scan-1")
    sink.add("domains", {"domain": "a.example", "rank": "not a number"})
    seq, batch = sink.take_batch()
    with pytest.raises((TypeError, ValueError)):
        sink.write_batch(seq, batch)
