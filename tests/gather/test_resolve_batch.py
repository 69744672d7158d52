"""scanner.gather.resolve's hot path against the in-process fake DNS server: ``lookup_many``
batches, the draining reader, the one timer, cancellation, and answers that carry records
of another type than asked (issue 13 item 9)."""

from __future__ import annotations

import socket
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest
import trio

from scanner.core.dnssec import lookup_status
from scanner.core.model import DnsLookup, DnssecStatus
from scanner.gather import resolve
from scanner.gather.resolve import Resolver, ResolverConfig
from scanner.runs.wiring import SCAN_REPLY_WAIT, GatherOptions
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

FAST: dict[str, Any] = {  # a try's timeout a loaded machine's fake server never misses
    "timeout": 1.0,
    "backoff_base": 0.01,
    "backoff_max": 0.02,
    "lookup_timeout": 10.0,
}


def a_record(q: dns.message.Message, t: str) -> Response:
    return answer(q, rrset(qname_of(q), 60, "A", "192.0.2.1"), ad=True)


async def batch(
    handler: Handler, questions: list[tuple[str, str]], **config: Any
) -> tuple[list[DnsLookup], FakeDns, Resolver]:
    async with FakeDns(handler).running() as fake:
        cfg = ResolverConfig(servers=[fake.address], **{**FAST, **config})
        async with Resolver(cfg) as resolver:
            got = await resolver.lookup_many(questions)
    return got, fake, resolver


# ----------------------------------------------------------------------------- lookup_many


async def test_lookup_many_sends_all_questions_before_any_answer() -> None:
    """A domain's independent questions go out together: the fake answers none of them
    until all three have arrived, so a client that asked one after the other would hang."""
    arrived = trio.Event()
    seen: list[tuple[str, str]] = []

    async def handler(q: dns.message.Message, t: str) -> Response:
        seen.append((qname_of(q), qtype_of(q)))
        if len(seen) == 3:
            arrived.set()
        with trio.fail_after(2):
            await arrived.wait()
        if qtype_of(q) == "MX":
            return answer(q, rrset(qname_of(q), 60, "MX", "10 mx.example."), ad=True)
        return answer(q, rrset(qname_of(q), 60, "TXT", '"v=STSv1; id=1"'), ad=True)

    questions = [
        ("example.org", "MX"),
        ("_mta-sts.example.org", "TXT"),
        ("_smtp._tls.example.org", "TXT"),
    ]
    got, fake, resolver = await batch(handler, questions)
    assert [(g.name, g.rrtype) for g in got] == questions  # the order asked
    assert got[0].records == ("10 mx.example.",)
    assert got[1].records == got[2].records == ('"v=STSv1; id=1"',)
    assert all(lookup_status(g) is DnssecStatus.SECURE for g in got)
    assert fake.count() == 3 and resolver.queries_sent == 3
    assert resolver.stats.batches == 1


async def test_lookup_many_gives_what_lookup_gives_question_by_question() -> None:
    """Mixed fates in one batch (bogus, followed CNAME chain, NXDOMAIN, timeout): each
    result equals the one ``lookup`` gives for that question alone."""

    def handler(q: dns.message.Message, t: str) -> Response:
        name = qname_of(q)
        if name == "bogus.example.":
            if q.flags & dns.flags.CD:
                return answer(q, rrset(name, 60, "A", "192.0.2.66"))
            return answer(q, rcode=dns.rcode.SERVFAIL, ede=[(6, "DNSSEC Bogus")])
        if name == "c0.example.":  # the resolver gives up after one hop
            return answer(q, rrset(name, 60, "CNAME", "c1.example."), ad=True)
        if name == "c1.example.":
            return answer(q, rrset(name, 60, "A", "192.0.2.7"), rrsig_for(name, "A"), ad=True)
        if name == "silent.example.":
            return None
        return answer(q, rcode=dns.rcode.NXDOMAIN, ad=True, authority=[soa("example.")])

    questions = [
        ("bogus.example", "A"),
        ("c0.example", "A"),
        ("gone.example", "MX"),
        ("silent.example", "AAAA"),
    ]
    async with (
        FakeDns(handler).running() as fake,
        Resolver(ResolverConfig(servers=[fake.address], **FAST)) as resolver,
    ):
        together = await resolver.lookup_many(questions)
        alone = [await resolver.lookup(name, rrtype) for name, rrtype in questions]
    assert together == alone
    bogus, chained, gone, silent = together
    assert lookup_status(bogus) is DnssecStatus.BOGUS
    assert chained.cname_chain == ("c1.example",) and chained.records == ("192.0.2.7",)
    assert gone.rcode == "NXDOMAIN" and gone.ad
    assert silent.rcode == "TIMEOUT"


