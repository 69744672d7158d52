"""Gathering the facts of one domain: MX, hosts, TLSA, zone keys, MTA-STS, probes.

Thin trio layer over ``resolve`` and ``probe``: it asks, in the order the rules need,
and never judges. Host lookups, zone-key lookups and address probes go through
``SharedWork`` so that each is done once per scan however many domains share them.
Which hosts a domain has and which TLSA owners to ask are the core's decisions
(``scanner.core.mxset``, ``scanner.core.tlsa``); this module only carries them out.

Seams: the resolver is any ``DnsClient``, the prober any ``Prober`` and the policy
fetch any ``PolicyFetcher``, so the pipeline can run against fakes in unit tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from msgspec.structs import replace

from scanner.core import factjson
from scanner.core.assemble import ProbeKey as CoreProbeKey
from scanner.core.assemble import assemble, probe_keys
from scanner.core.blocklist import Blocklist
from scanner.core.dnssec import lookup_status
from scanner.core.model import (
    DnsLookup,
    DnssecStatus,
    DomainFacts,
    HostDns,
    MtaSts,
    ProbeStatus,
    SmtpProbe,
    ZoneKeys,
)
from scanner.core.mtasts import read_response, sts_record
from scanner.core.mxset import hosts_to_resolve, mx_failed
from scanner.core.tlsa import next_tlsa_base, tlsa_owner
from scanner.gather.policyfetch import PolicyFetchConfig, PolicyResponse, fetch_policy
from scanner.gather.probe import DestinationLimiter, ProbeConfig, probe_address
from scanner.gather.resolve import DnsClient
from scanner.gather.shared import K, SharedWork, Spill, SpillStore, V

MAX_POLICY_ADDRESSES = 2  # addresses of mta-sts.<domain> tried before giving up
BLOCKED = "blocklisted (opt-out)"  # the error of a server the opt-out list spares

# probe_address's shape: (MX host, address, SNI, config) -> the probe's facts.
Prober = Callable[[str, str, str, ProbeConfig], Awaitable[SmtpProbe]]
# fetch_policy's shape: (mta-sts.<domain>, address, config) -> what the server answered.
PolicyFetcher = Callable[[str, str, PolicyFetchConfig], Awaitable[PolicyResponse]]


@dataclass(frozen=True, slots=True)
class ProbeKey:
    """A probe is identified by the address and the SNI it presents (the TLSA base)."""

    host: str
    address: str
    sni: str

    def text(self) -> str:
        return f"{self.host} {self.address} {self.sni}"


class Gatherer:
    """Collects DomainFacts; owns the once-per-scan caches."""

    def __init__(
        self,
        nursery: trio.Nursery,
        resolver: DnsClient,
        probe_config: ProbeConfig | None,
        *,
        probe_limit: int = 64,
        per_destination: int = 1,
        blocklist: Blocklist | None = None,
        mta_sts: bool = True,
        policy_fetch: PolicyFetchConfig | None = None,
        policy_limit: int = 32,
        spill_store: SpillStore | None = None,
        resident: int = 50_000,
        prober: Prober = probe_address,
        fetcher: PolicyFetcher = fetch_policy,
    ) -> None:
        self.resolver = resolver
        self._prober = prober
        self._fetcher = fetcher
        self.probe_config = probe_config
        self.blocklist = blocklist
        self.mta_sts = mta_sts
        # MTA-STS policies are fetched only when servers may be contacted (not DNS-only).
        self.policy_fetch = policy_fetch if probe_config is not None else None
        self._policy_slots = trio.CapacityLimiter(policy_limit)

        def spill(memo: str, tp: type[V], key_text: Callable[[K], str]) -> Spill[K, V] | None:
            if spill_store is None:
                return None
            return Spill(
                spill_store,
                memo,
                key_text,
                lambda v: factjson.dumps(v).encode(),
                lambda b: factjson.loads(tp, b.decode()),
                resident,
            )

        self.hosts: SharedWork[str, HostDns] = SharedWork(
            nursery, self._gather_host, spill("hosts", HostDns, str)
        )
        self.zones: SharedWork[str, ZoneKeys] = SharedWork(
            nursery, self._gather_zone, spill("zones", ZoneKeys, str)
        )
        # TLSA RRsets by owner: a host CNAMEd to a provider's host shares its TLSA lookup.
        self.tlsa: SharedWork[str, DnsLookup] = SharedWork(
            nursery, self._tlsa, spill("tlsa", DnsLookup, str)
        )
        self.probes: SharedWork[ProbeKey, SmtpProbe] = SharedWork(
            nursery, self._probe, spill("probes", SmtpProbe, ProbeKey.text)
        )
        self._probe_slots = trio.CapacityLimiter(probe_limit)
        self._destinations = DestinationLimiter(per_destination)

    # ----------------------------------------------------------------- per domain

    async def _first(self, domain: str) -> tuple[DnsLookup, tuple[DnsLookup, ...]]:
        """The MX question and, with MTA-STS on, the two TXT questions, sent as one batch
        (one wake-up of this task for the three answers)."""
        questions = [(domain, "MX")]
        if self.mta_sts:
            questions += [(f"_mta-sts.{domain}", "TXT"), (f"_smtp._tls.{domain}", "TXT")]
        mx, *txt = await self.resolver.lookup_many(questions)
        return mx, tuple(txt)

    async def domain(self, domain: str) -> DomainFacts:
        """Every fact of one domain, gathered in this process (``check``)."""
        mx, txt = await self._first(domain)
        names, implicit = hosts_to_resolve(domain, mx)
        if mx_failed(mx):
            return DomainFacts(domain, mx, probing_enabled=self.probe_config is not None)
        hosts: dict[str, HostDns] = {}
        probes: dict[CoreProbeKey, SmtpProbe] = {}
        extras: dict[str, object] = {}
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(self._host_and_probes, name, hosts, probes)
            self._start_own(nursery, domain, mx, txt, extras)
        own = self._own(domain, mx, implicit, extras)
        return assemble(own, names, hosts, probes if self.probe_config is not None else None)

    async def own_facts(self, domain: str) -> tuple[DomainFacts, tuple[str, ...]]:
        """The domain's own facts (MX, zone keys, MTA-STS) and its MX host names; the
        hosts and probes are another stage's work in a staged scan."""
        mx, txt = await self._first(domain)
        if mx_failed(mx):
            # The TXT answers of a domain without a usable MX are not facts of it (a
            # sender never gets that far); they were asked only to save a round trip.
            return DomainFacts(domain, mx, probing_enabled=self.probe_config is not None), ()
        names, implicit = hosts_to_resolve(domain, mx)
        # The zone keys (a memo: mostly known already) and the MTA-STS policy (fetched
        # only when servers may be contacted) are awaited in this task, one after the
        # other, unless both have to wait: a nursery and a task each per domain cost
        # more than the rest of a DNS-only domain's bookkeeping.
        zone = self._zone_of(mx)
        sts, fetch = self._sts(txt)
        extras: dict[str, object] = {}
        if fetch and zone is not None and not self.zones.known(zone):
            async with trio.open_nursery() as nursery:
                self._start_own(nursery, domain, mx, txt, extras)
            return self._own(domain, mx, implicit, extras), names
        zone_keys = await self.zones.get(zone) if zone is not None else None
        if fetch:
            assert sts is not None and self.policy_fetch is not None
            sts = await self._policy(domain, sts, self.policy_fetch)
        return DomainFacts(
            domain=domain,
            mx=mx,
            implicit_mx=implicit,
            zone_keys=zone_keys,
            mta_sts=sts,
            probing_enabled=self.probe_config is not None,
        ), names

    async def host(self, name: str) -> HostDns:
        return await self.hosts.get(name)

    async def probe(self, key: CoreProbeKey) -> SmtpProbe:
        host, address, sni = key
        return await self.probes.get(ProbeKey(host, address, sni))

    def _start_own(
        self,
        nursery: trio.Nursery,
        domain: str,
        mx: DnsLookup,
        txt: tuple[DnsLookup, ...],
        extras: dict[str, object],
    ) -> None:
        zone = self._zone_of(mx)
        if zone is not None:
            nursery.start_soon(self._zone_into, zone, extras)
        if txt:
            nursery.start_soon(self._mta_sts_into, domain, txt, extras)

    @staticmethod
    def _zone_of(mx: DnsLookup) -> str | None:
        """The zone whose keys are a fact of the domain: the signer of a secure MX."""
        if mx.rrsigs and lookup_status(mx) is DnssecStatus.SECURE:
            return mx.rrsigs[0].signer
        return None

    def _sts(self, txt: tuple[DnsLookup, ...]) -> tuple[MtaSts | None, bool]:
        """The MTA-STS facts the TXT answers give, and whether a policy is to be fetched."""
        if not txt:
            return None, False
        sts_txt, rpt_txt = txt
        # One MtaSts per domain, made once (not made and then ``replace``d).
        record = sts_record(sts_txt.records) if sts_txt.records else None
        if record is None:
            return MtaSts(sts_txt=sts_txt, tlsrpt_txt=rpt_txt), False
        if isinstance(record, str):
            return MtaSts(sts_txt=sts_txt, policy_error=record, tlsrpt_txt=rpt_txt), False
        sts = MtaSts(sts_txt=sts_txt, policy_id=record.id, tlsrpt_txt=rpt_txt)
        return sts, self.policy_fetch is not None

    def _own(
        self, domain: str, mx: DnsLookup, implicit: bool, extras: dict[str, object]
    ) -> DomainFacts:
        zone_keys = extras.get("zone")
        sts = extras.get("sts")
        return DomainFacts(
            domain=domain,
            mx=mx,
            implicit_mx=implicit,
            zone_keys=zone_keys if isinstance(zone_keys, ZoneKeys) else None,
            mta_sts=sts if isinstance(sts, MtaSts) else None,
            probing_enabled=self.probe_config is not None,
        )

    async def _host_and_probes(
        self, name: str, hosts: dict[str, HostDns], probes: dict[CoreProbeKey, SmtpProbe]
    ) -> None:
        host = await self.hosts.get(name)
        hosts[name] = host
        if self.probe_config is None:
            return

        async def one(key: CoreProbeKey) -> None:
            probes[key] = await self.probe(key)

        async with trio.open_nursery() as nursery:
            for key in probe_keys(host):
                nursery.start_soon(one, key)

    async def _zone_into(self, zone: str, extras: dict[str, object]) -> None:
        extras["zone"] = await self.zones.get(zone)

    async def _mta_sts_into(
        self, domain: str, txt: tuple[DnsLookup, ...], extras: dict[str, object]
    ) -> None:
        sts, fetch = self._sts(txt)
        if fetch:
            assert sts is not None and self.policy_fetch is not None
            sts = await self._policy(domain, sts, self.policy_fetch)
        extras["sts"] = sts

    async def _policy(self, domain: str, sts: MtaSts, config: PolicyFetchConfig) -> MtaSts:
        """Resolve ``mta-sts.<domain>`` and fetch its policy from the first address that answers."""
        host = f"mta-sts.{domain}"
        a, aaaa = await self._ask_both(host, "A", "AAAA")
        addresses = [*a.records, *aaaa.records][:MAX_POLICY_ADDRESSES]
        if not addresses:
            return replace(sts, policy_error=f"{host} has no address ({a.rcode}/{aaaa.rcode})")
        if self.blocklist is not None and self.blocklist.blocks_domain(domain):
            return replace(sts, policy_error=BLOCKED)
        error = ""
        for address in addresses:
            if self._blocked(domain, address):
                error = BLOCKED
                continue
            async with self._policy_slots, self._destinations.slot(address):
                response = await self._fetcher(host, address, config)
            if response.error:
                error = f"{address}: {response.error}"
                continue
            got = read_response(
                response.status, response.content_type, response.body, response.location
            )
            if isinstance(got, str):
                return replace(sts, policy_address=address, policy_error=got)
            return replace(
                sts,
                policy_address=address,
                policy_fetched=True,
                mode=got.mode,
                mx_patterns=got.mx,
                max_age=got.max_age,
            )
        return replace(sts, policy_address=addresses[-1], policy_error=error)

    # ----------------------------------------------------------------- shared work

    async def _gather_host(self, name: str) -> HostDns:
        a, aaaa = await self._ask_both(name, "A", "AAAA")
        lookups: list[DnsLookup] = []
        # RFC 7672 §2.2.2, as scanner.core.tlsa walks it.
        while (base := next_tlsa_base(name, a, aaaa, lookups)) is not None:
            lookups.append(await self.tlsa.get(tlsa_owner(base)))
        return HostDns(host=name, a=a, aaaa=aaaa, tlsa_lookups=tuple(lookups))

    async def _tlsa(self, owner: str) -> DnsLookup:
        return await self.resolver.lookup(owner, "TLSA")

    async def _gather_zone(self, zone: str) -> ZoneKeys:
        dnskey, ds = await self._ask_both(zone, "DNSKEY", "DS")
        return ZoneKeys(zone=zone, dnskey=dnskey, ds=ds)

    async def _ask_both(self, name: str, first: str, second: str) -> tuple[DnsLookup, DnsLookup]:
        """Two questions about one name, sent as one batch."""
        one, two = await self.resolver.lookup_many([(name, first), (name, second)])
        return one, two

    def _blocked(self, host: str, address: str) -> bool:
        """The opt-out list covers this server: its address, or the host name's domain."""
        bl = self.blocklist
        return bl is not None and (bl.blocks_address(address) or bl.blocks_domain(host))

    async def _probe(self, key: ProbeKey) -> SmtpProbe:
        assert self.probe_config is not None
        if self._blocked(key.host, key.address):
            return SmtpProbe(
                host=key.host,
                address=key.address,
                sni=key.sni,
                status=ProbeStatus.SKIPPED,
                error=BLOCKED,
            )
        async with self._probe_slots, self._destinations.slot(key.address):
            return await self._prober(key.host, key.address, key.sni, self.probe_config)
