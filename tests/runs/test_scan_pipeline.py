"""The staged scan against fakes (no namespace): once-per-scan work across partitions,
duplicates and invalid lines, held-back ``dns_error`` domains, resume, shards, and host
rows written once.

Expectations come from DESIGN §3-5: every MX host looked up and every address probed
once per scan; every input line either scanned or recorded as invalid; no domain lost
or doubled across an interruption.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from scanner.core.model import Verdict
from scanner.errors import ResolverFailed
from scanner.gather import codecs
from scanner.runs.scan import Scan, ScanConfig
from scanner.runs.wiring import GatherOptions
from scanner.store.dataset import partition_of
from tests.runs.fakes import World, options


def read_state(out: Path) -> dict[str, object]:
    state: dict[str, object] = json.loads((out / "scan.json").read_text())
    return state


def table(out: Path, name: str) -> list[dict[str, object]]:
    parts = sorted((out / name).glob("**/part-*.parquet"))
    rows: list[dict[str, object]] = []
    for part in parts:
        rows += pq.read_table(part).to_pylist()
    return rows


def write_list(path: Path, names: list[str]) -> Path:
    path.write_text("".join(f"{n}\n" for n in names))
    return path


def config(inp: Path, out: Path, gather: GatherOptions, **kw: object) -> ScanConfig:
    # Several partitions even for small inputs, so that hosts shared across domain
    # partitions are exercised.
    defaults: dict[str, object] = {"concurrency": 8, "partitions": 5}
    defaults.update(kw)
    return ScanConfig(input=str(inp), out=str(out), gather=gather, **defaults)  # type: ignore[arg-type]


def test_shared_hosts_are_asked_and_probed_once(tmp_path: Path) -> None:
    world = World(40)
    inp = write_list(tmp_path / "in.txt", world.names())
    out = tmp_path / "scan"
    Scan(config(inp, out, options()), world.seams()).run()

    asked = world.dns.asked
    for host in ("mx1.provider.test", "mx2.provider.test"):
        assert asked[(host, "A")] == 1
        assert asked[(host, "AAAA")] == 1
        assert asked[(f"_25._tcp.{host}", "TLSA")] == 1
    assert dict(world.prober.probed) == {"192.0.2.1": 1, "192.0.2.2": 1}

    domains = table(out, "domains")
    assert sorted(r["domain"] for r in domains) == world.names()
    verdicts = {r["domain"]: r["verdict"] for r in domains}
    for i, name in enumerate(world.names()):
        # Signed MX + TLSA + no STARTTLS anywhere: DANE applies and nothing authenticates.
        want = Verdict.DANE_BROKEN if i % 2 == 0 else Verdict.INSECURE
        assert verdicts[name] == want.value, name
    assert sorted(r["host"] for r in table(out, "hosts")) == [
        "mx1.provider.test",
        "mx2.provider.test",
    ]
    assert len(table(out, "addresses")) == 2
    state = read_state(out)
    assert state["status"] == "complete"
    assert state["dns_codec"] == codecs.NATIVE_STATUS  # which build of the codec ran
    # Every step of the run is on the scan's clock, each with this process's CPU.
    clock = state["clock"]
    assert isinstance(clock, dict)
    assert set(clock) == {"partition", "domain", "host", "diagnose", "probe", "judge", "compact"}
    for step in clock.values():
        assert step["wall_seconds"] > 0 and step["driver_cpu_seconds"] >= 0
        assert step["started_at"] < step["ended_at"]
    assert clock["domain"]["ended_at"] <= clock["host"]["started_at"]


def test_duplicates_and_invalid_lines_are_recorded_not_scanned(tmp_path: Path) -> None:
    world = World(3)
    names = world.names()
    lines = [names[0], names[1], names[0].upper(), "not a domain", "-bad.test", names[2]]
    inp = write_list(tmp_path / "in.txt", lines)
    out = tmp_path / "scan"
    Scan(config(inp, out, options(probe=False)), world.seams()).run()

    assert sorted(r["domain"] for r in table(out, "domains")) == names
    invalid = {r["line_no"]: r["reason"] for r in table(out, "invalid_inputs")}
    assert invalid[3] == "duplicate"
    assert set(invalid) == {3, 4, 5}
    assert world.dns.asked[(names[0], "MX")] == 1


def test_timeouts_are_held_back_until_the_resolver_is_vouched_for(tmp_path: Path) -> None:
    world = World(10)
    silent = world.domain(3)
    world.dns.timeout_names.add(silent)
    inp = write_list(tmp_path / "in.txt", world.names())
    out = tmp_path / "scan"
    Scan(config(inp, out, options(probe=False)), world.seams()).run()
    # The canaries still answer: the timeout is the domain's, recorded as dns_error.
    verdicts = {r["domain"]: r["verdict"] for r in table(out, "domains")}
    assert verdicts[silent] == Verdict.DNS_ERROR.value
    assert len(verdicts) == 10


def test_a_dying_resolver_stops_the_scan_resumably(tmp_path: Path) -> None:
    world = World(30)
    inp = write_list(tmp_path / "in.txt", world.names())
    out = tmp_path / "scan"

    def die_after(name: str, rrtype: str) -> None:
        if rrtype == "MX" and name == world.domain(12):
            world.dns.dead = True

    world.dns.on_ask = die_after
    with pytest.raises(ResolverFailed):
        Scan(config(inp, out, options(probe=False)), world.seams()).run()
    first = table(out, "domains")
    # Nothing judged on a dead resolver's silence was committed.
    assert all(r["verdict"] != Verdict.DNS_ERROR.value for r in first)
    assert read_state(out)["status"] == "resolver_failed"  # type: ignore[index]

    world.dns.dead = False
    world.dns.on_ask = None
    Scan(config(inp, out, options(probe=False), resume=True), world.seams()).run()
    domains = [r["domain"] for r in table(out, "domains")]
    assert sorted(domains) == world.names()  # none lost, none doubled
    assert read_state(out)["status"] == "complete"  # type: ignore[index]


def _interrupted(scan: Scan) -> None:
    """``scan`` stops with the user's KeyboardInterrupt (trio may wrap it in a group)."""
    with pytest.raises(BaseException) as caught:
        scan.run()
    assert (
        caught.group_contains(KeyboardInterrupt)
        if isinstance(caught.value, BaseExceptionGroup)
        else isinstance(caught.value, KeyboardInterrupt)
    )


