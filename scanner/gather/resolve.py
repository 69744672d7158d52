"""Validating-resolver client: one question in, one ``DnsLookup`` fact out (DESIGN §4).

Theory of operation
-------------------
danescan does not validate DNSSEC itself: it asks a validating resolver (Unbound in the
local world, the user's resolvers on the real internet) with the DO bit set and reads
the AD bit, the RCODE and, after a SERVFAIL, the RCODE of the same question repeated
with CD set (``dnssec.lookup_status`` turns those into secure / insecure / bogus /
error). Everything else the resolver said that the rules or the findings need is kept:
the answer RRset at the end of the CNAME chain, its TTL, the RRSIGs over the answer
RRsets, and any Extended DNS Error (RFC 8914) as evidence.

Transport. One connected UDP socket per resolver address, shared by every query to it
and demultiplexed by query id: a background task reads the socket and hands each
datagram to the task waiting for that id (NOTES: this beats a socket per query). A
*connected* socket also gives two things for free: the kernel drops datagrams from any
other source, and an ICMP port-unreachable surfaces as ``ECONNREFUSED``, which fails
the queries in flight to that address as ``NETWORK_ERROR`` instead of letting them time
out. Truncated answers (TC) are asked again over TCP, one connection per question.
Query ids come from ``secrets``; the resolver is assumed to be on a trusted path (the
AD bit means nothing otherwise, RFC 6840 §5.7), so a fixed source port is acceptable.

Messages are built and parsed by a *codec*: dnspython (the reference) or, when
``ResolverConfig.fast_codec`` is set, the hand-written ``scanner.gather.dnswire`` codec, which
hands dnspython the rdata types it does not know and is tested against dnspython. A
message dnspython refuses is given to the ``dnswire`` decoder before being called
malformed: dnspython 2.9 refuses a whole message for one TLSA record whose data
length does not fit its matching type, a record DESIGN §4 wants kept (and judged
unusable by the rules).

Failures are values (STYLE §3): a timeout, a refused port, a garbage reply end as a
``DnsLookup`` whose ``rcode`` is ``"TIMEOUT"``, ``"NETWORK_ERROR"`` or ``"MALFORMED"``
with the detail in ``error``. Only caller bugs (an unknown RR type, an invalid name)
raise.

Retries. A try that times out, or a SERVFAIL / REFUSED answer, is retried up to
``attempts`` times in all, on the next resolver address in round-robin order, after an
exponential backoff with jitter. After a final SERVFAIL the question is repeated with
CD set and its RCODE recorded as ``cd_rcode``. An answer beats a transport failure when
choosing what to report (a SERVFAIL and then a timeout report the SERVFAIL). An
address with ``down_after`` consecutive timeouts and no answer in between is skipped
for a cool-down period (doubling, capped) while other addresses are available.

CNAMEs (DESIGN §4: cap chains yourself, results must not depend on the resolver's
cache). The answer section is walked from the question name through CNAMEs to the
final name; at most ``cname_hops`` CNAMEs are followed, a longer chain or a loop sets
``cname_limit_hit``. If the chain in the answer stops at a name with neither the
wanted RRset nor a denial for it (no SOA for that name or an ancestor in the authority
section: the resolver gave up), the last target is asked for directly and the walk
continues there, within the same hop budget. The AD bit of a lookup assembled from
several answers is the AND of all of them; the RCODE is the last answer's.

Rates. ``max_in_flight`` caps the questions on the wire at once (a
``trio.CapacityLimiter``; tasks waiting for a backoff or for the next CNAME hold no
slot); ``qps`` caps the rate of questions sent, UDP and TCP, with a token bucket
(GCRA: each send reserves the next free instant on trio's clock; up to ``qps_burst``
may go back to back).

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
import random
import re
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, Self, cast

import dns.dnssec
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import trio
import trio.lowlevel
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from scanner.core.model import DnsLookup, Ede, Rrsig
from scanner.gather.dnsreply import (
    MAX_MESSAGE,
    AnswerRRset,
    Codec,
    MalformedReply,
    Reply,
    canonical_name,
)
from scanner.gather.dnswire import DnspythonCodec, FastCodec

__all__ = [
    "DnsClient",
    "Resolver",
    "ResolverConfig",
    "SelfCheck",
    "self_check",
]

ANSWERED = frozenset({"NOERROR", "NXDOMAIN"})
RETRIED_RCODES = frozenset({"SERVFAIL", "REFUSED"})

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


class _Waiter:
    """One query waiting on a shared socket; the reader task fills ``inbox``."""

    __slots__ = ("event", "inbox")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.inbox: list[bytes | OSError] = []

    def deliver(self, item: bytes | OSError) -> None:
        self.inbox.append(item)
        self.event.set()


@dataclass(eq=False, slots=True)
class _Server:
    host: str
    port: int
    family: int
    label: str
    sock: trio.socket.SocketType | None = None
    pending: dict[int, _Waiter] = field(default_factory=dict)
    consecutive_timeouts: int = 0
    down_until: float = 0.0
    down_streak: int = 0
    unexpected: int = 0  # datagrams that matched no query in flight


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

    async def take(self) -> None:
        now = trio.current_time()
        at = max(self._next, now - self._slack)
        self._next = at + self._interval
        if at > now:
            await trio.sleep_until(at)


@dataclass(slots=True)
class ResolverStats:
    """Counters the crawler reports in the scan metadata."""

    queries_sent: int = 0  # UDP datagrams and TCP questions sent
    udp_timeouts: int = 0
    tcp_fallbacks: int = 0  # TC answers asked again over TCP
    network_errors: int = 0
    malformed: int = 0
    unexpected: int = 0  # datagrams matching no question in flight (late, wrong id)
    cd_retries: int = 0


@dataclass(frozen=True, slots=True)
class _Walk:
    names: tuple[str, ...]  # CNAME targets followed, in order
    final: str
    rrset: AnswerRRset | None
    rrsigs: tuple[Rrsig, ...]
    problem: str  # "" or why the chain was cut ("loop", "limit")
    denied_at_final: bool


def _walk_answer(reply: Reply, start: str, rdtype: int, budget: int, seen: set[str]) -> _Walk:
    """Follow CNAMEs in one answer section from ``start`` (DnsLookup docstring)."""
    index = {(rr.owner, rr.rdtype): rr for rr in reply.answer}
    names: list[str] = []
    owners = [start]
    current = start
    problem = ""
    rrset = index.get((current, rdtype))
    while rrset is None and rdtype != dns.rdatatype.CNAME:
        cname = index.get((current, dns.rdatatype.CNAME))
        if cname is None or not cname.records:
            break
        target = canonical_name(cname.records[0])
        if target in seen:
            problem = f"CNAME loop: {current} points back to {target}"
            break
        if len(names) >= budget:
            problem = f"CNAME chain longer than the cap at {current} -> {target}"
            break
        seen.add(target)
        names.append(target)
        owners.append(target)
        current = target
        rrset = index.get((current, rdtype))
    covered = {_type_text(rdtype), "CNAME"}
    # In chain order, and sorted at each owner (resolvers rotate RRset order).
    sigs = tuple(
        sig
        for owner in owners
        for sig in sorted(
            (sig for o, sig in reply.rrsigs if o == owner and sig.covered in covered),
            key=_rrsig_order,
        )
    )
    denied = any(
        current == soa or current.endswith("." + soa) or soa == "." for soa in reply.soa_owners
    )
    return _Walk(tuple(names), current, rrset, sigs, problem, denied)


# --------------------------------------------------------------------------- the resolver


class Resolver:
    """A client of one or more validating resolvers, shared by many trio tasks.

    Use as an async context manager (it owns the sockets and their reader tasks)::

        async with Resolver(ResolverConfig(servers=[("127.53.0.53", 53)])) as resolver:
            mx = await resolver.lookup("example.com", "MX")

    ``lookup`` never raises for network trouble; ``queries_sent`` (and ``stats``) count
    what went on the wire.
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
            _Server(host=h, port=p, family=_family(h), label=_label(h, p))
            for h, p in config.servers
        ]
        self._rr = 0
        self._limiter = trio.CapacityLimiter(config.max_in_flight)
        self._bucket = _TokenBucket(config.qps, config.qps_burst) if config.qps else None
        self._jitter = random.Random()
        self._stack: contextlib.AsyncExitStack | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            nursery = await stack.enter_async_context(trio.open_nursery())
            for server in self._servers:
                sock = trio.socket.socket(server.family, socket.SOCK_DGRAM)
                stack.callback(sock.close)
                with contextlib.suppress(OSError):  # a bigger buffer absorbs bursts of replies
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                await sock.connect((server.host, server.port))
                server.sock = sock
                nursery.start_soon(self._reader, server, sock, name=f"dns-reader {server.label}")
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
            for server in self._servers:
                server.sock = None

    @property
    def queries_sent(self) -> int:
        """Questions sent so far (UDP and TCP), for the scan metadata."""
        return self.stats.queries_sent

    @property
    def servers(self) -> list[str]:
        return [s.label for s in self._servers]

    async def _reader(self, server: _Server, sock: trio.socket.SocketType) -> None:
        """Hand each datagram from ``server`` to the query waiting for its id."""
        while True:
            try:
                data = await sock.recv(MAX_MESSAGE)
            except OSError as exc:
                # ECONNREFUSED after an ICMP port unreachable (or another asynchronous
                # error): every question in flight to this address is lost.
                for waiter in list(server.pending.values()):
                    waiter.deliver(exc)
                await trio.lowlevel.checkpoint()
                continue
            found = server.pending.get(int.from_bytes(data[:2], "big")) if len(data) >= 2 else None
            if found is None:
                server.unexpected += 1
                self.stats.unexpected += 1
            else:
                found.deliver(data)

    # -- the public API -------------------------------------------------------------------

    async def lookup(self, name: str, rrtype: str) -> DnsLookup:
        """Ask ``rrtype`` at ``name`` (DO set, RD set, CD clear) and gather the facts.

        Raises ``ValueError`` for an unknown RR type or a name dnspython rejects; every
        network outcome is a value.
        """
        return await self._lookup(name, rrtype, pin=None)

    async def lookup_at(self, server: int, name: str, rrtype: str) -> DnsLookup:
        """``lookup`` asked of one configured server only (index into ``servers``)."""
        return await self._lookup(name, rrtype, pin=self._servers[server])

    # -- resolution -----------------------------------------------------------------------

    async def _lookup(self, name: str, rrtype: str, pin: _Server | None) -> DnsLookup:
        if self._stack is None:
            raise RuntimeError("use the Resolver inside 'async with'")
        rdtype, rrtype = _rrtype(rrtype)
        qname = _qname(name)
        deadline = self.config.lookup_timeout
        if deadline is None:
            return await self._resolve(qname, rrtype, rdtype, pin)
        with trio.move_on_after(deadline):
            return await self._resolve(qname, rrtype, rdtype, pin)
        return DnsLookup(
            name=qname,
            rrtype=rrtype,
            rcode="TIMEOUT",
            error=f"lookup not finished within {deadline:g} s",
        )

    async def _resolve(
        self, qname: str, rrtype: str, rdtype: int, pin: _Server | None
    ) -> DnsLookup:
        chain: list[str] = []
        seen = {qname}
        rrsigs: list[Rrsig] = []
        edes: list[Ede] = []
        ad = True
        current = qname
        while True:
            result, log = await self._exchange(current, rdtype, cd=False, pin=pin)
            if isinstance(result, _Failure):
                return DnsLookup(
                    name=qname,
                    rrtype=rrtype,
                    rcode=result.kind,
                    cname_chain=tuple(chain),
                    ede=tuple(edes),
                    rrsigs=tuple(rrsigs),
                    error=_where(current, qname) + "; ".join(log),
                )
            edes.extend(result.ede)
            if result.rcode not in ANSWERED:
                # The RCODE says it all; ``error`` carries transport detail only (model).
                cd_rcode: str | None = None
                error = ""
                if result.rcode == "SERVFAIL":
                    # Bogus (validation failed) vs error (the resolver could not get an
                    # answer at all): only the CD retry tells them apart. Its EDEs are not
                    # kept: Unbound attaches stray ones to CD answers (NOTES).
                    self.stats.cd_retries += 1
                    cd_result, cd_log = await self._exchange(current, rdtype, cd=True, pin=pin)
                    cd_rcode = cd_result.rcode if isinstance(cd_result, Reply) else cd_result.kind
                    if isinstance(cd_result, _Failure):
                        error = _where(current, qname) + "CD retry: " + "; ".join(cd_log)
                return DnsLookup(
                    name=qname,
                    rrtype=rrtype,
                    rcode=result.rcode,
                    cd_rcode=cd_rcode,
                    cname_chain=tuple(chain),
                    ede=tuple(edes),
                    rrsigs=tuple(rrsigs),
                    error=error,
                )
            ad = ad and result.ad
            walk = _walk_answer(result, current, rdtype, self.config.cname_hops - len(chain), seen)
            chain.extend(walk.names)
            rrsigs.extend(walk.rrsigs)
            done = (
                walk.problem
                or walk.rrset is not None
                or not walk.names
                or walk.denied_at_final
                or result.rcode == "NXDOMAIN"
            )
            if done:
                return DnsLookup(
                    name=qname,
                    rrtype=rrtype,
                    rcode=result.rcode,
                    ad=ad,
                    records=tuple(sorted(walk.rrset.records)) if walk.rrset else (),
                    cname_chain=tuple(chain),
                    ttl=walk.rrset.ttl if walk.rrset else None,
                    ede=tuple(edes),
                    rrsigs=tuple(rrsigs),
                    cname_limit_hit=bool(walk.problem),
                    error=walk.problem,
                )
            # The chain stops at a name with neither the RRset nor a denial for it: the
            # resolver gave up (its own chain limit, a cold cache). Ask for the last target.
            current = walk.final

    async def _exchange(
        self, qname: str, rdtype: int, *, cd: bool, pin: _Server | None
    ) -> tuple[_Result, list[str]]:
        """One question with retries; returns the result and a log of failed tries."""
        log: list[str] = []
        last_reply: Reply | None = None
        last_failure: _Failure | None = None
        previous: _Server | None = None
        for attempt in range(self.config.attempts):
            if attempt:
                await trio.sleep(self._backoff(attempt))
            server = pin if pin is not None else self._pick(previous)
            previous = server
            result = await self._try(server, qname, rdtype, cd)
            if isinstance(result, Reply):
                if result.rcode not in RETRIED_RCODES:
                    return result, log
                last_reply = result
                log.append(f"{server.label}: {result.rcode}")
            else:
                last_failure = result
                log.append(f"{server.label}: {result.detail}")
        final: _Result | None = last_reply or last_failure
        assert final is not None
        return final, log

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

    async def _try(self, server: _Server, qname: str, rdtype: int, cd: bool) -> _Result:
        async with self._limiter:
            result = await self._try_udp(server, qname, rdtype, cd)
            if isinstance(result, Reply) and result.tc:
                self.stats.tcp_fallbacks += 1
                result = await self._try_tcp(server, qname, rdtype, cd)
        if isinstance(result, Reply):
            self._mark_alive(server)
        elif result.kind == "TIMEOUT":
            self._mark_timeout(server)
        elif result.kind == "NETWORK_ERROR":
            self.stats.network_errors += 1
        else:
            self.stats.malformed += 1
        return result

    def _new_id(self, server: _Server) -> int:
        while True:
            qid = secrets.randbits(16)
            if qid not in server.pending:
                return qid

    async def _try_udp(self, server: _Server, qname: str, rdtype: int, cd: bool) -> _Result:
        sock = server.sock
        if sock is None:
            raise RuntimeError("use the Resolver inside 'async with'")
        if self._bucket is not None:
            await self._bucket.take()
        qid = self._new_id(server)
        wire = self.codec.encode_query(qname, rdtype, qid, cd, self.config.edns_payload)
        waiter = _Waiter()
        server.pending[qid] = waiter
        mismatched = 0
        try:
            with trio.move_on_after(self.config.timeout):
                try:
                    await sock.send(wire)
                except OSError as exc:
                    return _Failure("NETWORK_ERROR", f"UDP send failed: {_oserror(exc)}")
                self.stats.queries_sent += 1
                while True:
                    await waiter.event.wait()
                    inbox, waiter.inbox = waiter.inbox, []
                    waiter.event = trio.Event()
                    for item in inbox:
                        if isinstance(item, OSError):
                            return _Failure("NETWORK_ERROR", f"UDP: {_oserror(item)}")
                        try:
                            reply = self.codec.decode_reply(item)
                        except MalformedReply as exc:
                            return _Failure("MALFORMED", f"UDP reply: {exc}")
                        if _matches(reply, qid, qname, rdtype):
                            return reply
                        # Same id, other question: a late answer to an earlier query that
                        # used this id. Keep waiting for ours.
                        mismatched += 1
                        self.stats.unexpected += 1
        finally:
            del server.pending[qid]
        self.stats.udp_timeouts += 1
        detail = f"no reply within {self.config.timeout:g} s (UDP)"
        if mismatched:
            detail += f", {mismatched} reply(ies) to another question ignored"
        return _Failure("TIMEOUT", detail)

    async def _try_tcp(self, server: _Server, qname: str, rdtype: int, cd: bool) -> _Result:
        if self._bucket is not None:
            await self._bucket.take()
        qid = self._new_id(server)
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
