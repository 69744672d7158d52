"""The tasks' garbage-collector policy (``scanner.runs.collector``)."""

from __future__ import annotations

import gc
import weakref

from scanner.runs import collector


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_the_collector_rests_while_judge_tasks_run_and_comes_back() -> None:
    assert gc.isenabled()
    first, second = collector.paused(), collector.paused()
    first.__enter__()
    assert not gc.isenabled()
    second.__enter__()
    first.__exit__(None, None, None)  # tasks end in any order
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_the_baseline_is_frozen_once_and_a_task_s_cycles_are_still_given_back() -> None:
    collector.baseline()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    collector.baseline()  # later tasks: nothing more is frozen
    assert gc.get_freeze_count() == frozen
    # What a task makes after the baseline stays in the collector's reach.
    node = _Node()
    gone = weakref.ref(node)
    del node
    assert gone() is not None  # reference counting alone cannot free a cycle
    collector.give_back()
    assert gone() is None
    assert gc.get_freeze_count() == frozen


def test_young_passes_are_rarer_while_domain_tasks_gather_and_come_back() -> None:
    before = gc.get_threshold()
    first, second = collector.relaxed(), collector.relaxed()
    first.__enter__()
    assert gc.get_threshold() == (collector.RELAXED_GEN0, *before[1:])
    second.__enter__()
    first.__exit__(None, None, None)  # tasks end in any order
    assert gc.get_threshold()[0] == collector.RELAXED_GEN0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    gc.set_threshold(50_000, *before[1:])
    try:
        with collector.relaxed():
            assert gc.get_threshold()[0] == 50_000  # never more often than it was
        assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*before)