async def test_lookup_many_validates_every_question_before_sending() -> None:
    async with (
        FakeDns(a_record).running() as fake,
        Resolver(ResolverConfig(servers=[fake.address], **FAST)) as resolver,
    ):
        with pytest.raises(ValueError):
            await resolver.lookup_many([("a.example", "A"), ("b.example", "NOSUCHTYPE")])
        with pytest.raises(ValueError):
            await resolver.lookup_many([("a.example", "A"), ("x" * 64 + ".example", "A")])
        assert await resolver.lookup_many([]) == []
    assert fake.count() == 0


async def test_lookup_many_deadline_covers_the_batch() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        return None if qname_of(q) == "slow.example." else a_record(q, t)

    got, _, _ = await batch(
        handler, [("fast.example", "A"), ("slow.example", "A")], timeout=1.0, lookup_timeout=0.3
    )
    assert got[0].rcode == "NOERROR"
    assert got[1].rcode == "TIMEOUT" and "not finished within 0.3 s" in got[1].error


async def test_lookup_many_respects_max_in_flight() -> None:
    async def slow(q: dns.message.Message, t: str) -> Response:
        await trio.sleep(0.02)
        return a_record(q, t)

    questions = [(f"n{i}.example", "A") for i in range(16)]
    got, fake, _ = await batch(slow, questions, max_in_flight=4)
    assert all(g.rcode == "NOERROR" for g in got)
    assert fake.count() == 16 and fake.max_in_flight == 4


async def test_lookup_many_respects_qps() -> None:
    async def main() -> float:
        async with FakeDns(a_record).running() as fake:
            cfg = ResolverConfig(servers=[fake.address], **{**FAST, "qps": 100.0})
            async with Resolver(cfg) as resolver:
                start = trio.current_time()
                got = await resolver.lookup_many([(f"n{i}.example", "A") for i in range(21)])
                assert all(g.rcode == "NOERROR" for g in got)
                return trio.current_time() - start

    elapsed = await main()
    assert 0.19 <= elapsed < 1.0  # 21 sends at 100/s: the last 200 ms after the first


# ----------------------------------------------------------------------------- the hot path


async def test_reader_drains_a_burst_of_replies_in_few_wakeups() -> None:
    """The fake holds every reply until all 64 questions are in, then sends them at once:
    the reader takes the burst in a handful of wake-ups, not one per datagram."""
    n = 64
    everyone = trio.Event()
    count = {"n": 0}

    async def handler(q: dns.message.Message, t: str) -> Response:
        count["n"] += 1
        if count["n"] == n:
            everyone.set()
        await everyone.wait()
        return a_record(q, t)

    got, _, resolver = await batch(handler, [(f"n{i}.example", "A") for i in range(n)])
    assert all(g.rcode == "NOERROR" for g in got)
    assert resolver.stats.drains <= n // 4, resolver.stats


SPACED = 32  # replies, 2 ms apart


async def spaced_replies(**config: Any) -> Resolver:
    """``SPACED`` questions whose replies the fake sends one by one, 2 ms apart: the
    answers are checked, the resolver (its ``stats``) returned."""

    async def handler(q: dns.message.Message, t: str) -> Response:
        await trio.sleep(0.002 * int(qname_of(q).split(".")[0][1:]))
        return a_record(q, t)

    questions = [(f"n{i}.example", "A") for i in range(SPACED)]
    got, _, resolver = await batch(handler, questions, **config)
    assert [g.records for g in got] == [("192.0.2.1",)] * SPACED
    return resolver


@pytest.mark.parametrize("rest", [0.0, 0.04])
async def test_reader_rests_after_a_small_drain_so_that_replies_come_in_bursts(
    rest: float,
) -> None:
    """32 replies to one socket, 2 ms apart. A reader that does not rest wakes for
    nearly each one; with ``reply_wait`` it rests after a small drain, and the replies
    that came meanwhile are read together: the answers are the same."""
    resolver = await spaced_replies(reply_wait=rest, sockets=1)
    if rest:  # wakes at about 0, 40 and 80 ms
        assert resolver.stats.drains <= SPACED // 8, resolver.stats
    else:  # about one wake-up per reply; a loaded machine may merge a few
        assert resolver.stats.drains >= SPACED // 4, resolver.stats


