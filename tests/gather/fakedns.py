"""An in-process fake DNS server on 127.0.0.1 for the resolver's unit tests.

``FakeDns`` listens on one UDP and one TCP socket with the same port and answers each
query with whatever its handler returns: a dnspython message, raw bytes (garbage, a
wrong id), ``None`` (no answer: a timeout), or a list of those (several datagrams).
Like a real server it truncates (TC, empty sections) a UDP answer larger than the
query's EDNS payload. Loopback only; nothing here reaches another network.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import trio

Item = dns.message.Message | bytes | None
Response = Item | list[Item]
Handler = Callable[[dns.message.Message, str], Response | Awaitable[Response]]


@dataclass
class FakeDns:
    handler: Handler
    host: str = "127.0.0.1"
    port: int = 0
    log: list[tuple[str, dns.message.Message]] = field(default_factory=list)
    tcp: bool = True  # False: nothing listens on TCP (connection refused)
    in_flight: int = 0
    max_in_flight: int = 0
    sources: list[tuple[object, ...]] = field(default_factory=list)  # UDP queries' senders

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def count(self, transport: str | None = None) -> int:
        return sum(1 for t, _ in self.log if transport is None or t == transport)

    async def _respond(self, query: dns.message.Message, transport: str) -> list[bytes]:
        self.log.append((transport, query))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            result = self.handler(query, transport)
            if inspect.isawaitable(result):
                result = await result
        finally:
            self.in_flight -= 1
        items = result if isinstance(result, list) else [result]
        out: list[bytes] = []
        for item in items:
            if item is None:
                continue
            if isinstance(item, bytes):
                out.append(item)
                continue
            wire = item.to_wire(max_size=65535)
            limit = max(512, query.payload) if query.edns >= 0 else 512
            if transport == "udp" and len(wire) > limit:
                truncated = dns.message.make_response(query)
                truncated.flags = item.flags | dns.flags.TC
                truncated.set_rcode(item.rcode())
                wire = truncated.to_wire()
            out.append(wire)
        return out

    async def _udp_one(
        self, sock: trio.socket.SocketType, data: bytes, addr: tuple[object, ...]
    ) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        self.sources.append(addr)
        for wire in await self._respond(query, "udp"):
            await sock.sendto(wire, addr)

    async def _udp_loop(self, sock: trio.socket.SocketType) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                data, addr = await sock.recvfrom(65535)
                nursery.start_soon(self._udp_one, sock, data, addr)

    async def _tcp_one(self, stream: trio.SocketStream) -> None:
        async with stream:
            buf = b""
            try:
                while True:
                    while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
                        chunk = await stream.receive_some(65537)
                        if not chunk:
                            return
                        buf += chunk
                    size = int.from_bytes(buf[:2], "big")
                    data, buf = buf[2 : 2 + size], buf[2 + size :]
                    query = dns.message.from_wire(data)
                    for wire in await self._respond(query, "tcp"):
                        await stream.send_all(len(wire).to_bytes(2, "big") + wire)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeDns]:
        async with trio.open_nursery() as nursery:
            udp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            for _ in range(50):  # find a port free for both UDP and TCP
                await udp.bind((self.host, 0))
                port = udp.getsockname()[1]
                try:
                    await tcp.bind((self.host, port))
                    break
                except OSError:
                    udp.close()
                    udp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.port = port
            nursery.start_soon(self._udp_loop, udp)
            if self.tcp:
                tcp.listen(64)
                listener = trio.SocketListener(tcp)
                nursery.start_soon(trio.serve_listeners, self._tcp_one, [listener])
            else:
                tcp.close()
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()
                udp.close()


# ----------------------------------------------------------------------------- builders


def rrset(name: str, ttl: int, rrtype: str, *rdatas: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(name, ttl, "IN", rrtype, *rdatas)


def rrsig_for(name: str, covered: str, signer: str = "example.", alg: int = 13) -> dns.rrset.RRset:
    text = f"{covered} {alg} 2 300 20301231000000 20240101000000 12345 {signer} AAAA"
    return rrset(name, 300, "RRSIG", text)


def answer(
    query: dns.message.Message,
    *sets: dns.rrset.RRset,
    rcode: int = dns.rcode.NOERROR,
    ad: bool = False,
    authority: Sequence[dns.rrset.RRset] = (),
    ede: Sequence[tuple[int, str]] = (),
) -> dns.message.Message:
    """A response to ``query`` like a validating resolver's (RA set, OPT echoed)."""
    r = dns.message.make_response(query)
    r.flags |= dns.flags.RA
    if ad:
        r.flags |= dns.flags.AD
    r.set_rcode(dns.rcode.Rcode.make(rcode))
    for s in sets:
        r.answer.append(s)
    for s in authority:
        r.authority.append(s)
    if ede:
        opts: list[dns.edns.Option] = [
            dns.edns.EDEOption(dns.edns.EDECode.make(code), text) for code, text in ede
        ]
        r.use_edns(0, dns.flags.DO, 1232, options=opts)
    return r


def soa(zone: str) -> dns.rrset.RRset:
    return rrset(zone, 300, "SOA", f"ns.{zone} admin.{zone} 1 3600 600 86400 300")


def qname_of(query: dns.message.Message) -> str:
    return query.question[0].name.to_text().lower()


def qtype_of(query: dns.message.Message) -> str:
    return dns.rdatatype.to_text(query.question[0].rdtype)
