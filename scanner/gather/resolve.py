"""Validating-resolver client: questions in, ``DnsLookup`` facts out (DESIGN §4).

Theory of operation
-------------------
danescan does not validate DNSSEC itself: it asks a validating resolver (Unbound in the
local world, the user's resolvers on the real internet) with the DO bit set and reads
the AD bit, the RCODE and, after a SERVFAIL, the RCODE of the same question repeated
with CD set (``dnssec.lookup_status`` turns those into secure / insecure / bogus /
error). Everything else the resolver said that the rules or the findings need is kept:
the answer RRset at the end of the CNAME chain, its TTL, the RRSIGs over the answer
RRsets, and any Extended DNS Error (RFC 8914) as evidence.

The hot path (issue 10: a scan spends most of its CPU here, and every µs of it is taken
from the resolver on a small machine) is built the way massdns and zdns build theirs:
a question is not a coroutine with its own cancel scope, Event and limiter slot but a
small state machine (``_Job``) that the resolver's own three tasks drive:

- one *reader* for all the sockets (an epoll set of them on Linux, else one reader per
  socket): it waits until a socket is readable, then drains every waiting datagram of
  each (non-blocking ``recv`` until ``EAGAIN``) before it yields, so a burst of replies
  costs one wake-up, not one per datagram or per socket. With
  ``reply_wait`` set (a scan's setting), a reader whose drain found only a few
  datagrams rests that long before it looks again, so that replies come in bursts even
  when the resolver sends them one by one: the same questions cost a sleeping and
  waking process far more CPU than a busy one (measured, ``bench/bench_reply_wait.py``:
  a cold lookup loop slept 0.19 times per query at 36.6 µs of CPU per query, and 0.03
  times at 31.9 µs with a 2 ms rest, 29.5 with 5 ms; bench/RESULTS.md). A scan's rate
  is its in-flight cap over the round trip, so a few ms more per round trip do not slow
  it; a single lookup (``check``) never rests. Nor does a reader while a socket has
  more questions in flight than its receive buffer holds replies (a default Linux
  buffer, 416 KB, holds about 180 of 1,232 octets; a scan's in-process task has 64 per
  socket): the replies that can arrive during a rest are those, and none is dropped;
- one *timer* for every deadline (a UDP try's timeout, a lookup's overall deadline) and
  every delayed action (retry backoff, a send held back by the qps cap). Timeouts all
  have the same length, so they sit in FIFO queues in deadline order and an answered
  query's entry is simply skipped when it reaches the front; backoffs and delayed sends
  sit in a heap. The timer sleeps until the earliest live entry;
- one *writer* per socket, idle unless the socket buffer is full: sends are plain
  non-blocking ``send`` calls made wherever a question moves on (a reply handled by the
  reader, a timer firing, a caller starting a batch), so the follow-up queries of a
  whole drained burst go out without a yield in between; only ``EAGAIN`` queues them.

Questions in flight sit in a pending table per socket, keyed by query id and checked
against the question (a reply counts only if its id *and* question match). A caller
(``lookup``, or ``lookup_many`` for a set of independent questions) parks once
(``trio.lowlevel.wait_task_rescheduled``) and is woken directly when its last answer
is in. A caller that is cancelled stops waiting at once; its questions already on the
wire keep their pending entries (and their ``max_in_flight`` slots) until their reply
or timeout, so the cap really bounds what is on the wire.

Transport. A few connected UDP sockets per resolver address (``sockets``, 4 by
default), each shared by the queries sent from it in turn (NOTES: this beats a socket
per query). Several source ports matter for speed, not only for RFC 5452 §9.2's port
diversity: a multi-threaded resolver (Unbound with ``so-reuseport``; Knot Resolver's
processes and BIND's per-thread listeners alike) hands each thread the datagrams of some
source addresses and ports, so one client socket keeps all of a scan's questions on one
resolver thread (measured: dnsperf against the world's two-thread Unbound, 2,900
domains/s with one socket, 4,040 with four). A *connected* socket also gives two things
for free: the kernel drops datagrams from any other source, and an ICMP port-unreachable
surfaces as ``ECONNREFUSED``, which fails the queries in flight from that socket as
``NETWORK_ERROR`` instead of letting them time out. Truncated answers (TC) are asked
again over TCP, one connection per question, in a task of its own (rare). Query ids
come from ``secrets``; the resolver is assumed to be on a trusted path (the AD bit means
nothing otherwise, RFC 6840 §5.7), so a fixed set of source ports is acceptable.

Messages are built and parsed by a *codec*: dnspython (the reference) or, when
``ResolverConfig.fast_codec`` is set, the hand-written ``scanner.gather.dnswire`` codec, which
hands dnspython the rdata types it does not know and is tested against dnspython (compiled
by mypyc at install time where it can be: ``scanner.gather.codecs``). A
message dnspython refuses is given to the ``dnswire`` decoder before being called
malformed: dnspython 2.9 refuses a whole message for one TLSA record whose data
length does not fit its matching type, a record DESIGN §4 wants kept (and judged
unusable by the rules).

Failures are values (STYLE §3): a timeout, a refused port, a garbage reply end as a
``DnsLookup`` whose ``rcode`` is ``"TIMEOUT"``, ``"NETWORK_ERROR"`` or ``"MALFORMED"``
with the detail in ``error``. Only caller bugs (an unknown RR type, an invalid name)
raise. An answer whose answer section carries records that are neither of the type
asked nor part of the CNAME/DNAME chain from the question (TXT records for an MX
question, an MX RRset at some other name) is MALFORMED too: no resolver that follows
RFC 1034 §4.3.2 writes one, and reading it as an empty (NODATA) answer would turn a
lying resolver into a secure "no MX" fact.

Retries. A try that times out, a SERVFAIL / REFUSED answer or a malformed reply is
retried up to ``attempts`` times in all, on the next resolver address in round-robin
order, after an exponential backoff with jitter. After a final SERVFAIL the question is
repeated with CD set and its RCODE recorded as ``cd_rcode``. An answer beats a transport
failure when choosing what to report (a SERVFAIL and then a timeout report the
SERVFAIL). An address with ``down_after`` consecutive timeouts and no answer in between
is skipped for a cool-down period (doubling, capped) while other addresses are
available.

CNAMEs (DESIGN §4: cap chains yourself, results must not depend on the resolver's
cache). The answer section is walked from the question name through CNAMEs to the
final name; at most ``cname_hops`` CNAMEs are followed, a longer chain or a loop sets
``cname_limit_hit``. If the chain in the answer stops at a name with neither the
wanted RRset nor a denial for it (no SOA for that name or an ancestor in the authority
section: the resolver gave up), the last target is asked for directly and the walk
continues there, within the same hop budget. The AD bit of a lookup assembled from
several answers is the AND of all of them; the RCODE is the last answer's.

Rates. ``max_in_flight`` caps the questions on the wire at once (UDP and TCP tries; a
question waiting for a backoff or for the next CNAME hop holds no slot; questions
beyond the cap wait in FIFO order); ``qps`` caps the rate of questions sent, UDP and
TCP, with a token bucket (GCRA: each send reserves the next free instant on trio's
clock; up to ``qps_burst`` may go back to back).

Record presentation (``DnsLookup.records``, sorted: resolvers rotate RRset order, and
scans must compare over time): dnspython's presentation form, except
that domain names inside MX / CNAME / NS / PTR / SRV rdata are lower-cased (absolute,
with their trailing dot: a null MX is ``"0 ."``) and TLSA association data is one
unbroken lower-case hex string (``"3 1 1 ab12..."``, as ``model.TlsaRecord.presentation``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import heapq
import itertools
import random
import re
import secrets
import select
import socket
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, NamedTuple, Protocol, Self, cast

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import trio
import trio.lowlevel
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from scanner.core.model import DnsLookup, Ede, Rrsig
from scanner.gather.codecs import FastCodec
from scanner.gather.dnsreply import (
    MAX_MESSAGE,
    AnswerRRset,
    Codec,
    MalformedReply,
    Reply,
    canonical_name,
)
from scanner.gather.dnswire import DnspythonCodec

__all__ = [
    "DnsClient",
    "Resolver",
    "ResolverConfig",
    "SelfCheck",
    "self_check",
]

ANSWERED = frozenset({"NOERROR", "NXDOMAIN"})
RETRIED_RCODES = frozenset({"SERVFAIL", "REFUSED"})
_CNAME = int(dns.rdatatype.CNAME)
_DNAME = int(dns.rdatatype.DNAME)

FailureKind = Literal["TIMEOUT", "NETWORK_ERROR", "MALFORMED"]

# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class ResolverConfig:
    """How to talk to the validating resolver(s).

    ``servers`` are (address, port) pairs with numeric addresses (IPv4 or IPv6).
    ``timeout`` is per try; ``attempts`` the tries per question in all (>= 1).
    ``lookup_timeout`` bounds one ``lookup`` call as a whole (CNAME hops, CD retry,
    TCP included); ``None`` leaves it to the caller's cancel scopes.
    """

    servers: Sequence[tuple[str, int]]
    timeout: float = 2.0
    attempts: int = 3
    backoff_base: float = 0.1  # first retry waits about this long, doubling each time
    backoff_max: float = 2.0
    max_in_flight: int = 256
    qps: float | None = None  # None: unlimited
    qps_burst: int = 1
    cname_hops: int = 10
    edns_payload: int = 1232  # DNS Flag Day 2020: no IP fragmentation
    lookup_timeout: float | None = 30.0
    sockets: int = 4  # UDP sockets (source ports) per server, used in turn
    # Seconds a reader rests after a drain of fewer than REPLY_BURST datagrams (module
    # docstring: "reader"); 0: it waits for the socket at once.
    reply_wait: float = 0.0
    down_after: int = 3  # consecutive timeouts before an address is skipped
    down_cooldown: float = 1.0  # first skip period, doubling up to down_cooldown_max
    down_cooldown_max: float = 30.0
    fast_codec: bool = False  # use scanner.gather.dnswire (tested against dnspython)

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("ResolverConfig needs at least one server")
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if self.sockets < 1:
            raise ValueError("sockets must be >= 1")
        if self.qps is not None and self.qps <= 0:
            raise ValueError("qps must be positive or None")
        if self.cname_hops < 0:
            raise ValueError("cname_hops must be >= 0")
        if not 512 <= self.edns_payload <= MAX_MESSAGE:
            raise ValueError("edns_payload must be within 512..65535")


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True, slots=True)
class _Failure:
    kind: FailureKind
    detail: str


_Result = Reply | _Failure


class _Batch:
    """The questions one caller asked together; the caller parks until ``remaining`` is 0."""

    __slots__ = ("jobs", "remaining", "task")

    def __init__(self) -> None:
        self.jobs: list[_Job] = []
        self.remaining = 0
        self.task: trio.lowlevel.Task | None = None  # set while the caller is parked


class _Job:
    """One question being resolved: its CNAME walk, its current exchange, its current try.

    ``token`` is new with every try (unique in the resolver), so a timer entry or a
    delayed send left behind by an earlier try is recognised as stale. ``qid`` is the id
    of the UDP query on the wire (-1: none). The CNAME chain, RRSIGs, EDEs and the retry
    log are tuples, empty (shared) for the common question that needs none. ``done`` is
    set once the lookup has a result, or when its caller stopped waiting; a done job
    still finishes the try it has on the wire (the slot and the pending entry are
    released when its reply or timeout comes) but starts no other.
    """

    __slots__ = (
        "ad",
        "attempt",
        "batch",
        "cd",
        "chain",
        "current",
        "done",
        "edes",
        "last_failure",
        "last_reply",
        "log",
        "mismatched",
        "pin",
        "port",
        "previous",
        "qid",
        "qname",
        "rdtype",
        "result",
        "rrsigs",
        "rrtype",
        "server",
        "tcp_scope",
        "token",
    )

    def __init__(
        self, batch: _Batch, qname: str, rrtype: str, rdtype: int, pin: _Server | None
    ) -> None:
        self.batch = batch
        self.qname = qname
        self.rrtype = rrtype
        self.rdtype = rdtype
        self.pin = pin
        self.current = qname
        self.chain: tuple[str, ...] = ()
        self.rrsigs: tuple[Rrsig, ...] = ()
        self.edes: tuple[Ede, ...] = ()
        self.ad = True
        self.cd = False
        self.attempt = 0
        self.log: tuple[str, ...] = ()
        self.last_reply: Reply | None = None
        self.last_failure: _Failure | None = None
        self.previous: _Server | None = None
        self.server: _Server | None = None
        self.port: _Port | None = None  # the socket of the UDP try on the wire
        self.token = 0
        self.qid = -1
        self.mismatched = 0
        self.tcp_scope: trio.CancelScope | None = None
        self.done = False
        self.result: DnsLookup | None = None


@dataclass(eq=False, slots=True)
class _Server:
    """A resolver address and its health; its sockets are ``ports``."""

    host: str
    port: int
    family: int
    label: str
    index: int  # in Resolver._servers
    ports: list[_Port] = field(default_factory=list)
    turn: int = 0  # the port the next query goes out from (round robin)
    consecutive_timeouts: int = 0
    down_until: float = 0.0
    down_streak: int = 0


@dataclass(eq=False, slots=True)
class _Port:
    """One connected UDP socket to ``server``: a source port with its own queries."""

    server: _Server
    index: int  # in Resolver._ports (timer entries name a port by it)
    sock: socket.socket | None = None
    room: int = 0  # replies the socket's receive buffer holds (DATAGRAM_ROOM each)
    pending: dict[int, _Job] = field(default_factory=dict)  # query id -> question on the wire
    outbox: deque[bytes] = field(default_factory=deque)  # datagrams the kernel refused (EAGAIN)
    outbox_ready: trio.Event = field(default_factory=trio.Event)


def _family(host: str) -> int:
    try:
        socket.inet_pton(socket.AF_INET, host)
        return socket.AF_INET
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, host)
        return socket.AF_INET6
    except OSError:
        raise ValueError(f"resolver address must be a numeric IP address: {host!r}") from None


def _label(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _TokenBucket:
    """GCRA rate limiter on trio's clock: each call reserves the next free instant."""

    def __init__(self, rate: float, burst: int) -> None:
        self._interval = 1.0 / rate
        self._slack = max(0, burst - 1) * self._interval
        self._next = -float("inf")

    def reserve(self, now: float) -> float:
        """The instant at which the caller may send (``now`` or later)."""
        at = max(self._next, now - self._slack)
        self._next = at + self._interval
        return max(at, now)

    async def take(self) -> None:
        at = self.reserve(trio.current_time())
        if at > trio.current_time():
            await trio.sleep_until(at)


