"""The commands ``scanner.cli`` loads by name (``LAZY_COMMANDS``) are the real ones, and
``scan``/``check`` start without loading DuckDB or the world's builder."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
from click.testing import CliRunner

from analysis import cli as analysis_cli
from scanner.cli import LAZY_COMMANDS, main
from scanner.errors import EXIT_STATUS_HELP
from scanner.world.cli import world


def test_every_lazy_name_is_its_command_name() -> None:
    for name, (module, attribute) in LAZY_COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        assert command.name == name


def test_every_attached_command_is_listed() -> None:
    expected = {c.name for c in (world, *analysis_cli.COMMANDS)}
    assert expected == set(LAZY_COMMANDS)
    listed = main.list_commands(click.Context(main))
    assert expected <= set(listed) and {"scan", "check", "regrade"} <= set(listed)


def test_help_lists_lazy_commands_with_their_summary() -> None:
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0, res.output
    assert "report" in res.output and "Write an adoption report" in res.output
    assert "world" in res.output


def test_a_lazy_command_gets_the_exit_status_epilog() -> None:
    res = CliRunner().invoke(main, ["sql", "--help"])
    assert res.exit_code == 0, res.output
    assert EXIT_STATUS_HELP.split()[0] in res.output


def test_scan_imports_neither_duckdb_nor_the_world_builder() -> None:
    code = (
        "import sys, scanner.cli; "
        "print(sorted(m for m in ('duckdb', 'analysis.db', 'scanner.world.build') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
