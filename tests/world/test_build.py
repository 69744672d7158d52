"""A world build, checked offline: signed zones, DS chain, certificates and TLSA data agree.

These tests build into a temporary directory and start nothing, so they need no namespace.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.name
import dns.node
import dns.rdataset
import dns.rdatatype
import dns.zone
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from scanner.world.build import build, is_stale
from scanner.world.catalog import load_catalog
from scanner.world.info import WorldInfo


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> WorldInfo:
    return build(tmp_path_factory.mktemp("world"))


def _zone(info: WorldInfo, name: str) -> dns.zone.Zone:
    path = Path(info.dir) / "zones" / f"{name or 'root'}.signed"
    return dns.zone.from_file(str(path), origin=name + "." if name else ".", relativize=False)


def _chain(info: WorldInfo, host: str, kind: str = "ecdsa") -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(
        (Path(info.dir) / "certs" / f"{host}.{kind}.crt").read_bytes()
    )


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _tlsa(info: WorldInfo, zone: str, owner: str) -> list[str]:
    rrs = _zone(info, zone).get_rdataset(owner + ".", "TLSA")
    assert rrs is not None, owner
    return [r.to_text() for r in rrs]


def test_world_json_describes_the_build(built: WorldInfo) -> None:
    assert built.resolver == "127.53.0.53"
    assert built.canary_secure == "isc.org" and built.canary_bogus == "dnssec-failed.org"
    assert len(built.domains) == len(load_catalog().scenarios)
    assert built.trust_anchor.startswith(". 3600 IN DS ")
    assert not is_stale(built)
    assert float(built.extra["build_seconds"]) < 30


def test_chain_of_trust_root_to_leaf(built: WorldInfo) -> None:
    root_ds = built.trust_anchor.split("IN DS ", 1)[1]
    root = _zone(built, "")
    root_keys = root.get_rdataset(".", "DNSKEY")
    assert root_keys is not None
    made = [dns.dnssec.make_ds(".", k, "SHA256").to_text() for k in root_keys]
    assert root_ds in made
    com = _zone(built, "com")
    com_ds = root.get_rdataset("com.", "DS")
    com_keys = com.get_rdataset("com.", "DNSKEY")
    assert com_ds is not None and com_keys is not None
    assert {dns.dnssec.make_ds("com.", k, "SHA256") for k in com_keys} & set(com_ds)
    # the signatures of a leaf zone validate with its own key
    leaf = _zone(built, "ee-311.com")
    mx = leaf.find_rrset("ee-311.com.", "MX")
    sig = leaf.find_rrset("ee-311.com.", "RRSIG", "MX")
    dns.dnssec.validate(mx, sig, _keys(leaf, "ee-311.com."))


def test_ds_mismatch_and_no_ds(built: WorldInfo) -> None:
    com = _zone(built, "com")
    assert com.get_rdataset("no-ds-island.com.", "DS") is None
    org = _zone(built, "org")
    bad_ds = org.get_rdataset("dnssec-failed.org.", "DS")
    child = _zone(built, "dnssec-failed.org").get_rdataset("dnssec-failed.org.", "DNSKEY")
    assert bad_ds is not None and child is not None
    assert not {dns.dnssec.make_ds("dnssec-failed.org.", k, "SHA256") for k in child} & set(bad_ds)
    se = _zone(built, "se")
    sha1 = se.get_rdataset("weak-alg.se.", "DS")
    assert sha1 is not None and {d.digest_type for d in sha1} == {1}


def test_signature_windows(built: WorldInfo) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()

    def expirations(zone: str) -> set[int]:
        z = _zone(built, zone)
        return {r.expiration for _, rds in z.iterate_rdatasets("RRSIG") for r in rds}

    assert all(e < now for e in expirations("expired-sigs.com"))
    assert all(now < e < now + 4 * 86400 for e in expirations("expiring-sigs.nl"))
    assert all(e > now + 20 * 86400 for e in expirations("ee-311.com"))


def test_nsec_and_nsec3(built: WorldInfo) -> None:
    text_nsec = (Path(built.dir) / "zones" / "no-tlsa-nsec.com.signed").read_text()
    text_nsec3 = (Path(built.dir) / "zones" / "no-tlsa-nsec3.net.signed").read_text()
    assert "\tNSEC\t" in text_nsec and "NSEC3" not in text_nsec
    assert "\tNSEC3PARAM\t1 0 0 -" in text_nsec3


def test_tlsa_data_matches_the_certificates(built: WorldInfo) -> None:
    leaf = _chain(built, "mx.ee-311.com")[0]
    assert f"3 1 1 {hashlib.sha256(_spki(leaf)).hexdigest()}" in _tlsa(
        built, "ee-311.com", "_25._tcp.mx.ee-311.com"
    )
    leaf = _chain(built, "mx.ee-301.com")[0]
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert _tlsa(built, "ee-301.com", "_25._tcp.mx.ee-301.com") == [
        f"3 0 1 {hashlib.sha256(der).hexdigest()}"
    ]
    leaf = _chain(built, "mx.ee-312.net", "rsa")[0]
    assert _tlsa(built, "ee-312.net", "_25._tcp.mx.ee-312.net") == [
        f"3 1 2 {hashlib.sha512(_spki(leaf)).hexdigest()}"
    ]
    chain = _chain(built, "mx.ta-good.com", "rsa")
    assert len(chain) == 2 and "intermediate CA" in chain[1].subject.rfc4514_string()
    assert f"2 1 1 {hashlib.sha256(_spki(chain[1])).hexdigest()}" in _tlsa(
        built, "ta-good.com", "_25._tcp.mx.ta-good.com"
    )
    assert len(_chain(built, "mx.ta-missing.com")) == 1
    assert len(_chain(built, "mx.ta-root.se")) == 3


def test_special_certificates(built: WorldInfo) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = _chain(built, "mx.ee-expired-cert.com")[0]
    assert expired.not_valid_after_utc < now
    wildcard = _chain(built, "mx.ta-wildcard.org")[0]
    san = wildcard.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["*.ta-wildcard.org"]
    huge = (Path(built.dir) / "certs" / "mx.huge-chain.com.ecdsa.crt").read_bytes()
    ders = [
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(huge)
    ]
    assert sum(len(d) for d in ders) > 100 * 1024
    rsa = _chain(built, "mx.dual-both.com", "rsa")[0]
    ec = _chain(built, "mx.dual-both.com", "ecdsa")[0]
    tlsa = _tlsa(built, "dual-both.com", "_25._tcp.mx.dual-both.com")
    assert {f"3 1 1 {hashlib.sha256(_spki(c)).hexdigest()}" for c in (rsa, ec)} == set(tlsa)


def _keys(
    z: dns.zone.Zone, origin: str
) -> dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset]:
    rds = z.get_rdataset(origin, "DNSKEY")
    assert rds is not None
    return {dns.name.from_text(origin): rds}


def test_bogus_signature_is_corrupted_only_where_asked(built: WorldInfo) -> None:
    z = _zone(built, "bogus-tlsa.com")
    keys = _keys(z, "bogus-tlsa.com.")
    owner = "_25._tcp.mx.bogus-tlsa.com."
    with pytest.raises(dns.exception.ValidationFailure):
        dns.dnssec.validate(z.find_rrset(owner, "TLSA"), z.find_rrset(owner, "RRSIG", "TLSA"), keys)
    dns.dnssec.validate(
        z.find_rrset("mx.bogus-tlsa.com.", "A"),
        z.find_rrset("mx.bogus-tlsa.com.", "RRSIG", "A"),
        keys,
    )


def test_configs_stay_on_the_world_addresses(built: WorldInfo) -> None:
    d = Path(built.dir)
    addresses = set(re.findall(r"(?:ip-address|interface): (\S+)@", (d / "nsd.conf").read_text()))
    addresses |= set(re.findall(r"interface: (\S+)@", (d / "unbound.conf").read_text()))
    assert addresses == {"127.53.0.1", "fd53::1", "127.53.0.53", "fd53::53"}
    assert "ede: yes" in (d / "unbound.conf").read_text()
    for h in built.hosts.values():
        assert all(a.startswith("127.25.") for a in h.ipv4)
        assert all(a.startswith("fd25::") for a in h.ipv6)


def test_mta_sts_policy_hosts(built: WorldInfo) -> None:
    d = Path(built.dir)
    config = json.loads((d / "policyd.json").read_text())
    assert config["port"] == 443
    listeners = {lst["domain"]: lst for lst in config["listeners"]}
    assert len(listeners) == built.policy_listeners
    assert all(lst["address"].startswith("127.44.") for lst in listeners.values())
    assert "sts-no-host.se" not in listeners and "sts-refused.nl" not in listeners
    assert "mta-sts.sts-no-host.se" not in built.policy_hosts
    assert "mta-sts.sts-refused.nl" in built.policy_hosts
    assert Path(built.ca_roots).read_bytes() == Path(built.ca_root).read_bytes()

    def chain(domain: str) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(Path(listeners[domain]["cert"]).read_bytes())

    def names(cert: x509.Certificate) -> list[str]:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return san.get_values_for_type(x509.DNSName)

    leaf, inter = chain("sts-enforce.com")
    assert names(leaf) == ["mta-sts.sts-enforce.com"]
    assert "intermediate CA" in inter.subject.rfc4514_string()
    leaf.verify_directly_issued_by(inter)
    root = x509.load_pem_x509_certificate(Path(built.ca_roots).read_bytes())
    inter.verify_directly_issued_by(root)
    bad, _ = chain("sts-bad-cert.net")
    assert names(bad) == ["www.sts-bad-cert.net"]
    (self_signed,) = chain("sts-self-signed.org")
    assert names(self_signed) == ["mta-sts.sts-self-signed.org"]
    self_signed.verify_directly_issued_by(self_signed)
    assert listeners["sts-enforce.com"]["policy"].startswith("version: STSv1\r\nmode: enforce\r\n")
    zone = (d / "zones" / "sts-no-host.se.zone").read_text()
    assert "_mta-sts.sts-no-host.se. IN TXT" in zone and "mta-sts.sts-no-host.se. IN A" not in zone
