"""The scan beyond one process (issue 14), against the local world.

Same answers whatever runs the stages — in-process, ``--workers 2`` (a Dask
``LocalCluster`` of worker processes), an existing cluster through ``--scheduler``, or
``--shard K/N`` slices run as separate processes — and on object storage (a real S3
server, moto's, on loopback in the world's namespace). Faults at task granularity: a
worker SIGKILLed mid-task has its task rerun; a second scan on the same output is
refused. Once per scan across workers: the resolver's query log and the SMTP servers'
connection counts.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from scanner.world.info import WorldInfo
from tests.e2e.helpers import danescan, world_args
from tests.e2e.private_resolver import private_resolver

pytestmark = [pytest.mark.world, pytest.mark.slow]


def _judged(location: str, extra: tuple[str, ...] = ()) -> dict[str, tuple[object, ...]]:
    """domain → (verdict, mail_outcome, findings), read through ``danescan sql`` (which
    reads local directories and object storage alike)."""
    got = danescan(
        "sql",
        "--query",
        "SELECT domain, verdict, mail_outcome, list_sort(findings) AS findings FROM domains",
        "-f",
        "json",
        location,
        *extra,
    )
    rows = [json.loads(line) for line in got.stdout.splitlines() if line.strip()]
    return {r["domain"]: (r["verdict"], r["mail_outcome"], tuple(r["findings"])) for r in rows}


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scanner", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: a kill reaches its workers too
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 600) -> str:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return err


def _bench_expected(world: WorldInfo, listed: Path) -> dict[str, str]:
    """The bench world's expected verdict of each domain of the list ``listed``."""
    assert world.bench_domains is not None
    names = set(listed.read_text().split())
    with (Path(world.bench_domains).parent / "bench-expected.csv").open() as fh:
        return {
            row["domain"]: row["verdict"] for row in csv.DictReader(fh) if row["domain"] in names
        }


def test_engines_and_shards_agree_on_every_scenario(
    world: WorldInfo, catalog_list: Path, world_scan: Path, tmp_path: Path
) -> None:
    from distributed import LocalCluster

    reference = _judged(str(world_scan))
    base = ["scan", str(catalog_list), "--no-progress", *world_args(world)]
    with LocalCluster(n_workers=2, processes=True, dashboard_address=None) as cluster:
        runs = {
            "workers": _start(*base, "--out", str(tmp_path / "workers"), "--workers", "2"),
            "scheduler": _start(
                *base,
                "--out",
                str(tmp_path / "scheduler"),
                "--scheduler",
                cluster.scheduler_address,
            ),
            "shard0": _start(*base, "--out", str(tmp_path / "shards"), "--shard", "0/2"),
            "shard1": _start(*base, "--out", str(tmp_path / "shards"), "--shard", "1/2"),
        }
        for proc in runs.values():
            _finish(proc)
    for name in ("workers", "scheduler", "shards"):
        got = _judged(str(tmp_path / name))
        differ = {d: (got.get(d), v) for d, v in reference.items() if got.get(d) != v}
        assert not differ, (name, differ)
        assert json.loads((tmp_path / name / "scan.json").read_text())["status"] == "complete"
    scans = duckdb.sql(
        f"SELECT engine FROM read_parquet('{tmp_path}/workers/scans/**/*.parquet')"
    ).fetchall()
    assert scans == [("local cluster of 2 worker processes",)]


def test_twenty_thousand_bench_verdicts_with_two_workers_and_with_shards(
    world: WorldInfo, big_list: Path, tmp_path: Path
) -> None:
    expected = _bench_expected(world, big_list)
    args = ["scan", str(big_list), "--no-progress", *world_args(world), "--partitions", "8"]
    _finish(_start(*args, "--out", str(tmp_path / "workers"), "--workers", "2"))
    shards = [
        _start(*args, "--out", str(tmp_path / "shards"), "--shard", f"{k}/3") for k in range(3)
    ]
    for proc in shards:
        _finish(proc)
    for name in ("workers", "shards"):
        got = {d: v[0] for d, v in _judged(str(tmp_path / name)).items()}
        assert len(got) == len(expected)
        wrong = {d: (got.get(d), v) for d, v in expected.items() if got.get(d) != v}
        assert not wrong, (name, list(wrong.items())[:5])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _is_worker(pid: int) -> bool:
    try:
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in cmdline or b"forkserver" in cmdline


