"""How the stage tasks use CPython's cyclic garbage collector.

What must live here: the process-wide collector policy of the tasks (when objects are
frozen out of the collector's reach, when it rests, what a finished task gives back);
nothing else. One module, because the three pieces act on one global collector, and
tasks that run at once in one process (threads of a Dask worker, or the in-process
executor) must leave it as they found it.

Why it matters: a task allocates millions of short-lived objects, and each time
CPython's collector makes a full pass it walks every tracked object of the process,
including the modules of dnspython, pyarrow, trio and Dask. Measured on a 100k-domain
scan: full passes were a fifth of the domain stage's CPU, a sixth of the judge's, and
the collection after each task (to give its memory back) about 100 ms, 17 µs per
domain in all.

- ``baseline()``: once per process, before its first task, what exists (modules,
  the executor's machinery, module-level tables) is collected and frozen for good. A
  later collection walks only what the tasks made. The price: an object that existed
  then and later dies in a reference cycle is not reclaimed. That set is made once per
  process, so it is bounded; a task's own objects are never frozen.
- ``paused()`` and ``relaxed()`` are held settings (``_Held``): counted, so that tasks
  running at once in one process leave the collector as they found it.
- ``paused()``: the collector off while a judge task runs (its objects are not in
  cycles; reference counting frees them).
- ``relaxed()``: while a domain or host task gathers, the young generation is collected
  after ``RELAXED_GEN0`` net allocations instead of 700. Its passes walk the objects of the
  questions in flight (several thousand: coroutines, jobs, tuples), so at 700 a 20k-domain
  run made ≈ 200 of them, 0.2 s of its 2.3 s CPU (``gc.callbacks`` timing); at 10,000 it
  makes ≈ 8, 0.05 s. The collector still runs: the few cycles a domain leaves (the
  resolver's batches) are reclaimed young.
- ``give_back()``: after a task, its cyclic garbage is collected and the freed memory
  returned to the operating system (Arrow's pool, glibc's ``malloc_trim``), so that a
  worker that runs hundreds of tasks carries nothing of the earlier ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from collections.abc import Callable, Iterator

import pyarrow as pa

_lock = threading.Lock()
_baseline_frozen = False
RELAXED_GEN0 = 10_000


def baseline() -> None:
    """Freeze what the process holds before its first task (later calls: nothing)."""
    global _baseline_frozen
    with _lock:
        if _baseline_frozen:
            return
        gc.collect()
        gc.freeze()
        _baseline_frozen = True


class _Held:
    """A process-wide collector setting held while any block that asked for it runs:
    made by the first block to enter and undone by the last to leave, in any order
    (the blocks of tasks that run at once in one process overlap). ``apply`` makes the
    setting and returns what undoes it."""

    def __init__(self, apply: Callable[[], Callable[[], None]]) -> None:
        self._apply = apply
        self._holders = 0
        self._undo: Callable[[], None] = _nothing

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with _lock:
            if self._holders == 0:
                self._undo = self._apply()
            self._holders += 1
        try:
            yield
        finally:
            with _lock:
                self._holders -= 1
                if self._holders == 0:
                    self._undo()


def _nothing() -> None:
    return None


def _collector_off() -> Callable[[], None]:
    was_enabled = gc.isenabled()
    gc.disable()
    return gc.enable if was_enabled else _nothing  # off before: it stays off


def _young_passes_rarer() -> Callable[[], None]:
    threshold = gc.get_threshold()
    gc.set_threshold(max(RELAXED_GEN0, threshold[0]), *threshold[1:])  # never more often
    return lambda: gc.set_threshold(*threshold)


# The collector off for the block.
paused = _Held(_collector_off)
# The young generation collected after ``RELAXED_GEN0`` allocations for the block.
relaxed = _Held(_young_passes_rarer)


def give_back() -> None:
    """Return what a finished task freed to the operating system."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
