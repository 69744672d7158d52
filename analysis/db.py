"""DuckDB over danescan scan directories: one view per table of ``scanner.store.schema``.

What must live here: finding scan directories, opening the connection every query
runs on, and the helpers (views, functions) that queries may use, so that no query
and no caller reads Parquet files itself. Failing to find or read the scans is
:class:`NoScanError` or :class:`ScanReadError` from here, never a bare DuckDB or
OS error.

A *scan directory* holds one sub-directory per table (``domains/``, ``scans/``, ...),
each with ``part-NNNNNN.parquet`` files (``scanner.store.schema``). :func:`connect` accepts
scan directories and parent directories holding many of them, and opens an
in-memory DuckDB connection where every table of the contract is a view over all
the scans given, read with ``union_by_name=true`` (files written by an older
schema lack the columns added since; without it DuckDB drops them silently).

Every view has *every* column of the contract, in contract order, even when no
scan has a file for that table (a scan without findings) or was written before a
column existed: the view is the union, by name, of an empty Arrow table of the
contract schema and the Parquet files.

Helpers made available to queries:

- ``providers(host, provider)``: the registered domain of every distinct host name in
  ``hosts`` and ``domain_mx``, by the project's one Public Suffix List rule
  (``scanner.store.psl``: the bundled snapshot, ICANN suffixes only, so
  ``mx.foo.github.io`` → ``github.io``; :func:`psl_version` names the snapshot).
  Computed once over *distinct* hosts, so a join is cheap even for millions of
  domains sharing a handful of provider hosts.
- ``provider(host)``: the same as a scalar SQL function, for ad-hoc queries.
- ``scan_order(scan_id, started_at, scan_no)``: scans in time order (``scan_no`` 1 =
  oldest), including scans whose ``scans`` row is missing (started_at null, last).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import duckdb.func
import pyarrow as pa
import pyarrow.dataset as pads

from scanner.errors import DanescanError
from scanner.store.objstore import StoreError, is_url, open_store
from scanner.store.psl import PSL_RULE, psl_version, registered_domain
from scanner.store.schema import TABLES

__all__ = [
    "PSL_RULE",
    "TABLES",
    "NoScanError",
    "ScanReadError",
    "ScanSet",
    "connect",
    "find_scan_dirs",
    "provider_of",
    "psl_version",
]


class NoScanError(DanescanError, ValueError):
    """The paths given hold no scan directory, or not the scans asked for."""


class ScanReadError(DanescanError):
    """A scan directory was found but its files cannot be read (permissions, a
    damaged Parquet file)."""


@contextlib.contextmanager
def _reading_scans() -> Iterator[None]:
    """Turn DuckDB's and the OS's errors in reading scan files into :class:`ScanReadError`."""
    try:
        yield
    except duckdb.Error as exc:
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise ScanReadError(f"cannot read the scans: {first_line}") from exc
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        raise ScanReadError(f"cannot read the scans: {where}{exc.strerror or exc}") from exc


def is_scan_dir(path: Path) -> bool:
    """A scan directory has at least one table sub-directory of the contract."""
    return path.is_dir() and any((path / table).is_dir() for table in TABLES)


def _remote_scan_locations(url: str) -> list[str]:
    """An object-store URL that is a scan (or an archive of scans in one tree), or a
    prefix whose immediate sub-prefixes are; the URL's query options are kept."""
    base, _, query = url.partition("?")
    suffix = f"?{query}" if query else ""
    try:
        store = open_store(url)
        names = store.list_dirs()
    except (OSError, StoreError) as exc:
        raise ScanReadError(f"cannot read {base}: {exc}") from exc
    if set(names) & set(TABLES):
        return [url]
    found = []
    for name in names:
        sub = f"{base.rstrip('/')}/{name}{suffix}"
        if set(open_store(sub).list_dirs()) & set(TABLES):
            found.append(sub)
    return found


def find_scan_dirs(paths: Iterable[str | Path]) -> list[Path | str]:
    """Expand scan directories and parents of scan directories, in a stable order.

    A path that is itself a scan directory is taken as is; otherwise its immediate
    sub-directories that are scan directories are taken (sorted by name).
    Duplicates are dropped. Raises :class:`NoScanError` when nothing is found.
    """
    found: list[Path | str] = []
    seen: set[Path | str] = set()
    for raw in paths:
        if is_url(str(raw)) and not str(raw).startswith("file://"):
            for location in _remote_scan_locations(str(raw)):
                if location not in seen:
                    seen.add(location)
                    found.append(location)
            continue
        path = Path(raw)
        if not path.exists():
            raise NoScanError(f"{path}: no such directory")
        candidates = (
            [path] if is_scan_dir(path) else sorted(p for p in path.iterdir() if is_scan_dir(p))
        )
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    if not found:
        shown = ", ".join(str(p) for p in paths) or "(none)"
        raise NoScanError(
            f"no scan directory in {shown}: a scan directory holds table directories "
            f"such as domains/ and scans/ with part-*.parquet files"
        )
    return found


