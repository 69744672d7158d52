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


def test_label_length_follows_dns_limit() -> None:
    # RFC 1035 §2.3.4: a label is at most 63 octets; a longer one is a typo to report.
    ok = "a" * 63 + ".example"
    too_long = "a" * 64 + ".example"
    bl = Blocklist.from_lines([ok, too_long])
    assert bl.domains == {ok}
    assert bl.invalid == [(2, too_long)]
    assert bl.blocks_domain("mx." + ok)
    assert not bl.blocks_domain("mx." + too_long)  # unparsable names never match


@pytest.mark.parametrize(
    "entry",
    [
        "a..b.example",  # empty label in the middle
        "a\u2025b.example",  # TWO DOT LEADER: nameprep (NFKC) makes it "..", an empty label
        "bücher..example",  # empty label in a name with U-labels
    ],
)
def test_names_with_empty_labels_are_invalid(entry: str) -> None:
    bl = Blocklist.from_lines(["example", entry])
    assert bl.invalid == [(2, entry)]
    assert bl.domains == {"example"}
    assert not bl.blocks_domain(entry.replace("example", "other"))


def test_idna_dot_equivalents_separate_labels() -> None:
    # IDNA (RFC 3490 §3.1): U+3002, U+FF0E and U+FF61 are label separators like ".".
    bl = Blocklist.from_lines(["example\u3002com", "*.corp\uff0eexample\uff61net"])
    assert bl.domains == {"example.com"}
    assert bl.subdomains_only == {"corp.example.net"}
    assert bl.blocks_domain("mx\u3002example.com")
    assert bl.blocks_domain("mx.corp.example.net")
    assert not bl.blocks_domain("corp.example.net")


def test_whitespace_only_name_is_not_blocked() -> None:
    bl = Blocklist.from_lines(["example.com"])
    assert not bl.blocks_domain("   ")
    assert not bl.blocks_domain(".")


def test_trailing_ideographic_dot_is_the_root_label() -> None:
    bl = Blocklist.from_lines(["example.org\u3002\n"])
    assert not bl.invalid
    assert bl.blocks_domain("mx.example.org")
    assert Blocklist.from_lines(["example.com\n"]).blocks_domain("mx.example.com\u3002")


def test_an_ipv4_mapped_address_is_the_ipv4_destination() -> None:
    from scanner.core.blocklist import canonical_address

    assert canonical_address("::ffff:127.66.0.7") == "127.66.0.7"
    assert canonical_address("2001:0db8:0:0::1") == "2001:db8::1"
    assert canonical_address("192.0.2.1") == "192.0.2.1"
    assert Blocklist.from_lines(["127.66.0.0/24"]).blocks_address("::ffff:127.66.0.7")
