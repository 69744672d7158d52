"""Shared work runs once per key, in the scan nursery, and outlives an impatient caller."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.lowlevel
import trio.testing

from scanner.gather.shared import SharedWork, Spill, SpillStore


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


async def test_results_beyond_the_resident_limit_spill_and_come_back(tmp_path: Path) -> None:
    calls: list[str] = []

    async def work(key: str) -> str:
        calls.append(key)
        await trio.lowlevel.checkpoint()
        return key.upper()

    store = SpillStore(tmp_path / "spill.sqlite")
    spill: Spill[str, str] = Spill(store, "t", str, str.encode, bytes.decode, resident=2)
    async with trio.open_nursery() as scan:
        shared: SharedWork[str, str] = SharedWork(scan, work, spill)
        for key in "abcde":
            assert await shared.get(key) == key.upper()
        assert len(shared) == 2  # d, e resident; a, b, c on disk
        assert (shared.spilled, store.writes) == (3, 3)
        assert await shared.get("a") == "A"  # read back, not recomputed
        assert store.reads == 1
        assert await shared.get("e") == "E"  # still resident: no read
        assert store.reads == 1
        shared.preload("z", "Z")  # seeds count against the limit too
        assert len(shared) == 2 and await shared.get("z") == "Z"
    assert calls == list("abcde")
    assert shared.started == 5
    store.close()
    assert not (tmp_path / "spill.sqlite").exists()


async def test_recently_used_results_stay_resident(tmp_path: Path) -> None:
    async def work(key: str) -> str:
        return key

    store = SpillStore(tmp_path / "spill.sqlite")
    spill: Spill[str, str] = Spill(store, "t", str, str.encode, bytes.decode, resident=2)
    async with trio.open_nursery() as scan:
        shared: SharedWork[str, str] = SharedWork(scan, work, spill)
        await shared.get("provider")
        await shared.get("x")
        await shared.get("provider")  # touched: "x" is now the least recently used
        await shared.get("y")
        assert store.get("t", "x") == b"x" and store.get("t", "provider") is None
    store.close()
