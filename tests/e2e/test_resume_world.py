"""Interrupted scans: SIGKILL then --resume, a resolver dying mid-scan, once-per-scan lookups.

The scan commits per partition and stage (``scanner.runs.stages``): progress is read
from the commit markers, and the final tables appear when the scan completes.
"""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from scanner.world.info import WorldInfo
from tests.e2e.helpers import danescan, world_args
from tests.e2e.private_resolver import private_resolver

pytestmark = [pytest.mark.world, pytest.mark.slow]

# The judgement of a domain, and the observation tables at their grain.
DOMAIN_COLS = "domain, rank, verdict, mail_outcome, error_code, fix, findings, mx_hosts"
TABLE_KEYS = {
    "domains": DOMAIN_COLS,
    "domain_mx": "domain, preference, host, outcome, dane_applies, tlsa_base",
    "findings": "domain, host, code, detail",
    "hosts": "host, a_status, aaaa_status, addresses, tlsa_base, tlsa_status, tlsa_records",
    "addresses": "host, address, probe_status, leaf_sha256",
    "tlsa_records": "host, usage, selector, mtype, data_hex, usable",
    "invalid_inputs": "line_no, raw, reason",
}


def _table(scan: Path, table: str, cols: str) -> collections.Counter[str]:
    """The rows of a table as a multiset (so a doubled row is visible)."""
    files = list((scan / table).glob("**/*.parquet"))
    if not files:
        return collections.Counter()
    con = duckdb.connect()
    rel = con.read_parquet([str(f) for f in files], union_by_name=True)
    con.register("t", rel)
    rows = con.sql(f"SELECT {cols} FROM t").arrow().read_all().to_pylist()
    return collections.Counter(repr(sorted(r.items())) for r in rows)


def _committed_domains(scan: Path) -> int:
    """Domains whose domain-stage partition is committed."""
    total = 0
    for marker in (scan / "_work" / "done").glob("domain-*.json"):
        try:
            total += int(json.loads(marker.read_text())["counts"].get("domains", 0))
        except (OSError, ValueError):  # a marker being replaced right now
            continue
    return total


def _committed_facts(scan: Path) -> list[dict[str, object]]:
    """The domain-stage facts of committed partitions (what a resume will keep)."""
    found: list[dict[str, object]] = []
    for marker in (scan / "_work" / "done").glob("domain-*.json"):
        part = marker.stem.split("-")[1]
        rel = duckdb.connect().read_parquet(str(scan / "_work" / "domain" / f"p={part}.parquet"))
        found += rel.arrow().read_all().to_pylist()
    return found


