"""``danescan check``'s work (scanner.runs.check) against the fakes of ``tests.runs.fakes``:
the partner list, the result shape (validated against docs/check.schema.json), exit
statuses, the watchlist, the resolver self-check, and the text output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest

from scanner.cli import _check_text
from scanner.core.profiles import Sender
from scanner.runs.check import (
    EXIT_CHANGED,
    CheckFailed,
    CheckSettings,
    Watchlist,
    changed,
    check_domains,
    exit_status,
    iter_lines,
    read_domains,
)
from scanner.runs.wiring import ResolverUnusable
from tests.runs.fakes import World, insecure, options, secure

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "check.schema.json").read_text())


def validate(result: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(json.dumps(result)))


# --------------------------------------------------------------------------- the list


def test_read_domains_from_arguments_files_and_stdin(tmp_path: Path) -> None:
    plain = tmp_path / "partners.txt"
    plain.write_text("# our partners\nExample.COM.\n\nexample.net  # trailing words are not ok\n")
    with pytest.raises(CheckFailed, match=r"partners.txt: line 4: .* is not a domain"):
        read_domains([], [str(plain)])
    plain.write_text("# our partners\nExample.COM.\n\nexample.net\n")
    tranco = tmp_path / "list.csv"
    tranco.write_text("rank,domain\n1,example.org\n2,example.com\n")
    stdin = io.StringIO("from-stdin.example\n")
    got = read_domains(["a.example", "-"], [str(plain), str(tranco)], stdin)
    assert got == ["a.example", "from-stdin.example", "example.com", "example.net", "example.org"]
    assert read_domains([], ["-"], io.StringIO("x.example\n")) == ["x.example"]
    with pytest.raises(CheckFailed, match="is not a domain name"):
        read_domains(["not a domain"], [])
    with pytest.raises(CheckFailed, match="cannot read it"):
        read_domains([], [str(tmp_path / "missing.txt")])
    with pytest.raises(CheckFailed, match="no domain to check"):
        read_domains([], [], io.StringIO("# nothing\n"))


# --------------------------------------------------------------------------- results


async def test_results_follow_the_schema_and_choose_the_exit_status() -> None:
    world = World(2)  # d00000 signed with TLSA but no STARTTLS; d00001 unsigned
    results = await check_domains(world.names(), options(), world.seams(), CheckSettings())
    for r in results:
        validate(r)
    broken, unsigned = results
    assert (broken["verdict"], broken["mail_outcome"]) == ("dane_broken", "defer_or_bounce")
    assert not broken["passes"] and unsigned["passes"]
    senders = {s["sender"]: s for s in broken["senders"]}
    assert senders["postfix-dane"]["reason"].startswith("TLS is required, but was not offered")
    assert senders["mta-sts"]["outcome"] == "deliver_opportunistic"  # it ignores TLSA
    probe = broken["evidence"]["hosts"][0]["probes"][0]
    assert (probe["stage"], probe["probe_status"]) == ("starttls", "starttls_missing")
    assert exit_status(results, False, False) == 1
    assert exit_status(results[1:], True, True) == EXIT_CHANGED
    assert exit_status(results[1:], True, False) == 0
    assert [json.loads(line)["domain"] for line in iter_lines(results)] == world.names()


async def test_senders_decide_whether_a_domain_passes() -> None:
    world = World(2)
    strict = CheckSettings(senders=(Sender.EXCHANGE_MANDATORY,))
    results = await check_domains(world.names(), options(), world.seams(), strict)
    unsigned = results[1]
    assert unsigned["receives_mail"] and not unsigned["passes"]
    assert unsigned["selected_senders"] == ["exchange-mandatory"]
    validate(unsigned)


async def test_a_resolver_that_does_not_answer_is_refused() -> None:
    world = World(1)
    world.dns.dead = True
    with pytest.raises(ResolverUnusable, match="not usable") as caught:
        await check_domains(world.names(), options(), world.seams())
    assert "\n" not in str(caught.value)  # both canaries' problems, on one line


async def test_names_are_checked_before_anything_is_asked() -> None:
    world = World(1)
    with pytest.raises(CheckFailed, match="not a domain name"):
        await check_domains(["bad name"], options(), world.seams())
    assert world.dns.queries_sent == 0


# --------------------------------------------------------------------------- watchlist


async def test_the_watchlist_reports_what_changed(tmp_path: Path) -> None:
    world = World(3)
    state = tmp_path / "state.sqlite"
    first = await check_domains(world.names(), options(), world.seams())
    watch = Watchlist(state)
    watch.update(first)
    assert watch.first_run and not changed(first, watch)
    assert all(r["changes"][0]["kind"] == "new" for r in first)
    # Between the runs, d00001 signs its MX RRset: its hosts' TLSA records now apply,
    # and since they offer no STARTTLS it stops receiving mail. d00002 leaves the list.
    d1 = World.domain(1)
    mx = world.dns.answers[(d1, "MX")]
    world.dns.answers[(d1, "MX")] = secure(d1, "MX", *mx.records)
    second = await check_domains(world.names()[:2], options(), world.seams())
    watch = Watchlist(state)
    watch.update(second)
    assert watch.removed == [World.domain(2)] and not watch.first_run
    assert changed(second, watch)
    unchanged, d1_result = second
    assert unchanged["changes"] == []
    kinds = {c["kind"]: c for c in d1_result["changes"]}
    assert set(kinds) >= {"newly_failing", "verdict", "mail_outcome", "sender"}
    assert (kinds["verdict"]["before"], kinds["verdict"]["after"]) == ("insecure", "dane_broken")
    for r in second:
        validate(r)
    # ... and back: fixed. The removed domain is forgotten, so it is new again.
    world.dns.answers[(d1, "MX")] = insecure(d1, "MX", *mx.records)
    third = await check_domains(world.names(), options(), world.seams())
    watch = Watchlist(state)
    watch.update(third)
    assert {c["kind"] for c in third[1]["changes"]} >= {"fixed", "verdict"}
    assert [c["kind"] for c in third[2]["changes"]] == ["new"]
    assert watch.removed == []


def test_watchlist_changes_of_keys_tlsa_and_mta_sts() -> None:
    from scanner.runs.check import changes

    base = {
        "verdict": "dane_valid",
        "mail_outcome": "deliver_authenticated",
        "passes": True,
        "senders": {"rfc7672": "deliver_authenticated"},
        "tlsa": {"mx.example": ["3 1 1 aa"]},
        "keys": {"mx.example": ["aa"]},
        "mta_sts": {"mode": "", "policy_id": "", "mx_patterns": None},
    }
    after = {
        **base,
        "tlsa": {"mx.example": ["3 1 1 bb"]},
        "keys": {"mx.example": ["bb"]},
        "mta_sts": {"mode": "enforce", "policy_id": "2", "mx_patterns": ["mx.example"]},
    }
    assert [c["kind"] for c in changes(base, after)] == ["tlsa", "certificate", "mta_sts"]
    assert changes(base, base) == []


def test_an_unusable_state_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "state"
    bad.write_text("this is not a database" * 100)
    with pytest.raises(CheckFailed, match="not a usable state file"):
        Watchlist(bad).previous()


# --------------------------------------------------------------------------- text


async def test_text_shows_disagreeing_senders_evidence_and_colour_only_on_terminals() -> None:
    world = World(2)
    results = await check_domains(world.names(), options(), world.seams())
    broken, unsigned = results
    text = _check_text(broken, evidence=True)
    assert "\x1b[" in text  # styled ...
    plain = click.unstyle(text)  # ... and click.echo strips the style when not a terminal
    assert plain.startswith("FAIL d00000.example.test: dane_broken, defer_or_bounce")
    assert "sender mta-sts: deliver_opportunistic" in plain
    assert "sender postfix-dane:" not in plain  # agrees with rfc7672
    assert "reached starttls" in plain and "TLSA _25._tcp.mx1.provider.test" in plain
    out = io.StringIO()
    click.echo(text, file=out)
    assert "\x1b[" not in out.getvalue()
    calm = click.unstyle(_check_text(unsigned))
    assert calm.startswith("OK   d00001.example.test: insecure, deliver_opportunistic")
    # Exchange's mandatory mode and dane-only refuse an unsigned MX RRset: shown.
    assert "sender exchange-mandatory: defer_or_bounce" in calm
    assert "sender postfix-dane-only: defer_or_bounce 4.7.5: non DNSSEC destination" in calm


async def test_csv_one_row_per_domain_with_every_sender() -> None:
    import csv

    from scanner.runs.check import CSV_COLUMNS, csv_lines

    world = World(2)
    results = await check_domains(world.names(), options(), world.seams())
    header, *rows = list(csv.reader(csv_lines(results)))
    assert tuple(header) == CSV_COLUMNS
    assert [r[0] for r in rows] == world.names()
    broken = dict(zip(header, rows[0], strict=True))
    assert (broken["passes"], broken["verdict"]) == ("no", "dane_broken")
    assert broken["postfix-dane"] == "defer_or_bounce 4.7.4"
    assert broken["mta-sts"] == "deliver_opportunistic"
    assert "tlsa_single_record" in broken["warnings"]
