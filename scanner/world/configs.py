"""Configuration files of the world's daemons: NSD, Unbound, the SMTP and HTTPS servers,
posttls-finger.

Everything points into the state directory (pid files, logs, zone files), runs as
root without chroot (it runs inside the private network namespace), and listens
only on the world's loopback addresses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scanner.world.info import (
    AUTH_ADDRESS,
    AUTH_ADDRESS6,
    DNS_PORT,
    HTTPS_PORT,
    LAME_ADDRESS,
    RESOLVER_ADDRESS,
    RESOLVER_ADDRESS6,
    WorldError,
    trust_anchor_path,
)
from scanner.world.netns import resolv_conf
from scanner.world.zones import ZoneText

__all__ = ["AUTH_ADDRESS", "nsd_conf", "unbound_conf", "write_all"]


def nsd_conf(
    directory: Path, zones: Iterable[tuple[str, str]], addresses: Iterable[str], tag: str = "nsd"
) -> str:
    """``zones``: (origin, signed zone file name) pairs."""
    d = directory
    lines = [
        "server:",
        *(f"    ip-address: {a}@{DNS_PORT}" for a in addresses),
        "    server-count: 1",
        '    username: ""',
        '    chroot: ""',
        f'    zonesdir: "{d / "zones"}"',
        '    database: ""',
        f'    zonelistfile: "{d / tag / "zone.list"}"',
        f'    xfrdfile: "{d / tag / "xfrd.state"}"',
        f'    xfrdir: "{d / tag}"',
        f'    pidfile: "{d / "run" / (tag + ".pid")}"',
        f'    logfile: "{d / (tag + ".log")}"',
        "    verbosity: 1",
        "    hide-version: yes",
        "    tcp-count: 1000",
        # Debian's NSD rate-limits similar answers (RRL, 200/s): a scan of one big zone
        # then sees slipped NXDOMAINs turn into resolver SERVFAILs. A lab world must not.
        "    rrl-ratelimit: 0",
        "    rrl-whitelist-ratelimit: 0",
        "    reuseport: no",
        "remote-control:",
        "    control-enable: no",
    ]
    for origin, fname in zones:
        lines += ["zone:", f'    name: "{origin}"', f'    zonefile: "{fname}"']
    return "\n".join(lines) + "\n"


def resolver_threads() -> int:
    """``DANESCAN_WORLD_RESOLVER_THREADS`` (default 1): a clear error on anything else
    than a small positive number."""
    text = os.environ.get("DANESCAN_WORLD_RESOLVER_THREADS", "1")
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise WorldError(f"DANESCAN_WORLD_RESOLVER_THREADS={text!r}: give a number of threads")
    return int(text)


def unbound_conf(directory: Path, log_queries: bool = True, threads: int = 1) -> str:
    """Unbound: validating with the private root; ``log_queries`` off and more
    ``threads`` for big benchmarks (one thread keeps the query log in order)."""
    d = directory
    return f"""server:
    interface: {RESOLVER_ADDRESS}@{DNS_PORT}
    interface: {RESOLVER_ADDRESS6}@{DNS_PORT}
    interface-automatic: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d / "run" / "unbound.pid"}"
    logfile: "{d / "unbound.log"}"
    use-syslog: no
    log-time-ascii: yes
    log-queries: {"yes" if log_queries else "no"}
    verbosity: 1
    num-threads: {threads}
    so-reuseport: {"yes" if threads > 1 else "no"}
    do-ip4: yes
    do-ip6: yes
    do-udp: yes
    do-tcp: yes
    access-control: 127.0.0.0/8 allow
    access-control: ::1/128 allow
    access-control: fd00::/8 allow
    do-not-query-localhost: no
    root-hints: "{d / "root.hints"}"
    trust-anchor-file: "{trust_anchor_path(d)}"
    module-config: "validator iterator"
    ede: yes
    val-log-level: 2
    val-bogus-ttl: 5
    qname-minimisation: no
    prefetch: no
    cache-max-negative-ttl: 60
    num-queries-per-thread: 4096
    outgoing-range: 8192
    msg-cache-size: 128m
    rrset-cache-size: 256m
    key-cache-size: 32m
    neg-cache-size: 16m
    infra-cache-numhosts: 10000
    unwanted-reply-threshold: 0
remote-control:
    control-enable: no
"""


def root_hints() -> str:
    return f". 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A {AUTH_ADDRESS}\n"


def postfix_main_cf() -> str:
    """posttls-finger reads main.cf from ``$MAIL_CONFIG``: DANE needs DNSSEC lookups on."""
    return (
        "compatibility_level = 3.6\n"
        "smtp_dns_support_level = dnssec\n"
        "smtp_tls_security_level = dane\n"
        "inet_protocols = all\n"
        "smtp_address_preference = ipv4\n"
    )


def write_all(
    directory: Path,
    zones: list[ZoneText],
    trust_anchor: str,
    listeners: list[dict[str, Any]],
    policy_listeners: list[dict[str, Any]] | None = None,
) -> None:
    for sub in ("run", "nsd", "nsd-lame"):
        (directory / sub).mkdir(exist_ok=True)
    (directory / "nsd.conf").write_text(
        nsd_conf(
            directory,
            [(z.origin, f"{z.name or 'root'}.signed") for z in zones],
            [AUTH_ADDRESS, AUTH_ADDRESS6],
        )
    )
    # A lame server: serves no zone, so it answers REFUSED to everything, at once.
    (directory / "nsd-lame.conf").write_text(nsd_conf(directory, [], [LAME_ADDRESS], "nsd-lame"))
    # Benchmarks of a million domains would write gigabytes of query log: off with
    # DANESCAN_WORLD_QUERY_LOG=0 at build time; DANESCAN_WORLD_RESOLVER_THREADS=N gives
    # Unbound N threads (one per core is Unbound's own advice for a busy resolver).
    log_queries = os.environ.get("DANESCAN_WORLD_QUERY_LOG", "1") != "0"
    threads = resolver_threads()
    (directory / "unbound.conf").write_text(unbound_conf(directory, log_queries, threads))
    (directory / "root.hints").write_text(root_hints())
    trust_anchor_path(directory).write_text(trust_anchor + "\n")
    (directory / "smtpd.json").write_text(json.dumps({"listeners": listeners}, indent=1) + "\n")
    (directory / "policyd.json").write_text(
        json.dumps({"port": HTTPS_PORT, "listeners": policy_listeners or []}, indent=1) + "\n"
    )
    (directory / "postfix" / "main.cf").write_text(postfix_main_cf())
    (directory / "resolv.conf").write_text(resolv_conf())
