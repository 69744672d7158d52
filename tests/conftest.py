"""Shared fixtures: ``world`` brings the local world up once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scanner.world import netns
from scanner.world.control import down, status, up
from scanner.world.info import WorldInfo


@pytest.fixture(scope="session")
def world() -> Iterator[WorldInfo]:
    """The running local world (started here if needed, stopped again if started here).

    World tests run inside the ``danescan`` namespace: ``danescan world exec -- python -m
    pytest`` (or ``python -m scanner.world exec -- ...``). Set ``DANESCAN_WORLD_KEEP=1`` to
    leave a world this session started running afterwards.
    """
    if not netns.inside():
        pytest.skip("needs the world's namespace: run under `danescan world exec -- ...`")
    started = not status().up
    info = up()
    yield info
    if started and os.environ.get("DANESCAN_WORLD_KEEP") != "1":
        down()
