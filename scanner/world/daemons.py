"""Starting, checking and stopping the world's processes (NSD, Unbound, SMTP and HTTPS servers).

Each process is started inside the namespace with ``ip netns exec`` (which execs,
so the pid we get is the daemon's), in the foreground of its own session, and
recorded in ``<dir>/run/<name>.pids``. Stopping reads those files back and only
signals a pid whose command line still names our state directory (a recycled
pid is never touched).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scanner.world import netns

DAEMONS = ("nsd", "nsd-lame", "unbound", "smtpd", "policyd")


@dataclass(frozen=True)
class ProcState:
    name: str
    pid: int | None
    alive: bool


def argv_for(name: str, directory: Path) -> list[str]:
    if name in ("nsd", "nsd-lame"):
        return ["nsd", "-d", "-c", str(directory / f"{name}.conf")]
    if name == "unbound":
        return ["unbound", "-d", "-c", str(directory / "unbound.conf")]
    if name in ("smtpd", "policyd"):
        return [sys.executable, "-m", f"scanner.world.{name}", str(directory / f"{name}.json")]
    raise ValueError(name)


def _pidfile(directory: Path, name: str) -> Path:
    return directory / "run" / f"{name}.pid.danescan"


def _ours(pid: int, directory: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (state Z) has exited already.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and str(directory).encode() in cmdline


def state(name: str, directory: Path) -> ProcState:
    pf = _pidfile(directory, name)
    try:
        pid = int(pf.read_text().strip())
    except (OSError, ValueError):
        return ProcState(name, None, False)
    return ProcState(name, pid, _ours(pid, directory))


def start(name: str, directory: Path) -> int:
    """Start one daemon inside the namespace; return its pid.

    A short-lived shell starts it in the background and reports its pid, so the daemon
    is not our child: it outlives the caller (``world up`` returns) and nobody holds a
    Popen object for it.
    """
    (directory / "run").mkdir(exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["DANESCAN_DAEMON_LOG"] = str(directory / f"{name}.stdout.log")
    argv = argv_for(name, directory)
    full = argv if netns.inside() else netns.cmd(argv)
    res = subprocess.run(
        ["sh", "-c", 'exec "$@" </dev/null >>"$DANESCAN_DAEMON_LOG" 2>&1 & echo $!', "sh", *full],
        capture_output=True,
        text=True,
        env=env,
        cwd=directory,
        start_new_session=True,
        check=True,
    )
    pid = int(res.stdout.strip())
    _pidfile(directory, name).write_text(f"{pid}\n")
    return pid


def stop(name: str, directory: Path, timeout: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True if something was stopped."""
    st = state(name, directory)
    pf = _pidfile(directory, name)
    if st.pid is None or not st.alive:
        pf.unlink(missing_ok=True)
        return False
    pid = st.pid
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _ours(pid, directory):
        _reap(pid)
        time.sleep(0.05)
    if _ours(pid, directory):
        os.kill(pid, signal.SIGKILL)
        while _ours(pid, directory):
            _reap(pid)
            time.sleep(0.02)
    _reap(pid)
    pf.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status if the daemon is our own child (avoids zombies)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
