"""The analysis commands, through click's CliRunner on our own click objects."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from analysis_synthetic import SCAN_IDS, SyntheticScans
from click.testing import CliRunner

from analysis import cli, queries


def test_sql_named_query_table(synthetic: SyntheticScans) -> None:
    res = CliRunner().invoke(
        cli.sql, ["verdict_shares", str(synthetic.root), "-p", f"scan={SCAN_IDS[1]}"]
    )
    assert res.exit_code == 0, res.output
    counts = Counter(d["verdict"] for d in synthetic.table(SCAN_IDS[1], "domains"))
    for verdict, n in counts.items():
        assert any(line.split()[1:3] == [verdict, str(n)] for line in res.output.splitlines())


def test_sql_json_and_csv(synthetic: SyntheticScans) -> None:
    res = CliRunner().invoke(
        cli.sql, ["funnel", str(synthetic.scan_dir(SCAN_IDS[0])), "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert rows[0]["stage"] == "domains scanned"
    assert rows[0]["domains"] == len(synthetic.table(SCAN_IDS[0], "domains"))
    res = CliRunner().invoke(
        cli.sql,
        [
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
        cli.sql,
        ["partner_readiness", str(synthetic.root), "--param", f"domains=@{partners}", "-f", "json"],
    )
    assert res.exit_code == 0, res.output
    rows = {r["domain"]: r for r in map(json.loads, res.output.splitlines())}
    assert set(rows) == {"d00-validbig.com", "d19-broken.se", "new-one.se"}
    assert rows["d19-broken.se"]["error_code"] == "5.7.323"
    assert rows["new-one.se"]["ready"] is True


def test_sql_usage_errors(synthetic: SyntheticScans, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli.sql, ["no_such_query", str(synthetic.root)]).exit_code == 2
    assert runner.invoke(cli.sql, ["funnel", str(synthetic.root), "-p", "bogus=1"]).exit_code == 2
    assert runner.invoke(cli.sql, ["funnel", str(synthetic.root), "-p", "noequals"]).exit_code == 2
    assert runner.invoke(cli.sql, ["funnel", str(tmp_path)]).exit_code == 2
    assert runner.invoke(cli.sql, ["--query", "SELEKT 1", str(synthetic.root)]).exit_code == 2


def test_queries_lists_every_query() -> None:
    res = CliRunner().invoke(cli.list_queries, ["-v"])
    assert res.exit_code == 0
    for name in queries.names():
        assert f"\n{name}\n" in "\n" + res.output
    assert "param scan_a" in res.output


def test_diff_command(synthetic: SyntheticScans) -> None:
    res = CliRunner().invoke(
        cli.diff, [str(synthetic.scan_dir(SCAN_IDS[0])), str(synthetic.scan_dir(SCAN_IDS[1]))]
    )
    assert res.exit_code == 0, res.output
    assert "newly_broken           2" in res.output
    assert "newly_valid            2" in res.output
    res = CliRunner().invoke(
        cli.diff, [str(synthetic.root), "--from", SCAN_IDS[1], "--to", SCAN_IDS[0], "-f", "json"]
    )
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert {r["domain"] for r in rows if "newly_valid" in r["changes"]} == {
        "d00-validbig.com",
        "d01-validbig.net",
    }
    res = CliRunner().invoke(cli.diff, [str(synthetic.scan_dir(SCAN_IDS[0]))])
    assert res.exit_code == 2
    res = CliRunner().invoke(cli.diff, [str(synthetic.root), "--from", "nope"])
    assert res.exit_code == 2


def test_report_command(synthetic: SyntheticScans, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    res = CliRunner().invoke(cli.report, [str(synthetic.root), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and out.with_suffix(".md").exists()
    assert str(out) in res.output


def test_commands_are_click_commands() -> None:
    assert {c.name for c in cli.COMMANDS} == {"report", "sql", "diff", "queries"}
