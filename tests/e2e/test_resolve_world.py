"""scanner.gather.resolve against the local world's real Unbound (over NSD), inside the namespace.

Needs the ``world`` fixture (a running world, tests run inside its network namespace).
"""

from __future__ import annotations

import socket

import msgspec
import pytest
import trio

from scanner.core.dnssec import lookup_status
from scanner.core.model import DnsLookup, DnssecStatus
from scanner.gather.codecs import IMPLEMENTATIONS
from scanner.gather.dnsreply import reply_from_message
from scanner.gather.dnswire import DnspythonCodec
from scanner.gather.resolve import Resolver, ResolverConfig, self_check
from scanner.world.catalog import load_catalog
from scanner.world.info import LAME_ADDRESS, WorldInfo

pytestmark = pytest.mark.world


def _config(world: WorldInfo, **kw: object) -> ResolverConfig:
    return ResolverConfig(servers=[(world.resolver, world.resolver_port)], **kw)  # type: ignore[arg-type]


async def _lookups(
    world: WorldInfo, queries: list[tuple[str, str]], fast: bool = False
) -> list[DnsLookup]:
    async def main() -> list[DnsLookup]:
        async with Resolver(_config(world, fast_codec=fast)) as resolver:
            out: list[DnsLookup | None] = [None] * len(queries)

            async def one(i: int, name: str, rrtype: str) -> None:
                out[i] = await resolver.lookup(name, rrtype)

            async with trio.open_nursery() as nursery:
                for i, (name, rrtype) in enumerate(queries):
                    nursery.start_soon(one, i, name, rrtype)
            return [x for x in out if x is not None]

    return await main()


async def test_self_check_passes_with_the_world_canaries(world: WorldInfo) -> None:
    async def main() -> tuple[bool, str]:
        async with Resolver(_config(world)) as resolver:
            check = await self_check(resolver, world.canary_secure, world.canary_bogus)
            return check.ok, check.message

    ok, message = await main()
    assert ok, message


async def test_self_check_refuses_a_server_that_does_not_resolve(world: WorldInfo) -> None:
    async def main() -> tuple[bool, str]:
        cfg = ResolverConfig(servers=[(LAME_ADDRESS, 53)], timeout=1.0)
        async with Resolver(cfg) as resolver:
            check = await self_check(resolver, world.canary_secure, world.canary_bogus)
            return check.ok, check.message

    ok, message = await main()
    assert not ok
    assert LAME_ADDRESS in message and "REFUSED" in message


async def test_mx_status_of_every_scenario(world: WorldInfo) -> None:
    catalog = load_catalog(world.catalog)
    scenarios = list(catalog.scenarios)
    got = await _lookups(world, [(s.domain, "MX") for s in scenarios])
    checked = 0
    for scenario, lk in zip(scenarios, got, strict=True):
        status = lookup_status(lk)
        if not scenario.exists:
            assert lk.rcode == "NXDOMAIN", (scenario.domain, lk)
            checked += 1
        elif not scenario.signed and not scenario.spec.breakage:
            assert status is DnssecStatus.INSECURE, (scenario.domain, lk)
            checked += 1
        elif not scenario.spec.breakage:
            assert status is DnssecStatus.SECURE, (scenario.domain, lk)
            if lk.records:  # a signed NODATA has its RRSIGs in the authority section
                assert lk.rrsigs and all(r.covered == "MX" for r in lk.rrsigs), lk
            checked += 1
    assert checked >= len(scenarios) // 2
    (bogus,) = await _lookups(world, [(world.canary_bogus, "MX")])
    assert lookup_status(bogus) is DnssecStatus.BOGUS, bogus


async def test_cname_chains_from_the_catalog(world: WorldInfo) -> None:
    catalog = load_catalog(world.catalog)
    cases = []
    for host in catalog.hosts().values():
        if host.cname:
            cases.append((host.name, "A", host.cname))
        if host.tlsa_cname:
            cases.append((f"_25._tcp.{host.name}", "TLSA", host.tlsa_cname))
    assert cases, "the catalog has CNAME scenarios"
    got = await _lookups(world, [(name, rrtype) for name, rrtype, _ in cases])
    for (_name, _rrtype, target), lk in zip(cases, got, strict=True):
        assert lk.rcode == "NOERROR", lk
        assert lk.cname_chain[:1] == (target,), lk
        assert lk.records, lk
        assert not lk.cname_limit_hit


def _world_queries(world: WorldInfo) -> list[tuple[str, str]]:
    catalog = load_catalog(world.catalog)
    queries = [(s.domain, "MX") for s in catalog.scenarios]
    for host in catalog.hosts():
        queries += [(host, "A"), (host, "AAAA"), (f"_25._tcp.{host}", "TLSA")]
    return queries


async def test_fast_codec_gives_the_same_lookups_as_dnspython(world: WorldInfo) -> None:
    queries = _world_queries(world)
    ref = await _lookups(world, queries)
    fast = await _lookups(world, queries, fast=True)

    def strip(lk: DnsLookup) -> DnsLookup:
        # TTLs count down in the cache; Unbound's EDE text depends on its cache state.
        return msgspec.structs.replace(lk, ttl=None, error="", ede=())

    assert [strip(x) for x in fast] == [strip(x) for x in ref]


def test_decoders_agree_on_raw_world_replies(world: WorldInfo) -> None:
    """Raw replies, DO and CD both ways, parsed by dnspython and by dnswire (each build)."""
    import dns.exception
    import dns.message
    import dns.rdatatype

    codec = DnspythonCodec()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.connect((world.resolver, world.resolver_port))
    compared = lenient = 0
    with sock:
        for i, (name, rrtype) in enumerate(_world_queries(world)):
            for cd in (False, True):
                wire = codec.encode_query(name, int(dns.rdatatype.from_text(rrtype)), i, cd, 1232)
                sock.send(wire)
                reply = sock.recv(65535)
                try:
                    ref = reply_from_message(dns.message.from_wire(reply))
                except dns.exception.FormError as exc:
                    # The one place dnswire is lenient on purpose: a TLSA record whose
                    # data length does not fit its matching type (a world scenario).
                    assert "certificate association data length" in str(exc)
                    for build in IMPLEMENTATIONS:
                        got = build.decode_reply(reply)
                        assert got.answer and got.answer[-1].rdtype == 52, (name, got)
                    lenient += 1
                    continue
                for build in IMPLEMENTATIONS:
                    assert build.decode_reply(reply) == ref, (build.__name__, name, rrtype, cd)
                    assert build.FastCodec().decode_reply(reply) == ref
                compared += 1
    assert compared > 100
    assert lenient <= 4


async def test_lame_server_is_refused_and_retried(world: WorldInfo) -> None:
    async def main() -> tuple[DnsLookup, int]:
        cfg = ResolverConfig(servers=[(LAME_ADDRESS, 53)], timeout=1.0, backoff_base=0.01)
        async with Resolver(cfg) as resolver:
            return await resolver.lookup(world.canary_secure, "MX"), resolver.queries_sent

    lk, sent = await main()
    assert lk.rcode == "REFUSED" and sent == 3
    assert lookup_status(lk) is DnssecStatus.ERROR


async def test_closed_port_is_a_network_error(world: WorldInfo) -> None:
    async def main() -> DnsLookup:
        cfg = ResolverConfig(servers=[(world.resolver, 1)], timeout=1.0, backoff_base=0.01)
        async with Resolver(cfg) as resolver:
            return await resolver.lookup(world.canary_secure, "MX")

    lk = await main()
    assert lk.rcode == "NETWORK_ERROR", lk
