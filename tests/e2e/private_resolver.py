"""A second, private Unbound over the world's name servers, for tests that kill or watch it.

It uses the world's own configuration (trust anchor, root hints, validation, EDE) with
another listening address, pid file and query log, and starts with an empty cache, so a
test can read exactly the queries one scan made, or kill the resolver mid-scan.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.flags
import dns.message
import dns.query

from scanner.world.info import WorldInfo


class PrivateResolver:
    def __init__(self, world: WorldInfo, address: str, workdir: Path) -> None:
        self.world = world
        self.address = address
        self.workdir = workdir
        self.log = workdir / "queries.log"
        self.conf = workdir / "unbound.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        text = (Path(self.world.dir) / "unbound.conf").read_text()
        text = re.sub(r"(?m)^\s*interface: .*\n", "", text)
        text = re.sub(r"(?m)^(\s*)pidfile: .*$", rf'\1pidfile: "{self.workdir}/unbound.pid"', text)
        text = re.sub(r"(?m)^(\s*)logfile: .*$", rf'\1logfile: "{self.log}"', text)
        # Its log is what it is for, even in a world built without one (a benchmark
        # world: DANESCAN_WORLD_QUERY_LOG=0).
        text = re.sub(r"(?m)^(\s*)log-queries: .*$", r"\1log-queries: yes", text)
        text = text.replace("server:\n", f"server:\n    interface: {self.address}@53\n", 1)
        self.conf.write_text(text)

    def start(self) -> None:
        self.write_config()
        self.proc = subprocess.Popen(
            ["unbound", "-d", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        query = dns.message.make_query(self.world.canary_secure, "SOA", want_dnssec=True)
        while time.monotonic() < deadline:
            try:
                reply = dns.query.udp(query, self.address, timeout=0.5)
                if reply.flags & dns.flags.AD:
                    return
            except (dns.exception.Timeout, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"private unbound on {self.address} did not come up")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every client query in the log, in order."""
        found = []
        pattern = re.compile(r"info: \S+ (\S+)\. (\S+) IN\b")
        for line in self.log.read_text(errors="replace").splitlines():
            m = pattern.search(line)
            if m:
                found.append((m.group(1).lower(), m.group(2)))
        return found


@contextmanager
def private_resolver(world: WorldInfo, address: str, workdir: Path) -> Iterator[PrivateResolver]:
    workdir.mkdir(parents=True, exist_ok=True)
    resolver = PrivateResolver(world, address, workdir)
    resolver.start()
    try:
        yield resolver
    finally:
        resolver.stop()
