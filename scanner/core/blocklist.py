"""Opt-out list of networks and domains the scanner must never contact (DESIGN §4 rule 4).

Pure logic, no I/O beyond reading the file in :meth:`Blocklist.from_file`. The
file format, one entry a line:

- ``# comment`` lines and blank lines are ignored; ``#`` also starts a trailing comment;
- a CIDR network or a single address, IPv4 or IPv6 (``192.0.2.0/24``, ``2001:db8::/32``,
  ``198.51.100.7``): blocks every address inside;
- a domain name (``example.com``): blocks that name and every name under it;
  ``*.example.com`` or ``.example.com``: only the names under it, not the name itself.

Names are compared case-insensitively, without a trailing dot; U-labels are turned
into A-labels (IDNA 2003 codec of the standard library, enough for matching).
Lines that are neither are collected in ``invalid`` with their line number, so a
typo in an opt-out list is reported rather than silently dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# IDNA (RFC 3490 §3.1) treats these as label separators, like ".".
_IDNA_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _norm_name(name: str) -> str | None:
    # Dots first, so that a trailing ideographic dot is the root label like ".": an
    # opt-out lookup must not fail open on a spelling of the same name.
    name = name.strip().translate(_IDNA_DOTS).rstrip(".").lower()
    if not name:
        return None
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if any(not label for label in name.split(".")):
        return None
    return name


@dataclass(slots=True)
class Blocklist:
    """Networks and domain names to skip; build with :meth:`from_lines` or :meth:`from_file`."""

    networks: list[IPNetwork] = field(default_factory=list)
    domains: set[str] = field(default_factory=set)  # the name and everything under it
    subdomains_only: set[str] = field(default_factory=set)  # only names under it
    invalid: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: str | Path) -> Blocklist:
        with open(path, encoding="utf-8") as f:
            return cls.from_lines(f)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Blocklist:
        out = cls()
        for number, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip()
            if entry:
                out.add(entry, number)
        return out

    def add(self, entry: str, number: int = 0) -> None:
        """Add one entry (network, address or name); unparsable ones go to ``invalid``."""
        try:
            self.networks.append(ipaddress.ip_network(entry, strict=False))
            return
        except ValueError:
            pass
        only_below = entry.startswith(("*.", "."))
        name = _norm_name(entry[2:] if entry.startswith("*.") else entry.lstrip("."))
        if name is None or "/" in name or ":" in name or " " in name:
            self.invalid.append((number, entry))
        elif only_below:
            self.subdomains_only.add(name)
        else:
            self.domains.add(name)

    def blocks_address(self, address: str) -> bool:
        """True when ``address`` (IPv4 or IPv6 literal) is inside a listed network."""
        ip = ipaddress.ip_address(canonical_address(address))
        return any(ip.version == net.version and ip in net for net in self.networks)

    def blocks_domain(self, name: str) -> bool:
        """True when ``name`` is a listed domain or under one."""
        norm = _norm_name(name)
        if norm is None:
            return False
        labels = norm.split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            if suffix in self.domains or (i > 0 and suffix in self.subdomains_only):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.networks or self.domains or self.subdomains_only)


def canonical_address(address: str) -> str:
    """One spelling per destination: an IPv4-mapped IPv6 address (``::ffff:192.0.2.7``)
    is the IPv4 address it maps, IPv6 is compressed. The opt-out list, the
    per-destination cap and the probe stage's partitioning all compare addresses in
    this form, so one server cannot count as two destinations."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed
