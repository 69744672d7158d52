"""The Public Suffix List rule (ICANN section only) and the snapshot's version, checked
against the bundled list file itself, parsed here independently of ``publicsuffixlist``."""

from __future__ import annotations

import re
from pathlib import Path

import publicsuffixlist
import pytest

from scanner.store.psl import psl_version, registered_domain

PSL_TEXT = Path(publicsuffixlist.PSLFILE).read_text(encoding="utf-8")


def _section(name: str) -> list[str]:
    """The rules between ``===BEGIN name DOMAINS===`` and ``===END name DOMAINS===``."""
    body = PSL_TEXT.split(f"===BEGIN {name} DOMAINS===", 1)[1].split(f"===END {name} DOMAINS===")[0]
    return [
        line.strip() for line in body.splitlines() if line.strip() and not line.startswith("//")
    ]


ICANN = _section("ICANN")
PRIVATE = _section("PRIVATE")


def _icann_registered(name: str) -> str | None:
    """The registered domain by the ICANN section's plain rules (longest match + one
    label); None when a wildcard or exception rule of the section could apply."""
    plain = {r for r in ICANN if not r.startswith(("*", "!"))}
    special = {r.lstrip("!*.") for r in ICANN if r.startswith(("*", "!"))}
    labels = name.split(".")
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        if suffix in special:
            return None
        if suffix in plain:
            return ".".join(labels[i - 1 :]) if i > 0 else suffix
    return ".".join(labels[-2:])  # the default "*" rule


def test_version_is_the_list_header() -> None:
    version = re.search(r"^// VERSION: (\S+)$", PSL_TEXT, re.M)
    commit = re.search(r"^// COMMIT: (\S+)$", PSL_TEXT, re.M)
    assert version and commit
    assert psl_version() == (
        f"{version.group(1)} commit {commit.group(1)[:12]} "
        f"(publicsuffixlist {publicsuffixlist.__version__})"
    )


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("mx.foo.github.io", "github.io"),  # private suffix github.io ignored
        ("MX.Foo.GitHub.IO.", "github.io"),
        ("mail.customer.herokuapp.com", "herokuapp.com"),
        ("mx1.mail.example.co.uk", "example.co.uk"),  # ICANN suffix co.uk honoured
        ("co.uk", "co.uk"),  # a public suffix is its own provider
        ("mx.provider.test", "provider.test"),  # unknown TLD: the default * rule
        ("", None),
        (None, None),
    ],
)
def test_registered_domain(host: str | None, provider: str | None) -> None:
    assert registered_domain(host) == provider


def test_every_private_suffix_is_ignored() -> None:
    """A host under each of the list's private suffixes maps to the registered domain
    of the ICANN section, never to the customer's name under the private suffix."""
    checked = 0
    for rule in PRIVATE:
        if rule.startswith(("*", "!")) or not rule.isascii():
            continue
        expected = _icann_registered(rule)
        if expected is None:
            continue
        host = f"mx.customer.{rule}"
        assert registered_domain(host) == expected, rule
        checked += 1
    assert checked > 1000  # the private section has thousands of plain rules
