"""Fakes for the runs' seams (``scanner.runs.wiring.Seams``): a resolver answering from a
table, a prober and a policy fetcher that count what they were asked.

They stand in for the network only; everything between them and the Parquet files is
the real code (gatherer, shared work, rules, rows, sink).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import trio

from scanner.core.model import DnsLookup, ProbeStatus, SmtpProbe
from scanner.gather.policyfetch import PolicyFetchConfig, PolicyResponse
from scanner.gather.probe import ProbeConfig
from scanner.gather.resolve import ResolverConfig
from scanner.runs.wiring import GatherOptions, Seams

CANARY_SECURE = "canary-secure.test"
CANARY_BOGUS = "canary-bogus.test"
TLSA_DATA = hashlib.sha256(b"a key").hexdigest()


def secure(name: str, rrtype: str, *records: str) -> DnsLookup:
    return DnsLookup(name, rrtype, "NOERROR", ad=True, records=tuple(records))


def insecure(name: str, rrtype: str, *records: str) -> DnsLookup:
    return DnsLookup(name, rrtype, "NOERROR", ad=False, records=tuple(records))


@dataclass
class FakeDns:
    """A validating resolver that answers from ``answers``; anything else is a secure
    NXDOMAIN. ``timeout_names``: names whose questions go unanswered; ``dead``: every
    question, the canaries included, goes unanswered."""

    answers: dict[tuple[str, str], DnsLookup]
    timeout_names: set[str] = field(default_factory=set)
    dead: bool = False
    asked: Counter[tuple[str, str]] = field(default_factory=Counter)
    on_ask: Callable[[str, str], None] | None = None

    @property
    def servers(self) -> list[str]:
        return ["fake#53"]

    @property
    def queries_sent(self) -> int:
        return sum(self.asked.values())

    async def lookup(self, name: str, rrtype: str) -> DnsLookup:
        await trio.lowlevel.checkpoint()
        self.asked[(name, rrtype)] += 1
        if self.on_ask is not None:
            self.on_ask(name, rrtype)
        if self.dead or name in self.timeout_names:
            return DnsLookup(name, rrtype, "TIMEOUT", error="fake timeout")
        if name == CANARY_SECURE:
            return secure(name, rrtype, "ns.test. h.test. 1 2 3 4 5")
        if name == CANARY_BOGUS:
            return DnsLookup(name, rrtype, "SERVFAIL", cd_rcode="NOERROR")
        found = self.answers.get((name, rrtype))
        return found if found is not None else DnsLookup(name, rrtype, "NXDOMAIN", ad=True)

    async def lookup_many(self, questions: Sequence[tuple[str, str]]) -> list[DnsLookup]:
        return [await self.lookup(name, rrtype) for name, rrtype in questions]

    async def lookup_at(self, server: int, name: str, rrtype: str) -> DnsLookup:
        return await self.lookup(name, rrtype)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return None


@dataclass
class FakeProber:
    """Every server greets and offers no STARTTLS (a ``dane_broken`` host under DANE)."""

    probed: Counter[str] = field(default_factory=Counter)

    async def __call__(self, host: str, address: str, sni: str, config: ProbeConfig) -> SmtpProbe:
        await trio.lowlevel.checkpoint()
        self.probed[address] += 1
        return SmtpProbe(
            host=host,
            address=address,
            sni=sni,
            status=ProbeStatus.STARTTLS_MISSING,
            banner="220 fake ESMTP",
        )


@dataclass
class FakeFetcher:
    fetched: Counter[str] = field(default_factory=Counter)

    async def __call__(self, host: str, address: str, config: PolicyFetchConfig) -> PolicyResponse:
        self.fetched[host] += 1
        return PolicyResponse(address=address, error="refused (fake)")


@dataclass
class World:
    """A small provider-shaped world: ``n`` domains on two shared MX hosts, signed
    (with TLSA) for even domains, unsigned for odd ones."""

    n: int
    dns: FakeDns = field(init=False)
    prober: FakeProber = field(default_factory=FakeProber)
    fetcher: FakeFetcher = field(default_factory=FakeFetcher)

    def __post_init__(self) -> None:
        answers: dict[tuple[str, str], DnsLookup] = {}
        for host, address in (
            ("mx1.provider.test", "192.0.2.1"),
            ("mx2.provider.test", "192.0.2.2"),
        ):
            answers[(host, "A")] = secure(host, "A", address)
            answers[(host, "AAAA")] = secure(host, "AAAA")
            owner = f"_25._tcp.{host}"
            answers[(owner, "TLSA")] = secure(owner, "TLSA", f"3 1 1 {TLSA_DATA}")
        for i in range(self.n):
            domain = self.domain(i)
            mx = ("10 mx1.provider.test.", "20 mx2.provider.test.")
            make = secure if i % 2 == 0 else insecure
            answers[(domain, "MX")] = make(domain, "MX", *mx)
        self.dns = FakeDns(answers)

    @staticmethod
    def domain(i: int) -> str:
        return f"d{i:05d}.example.test"

    def names(self) -> list[str]:
        return [self.domain(i) for i in range(self.n)]

    def seams(self) -> Seams:
        dns = self.dns

        def resolver(config: ResolverConfig) -> FakeDns:
            return dns

        return Seams(
            resolver=resolver, prober=self.prober, fetcher=self.fetcher, walker=lambda o: None
        )


def options(**overrides: object) -> GatherOptions:
    base: dict[str, object] = {
        "resolvers": (("192.0.2.53", 53),),
        "canary_secure": CANARY_SECURE,
        "canary_bogus": CANARY_BOGUS,
    }
    base.update(overrides)
    return GatherOptions(**base)  # type: ignore[arg-type]
