"""``rows.domain_row`` stores the domain's own facts as the JSON that ``to_plain`` then
``dumps`` would give (the encoder takes the dataclasses directly, for speed)."""

from __future__ import annotations

import json

from scanner.core import factjson
from scanner.core.model import MtaSts, ZoneKeys
from scanner.core.rules import judge_domain
from scanner.store import rows
from scanner.store.inputs import InputLine
from tests.core.dane_fixtures import NOW_TS, domain, host_dns, lk


def test_stored_facts_are_the_plain_json_of_the_facts() -> None:
    facts = domain(
        "example.com",
        ["10 mx.example.com."],
        [host_dns("mx.example.com", tlsa=["3 1 1 " + "ab" * 32])],
        zone_keys=ZoneKeys("example.com", lk("example.com", "DNSKEY"), lk("example.com", "DS")),
        mta_sts=MtaSts(sts_txt=lk("_mta-sts.example.com", "TXT", ['"v=STSv1; id=1"'])),
    )
    row = rows.domain_row(
        InputLine(1, "example.com", "example.com", None), facts, judge_domain(facts, NOW_TS), NOW_TS
    )
    plain = {
        "mx": factjson.to_plain(facts.mx),
        "implicit_mx": facts.implicit_mx,
        "hosts": list(facts.hosts),
        "zone_keys": factjson.to_plain(facts.zone_keys),
        "mta_sts": factjson.to_plain(facts.mta_sts),
        "probing_enabled": facts.probing_enabled,
    }
    assert row["facts"] == json.dumps(plain, separators=(",", ":"))
    assert row["facts"] == factjson.dumps(plain)
