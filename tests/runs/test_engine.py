"""The local Dask cluster of ``--workers N`` (``scanner.runs.engine``): real worker
processes, started and stopped by the test."""

from __future__ import annotations

from typing import Any

from scanner.runs.engine import QUIET_CLUSTER, DaskEngine


def _worker_config() -> dict[str, Any]:
    import dask

    return {key: dask.config.get(key) for key in QUIET_CLUSTER}


def test_the_worker_processes_run_with_dask_s_clocks_slowed() -> None:
    engine = DaskEngine(workers=1)
    try:
        assert engine.slots == 1
        got = engine.client.run(_worker_config)  # in each worker process
        assert list(got.values()) == [QUIET_CLUSTER]
        # The scheduler runs in the driver's process (a local cluster).
        assert engine.client.run_on_scheduler(_worker_config) == QUIET_CLUSTER
    finally:
        engine.close()


def test_an_in_process_engine_s_worker_leaves_when_the_scan_is_killed() -> None:
    import os
    import subprocess
    import sys
    import time

    # A scan process that starts its worker and dies by SIGKILL (no clean-up of its own).
    code = (
        "import os, signal\n"
        "from scanner.runs.engine import InProcess\n"
        "engine = InProcess(2)\n"
        "engine.use_processes(1)\n"
        "print(*[p.pid for p in engine._pool._processes.values()], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    (worker,) = map(int, done.stdout.split())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return  # gone
        with open(f"/proc/{worker}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return  # exited; its new parent has yet to reap it
        time.sleep(0.2)
    raise AssertionError(f"worker {worker} outlived its scan")
