"""``rows.diagnosis_row``: the ``dnssec_diagnoses`` table, one row per diagnosed question."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from scanner.core import factjson
from scanner.core.chain import (
    NO_BROKEN_LINK,
    RRSIG_EXPIRED,
    ChainFacts,
    diagnose_chain,
)
from scanner.store.rows import diagnosis_row
from scanner.store.schema import TABLES
from tests.core.chain_fixtures import NOW, dnskeys, facts, key, replace_link, secure_links

EX = "example.com"
EXPIRED = (int(NOW - 40 * 86_400), int(NOW - 10 * 86_400))


def test_diagnosis_rows_fit_the_schema_and_rediagnose_from_their_facts() -> None:
    links = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [key(EX)], window=EXPIRED))
    bogus = dataclasses.replace(facts(links), queries=5)
    rows = [diagnosis_row(diagnose_chain(f, NOW), f, NOW) for f in (bogus, facts())]
    table = pa.Table.from_pylist(
        [{"scan_id": "s1", **r} for r in rows], schema=TABLES["dnssec_diagnoses"]
    )
    assert table.num_rows == 2
    expired, fine = table.to_pylist()
    assert (expired["code"], expired["zone"], expired["record_type"]) == (
        RRSIG_EXPIRED,
        EX,
        "DNSKEY",
    )
    assert (expired["name"], expired["rrtype"], expired["broken"]) == ("www.example.com", "A", True)
    assert expired["key_tag"] == key(EX).tag and expired["algorithm"] == 13
    assert expired["queries"] == 5 and expired["fix"] and expired["rfc"] == "RFC 4035 §5.3.1"
    assert (fine["code"], fine["broken"]) == (NO_BROKEN_LINK, False)
    # the stored facts are enough to diagnose again (a regrade with newer rules)
    stored = factjson.loads(ChainFacts, expired["facts"])
    assert stored == bogus
    assert diagnose_chain(stored, NOW).code == RRSIG_EXPIRED
