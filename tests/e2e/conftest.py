"""End-to-end fixtures: scans of the local world made with the real ``danescan`` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.world.info import WorldInfo
from tests.e2e.helpers import danescan, world_args


@pytest.fixture(scope="session")
def catalog_list(world: WorldInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario domains, one a line, as a user would feed them."""
    path = tmp_path_factory.mktemp("input") / "domains.txt"
    path.write_text("\n".join(world.domains) + "\n")
    return path


@pytest.fixture(scope="session")
def world_scan(
    world: WorldInfo, catalog_list: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A full scan (with SMTP probes) of every scenario domain of the local world."""
    out = tmp_path_factory.mktemp("scans") / "world-scan"
    danescan("scan", str(catalog_list), "--out", str(out), "--no-progress", *world_args(world))
    yield out


@pytest.fixture(scope="session")
def big_list(world: WorldInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 benchmark-world domains (a realistic mix sharing a few providers): the
    first of the world's bench list, which may be larger (a benchmark world)."""
    assert world.bench_domains is not None and world.bench_count >= 20_000
    with Path(world.bench_domains).open() as names:
        first = [next(names) for _ in range(20_000)]
    path = tmp_path_factory.mktemp("lists") / "bench-20k.txt"
    path.write_text("".join(first))
    return path
