"""``rows.domain_row`` stores the domain's own facts as the JSON that ``to_plain`` then
``dumps`` would give (the encoder takes the dataclasses directly, for speed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scanner.core import factjson
from scanner.core.assemble import assemble
from scanner.core.model import DomainFacts, MtaSts, ZoneKeys
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


@pytest.mark.parametrize("probing", [True, False])
@pytest.mark.parametrize("shape", ["plain", "implicit", "keys and policy"])
def test_stored_facts_cut_from_the_own_text_are_the_encoded_ones(shape: str, probing: bool) -> None:
    """The judge stage passes the domain stage's text of the own facts: the stored facts
    cut from it are byte for byte those ``StoredDomainFacts`` encodes to."""
    extra: dict[str, Any] = {}
    if shape == "keys and policy":
        extra = {
            "zone_keys": ZoneKeys(
                "example.com", lk("example.com", "DNSKEY"), lk("example.com", "DS")
            ),
            "mta_sts": MtaSts(sts_txt=lk("_mta-sts.example.com", "TXT", ['"v=STSv1; id=é"'])),
        }
    own = DomainFacts(
        "example.com",
        lk("example.com", "MX", [] if shape == "implicit" else ["10 mx.example.com."]),
        implicit_mx=shape == "implicit",
        **extra,
    )
    text = factjson.dumps(own)
    hosts = {"mx.example.com": host_dns("mx.example.com")}
    facts = assemble(
        factjson.loads(DomainFacts, text),
        ["mx.example.com", "gone.example"],
        hosts,
        {} if probing else None,
    )
    judgement = judge_domain(facts, NOW_TS)
    spliced = rows.domain_values("example.com", None, facts, judgement, 0, text)
    encoded = rows.domain_values("example.com", None, facts, judgement, 0)
    assert rows._spliced(text, facts) is not None
    assert spliced == encoded


def test_stored_facts_of_another_layout_are_encoded() -> None:
    facts = domain("example.com", ["10 mx.example.com."], [host_dns("mx.example.com")])
    judgement = judge_domain(facts, NOW_TS)
    encoded = rows.domain_values("example.com", None, facts, judgement, 0)
    for text in ('{"domain":"example.com"}', factjson.dumps(facts).replace("probes", "probe")):
        assert rows.domain_values("example.com", None, facts, judgement, 0, text) == encoded
