"""The commands that read scans: ``report``, ``sql``, ``diff`` and ``queries``.

What must live here: the click commands and what is particular to the command
line — ``KEY=VALUE`` and ``@FILE`` parameters, output formats, and how an error
for the user ends a command (``scanner.cli.Danescan.invoke``, the one place where
errors become exit statuses). The work is done by
``analysis.db``, ``analysis.queries`` and ``analysis.report``, which raise
``scanner.errors.DanescanError`` subclasses for the user's mistakes; nothing here
maps an error type to an exit status of its own.

They are plain click commands; ``scanner.cli`` loads this module only when one of
them is named (``LAZY_COMMANDS``: DuckDB stays out of ``scan`` and ``check``), and
:data:`COMMANDS` lists them for that table's test. A SCAN argument is a
scan directory or a directory holding scan directories (``analysis.db``).

Exit status: 0 on success; 2 on usage errors (unknown query, bad parameter, no
scan found, scans that cannot be read, SQL that DuckDB refuses), as click does for
its own usage errors.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from analysis import db, queries
from analysis.queries import QueryResult, jsonable
from analysis.tables import text_table
from scanner.errors import DanescanError

__all__ = ["COMMANDS", "ParamFileError", "diff", "list_queries", "report", "sql"]

FORMATS = ("table", "csv", "json")

_P = ParamSpec("_P")
_R = TypeVar("_R")


class ParamFileError(DanescanError):
    """The file of a ``--param KEY=@FILE`` cannot be read."""


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        if value.startswith("@"):
            # A file of values, one a line (a partner list): joined with commas.
            try:
                lines = Path(value[1:]).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise ParamFileError(f"--param {key}: {value[1:]}: {reason}") from exc
            value = ",".join(
                s.split("#", 1)[0].strip() for s in lines if s.split("#", 1)[0].strip()
            )
        params[key.strip()] = value
    return params


def format_result(result: QueryResult, fmt: str) -> str:
    """A result as text: an aligned table, CSV with a header, or JSON Lines."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(
                [
                    ""
                    if v is None
                    else json.dumps(jsonable(v))
                    if isinstance(v, list)
                    else jsonable(v)
                    for v in row
                ]
            )
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        return "\n".join(
            json.dumps({k: jsonable(v) for k, v in rec.items()}, ensure_ascii=False)
            for rec in result.records()
        )
    return text_table(result)


@click.command("sql")
@click.argument("args", nargs=-1, required=True, metavar="NAME|--query SQL SCAN...")
@click.option("--query", "-q", "adhoc", help="Ad-hoc SQL instead of a named query.")
@click.option(
    "--param",
    "-p",
    "param_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter of the named query (repeatable); VALUE @FILE reads one value "
    "a line, joined with commas.",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="json = one JSON object per line.",
)
def sql(args: tuple[str, ...], adhoc: str | None, param_pairs: tuple[str, ...], fmt: str) -> None:
    """Run a named query (see `danescan queries`) or ad-hoc SQL against scans.

    The views are the scan tables (domains, domain_mx, hosts, addresses, tlsa_records,
    findings, scans, invalid_inputs) plus providers(host, provider), provider(host) and
    scan_order(scan_id, started_at, scan_no).
    """
    params = _parse_params(param_pairs)
    if adhoc is None:
        if len(args) < 2:
            raise click.UsageError("give a query NAME and at least one SCAN (or --query SQL)")
        name, scans = args[0], args[1:]
        query = queries.load(name)
        query.bind(params)  # unknown parameters: an error before any work
        con = db.connect(scans)
        try:
            result = queries.run(con, query, **params)
        finally:
            con.close()
    else:
        con = db.connect(args)
        try:
            result = queries.run_sql(con, adhoc, params or None)
        finally:
            con.close()
    out = format_result(result, fmt)
    if out:
        click.echo(out)


@click.command("queries")
@click.option("--verbose", "-v", is_flag=True, help="Also the counting rules and parameters.")
def list_queries(verbose: bool) -> None:
    """List the named queries: name, question, what they count."""
    for q in queries.all_queries():
        click.echo(
            f"{q.name}\n    {q.question}\n    counts: "
            f"{q.counts if verbose else q.counts.split(' (')[0].split(';')[0]}"
        )
        if verbose:
            for p in q.params:
                default = "null" if p.default is None else p.default
                click.echo(f"    param {p.name} = {default}: {p.description}")


@click.command("report")
@click.argument("scans", nargs=-1, required=True, metavar="SCAN...")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file; the Markdown goes beside it (FILE.md, charts in FILE_charts/).",
)
@click.option("--title", default="DANE for SMTP adoption report", show_default=True)
def report(scans: tuple[str, ...], out: Path, title: str) -> None:
    """Write an adoption report (self-contained HTML, and Markdown) for one or more scans."""
    # Here, not at the top: matplotlib takes half a second to import, and every
    # analysis command (and ``danescan --help``) imports this module.
    from analysis.report import write_report

    html_path, md_path, built = write_report(scans, out, title)
    click.echo(f"{html_path}\n{md_path}")
    click.echo(f"report: {len(built.scan_ids)} scan(s), details for {built.latest}", err=True)


@click.command("diff")
@click.argument("scans", nargs=-1, required=True, metavar="SCAN...")
@click.option("--from", "scan_a", help="Earlier scan id (default: the second most recent).")
@click.option("--to", "scan_b", help="Later scan id (default: the most recent).")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
def diff(scans: tuple[str, ...], scan_a: str | None, scan_b: str | None, fmt: str) -> None:
    """What changed between two scans: newly broken, newly valid, provider, verdict.

    Give the two scan directories (or a directory holding them); counts are domains.
    """
    con = db.connect(scans)
    try:
        ids = db.scan_ids(con)
        for given in (scan_a, scan_b):
            if given is not None and given not in ids:
                raise db.NoScanError(f"no scan {given!r} here; scans: {', '.join(ids)}")
        if len(ids) < 2 and (scan_a is None or scan_b is None):
            raise db.NoScanError(f"diff needs two scans; found {len(ids)}: {', '.join(ids)}")
        result = queries.run(con, "diff", scan_a=scan_a, scan_b=scan_b)
        a = scan_a or ids[-2]
        b = scan_b or ids[-1]
    finally:
        con.close()
    if fmt == "table":
        counter: Counter[str] = Counter(c for ch in result.column("changes") for c in ch)
        click.echo(f"changes from {a} to {b} (counts: domains)")
        for change, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {change:<22} {n}")
        click.echo("")
    out = format_result(result, fmt)
    if out:
        click.echo(out)


COMMANDS: tuple[click.Command, ...] = (report, sql, diff, list_queries)