def test_interrupted_scan_resumes_to_the_same_rows(tmp_path: Path) -> None:
    reference_world = World(60)
    inp = write_list(tmp_path / "in.txt", reference_world.names())
    reference = tmp_path / "reference"
    Scan(config(inp, reference, options()), reference_world.seams()).run()

    world = World(60)
    out = tmp_path / "scan"

    # Tasks start in partition order, two at a time: the last partition starts only
    # after earlier ones committed, so stopping there lands mid-scan.
    def interrupt(name: str, rrtype: str) -> None:
        if rrtype == "MX" and partition_of(name, 5) == 4:
            raise KeyboardInterrupt

    world.dns.on_ask = interrupt
    _interrupted(Scan(config(inp, out, options()), world.seams()))
    assert read_state(out)["status"] == "interrupted"  # type: ignore[index]
    # Stages commit per partition: some domain partitions were done before the stop.
    committed = {
        int(marker.stem.split("-")[1]) for marker in (out / "_work" / "done").glob("domain-*.json")
    }
    assert 0 < len(committed) < 5
    world.dns.on_ask = None
    Scan(config(inp, out, options(), resume=True), world.seams()).run()
    for name, key in (("domains", "domain"), ("hosts", "host"), ("addresses", "address")):
        got = sorted(r[key] for r in table(out, name))  # type: ignore[type-var]
        want = sorted(r[key] for r in table(reference, name))  # type: ignore[type-var]
        assert got == want, name
    got_verdicts = {r["domain"]: r["verdict"] for r in table(out, "domains")}
    want_verdicts = {r["domain"]: r["verdict"] for r in table(reference, "domains")}
    assert got_verdicts == want_verdicts
    # The resumed run did not ask again for the domains of committed partitions.
    for name in world.names():
        if partition_of(name, 5) in committed:
            assert world.dns.asked[(name, "MX")] == 1, name
    assert world.dns.asked[("mx1.provider.test", "A")] == 1


