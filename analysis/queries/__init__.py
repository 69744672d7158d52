"""The named questions: one SQL file each in this directory, and how to run them.

What must live here: reading and checking the query headers, binding parameters,
running SQL over a connection (:func:`run_sql`, the one place a DuckDB error
becomes :class:`QueryFailed`), and :class:`QueryResult`, the rows every caller
gets. A result shows itself as a table through ``analysis.tables``; this package
never imports the report.

Each ``NAME.sql`` starts with a header of ``--`` comment lines::

    -- question: How far do domains get towards working DANE, per scan?
    -- counts: domains (each domain once per scan)
    -- param scan = null: scan id to restrict to; null = every scan

``question`` and ``counts`` are required: a statistic always says whether it
counts domains, MX hosts, TLSA RRsets or TLSA records. Parameters are DuckDB
named prepared parameters (``$scan``), never text pasted into SQL. Each one is
declared in the header with its default (``null``, an integer, or text); values
given from the shell arrive as text, so the SQL casts them (``$top::INTEGER``).
A list parameter (``$domains``) is one comma-separated text value, which the SQL
splits; Python callers may pass a list or tuple, which is joined with commas.

Queries run against a connection from :func:`analysis.db.connect`, whose views
are the tables of ``scanner.store.schema`` plus ``providers``, ``provider()`` and
``scan_order``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import duckdb

from analysis.tables import html_table, text_table
from scanner.errors import DanescanError

__all__ = [
    "NamedQuery",
    "Param",
    "ParamValue",
    "QueryError",
    "QueryFailed",
    "QueryResult",
    "all_queries",
    "load",
    "names",
    "run",
    "run_sql",
]

ParamValue = str | int | float | bool | None | Sequence[str]


class QueryError(DanescanError, ValueError):
    """A named query is unknown, malformed, or given parameters it does not declare."""


class QueryFailed(DanescanError):
    """DuckDB refused or failed a query: an error in ad-hoc SQL, a parameter value of
    the wrong type, or a scan file it cannot read. The text is DuckDB's first line."""


@dataclass(frozen=True)
class Param:
    """One declared parameter of a named query."""

    name: str
    default: str | int | None
    description: str


@dataclass(frozen=True)
class NamedQuery:
    """A named question: its SQL and what its header says."""

    name: str
    question: str
    counts: str
    params: tuple[Param, ...]
    sql: str

    def bind(self, given: Mapping[str, ParamValue] | None = None) -> dict[str, Any]:
        """The parameter values to execute with: defaults, overridden by ``given``."""
        given = dict(given or {})
        declared = {p.name for p in self.params}
        unknown = sorted(set(given) - declared)
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise QueryError(
                f"query {self.name!r} has no parameter {', '.join(unknown)} (it takes: {known})"
            )
        values: dict[str, Any] = {}
        for param in self.params:
            value = given.get(param.name, param.default)
            if isinstance(value, list | tuple):
                value = ",".join(str(v) for v in value)
            values[param.name] = value
        # DuckDB refuses values for parameters the statement does not use.
        return {k: v for k, v in values.items() if re.search(rf"\${k}\b", self.sql)}


_HEADER_KEY = re.compile(r"^--\s*(question|counts):\s*(.*)$")
_HEADER_PARAM = re.compile(r"^--\s*param\s+([a-z_][a-z0-9_]*)\s*=\s*(\S+?):\s*(.*)$")
_HEADER_MORE = re.compile(r"^--\s{2,}(.*)$")


def _parse_default(text: str) -> str | int | None:
    if text.lower() == "null":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text.strip("'\"")


def parse(name: str, text: str) -> NamedQuery:
    """Parse one query file; raise :class:`QueryError` when its header is incomplete."""
    fields: dict[str, str] = {}
    params: list[Param] = []
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            if stripped:
                break
            continue
        if m := _HEADER_PARAM.match(stripped):
            params.append(Param(m.group(1), _parse_default(m.group(2)), m.group(3).strip()))
            last = None
        elif m := _HEADER_KEY.match(stripped):
            last = m.group(1)
            fields[last] = m.group(2).strip()
        elif (m := _HEADER_MORE.match(line.strip())) and last is not None:
            fields[last] += " " + m.group(1).strip()
        else:
            last = None
    for key in ("question", "counts"):
        if not fields.get(key):
            raise QueryError(f"query {name!r}: header line '-- {key}: ...' missing")
    used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", _strip_comments(text)))
    declared = {p.name for p in params}
    if used - declared:
        raise QueryError(f"query {name!r} uses undeclared parameters {sorted(used - declared)}")
    return NamedQuery(name, fields["question"], fields["counts"], tuple(params), text)


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def names() -> list[str]:
    """The names of the bundled queries, sorted."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name[:-4] for f in files if f.name.endswith(".sql"))


def load(name: str) -> NamedQuery:
    """The bundled query ``name`` (``funnel``, ``verdict_shares``, ...)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name not in names():
        raise QueryError(f"no named query {name!r}; known: {', '.join(names())}")
    text = resources.files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return parse(name, text)


def all_queries() -> list[NamedQuery]:
    """Every bundled query, by name."""
    return [load(n) for n in names()]


@dataclass(frozen=True)
class QueryResult:
    """The rows of a query, with column names; small enough to hold in memory."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    query: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        """One column's values, in row order."""
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def where(self, **equal: Any) -> QueryResult:
        """The rows whose columns equal the values given."""
        idx = {self.columns.index(k): v for k, v in equal.items()}
        rows = tuple(r for r in self.rows if all(r[i] == v for i, v in idx.items()))
        return QueryResult(self.columns, rows, self.query, self.params)

    def _repr_html_(self) -> str:  # Jupyter
        return html_table(self)

    def __str__(self) -> str:
        return text_table(self)

    def __repr__(self) -> str:
        return f"<QueryResult {self.query or 'sql'}: {len(self.rows)} rows>\n{self}"


def run_sql(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    label: str = "SQL",
) -> QueryResult:
    """Run ad-hoc SQL and fetch every row (an unfinished result would block the connection).

    A DuckDB error becomes :class:`QueryFailed`, its text ``LABEL: `` and DuckDB's
    first line (the rest is a caret under the SQL, which a one-line message drops).
    """
    try:
        # Through Arrow: DuckDB's own conversion of TIMESTAMPTZ values needs pytz.
        relation = con.sql(sql, params=dict(params) if params else None)
        if relation is None:  # a statement without a result (CREATE VIEW ...)
            return QueryResult((), (), "", dict(params or {}))
        table = relation.to_arrow_table()
    except duckdb.Error as exc:
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise QueryFailed(f"{label}: {first_line}") from exc
    columns = tuple(table.column_names)
    values = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = tuple(zip(*values, strict=True)) if values else ()
    return QueryResult(columns, rows, "", dict(params or {}))


def run(
    con: duckdb.DuckDBPyConnection, name: str | NamedQuery, **params: ParamValue
) -> QueryResult:
    """Run a named query with its defaults overridden by ``params``."""
    query = name if isinstance(name, NamedQuery) else load(name)
    bound = query.bind(params)
    result = run_sql(con, query.sql, bound, label=f"query {query.name}")
    return QueryResult(result.columns, result.rows, query.name, bound)


def jsonable(value: Any) -> Any:
    """A JSON-friendly form of a DuckDB value (timestamps as ISO 8601 text)."""
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int | float):
        return float(value)  # Decimal
    return value