@dataclass(slots=True)
class ResolverStats:
    """Counters the crawler reports in the scan metadata."""

    queries_sent: int = 0  # UDP datagrams and TCP questions sent
    udp_timeouts: int = 0
    tcp_fallbacks: int = 0  # TC answers asked again over TCP
    network_errors: int = 0
    malformed: int = 0  # unparseable replies and answers with records of the wrong type
    unexpected: int = 0  # datagrams matching no question in flight (late, wrong id)
    cd_retries: int = 0
    drains: int = 0  # reader wake-ups (each drains every waiting datagram)
    batches: int = 0  # lookup / lookup_many calls


class _Walk(NamedTuple):
    names: tuple[str, ...]  # CNAME targets followed, in order
    final: str
    rrset: AnswerRRset | None
    rrsigs: tuple[Rrsig, ...]
    problem: str  # "" or why the chain was cut ("loop", "limit")


def _walk_answer(
    reply: Reply, start: str, rdtype: int, budget: int, qname: str, chain: tuple[str, ...]
) -> _Walk:
    """Follow CNAMEs in one answer section from ``start`` (DnsLookup docstring).

    ``qname`` and ``chain`` are the names the lookup has been at so far (a CNAME back to
    one of them is a loop). The common answers (nothing, or just the RRset asked for at
    ``start``) take no index and no loop.
    """
    answer = reply.answer
    names: tuple[str, ...] = ()
    problem = ""
    current = start
    rrset: AnswerRRset | None = None
    if len(answer) == 1 and answer[0].owner == start and answer[0].rdtype == rdtype:
        rrset = answer[0]
    elif answer:
        index = {(rr.owner, rr.rdtype): rr for rr in answer}
        followed: list[str] = []
        rrset = index.get((current, rdtype))
        while rrset is None and rdtype != _CNAME:
            cname = index.get((current, _CNAME))
            if cname is None or not cname.records:
                break
            target = canonical_name(cname.records[0])
            if target == qname or target in chain or target in followed:
                problem = f"CNAME loop: {current} points back to {target}"
                break
            if len(followed) >= budget:
                problem = f"CNAME chain longer than the cap at {current} -> {target}"
                break
            followed.append(target)
            current = target
            rrset = index.get((current, rdtype))
        names = tuple(followed)
    sigs: tuple[Rrsig, ...] = ()
    if reply.rrsigs:
        covered = (_type_text(rdtype), "CNAME")
        # In chain order, and sorted at each owner (resolvers rotate RRset order).
        sigs = tuple(
            sig
            for owner in (start, *names)
            for sig in sorted(
                (sig for o, sig in reply.rrsigs if o == owner and sig.covered in covered),
                key=_rrsig_order,
            )
        )
    return _Walk(names, current, rrset, sigs, problem)


