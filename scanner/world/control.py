"""``up``, ``down``, ``status``: the life cycle of a running world.

``up`` builds when needed (no build, a build older than a day, or a catalog newer
than the build), prepares the namespace, starts NSD, Unbound, the SMTP server and
the MTA-STS policy server, and returns once the resolver validates the canaries,
SMTP greets and HTTPS accepts. ``down``
stops every process it started and deletes the namespace.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scanner.world import daemons, netns
from scanner.world.build import build, is_stale, load_info
from scanner.world.info import (
    AUTH_ADDRESS6,
    NETNS,
    RESOLVER_ADDRESS6,
    WorldError,
    WorldInfo,
    world_dir,
)
from scanner.world.ready import wait_ready

READY_TIMEOUT = 40.0
# Every world carries a small benchmark population (tests: kill/resume of 20,000 domains).
DEFAULT_BENCH = 20_000


@dataclass(frozen=True)
class Status:
    up: bool
    namespace: bool
    processes: tuple[daemons.ProcState, ...]
    info: WorldInfo | None

    def lines(self) -> list[str]:
        out = [f"namespace {NETNS}: {'present' if self.namespace else 'absent'}"]
        for p in self.processes:
            out.append(f"{p.name}: {'running pid ' + str(p.pid) if p.alive else 'stopped'}")
        if self.info:
            out.append(
                f"resolver {self.info.resolver}, auth {self.info.auth}, "
                f"{len(self.info.domains)} scenario domains, "
                f"{self.info.smtp_listeners} SMTP listeners, "
                f"{self.info.policy_listeners} HTTPS policy listeners, "
                f"built {time.ctime(self.info.built_at)}"
            )
        out.append("world is UP" if self.up else "world is DOWN")
        return out


def world_info(directory: Path | None = None) -> WorldInfo:
    """The info of the built world (raises if not built)."""
    d = directory or world_dir()
    info = load_info(d)
    if info is None:
        raise WorldError(f"no world built in {d} (run: danescan world build)")
    return info


def status(directory: Path | None = None) -> Status:
    d = directory or world_dir()
    procs = tuple(daemons.state(n, d) for n in daemons.DAEMONS)
    ns = netns.exists()
    info = load_info(d)
    return Status(ns and all(p.alive for p in procs), ns, procs, info)


# The file each daemon is started with; it lies in its world's state directory.
_DAEMON_FILES = {"nsd.conf", "nsd-lame.conf", "unbound.conf", "smtpd.json", "policyd.json"}


def other_worlds(d: Path) -> dict[Path, list[int]]:
    """The state directories of other worlds whose daemons run in our namespace, with
    their pids. Two worlds share the namespace name (a second checkout, a git
    worktree): one must neither start its daemons on the other's addresses nor delete
    the namespace under it."""
    found: dict[Path, list[int]] = {}
    for pid in netns.pids():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile
        for arg in argv:
            path = Path(arg)
            if path.name in _DAEMON_FILES and path.parent.resolve() != d.resolve():
                found.setdefault(path.parent, []).append(pid)
                break
    return found


def describe_worlds(worlds: dict[Path, list[int]]) -> str:
    return "; ".join(f"{w} (pids {', '.join(map(str, p))})" for w, p in worlds.items())


def _ipv6_addresses(info: WorldInfo) -> list[str]:
    out = [AUTH_ADDRESS6, RESOLVER_ADDRESS6]
    for h in info.hosts.values():
        out += h.ipv6
    return out


def up(
    directory: Path | None = None, catalog: Path | None = None, rebuild: bool = False
) -> WorldInfo:
    """Bring the world up (idempotent); return its info."""
    d = directory or world_dir()
    info = load_info(d)
    running = status(d).up
    if info is None or rebuild or is_stale(info, catalog):
        if running:
            _stop_daemons(d)
            running = False
        info = build(d, catalog, bench=info.bench_count if info else DEFAULT_BENCH)
    if running:
        return info
    others = other_worlds(d)
    if others:
        raise WorldError(
            f"namespace {NETNS} is in use by another world: {describe_worlds(others)}; use "
            "that world (run from its checkout, or --dir), or stop it first (danescan world "
            "down --dir DIR)"
        )
    _stop_daemons(d)  # leftovers of a half-started world
    netns.ensure(_ipv6_addresses(info))
    (d / "unbound.log").unlink(missing_ok=True)
    for name in daemons.DAEMONS:
        daemons.start(name, d)
    problem = _wait(d)
    if problem:
        raise WorldError(f"world did not become ready: {problem}; see logs in {d}")
    return info


def _wait(d: Path) -> str:
    if netns.inside():
        return wait_ready(d, READY_TIMEOUT)
    res = subprocess.run(
        netns.cmd([sys.executable, "-m", "scanner.world.ready", str(d), str(READY_TIMEOUT)]),
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if res.returncode == 0 else res.stderr.strip() or "not ready"


def _stop_daemons(d: Path) -> list[str]:
    return [n for n in reversed(daemons.DAEMONS) if daemons.stop(n, d)]


@dataclass(frozen=True)
class Downed:
    stopped: list[str]  # the daemons stopped
    others: dict[Path, list[int]]  # other worlds still running in the kept namespace


def down(directory: Path | None = None) -> Downed:
    """Stop everything the world started and delete the namespace, unless another
    world's daemons still run in it."""
    d = directory or world_dir()
    stopped = _stop_daemons(d)
    others = other_worlds(d)
    if not others:
        netns.delete()
    return Downed(stopped, others)
