"""The chain walk against an in-process fake resolver serving a dnspython-signed hierarchy.

The fake plays a resolver answering with CD set: for each question it returns the RRsets
(and RRSIGs) that ``tests.core.chain_fixtures`` signed, so the walk's queries, its cache
and its limits are checked without the world; the world tests check it against Unbound.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest
import trio

from scanner.core.chain import (
    CHAIN_UNREACHABLE,
    NO_BROKEN_LINK,
    RRSIG_EXPIRED,
    RRSIG_MISSING,
    ChainAnswer,
    SignedRRset,
    TrustAnchorError,
    ZoneLink,
    parse_trust_anchor,
)
from scanner.errors import EXIT_USAGE
from scanner.gather.chainwalk import ChainWalker, WalkConfig, diagnose, load_trust_anchor
from tests.core.chain_fixtures import NOW, anchor, dnskeys, key, nsec_chain, sign
from tests.gather.fakedns import FakeDns, answer, qname_of, qtype_of, soa

EX = "example.com"
EXPIRED = (int(NOW - 40 * 86_400), int(NOW - 10 * 86_400))


def to_rrsets(s: SignedRRset) -> list[dns.rrset.RRset]:
    name = dns.name.from_text(s.name)
    out = [dns.rrset.from_text_list(name, s.ttl, "IN", s.rrtype, list(s.records))]
    if s.rrsigs:
        out.append(dns.rrset.from_text_list(name, s.ttl, "IN", "RRSIG", list(s.rrsigs)))
    return out


def zone_data(
    expired_keys: bool = False,
) -> dict[tuple[str, str], tuple[int, list[SignedRRset], list[SignedRRset]]]:
    """(qname, qtype) -> (rcode, answer RRsets, authority RRsets) of a CD resolver."""
    ex_keys = dnskeys(EX, [key(EX)], window=EXPIRED) if expired_keys else dnskeys(EX, [key(EX)])
    ex_nsec = nsec_chain(
        EX, {EX: "SOA NS DNSKEY", "lame.example.com": "NS", "www.example.com": "A"}
    )
    data = {
        (".", "DNSKEY"): (0, [dnskeys(".", [key(".")])], []),
        ("com.", "DS"): (0, [sign("com", "DS", [key("com").ds()], [key(".")])], []),
        ("com.", "DNSKEY"): (0, [dnskeys("com", [key("com")])], []),
        ("example.com.", "DS"): (0, [sign(EX, "DS", [key(EX).ds()], [key("com")])], []),
        ("example.com.", "DNSKEY"): (0, [ex_keys], []),
        ("www.example.com.", "A"): (
            0,
            [sign("www.example.com", "A", ["192.0.2.1"], [key(EX)])],
            [],
        ),
        ("mx.example.com.", "A"): (0, [sign("mx.example.com", "A", ["192.0.2.2"], [key(EX)])], []),
        ("plain.example.com.", "A"): (
            0,
            [SignedRRset("plain.example.com", "A", 300, ("192.0.2.3",))],
            [],
        ),
        # NODATA from example.com: its NSEC at lame.example.com lists NS, not DS (unsigned)
        ("lame.example.com.", "DS"): (0, [], [ex_nsec[1]]),
    }
    return data


def handler_for(data: dict, soa_of: dict[str, str] | None = None):  # type: ignore[no-untyped-def, type-arg]
    def handle(query: dns.message.Message, transport: str) -> dns.message.Message | None:
        key_ = (qname_of(query), qtype_of(query))
        if key_ not in data:
            if key_[1] == "SOA" and soa_of and key_[0] in soa_of:
                return answer(query, authority=[soa(soa_of[key_[0]])])
            return answer(query, rcode=dns.rcode.SERVFAIL)
        rcode, ans, auth = data[key_]
        sets = [r for s in ans for r in to_rrsets(s)]
        authority = [r for s in auth for r in to_rrsets(s)]
        if key_ == ("lame.example.com.", "DS"):
            authority.insert(0, soa("example.com."))
        return answer(query, *sets, rcode=rcode, authority=authority)

    return handle


def config(fake: FakeDns, **kw: object) -> WalkConfig:
    return WalkConfig(fake.address, query_timeout=0.5, attempts=1, **kw)  # type: ignore[arg-type]


async def test_secure_chain_walk_and_its_cache() -> None:
    async with FakeDns(handler_for(zone_data())).running() as fake:
        walker = ChainWalker(config(fake), anchor())
        d, facts = await walker.diagnose_with_facts("www.example.com", "A", NOW)
        assert d.code == NO_BROKEN_LINK
        assert [link.zone for link in facts.links] == [".", "com", EX]
        assert [link.parent for link in facts.links] == ["", ".", "com"]
        # the question, the root's DNSKEY, DS + DNSKEY of com and of example.com
        assert facts.queries == 6 and fake.count() == 6
        for _transport, q in fake.log:
            assert q.flags & dns.flags.CD and q.ednsflags & dns.flags.DO
        # a second name in the same zone costs one query; the same question none
        assert (await diagnose(walker, "mx.example.com", "A", NOW)).code == NO_BROKEN_LINK
        assert (await diagnose(walker, "WWW.example.com.", "a", NOW)).code == NO_BROKEN_LINK
        assert fake.count() == 7 and walker.queries == 7


def test_a_question_carries_only_the_cached_cuts_above_it() -> None:
    """Cuts that other questions cached stay out of a question's facts, however many
    there are; the ones above its owners come parents first, in the order cached."""
    walker = ChainWalker(WalkConfig(("127.0.0.1", 53)), anchor())
    walker._keep(".", ZoneLink(".", ""))
    walker._keep("com", ZoneLink("com", "."))
    for i in range(2000):
        walker._keep(f"z{i}.com", ZoneLink(f"z{i}.com", "com"))
    walker._keep("net", ZoneLink("net", "."))
    walker._keep("b.net", ZoneLink("b.net", "net"))
    cname = SignedRRset("www.z7.com", "CNAME", 60, ("www.b.net.",))
    a = SignedRRset("www.b.net", "A", 60, ("192.0.2.1",))
    got = walker._chain_links(ChainAnswer("www.z7.com", "A", "NOERROR", "z7.com", (cname, a)))
    assert [link.zone for link in got] == [".", "com", "net", "z7.com", "b.net"]


async def test_expired_keys_are_named() -> None:
    async with FakeDns(handler_for(zone_data(expired_keys=True))).running() as fake:
        walker = ChainWalker(config(fake), anchor())
        d = await diagnose(walker, "www.example.com", "A", NOW)
        assert (d.code, d.zone, d.record_type, d.key_tag) == (
            RRSIG_EXPIRED,
            EX,
            "DNSKEY",
            key(EX).tag,
        )


async def test_concurrent_diagnoses_share_zone_cuts() -> None:
    async with FakeDns(handler_for(zone_data())).running() as fake:
        walker = ChainWalker(config(fake), anchor())
        async with trio.open_nursery() as nursery:
            for name in ("www.example.com", "mx.example.com"):
                nursery.start_soon(diagnose, walker, name, "A", NOW)
        assert fake.count() == 7  # two questions + five zone-cut queries, none twice


async def test_unsigned_answer_finds_its_zone_with_one_soa_question() -> None:
    handle = handler_for(zone_data(), soa_of={"plain.example.com.": "example.com."})
    async with FakeDns(handle).running() as fake:
        walker = ChainWalker(config(fake), anchor())
        d = await diagnose(walker, "plain.example.com", "A", NOW)
        assert (d.code, d.zone, d.record_type) == (RRSIG_MISSING, EX, "A")
        assert ("plain.example.com.", "SOA") in [(qname_of(q), qtype_of(q)) for _, q in fake.log]


async def test_question_failing_even_with_cd_names_the_lame_zone() -> None:
    async with FakeDns(handler_for(zone_data())).running() as fake:
        walker = ChainWalker(config(fake), anchor())
        d, facts = await walker.diagnose_with_facts("mx.lame.example.com", "MX", NOW)
        assert (d.code, d.zone, d.record_type) == (CHAIN_UNREACHABLE, "lame.example.com", "MX")
        assert d.reason == "no answer even with checking disabled (SERVFAIL)"
        asked = [(qname_of(q), qtype_of(q)) for _, q in fake.log]
        assert asked[:3] == [
            ("mx.lame.example.com.", "MX"),
            ("mx.lame.example.com.", "DS"),  # answered by lame.example.com: fails too
            ("lame.example.com.", "DS"),  # answered by example.com: the zone above
        ]
        assert ("lame.example.com.", "DNSKEY") not in asked  # no DS: nothing to check below
        assert facts.links[-1].zone == "lame.example.com" and facts.links[-1].ds is None


async def test_silent_resolver_is_a_timeout_not_an_exception() -> None:
    async with FakeDns(lambda q, t: None).running() as fake:
        walker = ChainWalker(config(fake, max_queries=3), anchor())
        d, facts = await walker.diagnose_with_facts("www.example.com", "A", NOW)
        assert d.code == CHAIN_UNREACHABLE and "TIMEOUT" in d.reason
        assert facts.queries == 3 and facts.error == "query budget of 3 spent"


async def test_walk_deadline() -> None:
    async def slow(q: dns.message.Message, t: str) -> None:
        await trio.sleep(5)

    async with FakeDns(slow).running() as fake:
        cfg = dataclasses.replace(config(fake), walk_timeout=0.3, query_timeout=1.0)
        d, facts = await ChainWalker(cfg, anchor()).diagnose_with_facts("www.example.com", "A", NOW)
        assert d.code == CHAIN_UNREACHABLE
        assert facts.error == "walk deadline of 0.3 s passed"


async def test_garbage_reply_is_malformed() -> None:
    async with FakeDns(lambda q, t: q.to_wire()[:2] + b"\x81\x80garbage").running() as fake:
        d, facts = await ChainWalker(config(fake), anchor()).diagnose_with_facts(
            "www.example.com", "A", NOW
        )
        assert d.code == CHAIN_UNREACHABLE and facts.answer.rcode == "MALFORMED"


async def test_refused_port_is_a_network_error() -> None:
    walker = ChainWalker(WalkConfig(("127.0.0.1", 9), query_timeout=0.5, attempts=2), anchor())
    d, facts = await walker.diagnose_with_facts("www.example.com", "A", NOW)
    assert d.code == CHAIN_UNREACHABLE and facts.answer.rcode in ("NETWORK_ERROR", "TIMEOUT")


# --------------------------------------------------------------------------- anchors


def test_bundled_root_anchor_is_ianas() -> None:
    """KSK-2017 (20326) and KSK-2024 (38696), each DS recomputed from its DNSKEY."""
    a = load_trust_anchor()
    assert a.zone == "." and a.source == "IANA root anchors (bundled)"
    assert [d.split()[0] for d in a.ds] == ["20326", "38696"]
    keys = [parse_trust_anchor(f". IN DNSKEY {k}", "k") for k in a.dnskey]
    for ds, k in zip(a.ds, keys, strict=True):
        rdata = dns.rdata.from_text("IN", "DNSKEY", k.dnskey[0])
        made = dns.dnssec.make_ds(dns.name.root, rdata, "SHA256")
        assert made.to_text() == ds and dns.dnssec.key_id(rdata) == int(ds.split()[0])


def test_anchor_file(tmp_path: Path) -> None:
    good = tmp_path / "root.key"
    good.write_text(f". 3600 IN DS {key('.').ds()}\n")
    assert load_trust_anchor(good).ds == (key(".").ds(),)
    assert load_trust_anchor(good).source == str(good)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b";" * (1 << 20) + b"\n", "larger than 1 MiB"),
        (b". IN A 192.0.2.1\n", "not a trust anchor"),
    ],
)
def test_bad_anchor_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "anchor"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TrustAnchorError, match=message) as info:
        load_trust_anchor(path)
    assert info.value.exit_code == EXIT_USAGE and str(path) in str(info.value)
