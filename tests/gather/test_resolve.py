"""Unit tests of scanner.gather.resolve against an in-process fake DNS server on loopback."""

from __future__ import annotations

import socket
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest
import trio

from scanner.core.dnssec import lookup_status
from scanner.core.model import DnsLookup, DnssecStatus, Ede
from scanner.gather.resolve import Resolver, ResolverConfig, SelfCheck, self_check
from tests.gather.fakedns import (
    FakeDns,
    Handler,
    Response,
    answer,
    qname_of,
    qtype_of,
    rrset,
    rrsig_for,
    soa,
)

# One try's timeout: long enough that a loaded CI machine never makes a test's fake
# server miss it (at 0.2 s one answer in a 12-hop chain did, and was asked twice).
FAST = {"timeout": 1.0, "backoff_base": 0.01, "backoff_max": 0.02, "lookup_timeout": 10.0}


async def run_lookups(
    handler: Handler,
    queries: list[tuple[str, str]],
    **config: Any,
) -> tuple[list[DnsLookup], FakeDns, Resolver]:
    """Start a fake server with ``handler``, look each query up, return results."""
    out: list[DnsLookup] = []
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with FakeDns(handler).running() as fake:
            cfg = ResolverConfig(servers=[fake.address], **{**FAST, **config})
            async with Resolver(cfg) as resolver:
                for name, rrtype in queries:
                    out.append(await resolver.lookup(name, rrtype))
            holder["fake"], holder["resolver"] = fake, resolver

    await main()
    return out, holder["fake"], holder["resolver"]


def names_asked(fake: FakeDns) -> list[str]:
    """The names the server was asked, in order, each once (retransmissions folded)."""
    return list(dict.fromkeys(qname_of(q) for _, q in fake.log))


async def one(
    handler: Handler, name: str = "a.example", rrtype: str = "A", **config: Any
) -> DnsLookup:
    return (await run_lookups(handler, [(name, rrtype)], **config))[0][0]


# ----------------------------------------------------------------------------- basics


async def test_secure_answer_flags_records_ttl_rrsigs() -> None:
    seen: list[dns.message.Message] = []

    def handler(q: dns.message.Message, t: str) -> Response:
        seen.append(q)
        name = qname_of(q)
        return answer(
            q, rrset(name, 123, "A", "192.0.2.1", "192.0.2.2"), rrsig_for(name, "A"), ad=True
        )

    got = await one(handler, "A.Example.")
    assert got.name == "a.example"
    assert got.rrtype == "A"
    assert got.rcode == "NOERROR"
    assert got.ad is True
    assert sorted(got.records) == ["192.0.2.1", "192.0.2.2"]
    assert got.ttl == 123
    assert got.cd_rcode is None
    assert got.cname_chain == ()
    assert len(got.rrsigs) == 1
    sig = got.rrsigs[0]
    assert (sig.covered, sig.algorithm, sig.signer) == ("A", 13, "example")
    assert sig.expiration == 1924905600  # 2030-12-31
    assert sig.inception == 1704067200  # 2024-01-01
    assert lookup_status(got) is DnssecStatus.SECURE
    # The question on the wire: RD, DO in EDNS0 with a 1232-byte payload, no CD.
    (q,) = seen
    assert q.flags & dns.flags.RD
    assert not q.flags & dns.flags.CD
    assert q.edns == 0 and q.ednsflags & dns.flags.DO
    assert q.payload == 1232