async def test_reader_does_not_rest_while_its_buffer_could_overflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rest must not let a socket's receive buffer fill and drop replies: with a
    buffer that holds none (each reply taking more room than there is), the reader
    does not rest even with ``reply_wait`` set, and wakes for nearly each reply."""
    monkeypatch.setattr(resolve, "DATAGRAM_ROOM", 1 << 40)
    resolver = await spaced_replies(reply_wait=0.04, sockets=1)
    assert resolver.stats.drains >= SPACED // 4, resolver.stats


@pytest.mark.parametrize("epoll", [True, False])
async def test_one_reader_serves_every_socket_of_a_resolver(
    epoll: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies spread over four sockets, 2 ms apart, with a 40 ms rest: one reader for
    all the sockets (an epoll set of them) wakes about three times in all; a reader per
    socket (where there is no epoll) about three times each. Same answers either way."""
    if not epoll:
        monkeypatch.delattr("select.epoll")
    resolver = await spaced_replies(reply_wait=0.04, sockets=4)
    if epoll:
        assert resolver.stats.drains <= 6, resolver.stats
    else:
        assert resolver.stats.drains >= 8, resolver.stats


def test_only_a_scans_stages_rest_between_drains() -> None:
    """``check`` asks one domain (latency counts); a scan's stages ask many at once."""
    options = GatherOptions(resolvers=(("127.0.0.1", 53),))
    assert options.resolver_config().reply_wait == 0.0
    assert options.resolver_config(bulk=True).reply_wait == SCAN_REPLY_WAIT > 0
    quiet = GatherOptions(resolvers=(("127.0.0.1", 53),), dns_reply_wait=0.0)
    assert quiet.resolver_config(bulk=True).reply_wait == 0.0


async def test_cancelled_caller_leaves_the_resolver_working() -> None:
    """A caller cancelled mid-question stops waiting at once; its question keeps its
    in-flight slot until its own timeout, then the next caller's question goes out."""

    def handler(q: dns.message.Message, t: str) -> Response:
        return None if qname_of(q) == "silent.example." else a_record(q, t)

    async with FakeDns(handler).running() as fake:
        cfg = ResolverConfig(servers=[fake.address], **{**FAST, "max_in_flight": 1})
        async with Resolver(cfg) as resolver:
            with trio.move_on_after(0.05) as scope:
                await resolver.lookup("silent.example", "A")
            assert scope.cancelled_caught
            start = trio.current_time()
            got = await resolver.lookup("after.example", "A")
            waited = trio.current_time() - start
            assert got.rcode == "NOERROR"
            # The abandoned question held the only slot until its 0.2 s timeout.
            assert 0.1 <= waited < 1.0
            assert fake.count() == 2  # the abandoned question was not retried
            assert resolver.stats.udp_timeouts == 1


async def test_questions_leave_from_each_socket_in_turn_and_are_answered_there() -> None:
    """Several source ports per resolver address (a multi-threaded resolver gives each
    thread the datagrams of some ports): queries go out from each in turn, and every
    reply is taken on the socket its query left from."""
    async with (
        FakeDns(a_record).running() as fake,
        Resolver(ResolverConfig(servers=[fake.address], **{**FAST, "sockets": 3})) as resolver,
    ):
        got = await resolver.lookup_many([(f"n{i}.example", "A") for i in range(9)])
    assert [g.rcode for g in got] == ["NOERROR"] * 9
    ports = [addr[1] for addr in fake.sources]
    assert len(set(ports)) == 3
    assert sorted(ports.count(p) for p in set(ports)) == [3, 3, 3]
    assert resolver.stats.unexpected == 0 and resolver.stats.udp_timeouts == 0


def test_at_least_one_socket() -> None:
    with pytest.raises(ValueError, match="sockets"):
        ResolverConfig(servers=[("127.0.0.1", 53)], sockets=0)


async def test_send_refused_with_eagain_is_queued_and_sent_later() -> None:
    """When the socket buffer is full (EAGAIN) the datagram waits for the writer task,
    and the sends after it queue behind it (in order) instead of trying again."""

    class Full:
        """The resolver's socket, refusing the first send as a full buffer does."""

        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock
            self.refused = 0

        def send(self, data: bytes) -> int:
            if self.refused < 1:
                self.refused += 1
                raise BlockingIOError
            return self.sock.send(data)

    async with (
        FakeDns(a_record).running() as fake,
        Resolver(ResolverConfig(servers=[fake.address], **{**FAST, "sockets": 1})) as resolver,
    ):
        port = resolver._servers[0].ports[0]
        assert port.sock is not None
        full = Full(port.sock)
        port.sock = full  # type: ignore[assignment]
        got = await resolver.lookup_many([(f"n{i}.example", "A") for i in range(5)])
        port.sock = full.sock
    assert full.refused == 1
    assert all(g.rcode == "NOERROR" for g in got)
    assert fake.count() == 5 and resolver.stats.udp_timeouts == 0


