"""The facts a scan of the local world writes now are what the hand-written JSON wrote.

``tests/core`` checks a stored scan made by the old code; this one checks the facts of the
session's scan (the current code, every scenario domain, probes on), so a new kind of
value in the facts (a float, a string from a misbehaving server) meets the oracle too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.world.info import WorldInfo
from tests.core.storedfacts import assert_written_as_before, scan_facts

pytestmark = pytest.mark.world


def test_world_scan_facts_are_written_as_the_hand_written_json_wrote_them(
    world: WorldInfo, world_scan: Path
) -> None:
    counts = assert_written_as_before(scan_facts(world_scan))
    assert counts["domains"] == len(world.domains)
    assert counts["hosts"] > 0 and counts["addresses"] > 0