def test_opted_out_addresses_are_never_probed(tmp_path: Path) -> None:
    world = World(4)
    blocklist = tmp_path / "optout.txt"
    blocklist.write_text("192.0.2.1/32\n")
    inp = write_list(tmp_path / "in.txt", world.names())
    out = tmp_path / "scan"
    Scan(config(inp, out, options(blocklist=blocklist)), world.seams()).run()
    assert dict(world.prober.probed) == {"192.0.2.2": 1}


async def test_check_gathers_like_a_scan_and_honours_the_opt_out(tmp_path: Path) -> None:
    from scanner.runs.check import check_domains

    world = World(2)
    blocklist = tmp_path / "optout.txt"
    blocklist.write_text("# spare the primary\n192.0.2.1\n")
    got = await check_domains(world.names(), options(blocklist=blocklist), world.seams())
    assert [r["domain"] for r in got] == world.names()
    assert dict(world.prober.probed) == {"192.0.2.2": 1}
    # The opted-out primary was never probed: DANE applies, nothing authenticated,
    # a host with usable TLSA unprobed → unverified (DESIGN §4), not dane_broken.
    assert got[0]["verdict"] == Verdict.UNVERIFIED.value
    assert got[1]["verdict"] == Verdict.INSECURE.value


def test_shards_form_one_scan(tmp_path: Path) -> None:
    world = World(30)
    inp = write_list(tmp_path / "in.txt", world.names())
    out = tmp_path / "scan"
    errors: list[BaseException] = []

    def shard(k: int) -> None:
        try:
            Scan(config(inp, out, options(), shard=(k, 2)), world.seams()).run()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=shard, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(r["domain"] for r in table(out, "domains")) == world.names()
    # Both shards shared one resolver fake: still one lookup per host, one probe per address.
    assert world.dns.asked[("mx1.provider.test", "A")] == 1
    assert dict(world.prober.probed) == {"192.0.2.1": 1, "192.0.2.2": 1}
    assert read_state(out)["status"] == "complete"


def test_regrade_is_a_new_scan_with_the_same_verdicts(tmp_path: Path) -> None:
    from scanner.runs.regrade import regrade

    world = World(20)
    inp = write_list(tmp_path / "in.txt", [*world.names(), "not a domain"])
    out = tmp_path / "scan"
    Scan(config(inp, out, options()), world.seams()).run()
    asked = sum(world.dns.asked.values())
    new_id, count = regrade(str(out), str(tmp_path / "regraded"))
    assert count == 20
    assert sum(world.dns.asked.values()) == asked  # no network
    old = {r["domain"]: r["verdict"] for r in table(out, "domains")}
    new = {
        r["domain"]: (r["verdict"], r["scan_id"]) for r in table(tmp_path / "regraded", "domains")
    }
    assert {d: v for d, (v, _) in new.items()} == old
    assert {sid for _, sid in new.values()} == {new_id}
    (scan_row,) = table(tmp_path / "regraded", "scans")
    assert scan_row["parent_scan_id"] == read_state(out)["scan_id"]
    assert len(table(tmp_path / "regraded", "invalid_inputs")) == 1


def _rows_without_times(out: Path, name: str) -> list[tuple[object, ...]]:
    drop = {"scan_id", "observed_at", "scanned_at", "judged_at"}
    return sorted(
        tuple(v for k, v in sorted(r.items()) if k not in drop)  # type: ignore[misc]
        for r in table(out, name)
    )


