"""One scan owns its output location at a time; a crashed owner never leaves it stuck.

What must live here: taking and releasing ownership of a scan's location, and the
owner token that every task checks before it commits (so that a task of a dead or
superseded run cannot commit into a scan another run now owns).

* Local directory: an ``fcntl.flock`` on ``<out>/.lock``, held by the driver process for
  the whole run. The kernel drops it when the process dies, however it dies (SIGKILL
  included), so there is no stale lock to clean up. The file records who holds it,
  for the one-line message the second process gets.
* Object store (no locks there): a lease object ``<out>/_lease.json`` with the owner,
  host, pid and a heartbeat the driver refreshes every ``HEARTBEAT`` seconds. Another
  run refuses while the heartbeat is fresher than ``LEASE_TIMEOUT``; a crashed owner's
  lease expires. Taking a lease is write-then-read-back: of two runs racing for an
  expired lease, the one whose token is read back wins and the other refuses.
* The owner token is also written to ``<out>/_work/owner``; a task compares it with
  the token it was started with before writing its commit marker.

``--shard K/N`` runs share one scan: each shard owns its own lock (``.lock-K-of-N``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from scanner.errors import DanescanError
from scanner.store.objstore import Store, StoreError

HEARTBEAT = 30.0
LEASE_TIMEOUT = 120.0
OWNER_FILE = "_work/owner"  # + "-K-of-N" for a shard


class ScanInUse(DanescanError):
    """Another process owns the scan's output location."""


class NotOwner(DanescanError):
    """A task of a run that no longer owns the scan tried to commit."""


@dataclass(frozen=True)
class Ownership:
    token: str
    lock_name: str
    owner_path: str  # where the token is published for the tasks to check


def _holder_text(info: dict[str, object]) -> str:
    since = info.get("since")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
        if isinstance(since, int | float)
        else "?"
    )
    return f"pid {info.get('pid')} on {info.get('host')} since {when}"


def _lock_local(store: Store, name: str, token: str) -> Iterator[None]:
    path = store.local_path(name)
    try:
        store.makedirs()
        f: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run
    except OSError as exc:
        raise StoreError(f"cannot write to {store.describe()}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            try:
                holder = _holder_text(json.loads(f.read() or "{}"))
            except ValueError:
                holder = "another process"
            raise ScanInUse(
                f"{store.describe()} is in use by {holder}; wait for it to finish, "
                "or stop it (its scan stays resumable)"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(
            json.dumps(
                {"pid": os.getpid(), "host": platform.node(), "since": time.time(), "token": token}
            )
        )
        f.flush()
        yield
    finally:
        f.close()  # closing drops the flock


def _lock_remote(store: Store, name: str, token: str) -> Iterator[None]:
    lease = f"{name}.json"
    me = {"pid": os.getpid(), "host": platform.node(), "since": time.time(), "token": token}
    current = store.read_json(lease)
    if current and current.get("token") != token:
        age = time.time() - float(current.get("heartbeat", 0))
        if age < LEASE_TIMEOUT:
            raise ScanInUse(
                f"{store.describe()} is in use by {_holder_text(current)} (heartbeat "
                f"{age:.0f} s ago); a crashed owner's lease expires after "
                f"{LEASE_TIMEOUT:.0f} s"
            )
    store.write_json({**me, "heartbeat": time.time()}, lease)
    time.sleep(0.2)  # let a racing writer's PUT land, then see whose token stayed
    back = store.read_json(lease) or {}
    if back.get("token") != token:
        raise ScanInUse(f"{store.describe()} was just taken by {_holder_text(back)}")
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            with contextlib.suppress(Exception):  # a missed beat only shortens the lease
                store.write_json({**me, "heartbeat": time.time()}, lease)

    thread = threading.Thread(target=beat, name="danescan-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        with contextlib.suppress(Exception):
            store.delete(lease)


@contextlib.contextmanager
def own(store: Store, shard: tuple[int, int] | None = None) -> Iterator[Ownership]:
    """Hold the scan's location for the block; raises ``ScanInUse`` if another run has it."""
    suffix = "" if shard is None else f"-{shard[0]}-of-{shard[1]}"
    name = f".lock{suffix}"
    if not store.local:
        name = name.lstrip(".").replace("lock", "_lease", 1)
    token = uuid.uuid4().hex
    locker = _lock_local if store.local else _lock_remote
    with contextlib.contextmanager(locker)(store, name, token):
        yield Ownership(token=token, lock_name=name, owner_path=OWNER_FILE + suffix)


def publish_owner(store: Store, ownership: Ownership) -> None:
    """Make this run's token the one whose tasks may commit."""
    store.write_bytes(ownership.token.encode(), ownership.owner_path)


def check_owner(store: Store, owner_path: str, token: str) -> None:
    """Raise ``NotOwner`` unless ``token`` is still the scan's (or shard's) owner."""
    current = store.read_bytes(owner_path)
    if current is not None and current.decode() != token:
        raise NotOwner(
            f"{store.describe()} is now owned by another run; this task's results are dropped"
        )