def _denied_at(reply: Reply, name: str) -> bool:
    """Does the authority section hold an SOA for ``name`` or an ancestor (a denial)?"""
    return any(name == soa or name.endswith("." + soa) or soa == "." for soa in reply.soa_owners)


def _stray(reply: Reply, qname: str, rdtype: int) -> str:
    """Why an answer section is a lie ("" when it is not): it carries an RRset that is
    neither part of the CNAME/DNAME chain nor of the type asked at a name of the chain
    (RFC 1034 §4.3.2: the answer holds the CNAMEs followed and the RRset asked for)."""
    chain: set[str] | None = None
    for rr in reply.answer:
        rdt = rr.rdtype
        if rdt in (_CNAME, _DNAME):
            continue
        if rdt == rdtype:
            if rr.owner == qname:
                continue
            if chain is None:
                chain = _chain_owners(reply, qname)
            if rr.owner in chain:
                continue
            return (
                f"answer carries {_type_text(rdt)} records at {rr.owner}, "
                f"which no CNAME from {qname} leads to"
            )
        return (
            f"answer carries {_type_text(rdt)} records at {rr.owner} "
            f"for a {_type_text(rdtype)} question"
        )
    return ""


def _chain_owners(reply: Reply, qname: str) -> set[str]:
    cnames = {rr.owner: rr for rr in reply.answer if rr.rdtype == _CNAME and rr.records}
    owners = {qname}
    current = qname
    while current in cnames:
        current = canonical_name(cnames[current].records[0])
        if current in owners:
            break
        owners.add(current)
    return owners