def test_a_big_scan_judges_and_compacts_in_a_worker_process_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from scanner.runs import scan as scan_module

    world = World(40)
    inp = write_list(tmp_path / "in.txt", world.names())
    Scan(config(inp, tmp_path / "here", options()), world.seams()).run()
    # Every scan is "big" now: one of the two slots runs judge and compact tasks in a
    # spawned worker process (the judge has no network: the fakes are not needed there).
    monkeypatch.setattr(scan_module, "CPU_WORKERS_FROM", 1)
    out = tmp_path / "workers"
    Scan(config(inp, out, options()), World(40).seams()).run()

    judge = read_state(out)["stats"]["judge"]  # type: ignore[index]
    pids = set(judge["peak_rss_mib_per_process"])
    assert str(os.getpid()) in pids and len(pids) == 2, pids  # here, and one worker
    for name in ("domains", "domain_mx", "findings", "sender_outcomes", "hosts"):
        assert _rows_without_times(out, name) == _rows_without_times(tmp_path / "here", name)


def _workers_die(monkeypatch: pytest.MonkeyPatch, pools: int) -> list[int]:
    """Every scan is "big" (judged partly in a worker process), and the worker of each of
    the first ``pools`` pools the engine starts is SIGKILLed before its first task.
    Returns the pids killed (filled as it happens)."""
    import os
    import signal

    from scanner.runs import engine as engine_module
    from scanner.runs import scan as scan_module

    monkeypatch.setattr(scan_module, "CPU_WORKERS_FROM", 1)
    start_pool = engine_module._start_pool
    killed: list[int] = []
    started = 0

    def start_then_kill_its_worker(count: int) -> object:
        nonlocal started
        pool = start_pool(count)
        started += 1
        if started <= pools:
            pool.submit(os.getpid).result()
            for process in list(pool._processes.values()):  # type: ignore[attr-defined]
                os.kill(process.pid, signal.SIGKILL)
                killed.append(process.pid)
        return pool

    monkeypatch.setattr(engine_module, "_start_pool", start_then_kill_its_worker)
    return killed


def _twenty_domains(tmp_path: Path) -> tuple[World, Path, Path]:
    world = World(20)
    return world, write_list(tmp_path / "in.txt", world.names()), tmp_path / "scan"


def _scanned_completely(out: Path, world: World) -> bool:
    return (
        read_state(out)["status"] == "complete"
        and sorted(str(r["domain"]) for r in table(out, "domains")) == world.names()
    )


def test_a_worker_process_that_died_is_replaced_and_its_task_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed = _workers_die(monkeypatch, pools=1)
    world, inp, out = _twenty_domains(tmp_path)
    Scan(config(inp, out, options()), world.seams()).run()
    assert killed
    assert _scanned_completely(out, world)


def test_a_task_whose_worker_always_dies_stops_the_scan_resumably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner.runs.engine import WorkerLost

    # The first pool and the two that replace it: three deaths of the task's worker.
    killed = _workers_die(monkeypatch, pools=3)
    world, inp, out = _twenty_domains(tmp_path)
    with pytest.raises(WorkerLost, match=r"died 3 times running .*--resume"):
        Scan(config(inp, out, options()), world.seams()).run()
    assert len(killed) == 3
    assert read_state(out)["status"] == "interrupted"
    Scan(config(inp, out, options(), resume=True), world.seams()).run()  # a fourth pool lives
    assert _scanned_completely(out, world)


def test_an_interrupt_while_a_worker_judges_leaves_the_scan_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner.runs import scan as scan_module

    monkeypatch.setattr(scan_module, "CPU_WORKERS_FROM", 1)
    on_done = Scan._on_done

    def interrupted_at_the_first_verdicts(self: Scan, result: object) -> None:
        on_done(self, result)  # type: ignore[arg-type]
        if getattr(result, "stage", "") == "judge":
            raise KeyboardInterrupt  # Ctrl-C while the worker judges another partition

    world = World(30)
    inp = write_list(tmp_path / "in.txt", world.names())
    out = tmp_path / "scan"
    monkeypatch.setattr(Scan, "_on_done", interrupted_at_the_first_verdicts)
    _interrupted(Scan(config(inp, out, options()), world.seams()))
    assert read_state(out)["status"] == "interrupted"
    monkeypatch.setattr(Scan, "_on_done", on_done)
    Scan(config(inp, out, options(), resume=True), world.seams()).run()
    assert _scanned_completely(out, world)
