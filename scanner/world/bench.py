"""The benchmark world: N domains shaped like the real internet (``world build --bench N``).

Most domains are hosted by a few large providers; a minority is signed, fewer publish
TLSA, and a realistic share is broken. To keep signing and serving a million names
feasible, bench domains are names inside a few large zones (``b0000042.bench-signed.net``
with its own MX RRset) rather than a million delegations; to the scanner each is a domain
like any other. Self-hosted domains get their own MX host name (distinct names, shared
addresses from a small pool), so the crawler's per-host de-duplication is exercised too.

Writes ``bench-domains.txt`` (shuffled, one a line) and ``bench-expected.csv`` (domain,
category, verdict) next to ``world.json``.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.world.ca import HostCerts, WorldCA, make_host_certs, tlsa_data, write_chain
from scanner.world.catalog import CertSpec, TlsaSpec
from scanner.world.zones import DELEGATION_TTL, LEAF_TTL, SOA_TIMERS, ZoneText

SIGNED = "bench-signed.net"  # NSEC3, ECDSA: signed customers
UNSIGNED = "bench-unsigned.com"  # unsigned customers
BOGUS = "bench-bogus.org"  # signatures expired: every name bogus
MAIL = "benchmail.net"  # the signed providers' hosts
PLAIN = "benchmail-plain.com"  # the unsigned provider's hosts

# (category, share, verdict) -- roughly the shape of published surveys: most domains
# unsigned at big providers, ~1/4 signed, under a tenth with DANE, a few percent broken.
CATEGORIES: tuple[tuple[str, float, str], ...] = (
    ("insecure_provider", 0.50, "insecure"),
    ("insecure_selfhosted", 0.15, "insecure"),
    ("insecure_at_dane_provider", 0.05, "insecure"),
    ("signed_no_dane_provider", 0.12, "dnssec_no_dane"),
    ("dane_provider", 0.09, "dane_valid"),
    ("dane_selfhosted", 0.02, "dane_valid"),
    ("dane_broken", 0.01, "dane_broken"),
    ("dane_partial", 0.01, "dane_partial"),
    ("bogus", 0.01, "dnssec_bogus"),
    ("null_mx", 0.02, "no_mail"),
    ("nxdomain", 0.02, "nxdomain"),
)

# provider hosts: name -> (TLSA specs, addresses)
PROVIDER_HOSTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    f"mx1.dane.{MAIL}": (("3 1 1 leaf", "3 1 1 next"), ("127.25.100.1", "127.25.100.2")),
    f"mx2.dane.{MAIL}": (("3 1 1 leaf", "3 1 1 next"), ("127.25.100.3", "127.25.100.4")),
    f"mx1.nodane.{MAIL}": ((), ("127.25.100.11", "127.25.100.12")),
    f"mx2.nodane.{MAIL}": ((), ("127.25.100.13",)),
    f"mx.broken.{MAIL}": (("3 1 1 other",), ("127.25.100.21",)),
    f"mx1.{PLAIN}": ((), ("127.25.101.1", "127.25.101.2")),
    f"mx2.{PLAIN}": ((), ("127.25.101.3",)),
}
POOL = tuple(f"127.25.102.{i}" for i in range(1, 51))  # self-hosted servers' addresses
POOL_HOST = f"pool.{MAIL}"  # the name of the pool's shared certificate


@dataclass
class BenchWorld:
    """Zones, listeners and host records of the bench part of a world."""

    zones: list[ZoneText]
    listeners: list[dict[str, Any]] = field(default_factory=list)
    hosts: dict[str, tuple[list[str], str]] = field(default_factory=dict)  # name -> (ips, zone)
    domains_file: Path | None = None
    count: int = 0


def _zone(name: str, signed: bool, breakage: tuple[str, ...] = ()) -> ZoneText:
    origin = name + "."
    z = ZoneText(name, signed=signed, denial="nsec3", algorithm="ecdsa", breakage=breakage)
    z.records += [
        f"{origin} {LEAF_TTL} IN SOA ns1.{origin} hostmaster.{origin} {SOA_TIMERS}",
        f"{origin} {DELEGATION_TTL} IN NS ns1.{origin}",
        f"ns1.{origin} {DELEGATION_TTL} IN A 127.53.0.1",
    ]
    return z


def _starttls_listeners(
    host: str, addresses: tuple[str, ...], certs: HostCerts, certs_dir: Path
) -> list[dict[str, Any]]:
    """smtpd listeners for a normal STARTTLS host on each of its addresses."""
    files = [write_chain(certs_dir, host, chain) for chain in certs.chains]
    return [
        {
            "host": host,
            "address": address,
            "behaviour": "starttls",
            "certs": [[str(c), str(k)] for c, k in files],
        }
        for address in addresses
    ]


def _pick(rng: random.Random) -> tuple[str, str]:
    x = rng.random()
    for cat, share, verdict in CATEGORIES:
        if x < share:
            return cat, verdict
        x -= share
    return CATEGORIES[0][0], CATEGORIES[0][2]


def generate(
    directory: Path, n: int, ca: WorldCA, now: dt.datetime, seed: int = 7672
) -> BenchWorld:
    rng = random.Random(seed)
    certs_dir = directory / "certs"
    certs: dict[str, HostCerts] = {}
    for host in (*PROVIDER_HOSTS, POOL_HOST):
        certs[host] = make_host_certs(host, CertSpec(), ca, now)

    def tlsa(host: str, spec: str) -> str:
        t = TlsaSpec.parse(spec)
        return f"{t.usage} {t.selector} {t.mtype} {tlsa_data(t, certs[host], ca).hex()}"

    mail, plain = _zone(MAIL, True), _zone(PLAIN, False)
    signed, unsigned = _zone(SIGNED, True), _zone(UNSIGNED, False)
    bogus = _zone(BOGUS, True, ("expired-sigs",))
    bw = BenchWorld([mail, plain, signed, unsigned, bogus])
    for host, (specs, ips) in PROVIDER_HOSTS.items():
        z = plain if host.endswith(PLAIN) else mail
        z.records += [f"{host}. IN A {ip}" for ip in ips]
        z.records += [f"_25._tcp.{host}. IN TLSA {tlsa(host, s)}" for s in specs]
        bw.hosts[host] = (list(ips), z.name)
        bw.listeners += _starttls_listeners(host, ips, certs[host], certs_dir)
    bw.listeners += _starttls_listeners(POOL_HOST, POOL, certs[POOL_HOST], certs_dir)
    pool_tlsa = tlsa(POOL_HOST, "3 1 1 leaf")
    dane = (f"10 mx1.dane.{MAIL}.", f"20 mx2.dane.{MAIL}.")
    nodane = (f"10 mx1.nodane.{MAIL}.", f"20 mx2.nodane.{MAIL}.")
    plain_mx = (f"10 mx1.{PLAIN}.", f"20 mx2.{PLAIN}.")

    rows = []
    for i in range(n):
        cat, verdict = _pick(rng)
        label = f"b{i:07d}"
        if cat in ("insecure_provider", "insecure_selfhosted", "insecure_at_dane_provider"):
            zone = unsigned
        elif cat == "bogus":
            zone = bogus
        else:
            zone = signed
        name = f"{label}.{zone.name}."
        rec = zone.records
        if cat == "insecure_provider":
            rec += [f"{name} IN MX {mx}" for mx in plain_mx]
        elif cat == "insecure_at_dane_provider":
            rec += [f"{name} IN MX {mx}" for mx in dane]
        elif cat in ("insecure_selfhosted", "dane_selfhosted"):
            host = f"mail.{name}"
            rec += [f"{name} IN MX 10 {host}", f"{host} IN A {POOL[i % len(POOL)]}"]
            if cat == "dane_selfhosted":
                rec.append(f"_25._tcp.{host} IN TLSA {pool_tlsa}")
        elif cat == "signed_no_dane_provider":
            rec += [f"{name} IN MX {mx}" for mx in nodane]
        elif cat in ("dane_provider", "bogus"):
            rec += [f"{name} IN MX {mx}" for mx in dane]
        elif cat == "dane_broken":
            rec.append(f"{name} IN MX 10 mx.broken.{MAIL}.")
        elif cat == "dane_partial":
            rec += [f"{name} IN MX {dane[0]}", f"{name} IN MX {nodane[1]}"]
        elif cat == "null_mx":
            rec.append(f"{name} IN MX 0 .")
        # nxdomain: listed, never published
        rows.append((name.rstrip("."), cat, verdict))
    rng.shuffle(rows)
    bw.domains_file = directory / "bench-domains.txt"
    bw.domains_file.write_text("".join(f"{d}\n" for d, _, _ in rows))
    (directory / "bench-expected.csv").write_text(
        "domain,category,verdict\n" + "".join(f"{d},{c},{v}\n" for d, c, v in rows)
    )
    bw.count = n
    return bw
