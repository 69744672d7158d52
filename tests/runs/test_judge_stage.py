"""The judge stage (a memo shared by a partition's domains, rows written column by
column) writes exactly the rows the plain way gives: every domain's facts assembled
from the stored tables, judged without a memo, turned into rows by the ``rows`` dict
functions and written with ``pyarrow.Table.from_pylist``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scanner.core import factjson
from scanner.core.assemble import assemble
from scanner.core.model import DomainFacts, HostDns, MtaSts, SmtpProbe
from scanner.core.profiles import judge_senders
from scanner.core.rules import assess_domain
from scanner.runs import stages
from scanner.runs.regrade import regrade
from scanner.runs.scan import Scan
from scanner.store import rows
from scanner.store.inputs import InputLine
from scanner.store.schema import TABLES
from tests.core.dane_fixtures import host_dns, lk
from tests.runs.fakes import World, options
from tests.runs.test_scan_pipeline import config, write_list

JUDGED = ("domains", "domain_mx", "findings", "sender_outcomes")


def read(out: Path, name: str) -> pa.Table:
    parts = sorted((out / name).glob("**/part-*.parquet"))
    return pa.concat_tables([pq.read_table(p, schema=TABLES[name]) for p in parts])


def reference(scan: Path, scan_id: str, probe: bool) -> dict[str, list[dict[str, Any]]]:
    """The judge tables of ``scan`` regraded, the plain way."""
    hosts = {
        r["host"]: factjson.loads(HostDns, r["facts"]) for r in read(scan, "hosts").to_pylist()
    }
    probes = None
    if probe:
        probes = {}
        for r in read(scan, "addresses").to_pylist():
            p = factjson.loads(SmtpProbe, r["facts"])
            probes[(r["host"], p.address, p.sni)] = p
    trust = stages._sender_trust(options(probe=probe))
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in JUDGED}
    for r in read(scan, "domains").to_pylist():
        stored = json.loads(r["facts"])
        own = stages._rebuild_own(r["domain"], stored)
        facts = assemble(own, stored["hosts"], hosts, probes)
        at = r["scanned_at"].timestamp()
        judgement, assessments = assess_domain(facts, at)
        line = InputLine(0, r["input_name"], r["domain"], r["rank"])
        sid = {"scan_id": scan_id}
        out["domains"].append({**rows.domain_row(line, facts, judgement, at), **sid})
        out["domain_mx"] += [{**x, **sid} for x in rows.domain_mx_rows(judgement, at)]
        out["findings"] += [{**x, **sid} for x in rows.finding_rows(judgement, at)]
        senders = judge_senders(facts, judgement, at, trust, assessments)
        out["sender_outcomes"] += [{**x, **sid} for x in rows.sender_rows(judgement, senders, at)]
    return out


def ordered(table: pa.Table) -> pa.Table:
    keys = [(n, "ascending") for n in table.column_names if n not in ("mx_hosts", "findings")]
    return table.sort_by(keys)


@pytest.mark.parametrize("probe", [True, False], ids=["probes", "dns-only"])
def test_judge_tables_are_the_plain_judgement(tmp_path: Path, probe: bool) -> None:
    world = World(30)
    names = [*world.names(), "mx1.provider.test"]  # a domain that is one of the hosts
    inp = write_list(tmp_path / "in.txt", names)
    out = tmp_path / "scan"
    Scan(config(inp, out, options(probe=probe), partitions=2), world.seams()).run()
    new_id, count = regrade(str(out), str(tmp_path / "regraded"))
    assert count == len(names)
    want = reference(out, new_id, probe)
    for name in JUDGED:
        got = read(tmp_path / "regraded", name)
        plain = pa.Table.from_pylist(want[name], schema=TABLES[name])
        assert got.num_rows == plain.num_rows > 0 or name == "findings"
        assert ordered(got).equals(ordered(plain)), name


def test_own_facts_msgspec_cannot_read_are_read_the_plain_way() -> None:
    """An escaped lone surrogate: json reads it, msgspec does not (``factjson.loads``
    falls back); facts that cannot be read at all are the stored facts' error."""
    policy = MtaSts(sts_txt=lk("_mta-sts.example.com", "TXT", ['"v=STSv1; id=X"']))
    own = DomainFacts(
        "example.com", lk("example.com", "MX", ["10 mx.example.com."]), mta_sts=policy
    )
    text = factjson.dumps(own).replace("id=X", "id=\\ud800")
    with pytest.raises(msgspec.DecodeError):
        rows.read_own(text).facts([], {}, None)
    hosts = {"mx.example.com": host_dns("mx.example.com")}
    facts, stored = stages._judged_facts("example.com", text, ["mx.example.com"], hosts, None)
    assert facts == assemble(factjson.loads(DomainFacts, text), ["mx.example.com"], hosts, None)
    assert stored == rows.stored_facts(facts)
    with pytest.raises(stages.StoredFactsError, match=r"facts of 'example\.com' cannot be read"):
        stages._judged_facts("example.com", text[:-1], ["mx.example.com"], hosts, None)
