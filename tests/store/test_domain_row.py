"""``rows.domain_row`` stores the domain's own facts as the JSON that ``to_plain`` then
``dumps`` would give (the encoder takes the Structs directly, for speed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scanner.core import factjson
from scanner.core.assemble import assemble
from scanner.core.model import DomainFacts, MtaSts, ZoneKeys
from scanner.core.profiles import judge_senders
from scanner.core.rules import assess_domain, judge_domain
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
def test_stored_facts_copied_from_the_own_text_are_the_encoded_ones(
    shape: str, probing: bool
) -> None:
    """The judge stage reads the domain stage's text of the own facts with
    ``rows.read_own``: the facts it gives are those ``assemble`` makes of the decoded
    text, and the stored facts copied from the text are byte for byte those
    ``StoredDomainFacts`` encodes to."""
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
    names = ["mx.example.com", "gone.example"]
    probes: dict[Any, Any] | None = {} if probing else None
    facts = assemble(factjson.loads(DomainFacts, text), names, hosts, probes)
    parts = rows.read_own(text)
    assert parts.facts(names, hosts, probes) == facts
    judgement = judge_domain(facts, NOW_TS)
    copied = rows.domain_values("example.com", None, facts, judgement, 0, parts.stored(facts))
    encoded = rows.domain_values("example.com", None, facts, judgement, 0)
    assert copied[:-1] == encoded[:-1]
    assert copied[-1] == encoded[-1].encode()


def test_own_texts_of_other_layouts_read_as_the_facts_decode() -> None:
    """Keys in another order, missing (their defaults) or unknown (skipped), as decoding
    ``DomainFacts`` reads them; the stored facts are still the encoded ones."""
    mx = factjson.dumps(lk("example.com", "MX", ["10 mx.example.com."]))
    hosts = {"mx.example.com": host_dns("mx.example.com")}
    for text in (
        f'{{"mx":{mx},"domain":"example.com","new":[1]}}',
        f'{{"domain":"example.com","mx":{mx},"zone_keys":null,"probing_enabled":false}}',
    ):
        facts = assemble(factjson.loads(DomainFacts, text), ["mx.example.com"], hosts, None)
        parts = rows.read_own(text)
        assert parts.facts(["mx.example.com"], hosts, None) == facts
        assert parts.stored(facts) == rows.stored_facts(facts).encode()


def test_own_text_reads_every_own_field_of_the_facts() -> None:
    """A field added to ``DomainFacts`` must be read by ``rows.OwnText`` too (else the
    judge stage would judge its default)."""
    assembled = {"hosts", "probes", "probing_enabled"}
    own = set(DomainFacts.__struct_fields__) - assembled
    assert own == set(rows.OwnText.__struct_fields__)


def test_part_columns_are_the_row_values_column_by_column() -> None:
    facts = domain(
        "example.com",
        ["10 mx.example.com.", "20 mx2.example.com."],
        [host_dns("mx.example.com", tlsa=["3 1 1 " + "ab" * 32]), host_dns("mx2.example.com")],
    )
    judgement, assessments = assess_domain(facts, NOW_TS)
    senders = judge_senders(facts, judgement, NOW_TS, None, assessments)
    for columns, values in (
        (
            rows.domain_mx_columns(judgement.hosts),
            [rows.domain_mx_values("", h, None) for h in judgement.hosts],
        ),
        (rows.sender_columns(senders), [rows.sender_values("", o, None) for o in senders]),
    ):
        assert [tuple(r) for r in zip(*columns, strict=True)] == [v[1:-1] for v in values]
    assert rows.domain_mx_columns(()) == tuple([] for _ in rows.DOMAIN_MX_FIELDS[1:-1])
    assert rows.sender_columns(()) == tuple([] for _ in rows.SENDER_FIELDS[1:-1])
