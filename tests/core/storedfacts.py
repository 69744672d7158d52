"""Stored facts checked against the hand-written JSON: the same text, the same values.

Shared by the core test (facts of a stored scan, checked in) and the world test (facts of
a scan made by the current code). The domains table's facts are a plain dict whose
``mx``, ``zone_keys`` and ``mta_sts`` are typed facts; hosts and addresses hold a
``HostDns`` and a ``SmtpProbe``. Each fact is also checked against its twin of the model
as dataclasses (``tests.core.dataclass_model``), which the stored scans were written from:
the same value read, the same text written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scanner.core import factjson
from scanner.core.model import DnsLookup, DomainFacts, HostDns, MtaSts, SmtpProbe, ZoneKeys
from tests.core import dataclass_model as old
from tests.core import factjson_oracle as oracle

TABLES = ("domains", "hosts", "addresses")
# The typed parts of the domains table's facts (the rest are plain values).
DOMAIN_PARTS: dict[str, Any] = {
    "mx": DnsLookup,
    "zone_keys": ZoneKeys | None,
    "mta_sts": MtaSts | None,
}
OLD_DOMAIN_PARTS: dict[str, Any] = {
    "mx": old.DnsLookup,
    "zone_keys": old.ZoneKeys | None,
    "mta_sts": old.MtaSts | None,
}


def scan_facts(scan: Path) -> list[tuple[str, str]]:
    """(table, facts) of every row of a scan directory, whatever its Parquet layout."""
    import pyarrow.parquet as pq

    out: list[tuple[str, str]] = []
    for path in sorted(scan.rglob("*.parquet")):
        table = next((t for t in TABLES if t in path.relative_to(scan).parts), None)
        if table is not None and "facts" in pq.read_schema(path).names:
            column = pq.read_table(path, columns=["facts"]).column("facts").to_pylist()
            out += [(table, text) for text in column]
    return out


def assert_written_as_before(rows: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Each stored text read and written back by both implementations; counts per table."""
    hosts: dict[str, HostDns] = {}
    probes: dict[str, list[SmtpProbe]] = {}
    domains: list[dict[str, Any]] = []
    counts = dict.fromkeys(TABLES, 0)
    for table, text in rows:
        counts[table] += 1
        if table == "domains":
            plain = json.loads(text)
            domains.append(plain)
            # The plain dict as stored, and rebuilt from its typed parts as the scan does.
            assert factjson.dumps(plain) == text == oracle.dumps(plain)
            rebuilt = {}
            for key, value in plain.items():
                if key in DOMAIN_PARTS:
                    fact = factjson.from_plain(DOMAIN_PARTS[key], value)
                    assert fact == oracle.from_plain(DOMAIN_PARTS[key], value)
                    twin = oracle.from_plain(OLD_DOMAIN_PARTS[key], value)
                    assert old.from_struct(fact) == twin
                    assert oracle.to_plain(twin) == value
                    value = factjson.to_plain(fact)
                    assert value == oracle.to_plain(fact)
                rebuilt[key] = value
            assert factjson.dumps(rebuilt) == text
            continue
        tp: type[HostDns | SmtpProbe] = HostDns if table == "hosts" else SmtpProbe
        fact = factjson.loads(tp, text)
        assert fact == oracle.loads(tp, text)
        assert factjson.dumps(fact) == text == oracle.dumps(fact)
        twin = oracle.loads(old.HostDns if table == "hosts" else old.SmtpProbe, text)
        assert old.from_struct(fact) == twin
        assert oracle.dumps(twin) == text == factjson.dumps(twin)
        assert factjson.to_plain(fact) == oracle.to_plain(fact) == json.loads(text)
        if isinstance(fact, HostDns):
            hosts[fact.host] = fact
        elif isinstance(fact, SmtpProbe):
            probes.setdefault(fact.host, []).append(fact)
    # Whole domains, as regrade rebuilds them: the nested encoding agrees too.
    for plain in domains:
        mx = factjson.from_plain(DnsLookup, plain["mx"])
        facts = DomainFacts(
            mx.name,
            mx,
            implicit_mx=plain["implicit_mx"],
            hosts={h: hosts[h] for h in plain["hosts"] if h in hosts},
            probes={h: tuple(probes[h]) for h in plain["hosts"] if h in probes},
            zone_keys=factjson.from_plain(ZoneKeys | None, plain["zone_keys"]),
            mta_sts=factjson.from_plain(MtaSts | None, plain["mta_sts"]),
            probing_enabled=plain["probing_enabled"],
        )
        text = factjson.dumps(facts)
        assert text == oracle.dumps(facts)
        assert factjson.loads(DomainFacts, text) == facts == oracle.loads(DomainFacts, text)
        twin = old.from_struct(facts)
        assert oracle.dumps(twin) == text == factjson.dumps(twin)
        assert oracle.loads(old.DomainFacts, text) == twin
    return counts