def _start_scan(input_path: Path, out: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", str(input_path), "--out", str(out), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_then_resume_gives_exactly_the_rows_of_an_uninterrupted_scan(
    world: WorldInfo, big_list: Path, tmp_path: Path
) -> None:
    args = [*world_args(world), "--no-progress", "--partitions", "8"]
    whole = tmp_path / "whole"
    danescan("scan", str(big_list), "--out", str(whole), *args)

    killed = tmp_path / "killed"
    total = len(big_list.read_text().split())
    with _start_scan(big_list, killed, *args) as proc:
        try:
            _wait_for(lambda: _committed_domains(killed) >= total // 4, 300, "a quarter")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
    done_before = _committed_domains(killed)
    assert 0 < done_before < total, "the kill must land mid-scan"

    danescan("scan", str(big_list), "--out", str(killed), "--resume", *args)
    for table, cols in TABLE_KEYS.items():
        assert _table(killed, table, cols) == _table(whole, table, cols), table
    assert not (killed / "_work").exists()


def test_ctrl_c_stops_cleanly_and_leaves_a_resumable_dataset(
    world: WorldInfo, big_list: Path, tmp_path: Path
) -> None:
    subset = tmp_path / "subset.txt"
    subset.write_text("\n".join(big_list.read_text().split()[:6000]) + "\n")
    args = [*world_args(world), "--no-progress", "--partitions", "6"]
    whole = tmp_path / "whole"
    danescan("scan", str(subset), "--out", str(whole), *args)

    stopped = tmp_path / "stopped"
    with _start_scan(subset, stopped, *args) as proc:
        _wait_for(lambda: _committed_domains(stopped) >= 1000, 300, "1000 domains")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume with --resume" in err and "Traceback" not in err
    assert json.loads((stopped / "scan.json").read_text())["status"] == "interrupted"
    done = _committed_domains(stopped)
    assert 1000 <= done < 6000, "the interrupt must land mid-scan"
    # What Ctrl-C left reads as a dataset: the scan row says it is interrupted, and no
    # judged table holds partial data yet (they appear when the scan completes).
    con = duckdb.connect()
    scans = con.sql(f"SELECT status FROM read_parquet('{stopped}/scans/**/*.parquet')").fetchall()
    assert scans == [("interrupted",)]
    assert not list((stopped / "domains").glob("**/*.parquet"))

    danescan("scan", str(subset), "--out", str(stopped), "--resume", *args)
    for table, cols in TABLE_KEYS.items():
        assert _table(stopped, table, cols) == _table(whole, table, cols), table


def test_a_resolver_dying_mid_scan_stops_resumably_without_dns_errors(
    world: WorldInfo, big_list: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scan"
    with private_resolver(world, "127.53.0.54", tmp_path / "unbound") as resolver:
        args = ["--resolver", "127.53.0.54", "--canary-secure", world.canary_secure]
        args += ["--canary-bogus", world.canary_bogus, "--no-progress"]
        args += ["--partitions", "8"]
        with _start_scan(big_list, out, *args) as proc:
            try:
                _wait_for(lambda: _committed_domains(out) >= 1000, 300, "the first partitions")
            finally:
                resolver.stop()
            _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 3, stderr
        assert "--resume" in stderr
        stopped_at = _committed_domains(out)
        assert stopped_at < len(big_list.read_text().split())
        # No burst of dns_error: a partition whose questions went unanswered because the
        # resolver died was not committed (its task failed the resolver check).
        committed = _committed_facts(out)
        assert committed
        silent = [r for r in committed if '"rcode":"TIMEOUT"' in str(r["facts"])]
        assert not silent, silent[:2]

        resolver.start()
        resumed = danescan("scan", str(big_list), "--out", str(out), "--resume", *args)
        assert resumed.returncode == 0
    domains = _table(out, "domains", "domain")
    assert max(domains.values()) == 1
    expected = set(big_list.read_text().split())
    assert sum(domains.values()) == len(expected)


def test_each_shared_host_is_looked_up_once_per_scan(
    world: WorldInfo, catalog_list: Path, tmp_path: Path
) -> None:
    with private_resolver(world, "127.53.0.55", tmp_path / "unbound") as resolver:
        out = tmp_path / "scan"
        args = ["--resolver", "127.53.0.55", "--canary-secure", world.canary_secure]
        args += ["--canary-bogus", world.canary_bogus, "--no-progress"]
        danescan("scan", str(catalog_list), "--out", str(out), *args)
        queries = collections.Counter(resolver.queries())
    con = duckdb.connect()
    # Hosts whose TLSA answer was definite: a bogus or failing answer is retried by design
    # (SERVFAIL, then CD), which is not a second lookup of the host.
    shared = con.sql(
        f"""SELECT m.host, count(DISTINCT m.domain) AS n
            FROM read_parquet('{out}/domain_mx/**/*.parquet') m
            JOIN read_parquet('{out}/hosts/**/*.parquet') h USING (host)
            WHERE h.tlsa_status IN ('secure', 'insecure')
              AND h.a_status IN ('secure', 'insecure')
            GROUP BY m.host HAVING n > 1"""
    ).fetchall()
    assert shared, "the world must have MX hosts shared by several domains"
    # A host that is the CNAME target of another MX host has its TLSA name asked by that
    # host's walk too (RFC 7672 §2.2.2: the expanded name first), which may run in
    # another host task: once per asking host, never more.
    chains = con.sql(f"SELECT host, cname_chain FROM read_parquet('{out}/hosts/**/*.parquet')")
    askers: collections.Counter[str] = collections.Counter()
    for name, chain in chains.fetchall():
        for target in {name, *(c.rstrip(".").lower() for c in chain or [])}:
            askers[target] += 1
    tlsa = {name: n for (name, rtype), n in queries.items() if rtype == "TLSA"}
    for host, _ in shared:
        asked = [n for name, n in tlsa.items() if name.endswith(f"._tcp.{host}")]
        assert asked and all(1 <= n <= askers[host] for n in asked), (host, asked, askers[host])
        assert queries[(host, "A")] == 1 and queries[(host, "AAAA")] == 1, host


def test_chaos_sigkill_at_random_points_then_resume_equals_an_uninterrupted_scan(
    world: WorldInfo, big_list: Path, tmp_path: Path
) -> None:
    """SIGKILL the whole scan (its process group) at random moments, resume each time;
    the result equals an uninterrupted scan's in every table. CI kills 3 times; a long
    soak run: ``DANESCAN_CHAOS_KILLS=50 scripts/test -k chaos``."""
    import os
    import random

    kills = int(os.environ.get("DANESCAN_CHAOS_KILLS", "3"))
    seed = int(os.environ.get("DANESCAN_CHAOS_SEED", str(time.time_ns())))
    rng = random.Random(seed)
    args = [*world_args(world), "--no-progress", "--no-probe", "--partitions", "8"]
    whole = tmp_path / "whole"
    started = time.monotonic()
    danescan("scan", str(big_list), "--out", str(whole), *args)
    duration = time.monotonic() - started

    chaos = tmp_path / "chaos"
    for n in range(kills):
        extra = ["--resume"] if (chaos / "scan.json").exists() else []
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scanner",
                "scan",
                str(big_list),
                "--out",
                str(chaos),
                *args,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.2, duration))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        assert "Traceback" not in err, (seed, n, err)
    if (
        not (chaos / "scan.json").exists()
        or json.loads((chaos / "scan.json").read_text())["status"] != "complete"
    ):
        extra = ["--resume"] if (chaos / "scan.json").exists() else []
        danescan("scan", str(big_list), "--out", str(chaos), *args, *extra)
    for table, cols in TABLE_KEYS.items():
        if table in ("addresses",):
            continue
        assert _table(chaos, table, cols) == _table(whole, table, cols), (seed, table)
    assert not (chaos / "_work").exists()
