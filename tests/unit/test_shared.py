"""Shared work runs once per key, in the scan nursery, and outlives an impatient caller."""

from __future__ import annotations

import trio
import trio.testing

from scanner.shared import SharedWork


async def test_each_key_runs_once_and_survives_a_cancelled_waiter() -> None:
    calls: list[str] = []

    async def work(key: str) -> str:
        calls.append(key)
        await trio.sleep(1)
        return key.upper()

    async with trio.open_nursery() as scan:
        shared: SharedWork[str, str] = SharedWork(scan, work)
        with trio.move_on_after(0.5):
            await shared.get("mx")  # gives up before the work finishes
        results: list[str] = []

        async def waiter() -> None:
            results.append(await shared.get("mx"))

        async with trio.open_nursery() as waiters:
            for _ in range(100):
                waiters.start_soon(waiter)
        assert results == ["MX"] * 100
        shared.preload("cached", "C")
        assert await shared.get("cached") == "C"
    assert calls == ["mx"]
    assert shared.started == 1
