"""The files of a scan: where each table and each stage's work lives, and how rows are
written to and read from them.

What must live here: the path of every file a scan writes (so no other module spells
a path), the stable partitioning hash, and streaming Parquet I/O over a ``Store``.

Final tables (what users and ``analysis`` read), hive-partitioned by scan::

    <out>/<table>/scan_date=YYYY-MM-DD/scan_id=<id>/part-NNNNN.parquet
    <out>/_manifest.json        (written last when the scan completes: its files)
    <out>/scan.json             (the scan's state: id, settings, input identity, status)

Stage work, internal, removed when the scan completes::

    <out>/_work/input/p=K/c-C.parquet        input lines of domain partition K
    <out>/_work/domain/p=K.parquet            a domain's own facts (MX, zone keys, MTA-STS)
    <out>/_work/hostrefs/dp=K.parquet         MX host names domain partition K needs, by host key
    <out>/_work/hostdns/ht=J.parquet          host task J's host facts, by the domain partition
                                              that needs them
    <out>/_work/probejobs/ht=J.parquet        probes host task J found due, by address key
    <out>/_work/probes/at=A.parquet           probe task A's facts, by domain partition
    <out>/_work/bogus/<who>.parquet           a task's bogus questions, by registered-domain key
    <out>/_work/final/<table>/<who>.parquet   final-table rows, compacted at the end
    <out>/_work/done/<stage>-NNNNN.json       a task's commit marker, written last

Every work file's name is a function of (stage, partition): a retried task overwrites
its own outputs, so a retry can replace but never duplicate.

The shuffles between stages write one file per producing task, sorted by the column
that routes a row (a host's or address's ``hash_key``, or the domain partition), in row
groups whose statistics let a consumer read only its own range (``read_key_range``).
So the host and probe stages can be cut into as many tasks as the hosts and probes
found need (``key_range``), decided after the stage before them, and the number of
files grows with the tasks, not with their product.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scanner.store.objstore import Store

WORK = "_work"
STATE = "scan.json"
MANIFEST = "_manifest.json"
ROW_GROUP = 10_000
SHUFFLE_ROW_GROUP = 1_000
# Rows a ColumnWriter converts to Arrow at a time.
CHUNK = 500


def stable_hash(name: str) -> int:
    """A hash of a name that is the same in every process and on every machine
    (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def partition_of(name: str, parts: int) -> int:
    return stable_hash(name) % parts


KEY_SPACE = 1 << 32


def hash_key(name: str) -> int:
    """Where a host or address falls in the key space ``[0, KEY_SPACE)`` that the host
    and probe tasks split into contiguous ranges (uniform: a hash)."""
    return stable_hash(name) >> 32


def key_range(task: int, tasks: int) -> tuple[int, int]:
    """The keys ``[lo, hi)`` task ``task`` of ``tasks`` owns: equal slices of the space."""
    return task * KEY_SPACE // tasks, (task + 1) * KEY_SPACE // tasks


# -- paths ----------------------------------------------------------------------------


def final_dir(table: str, scan_date: str, scan_id: str) -> str:
    return f"{table}/scan_date={scan_date}/scan_id={scan_id}"


def input_chunk(part: int, chunk: int) -> str:
    return f"{WORK}/input/p={part:05d}/c-{chunk:06d}.parquet"


def input_dir(part: int) -> str:
    return f"{WORK}/input/p={part:05d}"


def input_done(shard_suffix: str) -> str:
    return f"{WORK}/input/_done{shard_suffix}.json"


def domain_file(part: int) -> str:
    return f"{WORK}/domain/p={part:05d}.parquet"


def hostrefs_file(domain_part: int) -> str:
    return f"{WORK}/hostrefs/dp={domain_part:05d}.parquet"


def hostrefs_dir() -> str:
    return f"{WORK}/hostrefs"


def hostdns_file(host_task: int) -> str:
    return f"{WORK}/hostdns/ht={host_task:05d}.parquet"


def hostdns_dir() -> str:
    return f"{WORK}/hostdns"


def probejobs_file(host_task: int) -> str:
    return f"{WORK}/probejobs/ht={host_task:05d}.parquet"


def probejobs_dir() -> str:
    return f"{WORK}/probejobs"


def probes_file(probe_task: int) -> str:
    return f"{WORK}/probes/at={probe_task:05d}.parquet"


def probes_dir() -> str:
    return f"{WORK}/probes"


def bogus_file(who: str) -> str:
    """A task's bogus questions to diagnose, sorted by their registered domain's key."""
    return f"{WORK}/bogus/{who}.parquet"


def bogus_dir() -> str:
    return f"{WORK}/bogus"


def work_final(table: str, who: str) -> str:
    return f"{WORK}/final/{table}/{who}.parquet"


def work_final_dir(table: str) -> str:
    return f"{WORK}/final/{table}"


def import_file(kind: str, part: int, chunk: int) -> str:
    """Stored facts spooled by partition for a regrade (kind: domains/hosts/addresses)."""
    return f"{WORK}/import/{kind}/p={part:05d}/c-{chunk:06d}.parquet"


def import_dir(kind: str, part: int) -> str:
    return f"{WORK}/import/{kind}/p={part:05d}"


def done_marker(stage: str, part: int) -> str:
    return f"{WORK}/done/{stage}-{part:05d}.json"


# -- Parquet over a Store ----------------------------------------------------------------


class RowWriter:
    """Rows to one Parquet file, in row groups of ``ROW_GROUP`` (bounded memory); the
    file appears only when the writer closes without error."""

    def __init__(
        self,
        store: Store,
        path: str,
        schema: pa.Schema,
        metadata: dict[bytes, bytes] | None = None,
        row_group: int | None = None,
    ) -> None:
        self.schema = schema.with_metadata(metadata) if metadata else schema
        self._stack = contextlib.ExitStack()
        sink = self._stack.enter_context(store.open_output(path))
        self._writer = pq.ParquetWriter(sink, self.schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self._row_group = row_group or ROW_GROUP
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= self._row_group:
            self._flush()

    def add_many(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.add(row)

    def add_columns(self, columns: Sequence[Sequence[Any]]) -> None:
        """Rows given as one list per column of the schema, in its order, written in
        row groups of this writer's size (no dict per row)."""
        total = len(columns[0]) if columns else 0
        for start in range(0, total, self._row_group):
            end = start + self._row_group
            arrays = [
                pa.array(values[start:end], type=f.type)
                for values, f in zip(columns, self.schema, strict=True)
            ]
            self.add_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def add_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        self._flush()
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self._writer.write_table(table.cast(self.schema))
        self.count += table.num_rows

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def __enter__(self) -> Self:
        return self

    def __del__(self) -> None:
        # A writer that was built but never entered (an interrupt between the two, e.g.
        # Ctrl-C while a ``with`` statement starts) must close its Parquet writer before
        # its file goes: otherwise pyarrow's own finaliser writes a footer to a closed
        # file and prints a traceback on the way out. Nothing is committed either way.
        writer = getattr(self, "_writer", None)
        if writer is not None and writer.is_open:
            with contextlib.suppress(Exception):
                writer.close()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._flush()
            self._writer.close()
        finally:
            self._stack.__exit__(exc_type, exc, tb)  # type: ignore[arg-type]


class ColumnWriter(RowWriter):
    """A ``RowWriter`` fed one tuple of values per row (``append``, in the order of
    ``names``: the schema's, without ``constants``), turned into columns (``zip``) and
    converted to Arrow every ``CHUNK`` rows, while the values are still in the CPU's
    caches (a row group later, each value made for its row is a cache miss): no dict
    per row, no value-by-value appends in Python. ``constants`` (the scan id) are one
    value for every row; timestamp columns take the integers the column stores
    (``rows.ts_ms``). The file is the one ``RowWriter`` writes from the same rows: row
    groups of ``ROW_GROUP`` rows."""

    def __init__(
        self,
        store: Store,
        path: str,
        schema: pa.Schema,
        metadata: dict[bytes, bytes] | None = None,
        constants: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(store, path, schema, metadata)
        self.constants = dict(constants or {})
        self.names = tuple(n for n in self.schema.names if n not in self.constants)
        self._values: list[Sequence[Any]] = []
        self._chunks: list[list[pa.Array]] = []  # the row group's rows converted so far
        self._held = 0  # their number
        self._next = min(CHUNK, ROW_GROUP)  # rows to hold before converting them

    def add(self, row: dict[str, Any]) -> None:
        self.append(tuple(row.get(name) for name in self.names))

    def append(self, values: Sequence[Any]) -> None:
        self._values.append(values)
        self.count += 1
        if len(self._values) >= self._next:
            self._convert()

    def _convert(self) -> None:
        """The rows held, as Arrow arrays; a full row group is written."""
        n = len(self._values)
        if n:
            given = dict(zip(self.names, zip(*self._values, strict=True), strict=True))
            self._values = []
            arrays = []
            for field in self.schema:
                values = given.get(field.name)
                if values is None:
                    values = [self.constants[field.name]] * n
                arrays.append(pa.array(values, field.type))
            self._chunks.append(arrays)
            self._held += n
        if self._held >= ROW_GROUP:
            self._write()
        self._next = min(CHUNK, ROW_GROUP - self._held)

    def _write(self) -> None:
        if self._chunks:
            columns = [pa.concat_arrays(c) for c in zip(*self._chunks, strict=True)]
            self._writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))
            self._chunks = []
            self._held = 0

    def _flush(self) -> None:
        # At the end (``RowWriter.__exit__``): what is left, one last row group.
        self._convert()
        self._write()


class PartWriter:
    """Rows to one Parquet file (through a ``RowWriter``) that come in parts many rows
    share: ``add(first, part, last)`` appends the rows of ``part`` (one per value of
    each column ``make(part)`` gives: the schema's columns but for ``constants``, the
    first and the last), each with ``first`` as its first column and ``last`` as its
    last. A part is made and converted to Arrow once per row group it appears in (found
    again by identity), and its rows are copied by Arrow (``take``), not value by value
    in Python: a partition's domains share a few providers' hosts and sender outcomes.
    The file is the one ``RowWriter`` writes from the same rows: row groups of
    ``ROW_GROUP`` rows."""

    def __init__(
        self,
        store: Store,
        path: str,
        schema: pa.Schema,
        make: Callable[[Any], Sequence[Sequence[Any]]],
        metadata: dict[bytes, bytes] | None = None,
        constants: dict[str, Any] | None = None,
    ) -> None:
        self._out = RowWriter(store, path, schema, metadata)
        self.schema = self._out.schema
        self._make = make
        self.count = 0
        self.constants = dict(constants or {})
        fields = [f for f in self.schema if f.name not in self.constants]
        self._first, self._middle, self._last = fields[0], fields[1:-1], fields[-1]
        self._carry: pa.Table | None = None  # rows made but not yet written
        self._clear()

    def _clear(self) -> None:
        # Each part seen since the last flush (held, so that its id is not reused), its
        # number and row count; its rows, column by column, after the parts before it.
        self._parts: dict[int, tuple[object, int, int]] = {}
        self._values: tuple[list[Any], ...] = tuple([] for _ in self._middle)
        self._offsets = [0]
        self._which: list[int] = []
        self._firsts: list[Any] = []
        self._lasts: list[Any] = []
        self._pending = 0

    def add(self, first: Any, part: object, last: Any) -> int:
        """Appends the rows of ``part``; gives their number."""
        hit = self._parts.get(id(part))
        if hit is None or hit[0] is not part:
            columns = self._make(part)
            for column, values in zip(self._values, columns, strict=True):
                column.extend(values)
            n = len(columns[0])
            hit = self._parts[id(part)] = (part, len(self._offsets) - 1, n)
            self._offsets.append(self._offsets[-1] + n)
        n = hit[2]
        if n:
            self._which.append(hit[1])
            self._firsts.append(first)
            self._lasts.append(last)
            self._pending += n
            self.count += n
            if self._pending >= ROW_GROUP:
                self._flush()
        return n

    def _made(self) -> pa.Table:
        """The rows added since the last flush, after those carried over."""
        parts = pa.StructArray.from_arrays(
            [pa.array(v, f.type) for v, f in zip(self._values, self._middle, strict=True)],
            fields=self._middle,
        )
        lists = pa.ListArray.from_arrays(pa.array(self._offsets, pa.int32()), parts)
        taken = lists.take(pa.array(self._which, pa.int32()))
        owner = pc.list_parent_indices(taken)
        arrays = {
            self._first.name: pa.array(self._firsts, self._first.type).take(owner),
            **{f.name: a for f, a in zip(self._middle, taken.flatten().flatten(), strict=True)},
            self._last.name: pa.array(self._lasts, self._last.type).take(owner),
        }
        for name, value in self.constants.items():
            arrays[name] = pa.repeat(pa.scalar(value, self.schema.field(name).type), len(owner))
        made = pa.Table.from_arrays([arrays[n] for n in self.schema.names], schema=self.schema)
        self._clear()
        if self._carry is None:
            return made
        return pa.concat_tables([self._carry, made]).combine_chunks()

    def _write(self, group: int) -> None:
        rows = self._made() if self._which else self._carry
        self._carry = None
        if rows is None:
            return
        start = 0
        while len(rows) - start >= group and len(rows) > start:
            n = min(len(rows) - start, ROW_GROUP)
            self._out.add_batch(rows.slice(start, n))
            start += n
        if start < len(rows):
            self._carry = rows.slice(start)

    def _flush(self) -> None:
        self._write(ROW_GROUP)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._write(1)  # what is left, in row groups of at most ROW_GROUP
        except BaseException as error:
            self._out.__exit__(type(error), error, error.__traceback__)  # no file
            raise
        self._out.__exit__(exc_type, exc, tb)


def write_rows(
    store: Store,
    path: str,
    schema: pa.Schema,
    rows: Iterable[dict[str, Any]],
    metadata: dict[bytes, bytes] | None = None,
    row_group: int | None = None,
) -> int:
    with RowWriter(store, path, schema, metadata, row_group) as writer:
        writer.add_many(rows)
        return writer.count


def read_rows(
    store: Store, paths: Sequence[str], columns: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of Parquet files (full store paths), a batch at a time."""
    for path in paths:
        with store.fs.open_input_file(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(columns=columns, batch_size=ROW_GROUP):
                yield from batch.to_pylist()


def write_sorted(
    store: Store,
    path: str,
    schema: pa.Schema,
    rows: list[dict[str, Any]],
    key: str,
) -> int:
    """``rows`` sorted by the routing column ``key`` (see ``read_key_range``), in small
    row groups: a consumer decodes whole row groups to find its range, and reads many
    producers' files at once, so a row group's size bounds its memory (host facts are
    kilobytes each)."""
    rows.sort(key=lambda r: r[key])
    return write_rows(store, path, schema, rows, row_group=SHUFFLE_ROW_GROUP)


READERS = 16  # files of a shuffle read at once from object storage (latency, not bandwidth)


def read_key_range(
    store: Store, paths: Sequence[str], key: str, lo: int, hi: int
) -> Iterator[dict[str, Any]]:
    """The rows of files sorted by column ``key`` whose key is in ``[lo, hi)``: row
    groups whose statistics lie outside the range are not read. A consumer reads one
    range of every producer's file (thousands at scale, each a footer and a row group
    or two away on object storage), so ``READERS`` files are read at once."""

    def one(path: str) -> list[dict[str, Any]]:
        return list(_key_range_of(store, path, key, lo, hi))

    if len(paths) <= 1 or store.local:
        # A local disk answers at once: one file at a time (each reading thread holds
        # its own row groups and Arrow's per-thread caches).
        for path in paths:
            yield from one(path)
        return
    with concurrent.futures.ThreadPoolExecutor(min(READERS, len(paths))) as pool:
        for found in pool.map(one, paths):
            yield from found


def _key_range_of(store: Store, path: str, key: str, lo: int, hi: int) -> Iterator[dict[str, Any]]:
    with store.fs.open_input_file(path) as f:
        parquet = pq.ParquetFile(f)
        column = parquet.schema_arrow.get_field_index(key)
        for group in range(parquet.metadata.num_row_groups):
            stats = parquet.metadata.row_group(group).column(column).statistics
            bounded = stats is not None and stats.has_min_max
            if bounded and (stats.max < lo or stats.min >= hi):
                continue
            table = parquet.read_row_group(group)
            keys = table.column(key)
            mask = pc.and_(pc.greater_equal(keys, lo), pc.less(keys, hi))
            yield from table.filter(mask).to_pylist()


def row_count(store: Store, path: str) -> int:
    with store.fs.open_input_file(path) as f:
        return int(pq.ParquetFile(f).metadata.num_rows)


def scan_table_files(store: Store, table: str) -> list[str]:
    """A stored scan's files of one table: what its manifest names (this layout), or
    the ``<table>/part-*.parquet`` files of the layout before hive partitions (schema
    versions 1-2), so that older scans stay readable."""
    manifest = store.read_json(MANIFEST)
    if isinstance(manifest, dict):
        return [store.path(p) for p in manifest.get("tables", {}).get(table, [])]
    return [p for p in store.list_files(table, suffix=".parquet") if "/part-" in p]
