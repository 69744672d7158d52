"""Re-judge a stored scan with the current rules, without touching the network.

Rebuilds each domain's ``DomainFacts`` from the ``facts`` columns (domain, host and
address grains), runs ``rules.judge_domain`` at the time the domain was scanned, and
writes a complete scan dataset: observation tables copied unchanged, judgement tables
(``domains``, ``domain_mx``, ``findings``) recomputed and stamped with the new rules
version. The scan id is kept: the observations are the same.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from scanner.core import factjson
from scanner.core.model import DnsLookup, DomainFacts, HostDns, MtaSts, SmtpProbe, ZoneKeys
from scanner.core.rules import RULES_VERSION, judge_domain
from scanner.errors import DanescanError
from scanner.store import rows
from scanner.store.inputs import InputLine
from scanner.store.sink import ScanSink, recover

COPIED = ("hosts", "addresses", "tlsa_records", "invalid_inputs")
BATCH = 5000


class RegradeError(DanescanError):
    """The scan directory cannot be regraded (missing, incomplete, or the output exists)."""


def _parts(scan: Path, table: str) -> list[Path]:
    return sorted((scan / table).glob("part-*.parquet"))


def _iter_rows(scan: Path, table: str, columns: list[str]) -> Iterator[dict[str, Any]]:
    for part in _parts(scan, table):
        for batch in pq.ParquetFile(part).iter_batches(columns=columns, batch_size=BATCH):
            yield from batch.to_pylist()


def rebuild_facts(
    stored: dict[str, Any],
    domain: str,
    hosts: dict[str, HostDns],
    probes: dict[str, list[SmtpProbe]],
) -> DomainFacts:
    """DomainFacts from a ``domains.facts`` JSON object and the host/address facts."""
    names: list[str] = stored.get("hosts", [])
    zone = stored.get("zone_keys")
    sts = stored.get("mta_sts")
    return DomainFacts(
        domain=domain,
        mx=factjson.from_plain(DnsLookup, stored["mx"]),
        implicit_mx=bool(stored.get("implicit_mx", False)),
        hosts={n: hosts[n] for n in names},
        probes={n: tuple(probes[n]) for n in names if n in probes},
        zone_keys=factjson.from_plain(ZoneKeys, zone) if zone else None,
        mta_sts=factjson.from_plain(MtaSts, sts) if sts else None,
        probing_enabled=bool(stored.get("probing_enabled", True)),
    )


def regrade(scan: Path, out: Path) -> int:
    """Write a regraded copy of ``scan`` into ``out``; return the number of domains."""
    if not (scan / "domains").is_dir():
        raise RegradeError(f"{scan} is not a scan directory (no domains/ table)")
    if out.exists() and any(out.iterdir()):
        raise RegradeError(f"{out} is not empty")
    recover(scan)
    hosts = {
        r["host"]: factjson.loads(HostDns, r["facts"])
        for r in _iter_rows(scan, "hosts", ["host", "facts"])
    }
    probes: dict[str, list[SmtpProbe]] = {}
    for r in _iter_rows(scan, "addresses", ["host", "facts"]):
        probes.setdefault(r["host"], []).append(factjson.loads(SmtpProbe, r["facts"]))

    scan_rows = pq.read_table(scan / "scans").to_pylist()
    scan_id = scan_rows[0]["scan_id"] if scan_rows else "unknown"
    sink = ScanSink(out, scan_id)
    for table in COPIED:
        if _parts(scan, table):
            (out / table).mkdir(parents=True, exist_ok=True)
            for part in _parts(scan, table):
                shutil.copyfile(part, out / table / part.name)
    count = 0
    columns = ["domain", "input_name", "rank", "scanned_at", "facts"]
    for r in _iter_rows(scan, "domains", columns):
        facts = rebuild_facts(json.loads(r["facts"]), r["domain"], hosts, probes)
        at = r["scanned_at"].timestamp()
        judgement = judge_domain(facts, at)
        line = InputLine(0, r["input_name"], r["domain"], r["rank"])
        sink.add("domains", rows.domain_row(line, facts, judgement, at))
        sink.add_many("domain_mx", rows.domain_mx_rows(judgement))
        sink.add_many("findings", rows.finding_rows(judgement))
        count += 1
        if sink.pending >= 10 * BATCH:
            sink.write_batch(*sink.take_batch())
    sink.write_batch(*sink.take_batch())
    if scan_rows:
        sink.write_scan_row(dict(scan_rows[0], rules_version=RULES_VERSION))
    return count
