"""The opt-out list: networks and domain names never contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.core.blocklist import Blocklist

TEXT = """\
# opt-out requests
192.0.2.0/24          # a whole network
198.51.100.7
2001:db8:1::/48
Example.COM.
*.corp.example.net
.internal.example.org
bücher.example
not a name
10.0.0.0/33
"""


@pytest.fixture
def blocklist(tmp_path: Path) -> Blocklist:
    path = tmp_path / "optout.txt"
    path.write_text(TEXT, encoding="utf-8")
    return Blocklist.from_file(path)


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("192.0.2.1", True),
        ("192.0.3.1", False),
        ("198.51.100.7", True),
        ("198.51.100.8", False),
        ("2001:db8:1::25", True),
        ("2001:DB8:1:0::25", True),
        ("2001:db8:2::25", False),
        ("::ffff:192.0.2.9", True),  # IPv4-mapped
    ],
)
def test_blocks_address(blocklist: Blocklist, address: str, blocked: bool) -> None:
    assert blocklist.blocks_address(address) is blocked


@pytest.mark.parametrize(
    ("name", "blocked"),
    [
        ("example.com", True),
        ("MX1.example.com.", True),
        ("notexample.com", False),
        ("com", False),
        ("corp.example.net", False),  # "*.": only names below
        ("mx.corp.example.net", True),
        ("internal.example.org", False),
        ("a.b.internal.example.org", True),
        ("mx.xn--bcher-kva.example", True),  # U-label in the file, A-label asked
        ("", False),
    ],
)
def test_blocks_domain(blocklist: Blocklist, name: str, blocked: bool) -> None:
    assert blocklist.blocks_domain(name) is blocked


def test_invalid_lines_are_reported(blocklist: Blocklist) -> None:
    assert [n for n, _ in blocklist.invalid] == [9, 10]
    assert bool(blocklist)
    assert not Blocklist.from_lines(["# nothing", ""])
