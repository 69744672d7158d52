"""Putting a domain's facts together from parts gathered apart (scanner.core.assemble),
and which hosts a domain has (scanner.core.mxset.hosts_to_resolve)."""

from __future__ import annotations

from msgspec.structs import replace

from scanner.core.assemble import MAX_ADDRESSES, assemble, probe_keys
from scanner.core.model import DomainFacts, HostDns, ProbeStatus, SmtpProbe
from scanner.core.mxset import hosts_to_resolve, mx_failed
from scanner.core.rules import judge_domain
from tests.core.dane_fixtures import NOW_TS, domain, host_dns, lk

REC = "3 1 1 " + "ab" * 32


def _probe(key: tuple[str, str, str]) -> SmtpProbe:
    host, address, sni = key
    return SmtpProbe(host, address, sni, ProbeStatus.STARTTLS_MISSING)


def test_probe_keys_take_ipv4_then_ipv6_with_the_walk_s_sni() -> None:
    host = host_dns("mx.example.com", tlsa=[REC])
    assert probe_keys(host) == (
        ("mx.example.com", "192.0.2.1", "mx.example.com"),
        ("mx.example.com", "2001:db8::1", "mx.example.com"),
    )
    many = replace(host, a=lk(host.host, "A", [f"192.0.2.{i}" for i in range(40)]))
    assert len(probe_keys(many)) == MAX_ADDRESSES


def test_a_host_without_addresses_has_no_probes() -> None:
    bare = HostDns("mx.example.com", lk("mx.example.com", "A"), lk("mx.example.com", "AAAA"))
    assert probe_keys(bare) == ()


def test_assemble_equals_gathering_in_one_place() -> None:
    hosts = [host_dns("mx1.example.com", tlsa=[REC]), host_dns("mx2.example.com", v6=False)]
    keys = [k for h in hosts for k in probe_keys(h)]
    probes = {k: _probe(k) for k in keys}
    own = domain("example.com", ["10 mx1.example.com.", "20 mx2.example.com."])
    got = assemble(own, ["mx1.example.com", "mx2.example.com"], {h.host: h for h in hosts}, probes)
    whole = DomainFacts(
        domain="example.com",
        mx=own.mx,
        hosts={h.host: h for h in hosts},
        probes={h.host: tuple(probes[k] for k in probe_keys(h)) for h in hosts},
    )
    assert got == whole
    assert judge_domain(got, NOW_TS) == judge_domain(whole, NOW_TS)


def test_assemble_without_probing_and_with_a_missing_host() -> None:
    own = domain("example.com", ["10 mx1.example.com.", "20 gone.example.com."])
    host = host_dns("mx1.example.com")
    got = assemble(own, ["mx1.example.com", "gone.example.com"], {host.host: host}, None)
    assert got.probing_enabled is False
    assert got.probes == {}
    assert list(got.hosts) == ["mx1.example.com"]  # the rules judge the other as unresolved


def test_hosts_to_resolve() -> None:
    ok = lk("example.com", "MX", ["20 b.example.com.", "10 a.example.com.", "10 a.example.com."])
    assert hosts_to_resolve("example.com", ok) == (("a.example.com", "b.example.com"), False)
    nodata = lk("example.com", "MX", [])
    assert hosts_to_resolve("example.com", nodata) == (("example.com",), True)
    null = lk("example.com", "MX", ["0 ."])
    assert hosts_to_resolve("example.com", null) == ((), False)
    for failed in (
        lk("example.com", "MX", status="bogus"),
        lk("example.com", "MX", status="error"),
        lk("example.com", "MX", rcode="NXDOMAIN"),
    ):
        assert mx_failed(failed)
        assert hosts_to_resolve("example.com", failed) == ((), False)
    assert not mx_failed(lk("example.com", "MX", ["10 a.example."], status="insecure"))


def test_a_host_without_addresses_gets_no_probe_entry_when_probing() -> None:
    bare = HostDns("mx.example.com", lk("mx.example.com", "A"), lk("mx.example.com", "AAAA"))
    own = domain("example.com", ["10 mx.example.com."])
    got = assemble(own, ["mx.example.com"], {bare.host: bare}, {})
    assert got.probing_enabled and got.probes == {}