# --------------------------------------------------------------------------- the resolver


# A drain at least this big is a burst already: the reader does not rest after it.
REPLY_BURST = 32
# Receive-buffer room one reply of up to 1,232 octets takes (the kernel charges a
# datagram's whole buffer: measured on Linux, 184 such datagrams fill 425,984 octets).
DATAGRAM_ROOM = 2_304


class Resolver:
    """A client of one or more validating resolvers, shared by many trio tasks.

    Use as an async context manager (it owns the sockets and their reader tasks)::

        async with Resolver(ResolverConfig(servers=[("127.53.0.53", 53)])) as resolver:
            mx = await resolver.lookup("example.com", "MX")
            mx, sts, rpt = await resolver.lookup_many(
                [("example.com", "MX"), ("_mta-sts.example.com", "TXT"),
                 ("_smtp._tls.example.com", "TXT")]
            )

    ``lookup`` and ``lookup_many`` never raise for network trouble; ``queries_sent``
    (and ``stats``) count what went on the wire.
    """

    def __init__(self, config: ResolverConfig, codec: Codec | None = None) -> None:
        self.config = config
        if codec is None:
            if config.fast_codec:
                codec = FastCodec()
            else:
                codec = DnspythonCodec()
        self.codec: Codec = codec
        self.stats = ResolverStats()
        self._servers = [
            _Server(host=h, port=p, family=_family(h), label=_label(h, p), index=i)
            for i, (h, p) in enumerate(config.servers)
        ]
        self._ports: list[_Port] = []
        for server in self._servers:
            for _ in range(config.sockets):
                server.ports.append(_Port(server, len(self._ports)))
                self._ports.append(server.ports[-1])
        self._rr = 0
        self._in_flight = 0  # tries holding a max_in_flight slot
        self._slot_queue: deque[_Job] = deque()  # jobs waiting for a slot, FIFO
        self._bucket = _TokenBucket(config.qps, config.qps_burst) if config.qps else None
        self._jitter = random.Random()
        self._ids: list[int] = []
        self._stack: contextlib.AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None
        # The timer's queues (module docstring): UDP try deadlines and lookup deadlines
        # in FIFO order (each has one fixed length), delayed actions in a heap. A try's
        # entry names it by numbers only (server index, query id, try token), so an
        # answered try's entry holds no job alive until it reaches the front.
        self._try_deadlines: deque[tuple[float, int, int, int]] = deque()
        self._batch_deadlines: deque[tuple[float, _Batch]] = deque()
        self._delayed: list[tuple[float, int, Callable[[_Job, int], None], _Job, int]] = []
        self._seq = itertools.count()
        self._tokens = itertools.count(1)
        self._timer_at = -float("inf")  # when the timer wakes; -inf while it is running
        self._timer_scope: trio.CancelScope | None = None
        # trio's clock, read directly on the hot path: ``trio.current_time()`` reaches the
        # same ``current_time`` through two more Python calls, several times per domain.
        self._now: Callable[[], float] = trio.current_time

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._now = trio.lowlevel.current_clock().current_time
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            for port in self._ports:
                server = port.server
                sock = socket.socket(server.family, socket.SOCK_DGRAM)
                # Closed after the nursery below has finished: no task waits on it then.
                stack.callback(sock.close)
                sock.setblocking(False)
                with contextlib.suppress(OSError):  # a bigger buffer absorbs bursts of replies
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                port.room = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // DATAGRAM_ROOM
                sock.connect((server.host, server.port))  # UDP: no handshake, never blocks
                port.sock = sock
            nursery = await stack.enter_async_context(trio.open_nursery())
            # One reader for all the sockets where the system has epoll (Linux), else
            # one per socket.
            socks = [(port, port.sock) for port in self._ports if port.sock is not None]
            for ports in [socks] if hasattr(select, "epoll") else [[s] for s in socks]:
                nursery.start_soon(self._reader, ports, name=f"dns-reader {ports[0][0].index}")
            for port, own in socks:
                label = f"{port.server.label} #{port.index}"
                nursery.start_soon(self._writer, port, own, name=f"dns-writer {label}")
            nursery.start_soon(self._timer, name="dns-timer")
            self._nursery = nursery
            stack.callback(nursery.cancel_scope.cancel)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if stack is None:
            return None
        try:
            return await stack.__aexit__(exc_type, exc, tb)
        finally:
            self._nursery = None
            for port in self._ports:
                port.sock = None

    @property
    def queries_sent(self) -> int:
        """Questions sent so far (UDP and TCP), for the scan metadata."""
        return self.stats.queries_sent

    @property
    def servers(self) -> list[str]:
        return [s.label for s in self._servers]

    # -- the public API -------------------------------------------------------------------

    async def lookup(self, name: str, rrtype: str) -> DnsLookup:
        """Ask ``rrtype`` at ``name`` (DO set, RD set, CD clear) and gather the facts.

        Raises ``ValueError`` for an unknown RR type or a name dnspython rejects; every
        network outcome is a value.
        """
        return (await self._run(((name, rrtype),), pin=None))[0]

    async def lookup_many(self, questions: Sequence[tuple[str, str]]) -> list[DnsLookup]:
        """``lookup`` of independent questions at once, results in the same order.

        All are sent together and the caller is woken once, when the last is decided
        (each within ``lookup_timeout``). Validates every question before sending any.
        """
        return await self._run(questions, pin=None)

    async def lookup_at(self, server: int, name: str, rrtype: str) -> DnsLookup:
        """``lookup`` asked of one configured server only (index into ``servers``)."""
        return (await self._run(((name, rrtype),), pin=self._servers[server]))[0]

    async def _run(
        self, questions: Sequence[tuple[str, str]], pin: _Server | None
    ) -> list[DnsLookup]:
        if self._stack is None:
            raise RuntimeError("use the Resolver inside 'async with'")
        batch = _Batch()
        for name, rrtype in questions:
            rdtype, text = _rrtype(rrtype)
            batch.jobs.append(_Job(batch, _qname(name), text, rdtype, pin))
        self.stats.batches += 1
        batch.remaining = len(batch.jobs)
        if self.config.lookup_timeout is not None and batch.jobs:
            when = self._now() + self.config.lookup_timeout
            self._batch_deadlines.append((when, batch))
            self._arm(when)
        for job in batch.jobs:
            self._exchange(job)
        if batch.remaining:
            batch.task = trio.lowlevel.current_task()

            def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
                # The caller is cancelled: stop every question that is not decided.
                # What is on the wire finishes its try (class docstring of _Job).
                batch.task = None
                batch.remaining = 0
                for job in batch.jobs:
                    job.done = True
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        else:
            await trio.lowlevel.checkpoint()
        # (job.result is set for every job by now; no cast(): a Python call per question)
        results: list[DnsLookup] = [job.result for job in batch.jobs]  # type: ignore[misc]
        # Jobs point at their batch: let go of them (and their results) now, not when the
        # collector finds the cycle, and leave the lookup deadline's entry nothing to hold.
        batch.jobs = []
        return results

    # -- the three tasks ------------------------------------------------------------------

    async def _reader(self, ports: Sequence[tuple[_Port, socket.socket]]) -> None:
        """Drain every datagram waiting on the sockets of ``ports``, then wait for more.

        Several sockets are waited on as one epoll set (readable when any of them is):
        a wake-up reads every socket with replies waiting, so the process wakes once per
        burst of the whole resolver, not once per socket. With a reader per socket a
        cold scan's domain stage spent about a fifth more CPU at four sockets than at
        one or two (bench/RESULTS.md, issue 10's eighth pass)."""
        rest = self.config.reply_wait
        drain = self._drain
        stats = self.stats
        with contextlib.ExitStack() as stack:
            by_fd = {sock.fileno(): (port, sock.recv) for port, sock in ports}
            epoll: select.epoll | None = None
            if len(ports) == 1:  # no epoll set to wait on, nor a poll call per wake-up
                waited: socket.socket | select.epoll = ports[0][1]
                every = list(by_fd.values())
            else:
                waited = epoll = stack.enter_context(select.epoll(len(ports)))
                for _, sock in ports:
                    epoll.register(sock, select.EPOLLIN)
            while True:
                await trio.lowlevel.wait_readable(waited)
                stats.drains += 1
                got = 0
                for port, recv in (
                    every if epoll is None else [by_fd[fd] for fd, _ in epoll.poll(0)]
                ):
                    got += drain(port, recv)
                # A big drain means replies already come in bursts; and a rest must not
                # let a socket's buffer fill and drop replies: the replies that can come
                # meanwhile are those of the questions in flight.
                if got < REPLY_BURST and rest and all(len(p.pending) <= p.room for p, _ in ports):
                    await trio.sleep(rest)

    def _drain(self, port: _Port, recv: Callable[[int], bytes]) -> int:
        """Hand on every datagram waiting on ``port``'s socket (``recv``: its
        non-blocking ``recv``, called until ``EAGAIN``); how many there were."""
        handle = self._datagram
        got = 0
        while True:
            try:
                data = recv(MAX_MESSAGE)
            except BlockingIOError:
                return got
            except InterruptedError:
                continue
            except OSError as exc:
                # ECONNREFUSED after an ICMP port unreachable (or another asynchronous
                # error): every question in flight from this socket is lost.
                self._fail_port(port, exc)
                return got
            handle(port, data)
            got += 1

    async def _writer(self, port: _Port, sock: socket.socket) -> None:
        """Send what the kernel refused with EAGAIN, once the socket is writable again."""
        while True:
            await port.outbox_ready.wait()
            port.outbox_ready = trio.Event()
            while port.outbox:
                await trio.lowlevel.wait_writable(sock)
                while port.outbox:
                    try:
                        sock.send(port.outbox[0])
                    except BlockingIOError:
                        break
                    except OSError:
                        # The question is counted as sent and pending: it times out
                        # (and is retried) like a datagram lost on the way.
                        self.stats.network_errors += 1
                    port.outbox.popleft()

    async def _timer(self) -> None:
        """Fire due deadlines and delayed actions, then sleep until the next one."""
        while True:
            self._timer_at = -float("inf")  # _arm leaves the wake-up time to us meanwhile
            self._fire(self._now())
            at = self._next_due()
            self._timer_at = at
            with trio.CancelScope(deadline=at) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None

    def _arm(self, when: float) -> None:
        """Make the timer wake at ``when`` if it would sleep longer."""
        if when < self._timer_at:
            self._timer_at = when
            if self._timer_scope is not None:
                self._timer_scope.deadline = when

    def _fire(self, now: float) -> None:
        tries = self._try_deadlines
        ports = self._ports
        while tries:
            when, index, qid, token = tries[0]
            job = ports[index].pending.get(qid)
            if job is None or job.token != token:
                tries.popleft()  # answered (or failed) before its deadline
                continue
            if when > now:
                break
            tries.popleft()
            self._udp_timeout(job)
        batches = self._batch_deadlines
        while batches:
            when, batch = batches[0]
            if batch.remaining == 0:
                batches.popleft()
                continue
            if when > now:
                break
            batches.popleft()
            self._batch_timeout(batch)
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            _, _, action, job, token = heapq.heappop(delayed)
            action(job, token)

    def _next_due(self) -> float:
        at = float("inf")
        if self._try_deadlines:
            at = self._try_deadlines[0][0]
        if self._batch_deadlines:
            at = min(at, self._batch_deadlines[0][0])
        if self._delayed:
            at = min(at, self._delayed[0][0])
        return at

    def _later(self, when: float, action: Callable[[_Job, int], None], job: _Job) -> None:
        heapq.heappush(self._delayed, (when, next(self._seq), action, job, job.token))
        self._arm(when)

    # -- one question's state machine -----------------------------------------------------

    def _exchange(self, job: _Job) -> None:
        """Start asking ``job.current`` (CD as ``job.cd``): up to ``attempts`` tries."""
        job.attempt = 0
        job.log = ()
        job.last_reply = None
        job.last_failure = None
        job.previous = None
        self._attempt(job)

    def _attempt(self, job: _Job) -> None:
        server = job.pin if job.pin is not None else self._pick(job.previous)
        job.previous = server
        job.server = server
        job.token = next(self._tokens)
        if self._in_flight < self.config.max_in_flight:
            self._in_flight += 1
            self._send(job)
        else:
            self._slot_queue.append(job)

    def _after_backoff(self, job: _Job, token: int) -> None:
        if not job.done and job.token == token:
            self._attempt(job)

    def _send(self, job: _Job) -> None:
        """Send ``job``'s try (it holds a slot), now or when the qps cap allows."""
        if self._bucket is not None:
            now = trio.current_time()
            at = self._bucket.reserve(now)
            if at > now:
                self._later(at, self._send_due, job)
                return
        self._transmit(job)

    def _send_due(self, job: _Job, token: int) -> None:
        if job.done:
            self._release()
        else:
            self._transmit(job)

    def _release(self) -> None:
        """A try ended: its slot goes to the first job waiting for one, if any."""
        queue = self._slot_queue
        while queue:
            job = queue.popleft()
            if not job.done:
                self._send(job)
                return
        self._in_flight -= 1

    def _transmit(self, job: _Job) -> None:
        server = job.server
        assert server is not None
        ports = server.ports
        port = ports[server.turn]
        server.turn = (server.turn + 1) % len(ports)
        sock = port.sock
        if sock is None:
            raise RuntimeError("use the Resolver inside 'async with'")
        qid = self._new_id(port)
        wire = self.codec.encode_query(
            job.current, job.rdtype, qid, job.cd, self.config.edns_payload
        )
        if port.outbox:
            port.outbox.append(wire)  # keep the order; the writer is already awake
        else:
            try:
                sock.send(wire)
            except BlockingIOError:
                port.outbox.append(wire)
                port.outbox_ready.set()
            except OSError as exc:
                detail = f"UDP send failed: {_oserror(exc)}"
                self._try_finished(job, server, _Failure("NETWORK_ERROR", detail))
                return
        self.stats.queries_sent += 1
        port.pending[qid] = job
        job.port = port
        job.qid = qid
        job.mismatched = 0
        when = self._now() + self.config.timeout
        self._try_deadlines.append((when, port.index, qid, job.token))
        if when < self._timer_at:
            self._arm(when)

    def _new_id(self, port: _Port) -> int:
        # Unpredictable ids (RFC 5452 §9.2) from a pool filled 4,096 at a time:
        # ``secrets.randbits`` costs a getrandom() system call per query.
        pending = port.pending
        while True:
            if not self._ids:
                self._ids = list(memoryview(secrets.token_bytes(8192)).cast("H"))
            qid = self._ids.pop()
            if qid not in pending:
                return qid

    def _datagram(self, port: _Port, data: bytes) -> None:
        """One datagram on ``port``: hand it to the question it answers, if any."""
        job = port.pending.get((data[0] << 8) | data[1]) if len(data) >= 2 else None
        if job is None:
            self.stats.unexpected += 1
            return
        try:
            reply = self.codec.decode_reply(data)
        except MalformedReply as exc:
            self._udp_done(job, _Failure("MALFORMED", f"UDP reply: {exc}"))
            return
        if not (
            reply.qr
            and reply.id == job.qid
            and reply.qname == job.current
            and reply.qtype == job.rdtype
        ):
            # Same id, other question: a late answer to an earlier query that used this
            # id. Keep waiting for ours.
            job.mismatched += 1
            self.stats.unexpected += 1
            return
        self._udp_done(job, reply)

    def _fail_port(self, port: _Port, exc: OSError) -> None:
        failure = _Failure("NETWORK_ERROR", f"UDP: {_oserror(exc)}")
        for qid, job in list(port.pending.items()):
            if port.pending.get(qid) is job:
                self._udp_done(job, failure)

    def _udp_timeout(self, job: _Job) -> None:
        self.stats.udp_timeouts += 1
        detail = f"no reply within {self.config.timeout:g} s (UDP)"
        if job.mismatched:
            detail += f", {job.mismatched} reply(ies) to another question ignored"
        self._udp_done(job, _Failure("TIMEOUT", detail))

    def _udp_done(self, job: _Job, result: _Result) -> None:
        port, server = job.port, job.server
        assert port is not None and server is not None
        del port.pending[job.qid]
        job.qid = -1
        job.port = None
        if isinstance(result, Reply) and result.tc and not job.done:
            self.stats.tcp_fallbacks += 1
            assert self._nursery is not None
            self._nursery.start_soon(self._tcp, job, server)  # keeps the slot
            return
        self._try_finished(job, server, result)

    async def _tcp(self, job: _Job, server: _Server) -> None:
        result: _Result = _Failure("TIMEOUT", "lookup abandoned during the TCP try")
        with trio.CancelScope() as scope:
            job.tcp_scope = scope
            result = await self._try_tcp(server, job.current, job.rdtype, job.cd)
        job.tcp_scope = None
        self._try_finished(job, server, result)

    def _try_finished(self, job: _Job, server: _Server, result: _Result) -> None:
        """A try is over (answer or failure): free its slot, then retry or move on."""
        self._release()
        if isinstance(result, Reply) and result.rcode in ANSWERED:
            lie = _stray(result, job.current, job.rdtype)
            if lie:
                result = _Failure("MALFORMED", lie)
        if isinstance(result, Reply):
            self._mark_alive(server)
        elif result.kind == "TIMEOUT":
            self._mark_timeout(server)
        elif result.kind == "NETWORK_ERROR":
            self.stats.network_errors += 1
        else:
            self.stats.malformed += 1
        if job.done:
            return
        if isinstance(result, Reply):
            if result.rcode not in RETRIED_RCODES:
                self._exchange_done(job, result)
                return
            job.last_reply = result
            job.log += (f"{server.label}: {result.rcode}",)
        else:
            job.last_failure = result
            job.log += (f"{server.label}: {result.detail}",)
        job.attempt += 1
        if job.attempt < self.config.attempts:
            self._later(trio.current_time() + self._backoff(job.attempt), self._after_backoff, job)
            return
        final: _Result | None = job.last_reply or job.last_failure
        assert final is not None
        self._exchange_done(job, final)

    def _exchange_done(self, job: _Job, result: _Result) -> None:
        """An exchange is decided: finish the lookup, or ask with CD, or follow the chain."""
        qname, current = job.qname, job.current
        if job.cd:
            # The CD retry after a SERVFAIL: bogus (validation failed) vs error (the
            # resolver could not get an answer at all). Its EDEs are not kept: Unbound
            # attaches stray ones to CD answers (NOTES).
            failed = isinstance(result, _Failure)
            self._finish(
                job,
                DnsLookup(
                    name=qname,
                    rrtype=job.rrtype,
                    rcode="SERVFAIL",
                    cd_rcode=result.kind if isinstance(result, _Failure) else result.rcode,
                    cname_chain=job.chain,
                    ede=job.edes,
                    rrsigs=job.rrsigs,
                    error=_where(current, qname) + "CD retry: " + "; ".join(job.log)
                    if failed
                    else "",
                ),
            )
            return
        if isinstance(result, _Failure):
            self._finish(
                job,
                DnsLookup(
                    name=qname,
                    rrtype=job.rrtype,
                    rcode=result.kind,
                    cname_chain=job.chain,
                    ede=job.edes,
                    rrsigs=job.rrsigs,
                    error=_where(current, qname) + "; ".join(job.log),
                ),
            )
            return
        if result.ede:
            job.edes += result.ede
        rcode = result.rcode
        if rcode not in ANSWERED:
            if rcode == "SERVFAIL":
                self.stats.cd_retries += 1
                job.cd = True
                self._exchange(job)
                return
            # The RCODE says it all; ``error`` carries transport detail only (model).
            self._finish(
                job,
                DnsLookup(
                    name=qname,
                    rrtype=job.rrtype,
                    rcode=rcode,
                    cname_chain=job.chain,
                    ede=job.edes,
                    rrsigs=job.rrsigs,
                ),
            )
            return
        job.ad = job.ad and result.ad
        names, final, rrset, sigs, problem = _walk_answer(
            result,
            current,
            job.rdtype,
            self.config.cname_hops - len(job.chain),
            qname,
            job.chain,
        )
        if names:
            job.chain += names
        if sigs:
            job.rrsigs += sigs
        if (
            problem
            or rrset is not None
            or not names
            or rcode == "NXDOMAIN"
            or _denied_at(result, final)
        ):
            self._finish(
                job,
                DnsLookup(
                    name=qname,
                    rrtype=job.rrtype,
                    rcode=rcode,
                    ad=job.ad,
                    records=tuple(sorted(rrset.records)) if rrset else (),
                    cname_chain=job.chain,
                    ttl=rrset.ttl if rrset else None,
                    ede=job.edes,
                    rrsigs=job.rrsigs,
                    cname_limit_hit=bool(problem),
                    error=problem,
                ),
            )
            return
        # The chain stops at a name with neither the RRset nor a denial for it: the
        # resolver gave up (its own chain limit, a cold cache). Ask for the last target.
        job.current = final
        self._exchange(job)

    def _finish(self, job: _Job, result: DnsLookup) -> None:
        job.done = True
        job.result = result
        batch = job.batch
        batch.remaining -= 1
        if batch.remaining == 0 and batch.task is not None:
            task, batch.task = batch.task, None
            trio.lowlevel.reschedule(task)

    def _batch_timeout(self, batch: _Batch) -> None:
        deadline = self.config.lookup_timeout
        for job in batch.jobs:
            if job.done:
                continue
            if job.tcp_scope is not None:
                job.tcp_scope.cancel()
            self._finish(
                job,
                DnsLookup(
                    name=job.qname,
                    rrtype=job.rrtype,
                    rcode="TIMEOUT",
                    error=f"lookup not finished within {deadline:g} s",
                ),
            )

    # -- servers, backoff -----------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = min(self.config.backoff_max, self.config.backoff_base * 2.0 ** (attempt - 1))
        return base * self._jitter.uniform(0.5, 1.5)

    def _pick(self, avoid: _Server | None) -> _Server:
        """Round robin over the addresses not in their cool-down, avoiding the last one."""
        servers = self._servers
        n = len(servers)
        if n == 1:
            return servers[0]
        now = trio.current_time()
        fallback: _Server | None = None
        for i in range(n):
            idx = (self._rr + i) % n
            server = servers[idx]
            if server.down_until > now:
                continue
            if server is avoid:
                fallback = fallback or server
                continue
            self._rr = (idx + 1) % n
            return server
        if fallback is not None:
            return fallback
        return min(servers, key=lambda s: s.down_until)

    def _mark_timeout(self, server: _Server) -> None:
        server.consecutive_timeouts += 1
        if server.consecutive_timeouts >= self.config.down_after:
            cooldown = min(
                self.config.down_cooldown_max, self.config.down_cooldown * 2**server.down_streak
            )
            server.down_until = trio.current_time() + cooldown
            server.down_streak += 1
            server.consecutive_timeouts = 0

    def _mark_alive(self, server: _Server) -> None:
        server.consecutive_timeouts = 0
        server.down_streak = 0
        server.down_until = 0.0

    async def _try_tcp(self, server: _Server, qname: str, rdtype: int, cd: bool) -> _Result:
        if self._bucket is not None:
            await self._bucket.take()
        qid = secrets.randbits(16)
        wire = self.codec.encode_query(qname, rdtype, qid, cd, self.config.edns_payload)
        with trio.move_on_after(self.config.timeout):
            try:
                stream = await trio.open_tcp_stream(server.host, server.port)
            except OSError as exc:
                return _Failure("NETWORK_ERROR", f"TCP connect failed: {_oserror(exc)}")
            async with stream:
                try:
                    await stream.send_all(len(wire).to_bytes(2, "big") + wire)
                    self.stats.queries_sent += 1
                    size = int.from_bytes(await _receive_exactly(stream, 2), "big")
                    data = await _receive_exactly(stream, size)
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    return _Failure("NETWORK_ERROR", f"TCP: {_oserror(exc)}")
                except EOFError:
                    return _Failure("NETWORK_ERROR", "TCP: connection closed before the reply")
            try:
                reply = self.codec.decode_reply(data)
            except MalformedReply as exc:
                return _Failure("MALFORMED", f"TCP reply: {exc}")
            if not _matches(reply, qid, qname, rdtype):
                return _Failure("MALFORMED", "TCP reply does not answer the question asked")
            return reply
        return _Failure("TIMEOUT", f"no reply within {self.config.timeout:g} s (TCP)")


