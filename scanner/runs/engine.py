"""Executors: where a stage's tasks run (DESIGN §3: a real engine beyond one machine).

What must live here: the choice of engine and running a list of ``TaskSpec``s on it,
reporting each finished task to the driver as it completes, cancelling the rest when
one fails or the user interrupts.

* ``InProcess`` (the default: no set-up): the tasks run in this process, ``slots`` at a
  time in one trio run. Unit tests pass fakes through ``Seams`` here. A big scan's
  CPU-bound tasks (``stages.CPU_STAGES``: judge, compact; and diagnose, whose crypto
  outweighs its waiting) can also go to worker processes (``use_processes``): one
  process runs Python on one core. The workers are spawned (not forked: this process
  has threads), leave if this process dies (even by SIGKILL), and a task whose worker
  died is rerun in a new one, as under Dask.
* ``DaskEngine``: a ``distributed`` client, either of a ``LocalCluster`` of worker
  processes started here (``--workers N``) or of an existing cluster
  (``--scheduler tcp://HOST:PORT``). Each task runs ``stages.run_task`` in a worker
  process (its own trio run, its own resolver socket). A worker that dies mid-task has
  its task rerun elsewhere by the scheduler (``distributed.scheduler.allowed-failures``);
  the rerun replaces the task's outputs (names depend only on stage and partition).
  Tasks that *raise* are not retried: an exception is a finding about the scan (a dead
  resolver, a bug) that the driver reports.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import trio

from scanner.errors import DanescanError, user_error
from scanner.runs.stages import CPU_STAGES, TaskResult, TaskSpec, run_task, run_task_async
from scanner.runs.wiring import Seams

# How often a task is started in a worker process before a worker's death is the
# scan's error (Dask's ``allowed-failures`` is 3 too).
WORKER_ATTEMPTS = 3

OnDone = Callable[[TaskResult], None]


class Engine(Protocol):
    slots: int
    description: str

    def run(self, specs: Sequence[TaskSpec], on_done: OnDone) -> None: ...

    def close(self) -> None: ...


class WorkerLost(DanescanError):
    """A worker process died (killed, out of memory) every time it ran one task."""


class InProcess:
    """Tasks in this process, ``slots`` at a time (CPU-bound ones, after
    ``use_processes``, partly in worker processes)."""

    def __init__(self, slots: int = 2, seams: Seams | None = None) -> None:
        self.slots = max(1, slots)
        self.seams = seams
        self.description = "in-process"
        self._pool: ProcessPoolExecutor | None = None
        self._processes = 0
        self._offloaded: frozenset[str] = frozenset()

    def use_processes(self, count: int, stages: frozenset[str] = CPU_STAGES) -> None:
        """From now on, ``count`` of the slots run the tasks of ``stages`` in worker
        processes (the other slots keep running them here, on this process's otherwise
        idle core). The workers start now, so that their start-up (0.3 s of imports
        each) overlaps the stages before. A worker runs a task with the default seams:
        only stages that need none of this engine's (``self.seams``) may go there."""
        count = min(count, self.slots)
        if count <= 0 or self._pool is not None:
            return
        self._processes = count
        self._offloaded = stages
        self._pool = _start_pool(count)

    def run(self, specs: Sequence[TaskSpec], on_done: OnDone) -> None:
        if not specs:
            return
        try:
            trio.run(self._run, specs, on_done)
        except BaseExceptionGroup as group:
            # The nursery wraps what a task raised; the driver wants the error itself
            # (a user's error first; else a lone error such as a full disk's OSError).
            found: BaseException | None = user_error(group)
            leaves = _leaves(group)
            if found is None and len(leaves) == 1:
                found = leaves[0]
            if found is None:
                raise
            raise found from None

    async def _run(self, specs: Sequence[TaskSpec], on_done: OnDone) -> None:
        # ``slots`` workers take the tasks in order from a channel (trio schedules
        # spawned tasks in no fixed order; a channel keeps partition order).
        send, receive = trio.open_memory_channel[TaskSpec](0)

        async def worker(source: trio.MemoryReceiveChannel[TaskSpec], slot: int) -> None:
            async with source:
                async for spec in source:
                    if slot < self._processes and spec.stage in self._offloaded:
                        on_done(await self._in_worker(spec))
                    else:
                        on_done(await run_task_async(spec, self.seams))

        async with trio.open_nursery() as nursery:
            async with receive:
                for slot in range(min(self.slots, len(specs))):
                    nursery.start_soon(worker, receive.clone(), slot)
            async with send:
                for spec in specs:
                    await send.send(spec)

    async def _in_worker(self, spec: TaskSpec) -> TaskResult:
        for _ in range(WORKER_ATTEMPTS):
            pool = self._pool
            assert pool is not None
            try:
                future = pool.submit(run_task, spec)  # refused if a worker died idle
                # Abandoned on cancel: an interrupted scan does not wait here for the
                # worker (``close`` does, or the worker dies with the scan).
                result: TaskResult = await trio.to_thread.run_sync(
                    future.result, abandon_on_cancel=True
                )
                return result
            except BrokenProcessPool:
                # The worker died mid-task; the task reruns in a new one and replaces
                # its outputs (their names depend only on stage and partition).
                if self._pool is pool:
                    pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = _start_pool(self._processes)
        raise WorkerLost(
            f"a worker process died {WORKER_ATTEMPTS} times running {spec.stage} "
            f"partition {spec.part} (out of memory?); what is committed stays: rerun "
            "with --resume"
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _start_pool(count: int) -> ProcessPoolExecutor:
    pool = ProcessPoolExecutor(
        count,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_started,
        initargs=(os.getpid(),),
    )
    for _ in range(count):  # start them all now (an executor starts them as needed)
        pool.submit(os.getpid)
    return pool


def _worker_started(parent: int) -> None:
    """In each worker process: leave when the scan's process is gone. A worker waits
    for tasks on a pipe whose writing end it holds too, so it would never see the
    scan die; a killed scan must not leave processes behind."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="danescan-parent-watch", daemon=True).start()
    importlib.import_module("scanner.runs.stages")  # what every task needs, loaded now


# Dask's defaults suit interactive clusters of short tasks; a scan's tasks run for
# seconds to minutes, so the clocks that watch them can tick far less often:
# - the statistical profiler samples every worker thread every 10 ms: in a worker whose
#   task keeps the CPU busy it cost a tenth or more of the task's CPU;
# - the event-loop tick (20 ms), the system monitor (500 ms), the memory monitor (100 ms)
#   and work stealing (100 ms) kept an idle worker at 1.7 % of a core and the driver
#   with its scheduler at 2.5 % (0.25 % and 0.5 % with these), about 23 µs per domain
#   of a 1M-domain scan on two workers.
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.tick.limit": "30s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.work-stealing-interval": "1s",
}


class DaskEngine:
    """Tasks on a Dask distributed cluster: a local one of worker processes, or a given one."""

    def __init__(self, workers: int = 0, scheduler: str | None = None) -> None:
        # distributed is untyped; it is imported only when a cluster is asked for.
        dist: Any = importlib.import_module("distributed")
        Client, LocalCluster = dist.Client, dist.LocalCluster
        self._as_completed = dist.as_completed
        self._cluster: Any = None
        self.client: Any
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
            self.description = f"scheduler {scheduler}"
        else:
            # The workers inherit the driver's configuration through their nannies.
            dask: Any = importlib.import_module("dask")
            dask.config.set(QUIET_CLUSTER)
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,  # logging.ERROR: the scan has its own progress display
            )
            self.client = Client(self._cluster)
            self.description = f"local cluster of {workers} worker processes"
        info = self.client.scheduler_info()
        self.slots = max(1, sum(int(w.get("nthreads", 1)) for w in info["workers"].values()))

    def run(self, specs: Sequence[TaskSpec], on_done: OnDone) -> None:
        if not specs:
            return
        futures = [
            # The key names the run too: a scheduler that outlived a crashed driver must
            # not hand back the old run's result for the same partition.
            self.client.submit(
                run_task, spec, key=f"{spec.key}-{spec.owner_token[:8]}", pure=False, retries=0
            )
            for spec in specs
        ]
        try:
            for future in self._as_completed(futures):
                on_done(future.result())
        except BaseException:
            self.client.cancel(futures)
            raise

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found
