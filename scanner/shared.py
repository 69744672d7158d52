"""Once-per-scan shared work: the first caller of a key starts it, everyone awaits it.

The work runs in the scan's nursery, not in the task of whoever asked first: a domain
whose own deadline expires stops waiting, but the host lookup that thousands of other
domains share carries on. A failure inside the work is a bug and crashes the scan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import trio

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Entry(Generic[V]):
    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: V | None = None


class SharedWork(Generic[K, V]):
    """A memo of async computations keyed by ``K``, each run at most once per scan."""

    def __init__(self, nursery: trio.Nursery, work: Callable[[K], Awaitable[V]]) -> None:
        self._nursery = nursery
        self._work = work
        self._entries: dict[K, _Entry[V]] = {}
        self.started = 0

    def __len__(self) -> int:
        return len(self._entries)

    def preload(self, key: K, value: V) -> None:
        """Seed a result known from an earlier run (resume)."""
        entry: _Entry[V] = _Entry()
        entry.value = value
        entry.done.set()
        self._entries[key] = entry

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            self.started += 1
            self._nursery.start_soon(self._run, key, entry)
        await entry.done.wait()
        assert entry.value is not None
        return entry.value

    async def _run(self, key: K, entry: _Entry[V]) -> None:
        entry.value = await self._work(key)
        entry.done.set()
