"""The ``danescan`` network namespace: only ``lo``, 127/8 and a few fd53::/fd25:: addresses.

Every daemon of the world runs inside it, and so do the tests (``world exec``), so
nothing the world does can reach another network. ``ip netns exec`` bind-mounts
``/etc/netns/danescan/resolv.conf`` over ``/etc/resolv.conf``: programs inside use
the world's resolver as "the system resolver".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from scanner.world.info import NETNS, RESOLVER_ADDRESS

NETNS_DIR = Path("/run/netns")
ETC_NETNS = Path("/etc/netns")


def exists(name: str = NETNS) -> bool:
    return (NETNS_DIR / name).exists()


def pids(name: str = NETNS) -> list[int]:
    """The processes running in the namespace (none when it does not exist)."""
    if not exists(name):
        return []
    res = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def inside(name: str = NETNS) -> bool:
    """True when this process already runs in the namespace."""
    try:
        mine = os.stat("/proc/self/ns/net")
        theirs = os.stat(NETNS_DIR / name)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def cmd(argv: Sequence[str], name: str = NETNS) -> list[str]:
    """The argv that runs ``argv`` inside the namespace."""
    return ["ip", "netns", "exec", name, *argv]


def _run(argv: Sequence[str], stdin: str | None = None) -> None:
    res = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")


def resolv_conf() -> str:
    # trust-ad: glibc passes the AD bit to Postfix only with this option (glibc >= 2.31).
    return f"nameserver {RESOLVER_ADDRESS}\noptions edns0 trust-ad attempts:2 timeout:5\n"


def ensure(ipv6: Iterable[str] = (), name: str = NETNS) -> None:
    """Create the namespace if needed, bring ``lo`` up, add the IPv6 addresses.

    Also writes the namespace's resolv.conf (the world's resolver) before anything runs
    inside: ``ip netns exec`` bind-mounts it only if it exists when a command starts.
    """
    path = ETC_NETNS / name / "resolv.conf"
    if not path.exists() or path.read_text() != resolv_conf():
        write_resolv_conf(resolv_conf(), name)
    if not exists(name):
        _run(["ip", "netns", "add", name])
    _run(["ip", "-n", name, "link", "set", "lo", "up"])
    batch = "".join(f"address replace {a}/128 dev lo nodad\n" for a in ipv6)
    if batch:
        _run(["ip", "-n", name, "-6", "-batch", "-"], stdin=batch)


def write_resolv_conf(text: str, name: str = NETNS) -> None:
    d = ETC_NETNS / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "resolv.conf").write_text(text)


def delete(name: str = NETNS) -> None:
    if exists(name):
        _run(["ip", "netns", "delete", name])
    shutil.rmtree(ETC_NETNS / name, ignore_errors=True)


def exec_inside(
    argv: Sequence[str], name: str = NETNS, env: Mapping[str, str] | None = None
) -> None:
    """Replace this process by ``argv`` running inside the namespace (never returns).

    ``env``: variables to set for it (on top of this process's environment).
    """
    if not argv:
        raise ValueError("no command")
    ensure(name=name)
    full = list(argv) if inside(name) else cmd(argv, name)
    os.execvpe(full[0], full, {**os.environ, **(env or {})})
