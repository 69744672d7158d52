"""The host and probe stages are cut into as many tasks as the hosts and probes found
need (issue 14: memory bounded by a task, not by the input), and the cut changes
nothing a scan finds: each host asked and each address probed once, the same rows.

Also the pieces that make the cut possible: key ranges that tile the key space, and
reading one range of sorted shuffle files.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scanner.runs import stages
from scanner.runs.scan import Scan, ScanConfig
from scanner.store import dataset as ds
from scanner.store.objstore import open_store
from tests.runs.fakes import World, insecure, options, secure


def self_hosting_world(n: int) -> World:
    """``n`` domains, each on its own MX host (signed, with its own address), and the
    provider's two shared hosts as second and third MX."""
    world = World(n)
    for i in range(n):
        domain = world.domain(i)
        own = f"mx.{domain}"
        make = secure if i % 3 else insecure
        world.dns.answers[(domain, "MX")] = make(
            domain, "MX", f"5 {own}.", "10 mx1.provider.test.", "20 mx2.provider.test."
        )
        world.dns.answers[(own, "A")] = secure(own, "A", f"198.51.{i // 250}.{i % 250 + 1}")
        world.dns.answers[(own, "AAAA")] = secure(own, "AAAA")
    return world


def rows(out: Path, table: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for part in sorted((out / table).glob("**/part-*.parquet")):
        found += pq.read_table(part).to_pylist()
    return found


def comparable(out: Path, table: str) -> list[str]:
    drop = {"scan_id", "observed_at", "scanned_at"}
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True, default=str)
        for r in rows(out, table)
    )


def scan(tmp_path: Path, world: World, name: str) -> Path:
    inp = tmp_path / "in.txt"
    inp.write_text("".join(f"{d}\n" for d in world.names()))
    out = tmp_path / name
    config = ScanConfig(input=str(inp), out=str(out), gather=options(), concurrency=8, partitions=4)
    Scan(config, world.seams()).run()
    return out


def test_host_and_probe_tasks_follow_what_was_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 60
    whole = scan(tmp_path, self_hosting_world(n), "whole")
    state = json.loads((whole / "scan.json").read_text())
    assert state["plan"]["host_tasks"] == state["plan"]["min_tasks"]  # 62 hosts: the floor

    monkeypatch.setattr(stages, "HOSTS_PER_TASK", 7)
    monkeypatch.setattr(stages, "PROBES_PER_TASK", 5)
    world = self_hosting_world(n)
    cut = scan(tmp_path, world, "cut")
    plan = json.loads((cut / "scan.json").read_text())["plan"]
    # The domain partitions' distinct hosts, summed: 60 own hosts, and the provider's
    # two counted once in each of the 4 domain partitions.
    assert plan["host_tasks"] == math.ceil((n + 2 * 4) / 7)
    assert plan["probe_tasks"] == math.ceil((n + 2) / 5)  # one probe per address

    asked = world.dns.asked
    for i in range(n):
        assert asked[(f"mx.{world.domain(i)}", "A")] == 1
    assert asked[("mx1.provider.test", "A")] == 1
    assert set(world.prober.probed.values()) == {1}
    assert len(world.prober.probed) == n + 2
    for table in ("domains", "domain_mx", "hosts", "addresses", "findings", "sender_outcomes"):
        assert comparable(cut, table) == comparable(whole, table), table


def test_key_ranges_tile_the_key_space() -> None:
    for tasks in (1, 2, 3, 7, 1000):
        ranges = [ds.key_range(t, tasks) for t in range(tasks)]
        assert ranges[0][0] == 0 and ranges[-1][1] == ds.KEY_SPACE
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    names = [f"mx{i}.example" for i in range(2000)]
    thirds = [ds.key_range(t, 3) for t in range(3)]
    owners = [sum(lo <= ds.hash_key(n) < hi for lo, hi in thirds) for n in names]
    assert set(owners) == {1}  # every name in exactly one range
    assert all(sum(lo <= ds.hash_key(n) < hi for n in names) > 500 for lo, hi in thirds)


def test_a_key_range_reads_only_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(str(tmp_path))
    schema = pa.schema([("key", pa.int64()), ("name", pa.string())])
    rows_in = [{"key": (i * 7919) % 50_000, "name": f"n{i}"} for i in range(30_000)]
    ds.write_sorted(store, "sorted.parquet", schema, list(rows_in), "key")
    path = store.path("sorted.parquet")
    lo, hi = 12_000, 12_500
    groups_read: list[int] = []
    real = pq.ParquetFile.read_row_group

    def counting(self: pq.ParquetFile, group: int, *args: object, **kw: object) -> pa.Table:
        groups_read.append(group)
        return real(self, group, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counting)
    got = list(ds.read_key_range(store, [path], "key", lo, hi))
    # Thirty row groups of 1,000 sorted keys: the range's ≈ 300 rows lie in one or two.
    assert 1 <= len(groups_read) <= 2
    assert sorted(r["name"] for r in got) == sorted(
        r["name"]
        for r in rows_in
        if lo <= int(r["key"]) < hi  # type: ignore[call-overload]
    )
    everything = list(ds.read_key_range(store, [path], "key", 0, 50_000))
    assert len(everything) == len(rows_in)