@functools.lru_cache(maxsize=256)
def _type_text(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


@functools.lru_cache(maxsize=256)
def _rrtype(rrtype: str) -> tuple[int, str]:
    """(code, canonical mnemonic) of an RR type; ``ValueError`` when unknown."""
    try:
        rdtype = int(dns.rdatatype.from_text(rrtype))
    except dns.exception.DNSException as exc:
        raise ValueError(f"unknown RR type {rrtype!r}") from exc
    return rdtype, _type_text(rdtype)


_PLAIN_NAME = re.compile(r"(?:[A-Za-z0-9_*-]{1,63}\.)*[A-Za-z0-9_*-]{1,63}\.?")


def _qname(name: str) -> str:
    """Canonical form of a question name; ``ValueError`` when dnspython rejects it."""
    if len(name) < 254 and _PLAIN_NAME.fullmatch(name):
        return name.lower().rstrip(".")  # the common case, without building a Name
    try:
        return canonical_name(dns.name.from_text(name))  # validates lengths and escapes
    except dns.exception.DNSException as exc:
        raise ValueError(f"cannot ask for {name!r}: {exc}") from exc


def _rrsig_order(sig: Rrsig) -> tuple[str, int, str, int, int]:
    return (sig.covered, sig.algorithm, sig.signer, sig.expiration, sig.inception)


def _matches(reply: Reply, qid: int, qname: str, rdtype: int) -> bool:
    return reply.qr and reply.id == qid and reply.qname == qname and reply.qtype == rdtype


def _where(current: str, qname: str) -> str:
    return "" if current == qname else f"at {current}: "


def _oserror(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        return f"{name} ({exc.strerror})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = await stream.receive_some(size - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


# --------------------------------------------------------------------------- the seam


class DnsClient(Protocol):
    """What the runs and gatherers need of a resolver client (``Resolver``, or a fake)."""

    @property
    def servers(self) -> list[str]: ...

    @property
    def queries_sent(self) -> int: ...

    async def lookup(self, name: str, rrtype: str) -> DnsLookup: ...

    async def lookup_many(self, questions: Sequence[tuple[str, str]]) -> list[DnsLookup]:
        """``lookup`` of independent questions at once, results in order, one wake-up."""
        ...

    async def lookup_at(self, server: int, name: str, rrtype: str) -> DnsLookup: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


# --------------------------------------------------------------------------- self-check


@dataclass(frozen=True, slots=True)
class SelfCheck:
    """Whether every configured resolver validates DNSSEC; ``message`` says why not."""

    ok: bool
    message: str
    secure: tuple[DnsLookup, ...] = ()  # per server, in ``Resolver.servers`` order
    bogus: tuple[DnsLookup, ...] = ()


async def self_check(
    resolver: DnsClient,
    canary_secure: str,
    canary_bogus: str,
    *,
    secure_type: str = "SOA",
    bogus_type: str = "A",
) -> SelfCheck:
    """Check each resolver address with a known-signed and a known-bogus name (DESIGN §4).

    The secure canary must come back NOERROR with AD (``SOA``: a signed name gives an SOA
    or a signed NODATA, always NOERROR). The bogus canary must come back SERVFAIL, and
    answer when asked again with CD (``A``: a bad signature on an address RRset is
    the usual canary, and a whole bogus zone fails any type).
    """
    problems: list[str] = []
    secure_results: list[DnsLookup] = []
    bogus_results: list[DnsLookup] = []
    for index, label in enumerate(resolver.servers):
        sec = await resolver.lookup_at(index, canary_secure, secure_type)
        bog = await resolver.lookup_at(index, canary_bogus, bogus_type)
        secure_results.append(sec)
        bogus_results.append(bog)
        problems.extend(_secure_problem(label, sec) + _bogus_problem(label, bog))
    if problems:
        return SelfCheck(False, "\n".join(problems), tuple(secure_results), tuple(bogus_results))
    labels = ", ".join(resolver.servers)
    message = (
        f"resolver {labels} validates DNSSEC: {canary_secure} {secure_type} is secure (AD), "
        f"{canary_bogus} {bogus_type} is bogus (SERVFAIL, answered with CD)"
    )
    return SelfCheck(True, message, tuple(secure_results), tuple(bogus_results))


async def trust_anchor(resolver: DnsClient) -> str:
    """What the scan's DNSSEC results are anchored to, as the resolver shows it.

    A resolver's configured trust anchor cannot be asked for; what can be seen is the
    root DNSKEY RRset it validates (AD). Its key-signing keys (SEP flag) are the keys
    that anchor: "root KSK 20326" on today's internet, the world's own key locally.
    """
    got = await resolver.lookup(".", "DNSKEY")
    if not got.ad:
        return f"root DNSKEY not validated ({got.rcode})"
    keys = [
        cast(DNSKEY, dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, text))
        for text in got.records
    ]
    tags = sorted(dns.dnssec.key_id(k) for k in keys if k.flags & 1)  # SEP: key-signing keys
    return "root KSK " + " ".join(str(t) for t in tags)


def _secure_problem(label: str, got: DnsLookup) -> list[str]:
    what = f"{got.name} {got.rrtype}"
    if got.rcode in ("TIMEOUT", "NETWORK_ERROR", "MALFORMED"):
        return [f"resolver {label} is not usable: {what}: {got.rcode} ({got.error})"]
    if got.rcode != "NOERROR":
        return [
            f"resolver {label} failed the secure canary: {what} came back {got.rcode} "
            f"(expected NOERROR with AD){_ede_text(got)}"
        ]
    if not got.ad:
        return [
            f"resolver {label} does not validate DNSSEC: {what} is signed but came back "
            "NOERROR with AD=0 (expected AD=1)"
        ]
    return []


def _bogus_problem(label: str, got: DnsLookup) -> list[str]:
    what = f"{got.name} {got.rrtype}"
    if got.rcode in ("TIMEOUT", "NETWORK_ERROR", "MALFORMED"):
        return [f"resolver {label} is not usable: {what}: {got.rcode} ({got.error})"]
    if got.rcode in ANSWERED:
        return [
            f"resolver {label} does not validate DNSSEC: {what} has broken signatures but "
            f"came back {got.rcode} (AD={int(got.ad)}); expected SERVFAIL"
        ]
    if got.rcode != "SERVFAIL":
        return [f"resolver {label} failed the bogus canary: {what} came back {got.rcode}"]
    if got.cd_rcode not in ANSWERED:
        return [
            f"resolver {label} cannot tell bogus from broken: {what} gave SERVFAIL, and "
            f"{got.cd_rcode} with CD set (expected an answer){_ede_text(got)}"
        ]
    return []


def _ede_text(got: DnsLookup) -> str:
    if not got.ede:
        return ""
    return "; EDE " + ", ".join(f"{e.code} {e.text}".strip() for e in got.ede)
