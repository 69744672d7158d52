"""``stages.each_concurrently``: the bounded worker pool and its per-item deadline."""

from __future__ import annotations

import trio
import trio.testing

from scanner.runs.stages import each_concurrently


async def test_every_item_once_and_at_most_limit_at_a_time() -> None:
    busy = 0
    peak = 0
    done: list[int] = []

    async def fn(item: int) -> None:
        nonlocal busy, peak
        busy += 1
        peak = max(peak, busy)
        await trio.sleep(0.001 * (item % 3))
        busy -= 1
        done.append(item)

    await each_concurrently(range(50), fn, 4)
    assert sorted(done) == list(range(50))
    assert peak == 4


async def test_an_item_past_its_deadline_is_given_up_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Items 3 and 7 hang; the others take 1 s each. Each item has 5 s.
    done: list[int] = []
    late: list[tuple[int, float]] = []
    start = trio.current_time()

    async def fn(item: int) -> None:
        await trio.sleep(1000 if item in (3, 7) else 1)
        done.append(item)

    def overran(item: int, began: float) -> None:
        late.append((item, began - start))
        assert trio.current_time() - began == 5  # on the deadline, not later

    await each_concurrently(range(10), fn, 2, item_seconds=5, late=overran)
    assert sorted(done) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert [item for item, _ in late] == [3, 7]
    # The worker that gave item 3 up went on with the next items.
    assert trio.current_time() - start < 20


async def test_an_item_finishing_as_the_deadline_passes_is_not_given_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Every item takes exactly the deadline: finished, never late, and the next item
    # of the same worker still gets its own full deadline.
    done: list[int] = []
    late: list[int] = []

    async def fn(item: int) -> None:
        await trio.sleep(2)
        done.append(item)

    await each_concurrently(range(6), fn, 3, item_seconds=2, late=lambda i, _: late.append(i))
    assert len(done) + len(late) == 6
    assert not set(done) & set(late)


async def test_without_deadline_no_watchdog_runs() -> None:
    seen: list[str] = []

    async def fn(item: str) -> None:
        await trio.lowlevel.checkpoint()
        seen.append(item)

    with trio.fail_after(5):
        await each_concurrently(iter(["a", "b", "c"]), fn, 8)
    assert sorted(seen) == ["a", "b", "c"]
