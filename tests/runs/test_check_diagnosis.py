"""``check`` explains bogus answers: ``diagnose_bogus`` walks each bogus question's chain
(issue 11) and the result carries the diagnoses, in the shape of docs/check.schema.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest

from scanner.cli import _check_text
from scanner.core.chain import RRSIG_EXPIRED, Diagnosis, TrustAnchorError
from scanner.core.model import DnsLookup, DomainFacts
from scanner.runs.check import check_domains, diagnose_bogus
from scanner.runs.wiring import chain_walker
from tests.runs.fakes import World, options

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "check.schema.json").read_text())


@dataclasses.dataclass
class StubWalker:
    """Stands for ``ChainWalker``: answers every question with one diagnosis."""

    asked: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    async def diagnose_with_facts(
        self, name: str, rrtype: str, now: float | None = None
    ) -> tuple[Diagnosis, Any]:
        self.asked.append((name, rrtype))
        d = Diagnosis(
            name, rrtype, RRSIG_EXPIRED, "example.test", "DNSKEY", 4711, 13,
            "signature expired at 2026-11-13T10:00:00Z", "RRSIG ...", "RFC 4035 §5.3.1", "Re-sign.",
        )  # fmt: skip
        return d, None


def bogus_world() -> World:
    world = World(2)
    name = world.domain(0)
    world.dns.answers[(name, "MX")] = DnsLookup(name, "MX", "SERVFAIL", cd_rcode="NOERROR")
    return world


async def test_check_names_the_broken_link_of_a_bogus_domain() -> None:
    world = bogus_world()
    stub = StubWalker()
    seams = dataclasses.replace(world.seams(), walker=lambda o: stub)
    bogus, fine = await check_domains(world.names(), options(probe=False), seams)
    assert stub.asked == [(world.domain(0), "MX")]  # only the bogus answer is walked
    assert bogus["verdict"] == "dnssec_bogus" and fine["dnssec_diagnoses"] == []
    (d,) = bogus["dnssec_diagnoses"]
    assert (d["code"], d["zone"], d["record_type"], d["key_tag"], d["broken"]) == (
        RRSIG_EXPIRED,
        "example.test",
        "DNSKEY",
        4711,
        True,
    )
    for result in (bogus, fine):
        jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(json.dumps(result)))
    text = click.unstyle(_check_text(bogus))
    assert (
        f"     DNSSEC {world.domain(0)} MX: {RRSIG_EXPIRED} at example.test DNSKEY key 4711/13: "
        "signature expired at 2026-11-13T10:00:00Z" in text
    )
    assert "(RFC 4035 §5.3.1) zone fix: Re-sign." in text


async def test_no_walker_no_diagnosis() -> None:
    world = bogus_world()
    (bogus, _fine) = await check_domains(world.names(), options(probe=False), world.seams())
    assert bogus["dnssec_diagnoses"] == []


async def test_diagnose_bogus_sends_nothing_for_a_clean_domain() -> None:
    world = World(1)
    stub = StubWalker()
    seams = dataclasses.replace(world.seams(), walker=lambda o: stub)
    await check_domains(world.names(), options(probe=False), seams)
    assert stub.asked == []
    bogus = bogus_world()
    facts = DomainFacts(bogus.domain(0), bogus.dns.answers[(bogus.domain(0), "MX")])
    assert await diagnose_bogus(None, facts) == []


async def test_a_bad_trust_anchor_refuses_the_check(tmp_path: Path) -> None:
    world = bogus_world()
    bad = tmp_path / "anchor"
    bad.write_text(". IN A 192.0.2.1\n")
    seams = dataclasses.replace(world.seams(), walker=chain_walker)  # the real one
    with pytest.raises(TrustAnchorError, match="not a trust anchor"):
        await check_domains(world.names(), options(probe=False, trust_anchor=bad), seams)
