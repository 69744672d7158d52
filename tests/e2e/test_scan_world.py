"""The scanner against the local world: verdicts equal the catalog's, rows are well-formed.

The expectations come from ``data/scenarios.toml``, written from DESIGN §4 / RFC 7672
and cross-checked against Unbound and posttls-finger in ``tests/world``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from scanner.world.catalog import load_catalog
from scanner.world.info import WorldInfo
from tests.e2e.helpers import danescan, world_args

pytestmark = pytest.mark.world


def _rows(scan: Path, table: str, sql: str = "SELECT * FROM t") -> list[dict[str, object]]:
    if not any((scan / table).glob("**/*.parquet")):
        return []
    con = duckdb.connect()
    con.register("t", con.read_parquet(str(scan / table / "**" / "*.parquet"), union_by_name=True))
    # through Arrow: DuckDB's fetchall() needs pytz for time-zoned timestamps
    rows: list[dict[str, object]] = con.sql(sql).arrow().read_all().to_pylist()
    return rows


def test_every_scenario_gets_the_catalog_verdict_and_mail_outcome(
    world: WorldInfo, world_scan: Path
) -> None:
    catalog = load_catalog(world.catalog)
    got = {r["domain"]: r for r in _rows(world_scan, "domains")}
    wrong = []
    for sc in catalog.scenarios:
        row = got.get(sc.domain)
        if row is None:
            wrong.append(f"{sc.domain}: missing from the scan")
            continue
        if (row["verdict"], row["mail_outcome"]) != (sc.verdict.value, sc.mail_outcome.value):
            wrong.append(
                f"{sc.domain}: got {row['verdict']}/{row['mail_outcome']}, catalog says "
                f"{sc.verdict.value}/{sc.mail_outcome.value} ({sc.description})"
            )
    assert not wrong, "\n".join(wrong)


def test_host_outcomes_and_findings_of_the_catalog(world: WorldInfo, world_scan: Path) -> None:
    catalog = load_catalog(world.catalog)
    outcomes = {(r["domain"], r["host"]): r["outcome"] for r in _rows(world_scan, "domain_mx")}
    findings = {r["domain"]: set(r["findings"]) for r in _rows(world_scan, "domains")}
    wrong = []
    for sc in catalog.scenarios:
        for host, expected in sc.host_outcomes.items():
            if outcomes.get((sc.domain, host)) != expected.value:
                wrong.append(f"{sc.domain} {host}: {outcomes.get((sc.domain, host))} != {expected}")
        missing = set(sc.findings) - findings.get(sc.domain, set())
        if missing:
            wrong.append(f"{sc.domain}: findings {sorted(missing)} not reported")
    assert not wrong, "\n".join(wrong)


def test_shared_hosts_are_stored_once_and_every_table_has_the_scan_id(world_scan: Path) -> None:
    scan_ids = set()
    for table in ("domains", "domain_mx", "hosts", "addresses", "tlsa_records", "scans"):
        rows = _rows(world_scan, table, "SELECT DISTINCT scan_id FROM t")
        scan_ids |= {r["scan_id"] for r in rows}
    assert len(scan_ids) == 1
    dup_hosts = _rows(world_scan, "hosts", "SELECT host FROM t GROUP BY host HAVING count(*) > 1")
    assert dup_hosts == []
    dup_addr = _rows(
        world_scan, "addresses", "SELECT host, address FROM t GROUP BY ALL HAVING count(*) > 1"
    )
    assert dup_addr == []
    (meta,) = _rows(world_scan, "scans")
    assert meta["status"] == "complete"
    assert meta["finished_at"] is not None
    assert meta["domains_scanned"] == len(_rows(world_scan, "domains"))


def test_hostile_servers_end_as_recorded_outcomes_within_their_deadlines(
    world_scan: Path,
) -> None:
    rows = _rows(world_scan, "addresses")
    assert rows, "no probes recorded"
    for r in rows:
        # 90 s is the whole-probe deadline (NOTES: hostile peers); allow scheduling slack.
        assert r["elapsed_ms"] <= 95_000, r
        assert r["probe_status"]
    statuses = {r["probe_status"] for r in rows}
    # the world has a tarpit, a host without STARTTLS, one refusing it and a TLS breaker
    assert {"ok", "starttls_missing", "starttls_rejected", "tls_failed"} <= statuses
    assert statuses & {"banner_timeout", "connect_refused"}


def test_no_probe_scan_says_unverified_where_dane_applies(
    world: WorldInfo, catalog_list: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(world.catalog)
    out = tmp_path / "dns-only"
    danescan("scan", str(catalog_list), "--out", str(out), "--no-probe", *world_args(world))
    got = {r["domain"]: r["verdict"] for r in _rows(out, "domains")}
    assert _rows(out, "addresses") == []
    # DNS only: no HTTPS either, so no MTA-STS mode, and no fetch failure is claimed
    # where the TXT record is valid (the records themselves are still read).
    rows = {r["domain"]: r for r in _rows(out, "domains")}
    assert {r["mta_sts_mode"] for r in rows.values()} == {""}
    published = [sc.domain for sc in catalog.scenarios if sc.mta_sts and sc.mta_sts.published]
    assert published
    for domain in published:
        assert rows[domain]["mta_sts_id"] and not rows[domain]["mta_sts_error"], domain
        assert "mta_sts_policy_error" not in rows[domain]["findings"], domain
    checked = 0
    for sc in catalog.scenarios:
        if sc.expected_no_probe is not None:
            assert got[sc.domain] == sc.expected_no_probe.value, sc.domain
            checked += 1
    assert checked >= 3


def test_mta_sts_and_tlsrpt_of_the_catalog(world: WorldInfo, world_scan: Path) -> None:
    """Policies fetched over HTTPS from the world's policy server (RFC 8461 §3.3), PKIX
    against the world CA; every way of serving one wrong ends as a policy error."""
    catalog = load_catalog(world.catalog)
    got = {r["domain"]: r for r in _rows(world_scan, "domains")}
    wrong, served_wrong = [], 0
    for sc in catalog.scenarios:
        row = got[sc.domain]
        if (row["mta_sts_mode"], row["tlsrpt_rua"]) != (sc.mta_sts_mode, sc.tlsrpt_rua):
            wrong.append(
                f"{sc.domain}: got mode {row['mta_sts_mode']!r} rua {row['tlsrpt_rua']!r} "
                f"({row['mta_sts_error']}), catalog says {sc.mta_sts_mode!r} {sc.tlsrpt_rua!r}"
            )
        sts = sc.mta_sts
        if sts is not None and sts.published and sts.serve != "ok":
            served_wrong += 1
            if not row["mta_sts_error"] or "mta_sts_policy_error" not in row["findings"]:
                wrong.append(f"{sc.domain}: served {sts.serve!r} but no policy error recorded")
        if sts is not None and sts.published:
            assert row["mta_sts_id"], sc.domain
    assert not wrong, "\n".join(wrong)
    assert served_wrong >= 5
    assert {sc.mta_sts_mode for sc in catalog.scenarios} >= {"enforce", "testing", "none"}


def test_scan_metadata_names_the_trust_anchor(world: WorldInfo, world_scan: Path) -> None:
    """scans.trust_anchor: the key tag of the root KSK the resolver validated, which must
    be the key of the world's trust anchor (the DS written into Unbound's root.key)."""
    (row,) = _rows(world_scan, "scans")
    ds_key_tag = world.trust_anchor.split("DS", 1)[1].split()[0]
    assert row["trust_anchor"] == f"root KSK {ds_key_tag}"
    assert row["status"] == "complete"


def test_a_non_validating_resolver_is_refused(
    world: WorldInfo, catalog_list: Path, tmp_path: Path
) -> None:
    # The authoritative server answers everything, but never sets AD: not a validating resolver.
    out = tmp_path / "refused"
    args = ["--resolver", world.auth, "--canary-secure", world.canary_secure]
    proc = danescan(
        "scan",
        str(catalog_list),
        "--out",
        str(out),
        *args,
        "--canary-bogus",
        world.canary_bogus,
        check=False,
    )
    assert proc.returncode == 2
    assert "does not validate" in proc.stderr or "AD" in proc.stderr, proc.stderr
    assert not (out / "domains").exists()


def test_check_command_exit_status_and_json(world: WorldInfo) -> None:
    catalog = load_catalog(world.catalog)
    good = next(s for s in catalog.scenarios if s.mail_outcome.value == "deliver_authenticated")
    bad = next(s for s in catalog.scenarios if s.mail_outcome.value == "defer_or_bounce")
    ok = danescan("check", good.domain, "--json", *world_args(world))
    (result,) = [json.loads(line) for line in ok.stdout.splitlines()]
    assert result["verdict"] == good.verdict.value
    assert result["mail_outcome"] == "deliver_authenticated"
    failing = danescan("check", good.domain, bad.domain, *world_args(world), check=False)
    assert failing.returncode == 1
    assert bad.domain in failing.stdout and "fix:" in failing.stdout
    usage = danescan("check", "not a domain", *world_args(world), check=False)
    assert usage.returncode == 2


def test_regrade_reproduces_the_scan(world_scan: Path, tmp_path: Path) -> None:
    out = tmp_path / "regraded"
    danescan("regrade", str(world_scan), "--out", str(out))
    cols = "SELECT domain, verdict, mail_outcome, error_code, findings FROM t ORDER BY domain"
    assert _rows(out, "domains", cols) == _rows(world_scan, "domains", cols)
    assert len(_rows(out, "hosts")) == len(_rows(world_scan, "hosts"))
    # A new scan: its own id, its parent named, and `diff` can compare the two.
    (old,) = _rows(world_scan, "scans")
    (new,) = _rows(out, "scans")
    assert new["scan_id"] != old["scan_id"] and new["parent_scan_id"] == old["scan_id"]
    got = danescan("diff", str(world_scan), str(out), "-f", "json")
    changes = [json.loads(line) for line in got.stdout.splitlines() if line.strip()]
    assert changes == []  # same facts, same rules: no domain changed


def test_archive_layout_versions_and_observation_times(world_scan: Path) -> None:
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    (meta,) = _rows(world_scan, "scans")
    scan_id = meta["scan_id"]
    files = sorted((world_scan / "domains").glob("scan_date=*/scan_id=*/part-*.parquet"))
    assert files and all(f.parent.name == f"scan_id={scan_id}" for f in files)
    kv = pq.read_schema(files[0]).metadata
    assert kv[b"danescan.scan_id"].decode() == scan_id
    assert int(kv[b"danescan.schema_version"]) >= 3
    assert kv[b"danescan.rules_version"] and kv[b"danescan.software_version"]
    # pyarrow.dataset and DuckDB read the hive partitions, and prune on them.
    dataset = pads.dataset(world_scan / "domains", partitioning="hive")
    assert "scan_date" in dataset.schema.names
    none = dataset.to_table(filter=pads.field("scan_id") == "no-such-scan")
    assert none.num_rows == 0
    con = duckdb.connect()
    ((count,),) = con.sql(
        f"SELECT count(*) FROM read_parquet('{world_scan}/domains/**/*.parquet', "
        f"hive_partitioning = true) WHERE scan_id = '{scan_id}'"
    ).fetchall()
    assert count == meta["domains_scanned"]
    for table in ("hosts", "addresses", "tlsa_records", "domain_mx", "findings"):
        rows = _rows(world_scan, table, "SELECT count(*) AS n, count(observed_at) AS t FROM t")
        assert rows[0]["n"] == rows[0]["t"], table
    assert json.loads((world_scan / "_manifest.json").read_text())["scan_id"] == scan_id
    assert not (world_scan / "_work").exists()


def test_the_scan_diagnoses_every_bogus_scenario(world: WorldInfo, world_scan: Path) -> None:
    """The scan's diagnose stage names, for every bogus scenario of the catalog, the
    broken link the catalog expects (issue 11), once per question."""
    catalog = load_catalog(world.catalog)
    rows = _rows(world_scan, "dnssec_diagnoses")
    got = {(r["name"], r["rrtype"]): r for r in rows}
    assert len(got) == len(rows)  # once per (name, type) per scan
    wrong = []
    for sc in catalog.scenarios:
        expected = sc.diagnosis
        if expected is None or sc.verdict.value == "dns_error":
            continue  # a lame delegation is indeterminate, not bogus: nothing to diagnose
        row = got.get((expected.name, expected.rrtype))
        if row is None:
            wrong.append(f"{sc.domain}: {expected.name} {expected.rrtype} not diagnosed")
        elif (row["code"], row["zone"], row["record_type"]) != (
            expected.code,
            expected.zone,
            expected.record_type,
        ):
            wrong.append(f"{sc.domain}: {row['code']} {row['zone']} {row['record_type']}")
    assert not wrong, "\n".join(wrong)


def test_a_worker_process_diagnoses_and_judges_as_this_process_does(
    world: WorldInfo,
    world_scan: Path,
    catalog_list: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A big scan's diagnose, judge and compaction tasks go partly to a worker process
    (``CPU_WORKERS_FROM``, lowered here): it walks the same chains from the same resolver
    (the worker is in the world's network namespace too) and writes the same rows."""
    import os

    from click.testing import CliRunner

    from scanner.cli import main
    from scanner.runs import scan as scan_module

    monkeypatch.setattr(scan_module, "CPU_WORKERS_FROM", 1)
    out = tmp_path / "with-worker"
    args = ["scan", str(catalog_list), "--out", str(out), "--no-progress", "--no-probe"]
    res = CliRunner().invoke(main, [*args, *world_args(world)])
    assert res.exit_code == 0, res.output
    stats = json.loads((out / "scan.json").read_text())["stats"]
    for stage in ("diagnose", "judge"):
        pids = set(stats[stage]["peak_rss_mib_per_process"])
        assert str(os.getpid()) in pids and len(pids) == 2, (stage, pids)
    cols = "SELECT name, rrtype, code, zone, record_type FROM t ORDER BY name, rrtype"
    assert _rows(out, "dnssec_diagnoses", cols) == _rows(world_scan, "dnssec_diagnoses", cols)
    verdicts = "SELECT domain, verdict FROM t WHERE verdict <> 'unverified' ORDER BY domain"
    probed = {r["domain"]: r["verdict"] for r in _rows(world_scan, "domains", verdicts)}
    for row in _rows(out, "domains", verdicts):
        if row["verdict"] in ("dnssec_bogus", "nxdomain", "no_mail", "insecure"):
            assert probed.get(row["domain"]) == row["verdict"], row
