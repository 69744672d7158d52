"""Once-per-scan shared work: the first caller of a key starts it, everyone awaits it.

The work runs in the scan's nursery, not in the task of whoever asked first: a domain
whose own deadline expires stops waiting, but the host lookup that thousands of other
domains share carries on. A failure inside the work is a bug and crashes the scan.

Memory stays bounded however many distinct hosts a scan meets: at most
``resident`` finished results stay in memory (least recently used first out); older
ones move to a :class:`SpillStore` on disk and are read back when asked for again,
so "once per scan" holds without holding every certificate chain of a million-domain
scan in memory. Work in flight is never evicted (its count is bounded by the
crawler's concurrency).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import trio

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SpillStore:
    """Evicted results as blobs in one SQLite file, keyed by (memo name, key text).

    A scratch file: durability is not wanted (a resumed scan rebuilds it from the
    Parquet parts), so journaling and syncing are off and the file is recreated on open.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE spill (memo TEXT, key TEXT, value BLOB, PRIMARY KEY (memo, key))"
        )
        self.writes = 0
        self.reads = 0

    def put(self, memo: str, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO spill VALUES (?, ?, ?)", (memo, key, value))
        self.writes += 1

    def get(self, memo: str, key: str) -> bytes | None:
        row = self._db.execute(
            "SELECT value FROM spill WHERE memo = ? AND key = ?", (memo, key)
        ).fetchone()
        if row is None:
            return None
        self.reads += 1
        return bytes(row[0])

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Spill(Generic[K, V]):
    """How one memo spills: where, under which name, and its key/value codecs."""

    store: SpillStore
    memo: str
    key_text: Callable[[K], str]
    encode: Callable[[V], bytes]
    decode: Callable[[bytes], V]
    resident: int = 50_000  # finished results kept in memory


class _Entry(Generic[V]):
    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: V | None = None


class SharedWork(Generic[K, V]):
    """A memo of async computations keyed by ``K``, each run at most once per scan."""

    def __init__(
        self,
        nursery: trio.Nursery,
        work: Callable[[K], Awaitable[V]],
        spill: Spill[K, V] | None = None,
    ) -> None:
        self._nursery = nursery
        self._work = work
        self._spill = spill
        self._pending: dict[K, _Entry[V]] = {}
        self._done: OrderedDict[K, V] = OrderedDict()
        self.started = 0
        self.spilled = 0

    def __len__(self) -> int:
        """Results held in memory (finished or in flight)."""
        return len(self._pending) + len(self._done)

    def known(self, key: K) -> bool:
        """Is the result for ``key`` in memory (``get`` would return without waiting)?"""
        return key in self._done

    def preload(self, key: K, value: V) -> None:
        """Seed a result known from an earlier run (resume)."""
        self._finish(key, value)

    async def get(self, key: K) -> V:
        value = self._done.get(key)
        if value is not None:
            self._done.move_to_end(key)
            return value
        entry = self._pending.get(key)
        if entry is None:
            value = self._unspill(key)
            if value is not None:
                self._finish(key, value)
                return value
            entry = self._pending[key] = _Entry()
            self.started += 1
            self._nursery.start_soon(self._run, key, entry)
        await entry.done.wait()
        assert entry.value is not None
        return entry.value

    async def _run(self, key: K, entry: _Entry[V]) -> None:
        entry.value = await self._work(key)
        del self._pending[key]
        self._finish(key, entry.value)
        entry.done.set()

    def _finish(self, key: K, value: V) -> None:
        self._done[key] = value
        spill = self._spill
        if spill is None:
            return
        while len(self._done) > spill.resident:
            old_key, old_value = self._done.popitem(last=False)
            spill.store.put(spill.memo, spill.key_text(old_key), spill.encode(old_value))
            self.spilled += 1

    def _unspill(self, key: K) -> V | None:
        spill = self._spill
        if spill is None or not self.spilled:
            return None
        data = spill.store.get(spill.memo, spill.key_text(key))
        return spill.decode(data) if data is not None else None