async def test_insecure_answer_without_ad() -> None:
    got = await one(lambda q, t: answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1")))
    assert got.rcode == "NOERROR" and got.ad is False
    assert lookup_status(got) is DnssecStatus.INSECURE


async def test_nxdomain_and_nodata() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        if qname_of(q).startswith("gone."):
            return answer(q, rcode=dns.rcode.NXDOMAIN, ad=True, authority=[soa("example.")])
        return answer(q, ad=True, authority=[soa("example.")])

    (nx, nodata), fake, _ = await run_lookups(
        handler, [("gone.example", "MX"), ("a.example", "MX")]
    )
    assert nx.rcode == "NXDOMAIN" and nx.ad and nx.records == () and nx.ttl is None
    assert nodata.rcode == "NOERROR" and nodata.ad and nodata.records == ()
    assert fake.count() == 2


async def test_record_presentation_mx_null_mx_tlsa() -> None:
    cert = bytes(range(100))  # longer than dnspython's 128-hex-digit chunking

    def handler(q: dns.message.Message, t: str) -> Response:
        name, qt = qname_of(q), qtype_of(q)
        if qt == "MX" and name.startswith("null."):
            return answer(q, rrset(name, 60, "MX", "0 ."))
        if qt == "MX":
            return answer(q, rrset(name, 60, "MX", "10 MX1.Example.", "20 mx2.example."))
        return answer(q, rrset(name, 60, "TLSA", f"3 0 0 {cert.hex()}"))

    (mx, null, tlsa), _, _ = await run_lookups(
        handler, [("a.example", "MX"), ("null.example", "MX"), ("_25._tcp.mx1.example", "TLSA")]
    )
    assert sorted(mx.records) == ["10 mx1.example.", "20 mx2.example."]
    assert null.records == ("0 .",)
    assert tlsa.records == (f"3 0 0 {cert.hex()}",)


async def test_tlsa_with_data_of_the_wrong_length_is_recorded() -> None:
    """dnspython 2.9 refuses to parse 3 1 1 with 31 bytes; the record must still be kept
    (DESIGN §4 rule 3: wrong length = an unusable record, judged by the rules)."""
    digest = bytes(range(32))

    def handler(q: dns.message.Message, t: str) -> Response:
        good = answer(q, rrset(qname_of(q), 60, "TLSA", f"3 1 1 {digest.hex()}"), ad=True)
        wire = good.to_wire()
        rdata = b"\x00\x23\x03\x01\x01" + digest
        assert wire.count(rdata) == 1
        return wire.replace(rdata, b"\x00\x22\x03\x01\x01" + digest[:31])

    got = await one(handler, "_25._tcp.mx.example", "TLSA")
    assert got.rcode == "NOERROR" and got.ad
    assert got.records == (f"3 1 1 {digest[:31].hex()}",)


async def test_unknown_type_and_bad_name_raise() -> None:
    async def main() -> None:
        async with Resolver(ResolverConfig(servers=[("127.0.0.1", 9)], **FAST)) as resolver:
            with pytest.raises(ValueError):
                await resolver.lookup("a.example", "NOSUCHTYPE")
            with pytest.raises(ValueError):
                await resolver.lookup("x" * 64 + ".example", "A")

    await main()


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ResolverConfig(servers=[])
    with pytest.raises(ValueError):
        ResolverConfig(servers=[("127.0.0.1", 53)], attempts=0)
    with pytest.raises(ValueError):
        Resolver(ResolverConfig(servers=[("resolver.example", 53)]))


# ----------------------------------------------------------------------------- SERVFAIL / CD


async def test_servfail_then_cd_success_is_bogus_with_ede() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        if q.flags & dns.flags.CD:
            return answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"), ede=[(9, "stray on CD")])
        return answer(q, rcode=dns.rcode.SERVFAIL, ede=[(6, "validation failure <a.example. A>")])

    got, fake, resolver = await run_lookups(handler, [("a.example", "A")])
    (lk,) = got
    assert lk.rcode == "SERVFAIL"
    assert lk.cd_rcode == "NOERROR"
    assert lookup_status(lk) is DnssecStatus.BOGUS
    # EDE of the non-CD answers kept as evidence; the CD answer's stray EDE is not.
    assert set(lk.ede) == {Ede(6, "validation failure <a.example. A>")}
    assert lk.records == ()
    # 3 tries without CD (SERVFAIL is retried), then one with CD.
    cds = [bool(q.flags & dns.flags.CD) for _, q in fake.log]
    assert cds == [False, False, False, True]
    assert resolver.queries_sent == 4


async def test_servfail_also_with_cd_is_error() -> None:
    got = await one(lambda q, t: answer(q, rcode=dns.rcode.SERVFAIL))
    assert got.rcode == "SERVFAIL" and got.cd_rcode == "SERVFAIL"
    assert lookup_status(got) is DnssecStatus.ERROR


async def test_servfail_then_success_on_retry() -> None:
    calls = {"n": 0}

    def handler(q: dns.message.Message, t: str) -> Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return answer(q, rcode=dns.rcode.SERVFAIL)
        return answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"), ad=True)

    got = await one(handler)
    assert got.rcode == "NOERROR" and got.ad and got.cd_rcode is None


async def test_refused_is_retried_then_reported() -> None:
    got, fake, _ = await run_lookups(
        lambda q, t: answer(q, rcode=dns.rcode.REFUSED), [("a.example", "A")]
    )
    assert got[0].rcode == "REFUSED" and got[0].cd_rcode is None
    assert lookup_status(got[0]) is DnssecStatus.ERROR
    assert fake.count() == 3


async def test_formerr_is_recorded_not_retried() -> None:
    got, fake, _ = await run_lookups(
        lambda q, t: answer(q, rcode=dns.rcode.FORMERR), [("a.example", "A")]
    )
    assert got[0].rcode == "FORMERR"
    assert fake.count() == 1


# ----------------------------------------------------------------------------- timeouts, errors


async def test_timeout_after_all_attempts() -> None:
    got, fake, resolver = await run_lookups(lambda q, t: None, [("a.example", "A")], attempts=3)
    (lk,) = got
    assert lk.rcode == "TIMEOUT"
    assert "no reply within 1 s" in lk.error
    assert lookup_status(lk) is DnssecStatus.ERROR
    assert fake.count() == 3
    assert resolver.queries_sent == 3
    assert resolver.stats.udp_timeouts == 3


async def test_one_timeout_then_answer() -> None:
    calls = {"n": 0}

    def handler(q: dns.message.Message, t: str) -> Response:
        calls["n"] += 1
        return None if calls["n"] == 1 else answer(q, rrset(qname_of(q), 60, "A", "192.0.2.9"))

    got = await one(handler)
    assert got.rcode == "NOERROR" and got.records == ("192.0.2.9",)


async def test_servfail_then_timeouts_reports_the_answer() -> None:
    calls = {"n": 0}

    def handler(q: dns.message.Message, t: str) -> Response:
        calls["n"] += 1
        return answer(q, rcode=dns.rcode.SERVFAIL) if calls["n"] == 1 else None

    got = await one(handler)
    assert got.rcode == "SERVFAIL"
    assert got.cd_rcode == "TIMEOUT"
    assert lookup_status(got) is DnssecStatus.ERROR


async def test_port_unreachable_is_network_error() -> None:
    # A UDP port with nothing listening: the kernel answers ICMP port unreachable.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    async def main() -> DnsLookup:
        cfg = ResolverConfig(servers=[("127.0.0.1", port)], **FAST)
        async with Resolver(cfg) as resolver:
            return await resolver.lookup("a.example", "A")

    got = await main()
    assert got.rcode == "NETWORK_ERROR"
    assert "ECONNREFUSED" in got.error
    assert lookup_status(got) is DnssecStatus.ERROR


async def test_lookup_deadline() -> None:
    got = await one(lambda q, t: None, timeout=1.0, lookup_timeout=0.3)
    assert got.rcode == "TIMEOUT"
    assert "not finished within 0.3 s" in got.error


# ----------------------------------------------------------------------------- hostile replies


async def test_wrong_query_id_is_ignored_then_times_out() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        r = answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"))
        r.id = (q.id + 1) % 65536
        return r

    got, _, resolver = await run_lookups(handler, [("a.example", "A")])
    assert got[0].rcode == "TIMEOUT"
    assert resolver.stats.unexpected == 3


async def test_wrong_id_then_right_id_answers() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        good = answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"))
        bad = answer(q, rrset(qname_of(q), 60, "A", "203.0.113.66"))
        bad.id = (q.id + 1) % 65536
        return [bad, b"\x00", good]

    got = await one(handler)
    assert got.rcode == "NOERROR" and got.records == ("192.0.2.1",)


async def test_same_id_other_question_is_ignored() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        other = dns.message.make_query("evil.example.", "A")
        other.id = q.id
        spoof = answer(other, rrset("evil.example.", 60, "A", "203.0.113.66"))
        good = answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"))
        return [spoof, good]

    got = await one(handler)
    assert got.records == ("192.0.2.1",)


async def test_garbage_with_matching_id_is_malformed() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        return q.id.to_bytes(2, "big") + b"\x81\x80garbage-garbage-garbage"

    got, fake, resolver = await run_lookups(handler, [("a.example", "A")])
    assert got[0].rcode == "MALFORMED"
    assert "unparseable reply" in got[0].error
    assert lookup_status(got[0]) is DnssecStatus.ERROR
    assert fake.count() == 3  # retried
    assert resolver.stats.malformed == 3


async def test_query_echoed_back_without_qr_is_ignored() -> None:
    got = await one(lambda q, t: q.to_wire())
    assert got.rcode == "TIMEOUT"


# ----------------------------------------------------------------------------- TCP


async def test_truncation_retries_over_tcp() -> None:
    addrs = [f"10.0.{i // 256}.{i % 256}" for i in range(200)]  # > 1232 bytes

    def handler(q: dns.message.Message, t: str) -> Response:
        return answer(q, rrset(qname_of(q), 60, "A", *addrs), ad=True)

    got, fake, resolver = await run_lookups(handler, [("big.example", "A")])
    assert got[0].rcode == "NOERROR" and got[0].ad
    assert sorted(got[0].records) == sorted(addrs)
    assert [t for t, _ in fake.log] == ["udp", "tcp"]
    assert resolver.stats.tcp_fallbacks == 1 and resolver.queries_sent == 2


async def test_huge_answer_near_64k_over_tcp() -> None:
    # 64 TXT records of 4 strings of 255 bytes: about 64 KiB on the wire.
    txt = " ".join(['"' + "x" * 250 + '"'] * 4)

    def handler(q: dns.message.Message, t: str) -> Response:
        return answer(q, rrset(qname_of(q), 60, "TXT", *[f'"{i}" {txt}' for i in range(63)]))

    got, fake, _ = await run_lookups(handler, [("huge.example", "TXT")])
    assert got[0].rcode == "NOERROR"
    assert len(got[0].records) == 63
    assert len(fake.log) == 2 and fake.log[1][0] == "tcp"


async def test_tcp_refused_after_truncation_is_network_error() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        r = answer(q)
        r.flags |= dns.flags.TC
        return r

    async def main() -> DnsLookup:
        async with FakeDns(handler, tcp=False).running() as fake:
            cfg = ResolverConfig(servers=[fake.address], **FAST)
            async with Resolver(cfg) as resolver:
                return await resolver.lookup("a.example", "A")

    got = await main()
    assert got.rcode == "NETWORK_ERROR"
    assert "TCP connect failed" in got.error


async def test_tcp_silence_after_truncation_is_timeout() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        if t == "tcp":
            return None
        r = answer(q)
        r.flags |= dns.flags.TC
        return r

    got = await one(handler)
    assert got.rcode == "TIMEOUT" and "(TCP)" in got.error


# ----------------------------------------------------------------------------- CNAMEs


def chain_handler(hops: int, *, per_answer: int | None = None, loop: bool = False) -> Handler:
    """c0.example CNAME c1 ... CNAME c<hops>, which has an A record.

    ``per_answer`` limits how many CNAMEs the "resolver" puts in one answer (it gives
    up after that many, without a denial); ``loop`` makes the last CNAME point to c0.
    """

    def target(i: int) -> str:
        return "c0.example." if loop and i == hops else f"c{i}.example."

    def handler(q: dns.message.Message, t: str) -> Response:
        start = int(qname_of(q).split(".")[0][1:])
        sets = []
        i = start
        while i < hops and (per_answer is None or i - start < per_answer):
            sets.append(rrset(f"c{i}.example.", 60, "CNAME", target(i + 1)))
            sets.append(rrsig_for(f"c{i}.example.", "CNAME"))
            i += 1
            if loop and i == hops:
                break
        if i == hops and not loop:
            sets.append(rrset(f"c{hops}.example.", 77, "A", "192.0.2.7"))
            sets.append(rrsig_for(f"c{hops}.example.", "A"))
        return answer(q, *sets, ad=True)

    return handler


async def test_cname_chain_in_answer() -> None:
    got, fake, _ = await run_lookups(chain_handler(3), [("c0.example", "A")])
    lk = got[0]
    assert lk.cname_chain == ("c1.example", "c2.example", "c3.example")
    assert lk.final_name == "c3.example"
    assert lk.records == ("192.0.2.7",) and lk.ttl == 77
    assert lk.ad and not lk.cname_limit_hit
    assert [s.covered for s in lk.rrsigs] == ["CNAME", "CNAME", "CNAME", "A"]
    assert fake.count() == 1


async def test_cname_chain_of_exactly_the_cap_resolves() -> None:
    got, _, _ = await run_lookups(chain_handler(10), [("c0.example", "A")])
    assert len(got[0].cname_chain) == 10
    assert got[0].records == ("192.0.2.7",) and not got[0].cname_limit_hit


async def test_cname_chain_of_12_hops_hits_the_cap() -> None:
    got, fake, _ = await run_lookups(chain_handler(12), [("c0.example", "A")])
    lk = got[0]
    assert lk.cname_limit_hit
    assert len(lk.cname_chain) == 10
    assert lk.records == ()
    assert lookup_status(lk) is DnssecStatus.ERROR
    assert fake.count() == 1


async def test_cname_loop_hits_the_cap() -> None:
    got, _, _ = await run_lookups(chain_handler(3, loop=True), [("c0.example", "A")])
    lk = got[0]
    assert lk.cname_limit_hit
    assert "loop" in lk.error
    assert lk.cname_chain == ("c1.example", "c2.example")  # c2 points back to c0


async def test_partial_chain_is_followed_by_asking_the_last_target() -> None:
    got, fake, _ = await run_lookups(chain_handler(5, per_answer=2), [("c0.example", "A")])
    lk = got[0]
    assert lk.cname_chain == tuple(f"c{i}.example" for i in range(1, 6))
    assert lk.records == ("192.0.2.7",)
    assert names_asked(fake) == ["c0.example.", "c2.example.", "c4.example."]


async def test_partial_chain_of_12_hops_stops_at_the_cap() -> None:
    got, fake, _ = await run_lookups(chain_handler(12, per_answer=1), [("c0.example", "A")])
    lk = got[0]
    assert lk.cname_limit_hit and len(lk.cname_chain) == 10
    # c0 .. c10 asked; c10 -> c11 would be hop 11.  Distinct names, not datagrams: on a
    # loaded machine an answer can miss the 0.2 s attempt timeout and be asked again.
    assert names_asked(fake) == [f"c{i}.example." for i in range(11)]


async def test_followed_chain_ad_is_the_and_of_all_answers() -> None:
    inner = chain_handler(2, per_answer=1)

    def handler(q: dns.message.Message, t: str) -> Response:
        r = inner(q, t)
        assert isinstance(r, dns.message.Message)
        if qname_of(q) == "c1.example.":
            r.flags &= ~dns.flags.AD  # an insecure hop in the middle
        return r

    got = await one(handler, "c0.example")
    assert got.records == ("192.0.2.7",) and got.ad is False


async def test_nodata_through_cname_with_soa_is_not_followed() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        return answer(
            q,
            rrset("host.example.", 60, "CNAME", "mail.provider.example."),
            ad=True,
            authority=[soa("provider.example.")],
        )

    got, fake, _ = await run_lookups(handler, [("host.example", "AAAA")])
    assert got[0].cname_chain == ("mail.provider.example",)
    assert got[0].records == () and got[0].rcode == "NOERROR"
    assert fake.count() == 1


async def test_servfail_on_a_followed_hop_reports_that_hop() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        if qname_of(q) == "a.example.":
            return answer(q, rrset("a.example.", 60, "CNAME", "b.example."), ad=True)
        if q.flags & dns.flags.CD:
            return answer(q, rrset("b.example.", 60, "A", "192.0.2.1"))
        return answer(q, rcode=dns.rcode.SERVFAIL)

    got = await one(handler, "a.example")
    assert got.rcode == "SERVFAIL" and got.cd_rcode == "NOERROR"
    assert got.cname_chain == ("b.example",)
    assert lookup_status(got) is DnssecStatus.BOGUS


async def test_cname_query_is_not_followed() -> None:
    got = await one(
        lambda q, t: answer(q, rrset("a.example.", 60, "CNAME", "B.example.")), rrtype="CNAME"
    )
    assert got.records == ("b.example.",) and got.cname_chain == ()


async def test_ede_option_is_kept() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        return answer(
            q, rrset(qname_of(q), 60, "A", "192.0.2.1"), ede=[(18, "prohibited"), (3, "")]
        )

    got = await one(handler)
    assert got.ede == (Ede(18, "prohibited"), Ede(3, ""))


# ----------------------------------------------------------------------------- servers, caps


async def test_round_robin_and_skipping_a_dead_server() -> None:
    async def main() -> tuple[list[DnsLookup], FakeDns, FakeDns]:
        def good(q: dns.message.Message, t: str) -> Response:
            return answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"))

        async with FakeDns(lambda q, t: None).running() as dead, FakeDns(good).running() as live:
            cfg = ResolverConfig(
                servers=[dead.address, live.address], **{**FAST, "down_cooldown": 60.0}
            )
            async with Resolver(cfg) as resolver:
                results = [await resolver.lookup(f"n{i}.example", "A") for i in range(20)]
        return results, dead, live

    results, dead, live = await main()
    assert all(r.rcode == "NOERROR" for r in results)
    # Retries go to the other server; after 3 timeouts in a row the dead one is skipped.
    assert dead.count() == 3
    assert live.count() == 20


async def test_max_in_flight_caps_concurrent_queries() -> None:
    async def slow(q: dns.message.Message, t: str) -> Response:
        await trio.sleep(0.05)
        return answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"))

    async def main() -> FakeDns:
        async with FakeDns(slow).running() as fake:
            cfg = ResolverConfig(servers=[fake.address], **{**FAST, "max_in_flight": 4})
            async with Resolver(cfg) as resolver, trio.open_nursery() as nursery:
                for i in range(16):
                    nursery.start_soon(resolver.lookup, f"n{i}.example", "A")
        return fake

    fake = await main()
    assert fake.count() == 16
    assert fake.max_in_flight == 4


async def test_qps_cap_spaces_queries() -> None:
    async def main() -> float:
        def handler(q: dns.message.Message, t: str) -> Response:
            return answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"))

        async with FakeDns(handler).running() as fake:
            cfg = ResolverConfig(servers=[fake.address], **{**FAST, "qps": 100.0})
            async with Resolver(cfg) as resolver:
                start = trio.current_time()
                async with trio.open_nursery() as nursery:
                    for i in range(21):
                        nursery.start_soon(resolver.lookup, f"n{i}.example", "A")
                return trio.current_time() - start

    elapsed = await main()
    assert 0.19 <= elapsed < 1.0  # 21 sends at 100/s: the last 200 ms after the first


async def test_lookup_outside_context_raises() -> None:
    async def main() -> None:
        resolver = Resolver(ResolverConfig(servers=[("127.0.0.1", 9)]))
        with pytest.raises(RuntimeError):
            await resolver.lookup("a.example", "A")

    await main()


# ----------------------------------------------------------------------------- self-check


def validating(q: dns.message.Message, t: str) -> Response:
    name = qname_of(q)
    if name == "secure.example.":
        return answer(q, soa("secure.example."), ad=True)
    if name == "bogus.example.":
        if q.flags & dns.flags.CD:
            return answer(q, rrset(name, 60, "A", "192.0.2.66"))
        return answer(q, rcode=dns.rcode.SERVFAIL, ede=[(6, "DNSSEC Bogus")])
    return answer(q, rcode=dns.rcode.NXDOMAIN)


def non_validating(q: dns.message.Message, t: str) -> Response:
    name = qname_of(q)
    if name == "secure.example.":
        return answer(q, soa("secure.example."))
    return answer(q, rrset(name, 60, "A", "192.0.2.66"))


async def run_self_check(*handlers: Handler) -> SelfCheck:
    async def main() -> SelfCheck:
        async with trio.open_nursery() as nursery:
            fakes = []
            for h in handlers:
                fakes.append(await nursery_start(nursery, FakeDns(h)))
            cfg = ResolverConfig(servers=[f.address for f in fakes], **FAST)
            async with Resolver(cfg) as resolver:
                result = await self_check(resolver, "secure.example", "bogus.example")
            nursery.cancel_scope.cancel()
        return result

    return await main()


async def nursery_start(nursery: trio.Nursery, fake: FakeDns) -> FakeDns:
    async def serve(task_status: trio.TaskStatus[FakeDns] = trio.TASK_STATUS_IGNORED) -> None:
        async with fake.running():
            task_status.started(fake)
            await trio.sleep_forever()

    started: FakeDns = await nursery.start(serve)
    return started


async def test_self_check_ok() -> None:
    result = await run_self_check(validating)
    assert result.ok, result.message
    assert "validates DNSSEC" in result.message


async def test_self_check_refuses_non_validating_resolver() -> None:
    result = await run_self_check(non_validating)
    assert not result.ok
    assert "does not validate DNSSEC" in result.message
    assert "AD=0" in result.message
    assert "secure.example SOA" in result.message
    assert "bogus.example A" in result.message and "expected SERVFAIL" in result.message


async def test_self_check_names_the_bad_server_among_several() -> None:
    result = await run_self_check(validating, non_validating)
    assert not result.ok
    lines = result.message.splitlines()
    assert lines and all(":" in line for line in lines)
    bad_port = result.secure[1].name  # both lookups name the canary
    assert bad_port == "secure.example"
    assert len(result.secure) == 2 and result.secure[0].ad and not result.secure[1].ad


async def test_self_check_unreachable_resolver() -> None:
    result = await run_self_check(lambda q, t: None)
    assert not result.ok
    assert "not usable" in result.message and "TIMEOUT" in result.message


async def test_self_check_servfail_everywhere() -> None:
    result = await run_self_check(lambda q, t: answer(q, rcode=dns.rcode.SERVFAIL))
    assert not result.ok
    assert "cannot tell bogus from broken" in result.message


async def test_fake_server_answers_over_udp_and_tcp() -> None:
    """The fake itself: a query over each transport gets the handler's answer."""
    import dns.asyncquery

    def handler(q: dns.message.Message, transport: str) -> Response:
        return answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"))

    async with FakeDns(handler).running() as fake:
        q = dns.message.make_query("a.example.", "A")
        r1 = await dns.asyncquery.udp(q, fake.host, timeout=2, port=fake.port)
        r2 = await dns.asyncquery.tcp(q, fake.host, timeout=2, port=fake.port)
        assert r1.answer == r2.answer
        assert fake.count("udp") == 1 and fake.count("tcp") == 1
