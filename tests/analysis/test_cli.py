"""The analysis commands, through click's CliRunner on our own click objects."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis import cli, db, queries
from scanner.cli import main
from scanner.errors import DanescanError
from tests.analysis.analysis_synthetic import SCAN_IDS, SyntheticScans


def test_sql_named_query_table(synthetic: SyntheticScans) -> None:
    res = CliRunner().invoke(
        main, ["sql", "verdict_shares", str(synthetic.root), "-p", f"scan={SCAN_IDS[1]}"]
    )
    assert res.exit_code == 0, res.output
    counts = Counter(d["verdict"] for d in synthetic.table(SCAN_IDS[1], "domains"))
    for verdict, n in counts.items():
        assert any(line.split()[1:3] == [verdict, str(n)] for line in res.output.splitlines())


def test_sql_json_and_csv(synthetic: SyntheticScans) -> None:
    res = CliRunner().invoke(
        main, ["sql", "funnel", str(synthetic.scan_dir(SCAN_IDS[0])), "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert rows[0]["stage"] == "domains scanned"
    assert rows[0]["domains"] == len(synthetic.table(SCAN_IDS[0], "domains"))
    res = CliRunner().invoke(
        main,
        [
            "sql",
            "--query",
            "SELECT scan_id, count(*) AS domains FROM domains GROUP BY 1 ORDER BY 1",
            str(synthetic.root),
            "--format",
            "csv",
        ],
    )
    assert res.exit_code == 0, res.output
    got = list(csv.DictReader(io.StringIO(res.output)))
    assert [(r["scan_id"], int(r["domains"])) for r in got] == [
        (s, len(synthetic.table(s, "domains"))) for s in SCAN_IDS
    ]


def test_sql_partner_file(synthetic: SyntheticScans, tmp_path: Path) -> None:
    partners = tmp_path / "partners.txt"
    partners.write_text("# partners\nd00-validbig.com\nd19-broken.se  # old one\n\nnew-one.se\n")
    res = CliRunner().invoke(
        main,
        [
            "sql",
            "partner_readiness",
            str(synthetic.root),
            "--param",
            f"domains=@{partners}",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = {r["domain"]: r for r in map(json.loads, res.output.splitlines())}
    assert set(rows) == {"d00-validbig.com", "d19-broken.se", "new-one.se"}
    assert rows["d19-broken.se"]["error_code"] == "5.7.323"
    assert rows["new-one.se"]["ready"] is True


def test_sql_usage_errors(synthetic: SyntheticScans, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["sql", "no_such_query", str(synthetic.root)]).exit_code == 2
    assert (
        runner.invoke(main, ["sql", "funnel", str(synthetic.root), "-p", "bogus=1"]).exit_code == 2
    )
    assert (
        runner.invoke(main, ["sql", "funnel", str(synthetic.root), "-p", "noequals"]).exit_code == 2
    )
    assert runner.invoke(main, ["sql", "funnel", str(tmp_path)]).exit_code == 2
    assert runner.invoke(main, ["sql", "--query", "SELEKT 1", str(synthetic.root)]).exit_code == 2


def test_queries_lists_every_query() -> None:
    res = CliRunner().invoke(main, ["queries", "-v"])
    assert res.exit_code == 0
    for name in queries.names():
        assert f"\n{name}\n" in "\n" + res.output
    assert "param scan_a" in res.output


def test_diff_command(synthetic: SyntheticScans) -> None:
    res = CliRunner().invoke(
        main, ["diff", str(synthetic.scan_dir(SCAN_IDS[0])), str(synthetic.scan_dir(SCAN_IDS[1]))]
    )
    assert res.exit_code == 0, res.output
    assert "newly_broken           2" in res.output
    assert "newly_valid            2" in res.output
    res = CliRunner().invoke(
        main,
        ["diff", str(synthetic.root), "--from", SCAN_IDS[1], "--to", SCAN_IDS[0], "-f", "json"],
    )
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert {r["domain"] for r in rows if "newly_valid" in r["changes"]} == {
        "d00-validbig.com",
        "d01-validbig.net",
    }
    res = CliRunner().invoke(main, ["diff", str(synthetic.scan_dir(SCAN_IDS[0]))])
    assert res.exit_code == 2
    res = CliRunner().invoke(main, ["diff", str(synthetic.root), "--from", "nope"])
    assert res.exit_code == 2


def test_report_command(synthetic: SyntheticScans, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    res = CliRunner().invoke(main, ["report", str(synthetic.root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and out.with_suffix(".md").exists()
    assert str(out) in res.output


def test_commands_are_click_commands() -> None:
    assert {c.name for c in cli.COMMANDS} == {"report", "sql", "diff", "queries"}


def test_user_errors_are_one_line_with_exit_status_2(
    synthetic: SyntheticScans, tmp_path: Path
) -> None:
    runner = CliRunner()
    cases = [
        (["sql", "no_such_query", str(synthetic.root)], "danescan: no named query 'no_such_query'"),
        (["sql", "funnel", str(tmp_path)], "danescan: no scan directory in"),
        (["sql", "--query", "SELEKT 1", str(synthetic.root)], "danescan: SQL: Parser Error"),
        (
            ["sql", "verdict_by_tld", str(synthetic.root), "-p", "top=many"],
            "danescan: query verdict_by_tld: Conversion Error",
        ),
        (
            ["sql", "partner_readiness", str(synthetic.root), "-p", f"domains=@{tmp_path}/none"],
            f"danescan: --param domains: {tmp_path}/none: No such file or directory",
        ),
        (["diff", str(synthetic.root), "--from", "nope"], "danescan: no scan 'nope' here"),
    ]
    for args, message in cases:
        res = runner.invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith(message), (args, res.stderr)
        assert res.stderr.count("\n") == 1, res.stderr  # one line
        assert "Traceback" not in res.output


def test_unreadable_scan_is_a_scan_read_error(tmp_path: Path) -> None:
    table_dir = tmp_path / "scan" / "domains"
    table_dir.mkdir(parents=True)
    (table_dir / "part-000000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(db.ScanReadError, match="cannot read the scans"):
        db.connect([tmp_path / "scan"])
    res = CliRunner().invoke(main, ["sql", "funnel", str(tmp_path / "scan")])
    assert res.exit_code == 2
    assert res.stderr.startswith("danescan: cannot read the scans: ")


def test_unwritable_report_is_a_report_write_error(
    synthetic: SyntheticScans, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = CliRunner().invoke(
        main, ["report", str(synthetic.scan_dir(SCAN_IDS[0])), "--out", str(blocker / "r.html")]
    )
    assert res.exit_code == 2
    assert res.stderr.startswith("danescan: cannot write the report: ")


def test_errors_share_the_danescan_root() -> None:
    for error in (db.NoScanError, db.ScanReadError, queries.QueryError, queries.QueryFailed):
        assert issubclass(error, DanescanError)
        assert error("x").exit_code == 2
    # Callers that caught ValueError before keep working.
    assert issubclass(db.NoScanError, ValueError) and issubclass(queries.QueryError, ValueError)


def test_through_the_danescan_group(synthetic: SyntheticScans) -> None:
    from scanner.cli import main

    res = CliRunner().invoke(main, ["sql", "no_such_query", str(synthetic.root)])
    assert res.exit_code == 2
    assert res.stderr.startswith("danescan: no named query")
