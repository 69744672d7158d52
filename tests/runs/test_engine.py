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
