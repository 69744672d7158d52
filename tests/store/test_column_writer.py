"""``dataset.ColumnWriter`` and ``dataset.PartWriter`` write the file ``RowWriter``
writes from the same rows (values, types, row groups), and ``rows.ts_ms`` is what a
timestamp column stores for the datetime ``RowWriter`` is given."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scanner.store import dataset as ds
from scanner.store import rows
from scanner.store.objstore import open_store
from scanner.store.schema import TABLES

TS = pa.timestamp("ms", tz="UTC")


@pytest.mark.parametrize(
    "seconds",
    [0.0, 1e-7, -4e-7, -1.0005, 1.0005, 1796049961.3609996, 1796049961.9999996, 1.7e9 + 0.0015],
)
def test_ts_ms_is_what_the_column_stores(seconds: float) -> None:
    stored = pa.array([dt.datetime.fromtimestamp(seconds, tz=dt.UTC)], TS).cast(pa.int64())
    assert stored[0].as_py() == rows.ts_ms(seconds)
    assert pa.array([rows.ts_ms(seconds)], TS).equals(pa.array([rows._ts(seconds)], TS))


def test_ts_ms_agrees_with_fromtimestamp_everywhere() -> None:
    rng = random.Random(7)
    values = [rng.uniform(-2e9, 4e9) for _ in range(20_000)]
    values += [rng.randrange(-(10**15), 4 * 10**15) / 10**6 for _ in range(20_000)]
    values += [k + m / 1e6 + 5e-7 for k in (0, 1, -1, 1_700_000_000) for m in range(-999, 1000)]
    values += [k + 0.0005 + m * 1e-3 for k in (0, -3, 1_796_049_961) for m in range(-999, 1000)]
    values += [math.nextafter(v, d) for v in values[-4000:] for d in (-math.inf, math.inf)]
    want = pa.array([rows._ts(v) for v in values], TS).cast(pa.int64()).to_pylist()
    assert [rows.ts_ms(v) for v in values] == want


def sender_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "scan_id": "s1",
            "domain": f"d{i}.example",
            "sender": "rfc7672",
            "outcome": "deliver_opportunistic",
            "error_code": "",
            "reason": "é" * (i % 3),
            "host": None if i % 4 == 0 else f"mx{i}.example",
            "observed_at": rows._ts(1.7e9 + i / 7),
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("chunk", [3, 500], ids=["chunks", "one chunk"])
@pytest.mark.parametrize("n", [0, 1, 6, 7, 8, 20, 21])
def test_column_writer_writes_what_row_writer_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int, chunk: int
) -> None:
    """Row groups of 7 rows, converted 3 at a time (a row group's last chunk is cut
    short) or all at once."""
    monkeypatch.setattr(ds, "ROW_GROUP", 7)
    monkeypatch.setattr(ds, "CHUNK", chunk)
    store = open_store(str(tmp_path))
    schema = TABLES["sender_outcomes"]
    given = sender_rows(n)
    ds.write_rows(store, "rows.parquet", schema, given, {b"k": b"v"})
    with ds.ColumnWriter(
        store, "columns.parquet", schema, {b"k": b"v"}, constants={"scan_id": "s1"}
    ) as out:
        assert out.names == tuple(f for f in schema.names if f != "scan_id")
        for i, r in enumerate(given):
            if i % 2:
                out.add({**r, "observed_at": rows.ts_ms(1.7e9 + i / 7)})
            else:
                out.append((*(r[f] for f in out.names[:-1]), rows.ts_ms(1.7e9 + i / 7)))
        assert out.count == n
    assert_same_file(tmp_path / "columns.parquet", tmp_path / "rows.parquet")


def test_column_writer_leaves_no_file_on_error(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    with (
        pytest.raises(RuntimeError),
        ds.ColumnWriter(store, "x.parquet", TABLES["findings"], constants={"scan_id": "s"}) as out,
    ):
        out.add({"domain": "a.example"})
        raise RuntimeError("stop")
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("n", [0, 1, 3, 6, 7, 8, 20, 40])
def test_part_writer_writes_what_row_writer_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    """Domains sharing parts (the same object, or equal ones), parts of 0 to 4 rows, a
    domain's rows across row groups."""
    monkeypatch.setattr(ds, "ROW_GROUP", 7)
    store = open_store(str(tmp_path))
    schema = TABLES["sender_outcomes"]
    middle = [f for f in schema.names if f not in ("scan_id", "domain", "observed_at")]
    rng = random.Random(n)
    made = sender_rows(5)
    parts = [tuple(made[:k]) for k in range(5)] + [tuple(made[1:3])]
    given: list[dict[str, Any]] = []
    with ds.PartWriter(
        store,
        "parts.parquet",
        schema,
        lambda part: [[r[f] for r in part] for f in middle],
        {b"k": b"v"},
        constants={"scan_id": "s1"},
    ) as out:
        for i in range(n):
            part = rng.choice(parts)
            at = rows.ts_ms(1.7e9 + i / 7)
            assert out.add(f"d{i}.example", part, at) == len(part)
            given += [
                {**r, "domain": f"d{i}.example", "observed_at": rows._ts(1.7e9 + i / 7)}
                for r in part
            ]
        assert out.count == len(given)
    ds.write_rows(store, "rows.parquet", schema, given, {b"k": b"v"})
    assert_same_file(tmp_path / "parts.parquet", tmp_path / "rows.parquet")


def assert_same_file(got_path: Path, want_path: Path) -> None:
    """The same rows, file metadata and row groups."""
    want = pq.ParquetFile(want_path)
    got = pq.ParquetFile(got_path)
    assert got.read().equals(want.read())
    assert got.schema_arrow.metadata == want.schema_arrow.metadata
    groups = [got.metadata.row_group(i).num_rows for i in range(got.num_row_groups)]
    assert groups == [want.metadata.row_group(i).num_rows for i in range(want.num_row_groups)]