def provider_of(host: str | None) -> str | None:
    """The provider of an MX host: its registered domain under the ICANN suffixes of
    the bundled Public Suffix List (``mx1.mail.example.co.uk`` → ``example.co.uk``,
    ``mx.foo.github.io`` → ``github.io``; see ``scanner.store.psl``).

    A name under an unknown TLD counts as registered one label below it (the PSL's
    default ``*`` rule), so local-world names such as ``mx.provider.test`` work.
    A host that is itself a public suffix is its own provider.
    """
    return registered_domain(host)


def _provider_udf(host: str | None) -> str | None:
    return provider_of(host)


@dataclass(frozen=True)
class ScanSet:
    """The scan directories behind a connection and the Parquet files per table."""

    scan_dirs: tuple[Path | str, ...]  # local directories, or object-store URLs
    files: dict[str, tuple[str, ...]]


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _table_files(scan_dir: Path, table: str) -> list[str]:
    # Both layouts: <table>/part-*.parquet (schema 1-2) and the hive partitions
    # <table>/scan_date=…/scan_id=…/part-*.parquet. *.parquet only: files being written
    # carry another suffix until they are complete.
    return [str(p) for p in sorted((scan_dir / table).glob("**/*.parquet"))]


def _create_views(con: duckdb.DuckDBPyConnection, scan_dirs: Sequence[Path | str]) -> ScanSet:
    files_by_table: dict[str, tuple[str, ...]] = {}
    for table, schema in TABLES.items():
        empty_name = f"_empty_{table}"
        con.register(empty_name, pa.Table.from_batches([], schema=schema))
        local: list[str] = []
        sources = [f"SELECT * FROM {empty_name}"]
        for index, location in enumerate(scan_dirs):
            if isinstance(location, Path):
                local += _table_files(location, table)
                continue
            # Object storage: DuckDB's httpfs is downloaded at run time (offline it
            # fails), so remote files are read through pyarrow and scanned as Arrow.
            store = open_store(location)
            remote = store.list_files(table, suffix=".parquet")
            if remote:
                name = f"_remote_{table}_{index}"
                con.register(
                    name, pads.dataset(remote, filesystem=store.fs, schema=schema, format="parquet")
                )
                sources.append(f"SELECT * FROM {name}")
                local += [f"{location.split('?')[0]}::{p}" for p in remote]
        files_by_table[table] = tuple(local)
        listed = [f for f in local if "::" not in f]
        if listed:
            literal = ", ".join(_sql_literal(f) for f in listed)
            sources.append(f"SELECT * FROM read_parquet([{literal}], union_by_name = true)")
        source = " UNION ALL BY NAME ".join(sources)
        # UNION ALL BY NAME puts the contract's columns first, in contract order; a
        # column that only newer files have is kept after them.
        con.execute(f'CREATE VIEW "{table}" AS {source}')
    return ScanSet(scan_dirs=tuple(scan_dirs), files=files_by_table)


def _create_helpers(con: duckdb.DuckDBPyConnection) -> None:
    hosts = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT host FROM ("
            " SELECT host FROM hosts UNION ALL SELECT host FROM domain_mx"
            " UNION ALL SELECT host FROM findings WHERE host IS NOT NULL"
            ") WHERE host IS NOT NULL"
        ).fetchall()
    ]
    mapping = pa.table(
        {
            "host": pa.array(hosts, pa.string()),
            "provider": pa.array([provider_of(h) for h in hosts], pa.string()),
        }
    )
    con.register("_providers", mapping)
    con.execute("CREATE TABLE providers AS SELECT * FROM _providers")
    con.unregister("_providers")
    con.create_function(
        "provider",
        _provider_udf,
        ["varchar"],
        "varchar",
        null_handling=duckdb.func.FunctionNullHandling.SPECIAL,
        side_effects=False,
    )
    con.execute(
        """
        CREATE VIEW scan_order AS
        WITH ids AS (
            SELECT scan_id, min(started_at) AS started_at FROM scans GROUP BY scan_id
            UNION ALL
            SELECT DISTINCT scan_id, NULL::TIMESTAMPTZ FROM domains
            WHERE scan_id NOT IN (SELECT scan_id FROM scans)
        )
        SELECT scan_id, started_at,
               row_number() OVER (ORDER BY started_at NULLS LAST, scan_id) AS scan_no
        FROM ids
        """
    )


def connect(paths: Iterable[str | Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the contract's views over the scans given."""
    con, _ = connect_with_files(paths)
    return con


def connect_with_files(
    paths: Iterable[str | Path],
) -> tuple[duckdb.DuckDBPyConnection, ScanSet]:
    """Like :func:`connect`, also telling which scan directories and files were read."""
    with _reading_scans():
        scan_dirs = find_scan_dirs(list(paths))
        con = duckdb.connect(":memory:")
        try:
            scan_set = _create_views(con, scan_dirs)
            _create_helpers(con)
        except BaseException:
            con.close()
            raise
    return con, scan_set


def scan_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Scan ids in time order, oldest first."""
    with _reading_scans():
        rows = con.execute("SELECT scan_id FROM scan_order ORDER BY scan_no").fetchall()
    return [str(r[0]) for r in rows]