def test_a_worker_killed_mid_task_has_its_task_rerun(
    world: WorldInfo, big_list: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scan"
    proc = _start(
        "scan",
        str(big_list),
        "--out",
        str(out),
        "--no-progress",
        *world_args(world),
        "--workers",
        "2",
        "--partitions",
        "12",
    )
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline:
        done = list((out / "_work" / "done").glob("domain-*.json"))
        workers = [p for p in _descendants(proc.pid) if _is_worker(p)]
        if len(done) >= 2 and workers:
            killed = workers[-1]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    assert killed is not None, "no worker process to kill mid-scan"
    _finish(proc)
    expected = _bench_expected(world, big_list)
    got = {d: v[0] for d, v in _judged(str(out)).items()}
    assert got == expected


def test_a_second_scan_on_the_same_output_is_refused_and_the_first_loses_nothing(
    world: WorldInfo, big_list: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scan"
    args = ["scan", str(big_list), "--out", str(out), "--no-progress", *world_args(world)]
    first = _start(*args, "--no-probe", "--partitions", "6")
    deadline = time.monotonic() + 120
    while not (out / "scan.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = danescan(*args, "--no-probe", "--partitions", "6", "--resume", check=False)
    assert second.returncode == 2, second.stderr
    assert "in use by pid" in second.stderr and second.stderr.count("\n") == 1
    _finish(first)
    domains = _judged(str(out))
    assert len(domains) == len(set(big_list.read_text().split()))


def test_resume_refuses_another_input_or_other_settings(
    world: WorldInfo, catalog_list: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scan"
    args = ["--no-progress", *world_args(world), "--no-probe", "--partitions", "4"]
    proc = _start("scan", str(catalog_list), "--out", str(out), *args)
    deadline = time.monotonic() + 120
    while not list((out / "_work" / "done").glob("domain-*.json")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    other = tmp_path / "other.txt"
    other.write_text(catalog_list.read_text() + "one-more.example\n")
    for extra, needle in (
        (["--resume"], "the input is not the one"),
        (["--resume", "--ehlo-name", "other.example"], "ehlo_name"),
    ):
        source = other if "the input" in needle else catalog_list
        got = danescan("scan", str(source), "--out", str(out), *args, *extra, check=False)
        assert got.returncode == 2, got.stderr
        assert needle in got.stderr, got.stderr
    danescan("scan", str(catalog_list), "--out", str(out), *args, "--resume")
    assert len(_judged(str(out))) == len(catalog_list.read_text().split())


def test_once_per_scan_across_workers_in_the_query_log_and_at_the_smtp_servers(
    world: WorldInfo, catalog_list: Path, world_scan: Path, tmp_path: Path
) -> None:
    counts_file = Path(world.dir) / "smtpd-connections.json"

    def connections() -> collections.Counter[str]:
        time.sleep(1.2)  # the server writes its counts every half second
        return collections.Counter(json.loads(counts_file.read_text()))

    with private_resolver(world, "127.53.0.56", tmp_path / "unbound") as resolver:
        args = ["--resolver", "127.53.0.56", "--canary-secure", world.canary_secure]
        args += ["--canary-bogus", world.canary_bogus, "--no-progress"]
        before = connections()
        danescan("scan", str(catalog_list), "--out", str(tmp_path / "one"), *args)
        single = connections() - before
        before = connections()
        danescan("scan", str(catalog_list), "--out", str(tmp_path / "two"), *args, "--workers", "2")
        workers = connections() - before
        queries = collections.Counter(resolver.queries())
    # The same connections per address with two workers as with one process.
    assert workers == single
    con = duckdb.connect()
    shared = con.sql(
        f"""SELECT m.host, count(DISTINCT m.domain) AS n
            FROM read_parquet('{tmp_path}/two/domain_mx/**/*.parquet') m
            JOIN read_parquet('{tmp_path}/two/hosts/**/*.parquet') h USING (host)
            WHERE h.tlsa_status IN ('secure', 'insecure') AND h.a_status IN ('secure', 'insecure')
            GROUP BY m.host HAVING n > 1"""
    ).fetchall()
    assert shared
    for host, _ in shared:
        # Two scans ran against this resolver: each asked once.
        assert queries[(host, "A")] == 2 and queries[(host, "AAAA")] == 2, host


def test_the_scans_query_count_is_what_the_resolver_was_asked(
    world: WorldInfo, catalog_list: Path, tmp_path: Path
) -> None:
    """``scans.queries`` counts every DNS query of the scan's stages, the diagnose
    stage's chain walks too: the resolver's own query log says how many it was asked."""
    out = tmp_path / "scan"
    with private_resolver(world, "127.53.0.58", tmp_path / "unbound") as resolver:
        before = len(resolver.queries())  # the resolver's own start-up, if any
        args = ["--resolver", "127.53.0.58", "--canary-secure", world.canary_secure]
        args += ["--canary-bogus", world.canary_bogus, "--no-progress", "--no-probe"]
        danescan("scan", str(catalog_list), "--out", str(out), *args)
        asked = len(resolver.queries()) - before
    ((sent, walks),) = duckdb.sql(
        f"""SELECT s.queries, (SELECT sum(queries) FROM
                read_parquet('{out}/dnssec_diagnoses/**/*.parquet'))
            FROM read_parquet('{out}/scans/**/*.parquet') s"""
    ).fetchall()
    assert walks > 0  # the world's bogus scenarios were walked
    # The driver's own questions (the two canaries, the trust anchor's DNSKEY: 3 here)
    # are not the stages': the rest of the log is.
    assert 0 <= asked - sent <= 4, (asked, sent, walks)


# -- object storage ------------------------------------------------------------------


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, str]]]:
    """A real S3 server (moto's) on loopback inside the namespace, with one bucket; the
    credentials are in the environment, as the AWS tools take them."""
    import pyarrow.fs as pafs

    address = "127.0.0.1"
    port = _free_port(address)
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", address, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "danescan-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "danescan-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env = dict(os.environ)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((address, port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        fs = pafs.S3FileSystem(
            endpoint_override=f"{address}:{port}", scheme="http", allow_bucket_creation=True
        )
        fs.create_dir("scans")
        yield f"{address}:{port}", env
    finally:
        server.terminate()
        server.wait(10)


def test_scan_report_regrade_and_diff_on_object_storage(
    world: WorldInfo,
    catalog_list: Path,
    world_scan: Path,
    s3: tuple[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    endpoint, env = s3
    query = f"?endpoint_override={endpoint}&scheme=http"
    first = f"s3://scans/archive/first{query}"
    proc = _start(
        "scan", str(catalog_list), "--out", first, "--no-progress", *world_args(world), env=env
    )
    _finish(proc)
    assert _judged(first) == _judged(str(world_scan))
    # AWS_ENDPOINT_URL instead of URL options, as the AWS tools take it.
    env_url = dict(env, AWS_ENDPOINT_URL=f"http://{endpoint}")
    regraded = "s3://scans/archive/regraded"
    got = subprocess.run(
        [sys.executable, "-m", "scanner", "regrade", "s3://scans/archive/first", "--out", regraded],
        capture_output=True,
        text=True,
        env=env_url,
        check=False,
    )
    assert got.returncode == 0, got.stderr
    report = tmp_path / "report.html"
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "scanner",
            "report",
            f"s3://scans/archive{query}",
            "--out",
            str(report),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert got.returncode == 0, got.stderr
    assert report.exists() and "dane_valid" in report.read_text()
    got = subprocess.run(
        [sys.executable, "-m", "scanner", "diff", f"s3://scans/archive{query}", "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert got.returncode == 0, got.stderr
    # Same facts, same rules: a regrade changes no verdict.
    changed = [json.loads(line) for line in got.stdout.splitlines() if line.strip()]
    assert changed == [], changed[:3]
    # A scan is refused while another run holds the prefix's lease; a crashed owner's
    # lease (a heartbeat older than the timeout) does not block it.
    from scanner.store.objstore import open_store
    from scanner.store.ownership import LEASE_TIMEOUT, own

    busy = f"s3://scans/archive/busy{query}"
    argv = [
        sys.executable,
        "-m",
        "scanner",
        "scan",
        str(catalog_list),
        "--out",
        busy,
        "--no-progress",
        "--no-probe",
        *world_args(world),
    ]
    store = open_store(busy)
    with own(store):
        refused = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert refused.returncode == 2 and "is in use by pid" in refused.stderr, refused.stderr
    stale = {
        "pid": 1,
        "host": "gone",
        "since": 0,
        "token": "x",
        "heartbeat": time.time() - LEASE_TIMEOUT - 5,
    }
    store.write_json(stale, "_lease.json")
    taken = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert taken.returncode == 0, taken.stderr