async def test_port_unreachable_fails_every_question_in_flight() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = ResolverConfig(servers=[("127.0.0.1", port)], **{**FAST, "timeout": 0.5})
    async with Resolver(config) as resolver:
        got = await resolver.lookup_many([(f"n{i}.example", "A") for i in range(4)])
    # Every question ends; the refused port is reported as such. Linux rate-limits ICMP
    # port-unreachable messages (net.ipv4.icmp_ratelimit), so a question sent after the
    # first error may get no ICMP of its own and end by its timeout instead (seen on a
    # loaded machine): both are failures that are values, none hangs.
    assert {g.rcode for g in got} <= {"NETWORK_ERROR", "TIMEOUT"}
    refused = [g for g in got if g.rcode == "NETWORK_ERROR"]
    assert refused and all("ECONNREFUSED" in g.error for g in refused)


# ----------------------------------------------------------------------------- lying answers


async def test_records_of_another_type_are_not_a_secure_empty_answer() -> None:
    """TXT records, AD set, for an MX question: not "no MX" (a secure NODATA would read
    as a domain without mail) but a MALFORMED answer, retried like one."""

    def handler(q: dns.message.Message, t: str) -> Response:
        return answer(q, rrset(qname_of(q), 60, "TXT", '"v=spf1 -all"'), ad=True)

    got, fake, resolver = await batch(handler, [("example.org", "MX")])
    (mx,) = got
    assert mx.rcode == "MALFORMED" and mx.records == ()
    assert "TXT records at example.org for a MX question" in mx.error
    assert lookup_status(mx) is DnssecStatus.ERROR
    assert fake.count() == 3 and resolver.stats.malformed == 3


async def test_records_of_the_type_asked_at_a_name_off_the_chain_are_malformed() -> None:
    def handler(q: dns.message.Message, t: str) -> Response:
        return answer(q, rrset("elsewhere.example.", 60, "MX", "10 mx.evil.example."), ad=True)

    (mx,), _, _ = await batch(handler, [("example.org", "MX")])
    assert mx.rcode == "MALFORMED" and "elsewhere.example" in mx.error


async def test_other_types_alongside_the_answer_do_not_count() -> None:
    """Where the asked RRset is there, stray records are still a lie: the answer is not
    read at all, so nothing in it can count."""

    def handler(q: dns.message.Message, t: str) -> Response:
        name = qname_of(q)
        return answer(
            q, rrset(name, 60, "MX", "10 mx.example."), rrset(name, 60, "TXT", '"x"'), ad=True
        )

    (mx,), _, _ = await batch(handler, [("example.org", "MX")])
    assert mx.rcode == "MALFORMED" and mx.records == ()


async def test_one_lying_server_among_two_is_outvoted_by_the_retry() -> None:
    def liar(q: dns.message.Message, t: str) -> Response:
        return answer(q, rrset(qname_of(q), 60, "TXT", '"x"'), ad=True)

    def honest(q: dns.message.Message, t: str) -> Response:
        return answer(q, rrset(qname_of(q), 60, "MX", "10 mx.example."), ad=True)

    async with FakeDns(liar).running() as bad, FakeDns(honest).running() as good:
        cfg = ResolverConfig(servers=[bad.address, good.address], **FAST)
        async with Resolver(cfg) as resolver:
            got = await resolver.lookup("example.org", "MX")
    assert got.rcode == "NOERROR" and got.records == ("10 mx.example.",)
    assert bad.count() == 1 and good.count() == 1


async def test_dname_and_cname_chains_are_not_stray() -> None:
    """RFC 6672: a DNAME answer carries the DNAME and the CNAME synthesised from it."""

    def handler(q: dns.message.Message, t: str) -> Response:
        return answer(
            q,
            rrset("old.example.", 60, "DNAME", "new.example."),
            rrset("mail.old.example.", 60, "CNAME", "mail.new.example."),
            rrset("mail.new.example.", 60, "MX", "10 mx.new.example."),
            ad=True,
        )

    (mx,), _, _ = await batch(handler, [("mail.old.example", "MX")])
    assert mx.rcode == "NOERROR" and mx.records == ("10 mx.new.example.",)
    assert mx.cname_chain == ("mail.new.example",)
