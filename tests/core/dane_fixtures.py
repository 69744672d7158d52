"""Shared builders for the rules' unit tests: certificates (cached), TLSA, DNS facts.

Key generation is the slow part, so keys are made once per process and reused;
certificates are cheap to sign and are cached by their parameters too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from scanner.core.model import (
    DnsLookup,
    DomainFacts,
    HostDns,
    ProbeStatus,
    Rrsig,
    SmtpProbe,
    TlsaRecord,
    TlsHandshake,
)

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
NOW_TS = NOW.timestamp()
DAY = 86400.0

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@cache
def key(name: str, kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Cert:
    der: bytes
    cert: x509.Certificate

    @property
    def spki(self) -> bytes:
        return self.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@cache
def make_cert(
    cn: str,
    key_name: str,
    issuer: Cert | None = None,
    issuer_key: str | None = None,
    *,
    ca: bool = False,
    sans: tuple[str, ...] | None = None,
    nb_days: float = -10,
    na_days: float = 100,
    kind: str = "ec",
    basic_constraints: bool = True,
) -> Cert:
    """A certificate for ``cn`` with key ``key_name``; self-signed without issuer."""
    k = key(key_name, kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer = k if issuer is None else key(issuer_key or "", _kind_of(issuer))
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.cert.subject)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=nb_days))
        .not_valid_after(NOW + dt.timedelta(days=na_days))
    )
    if basic_constraints:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if sans is not None:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    c = b.sign(signer, algorithm)
    return Cert(c.public_bytes(serialization.Encoding.DER), c)


def _kind_of(c: Cert) -> str:
    pk = c.cert.public_key()
    if isinstance(pk, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(pk, ed25519.Ed25519PublicKey):
        return "ed25519"
    return "ec"


@cache
def pki(kind: str = "ec") -> tuple[Cert, Cert]:
    """A private root CA and an intermediate issued by it."""
    root = make_cert(f"Root {kind}", f"root-{kind}", ca=True, kind=kind, na_days=3650)
    inter = make_cert(
        f"Inter {kind}", f"inter-{kind}", root, f"root-{kind}", ca=True, kind=kind, na_days=1000
    )
    return root, inter


def leaf(
    names: tuple[str, ...] | None = ("mx.example.com",),
    *,
    cn: str = "mx.example.com",
    kind: str = "ec",
    nb_days: float = -10,
    na_days: float = 100,
    key_name: str = "leaf",
) -> Cert:
    _root, inter = pki(kind)
    return make_cert(
        cn,
        f"{key_name}-{kind}",
        inter,
        f"inter-{kind}",
        sans=names,
        nb_days=nb_days,
        na_days=na_days,
        kind=kind,
    )


def chain(lf: Cert | None = None, kind: str = "ec", with_root: bool = True) -> tuple[bytes, ...]:
    root, inter = pki(kind)
    lf = lf or leaf(kind=kind)
    return (lf.der, inter.der, root.der) if with_root else (lf.der, inter.der)


def tlsa_for(c: Cert, usage: int, selector: int, mtype: int) -> TlsaRecord:
    data = c.der if selector == 0 else c.spki
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return TlsaRecord(usage, selector, mtype, data)


# --------------------------------------------------------------------------- DNS facts


def lk(
    name: str,
    rrtype: str,
    records: Sequence[str] = (),
    *,
    status: str = "secure",
    rcode: str | None = None,
    cname_chain: tuple[str, ...] = (),
    rrsigs: tuple[Rrsig, ...] = (),
) -> DnsLookup:
    """A lookup with the given DNSSEC status (secure | insecure | bogus | error)."""
    if status == "bogus":
        return DnsLookup(name, rrtype, "SERVFAIL", cd_rcode="NOERROR")
    if status == "error":
        return DnsLookup(name, rrtype, "TIMEOUT", error="timeout")
    return DnsLookup(
        name,
        rrtype,
        rcode or "NOERROR",
        ad=status == "secure",
        records=tuple(records),
        cname_chain=cname_chain,
        rrsigs=rrsigs,
    )


def host_dns(
    host: str,
    *,
    addr: str = "secure",
    tlsa: Sequence[str] | None = None,
    tlsa_status: str = "secure",
    v6: bool = True,
    cname: str | None = None,
    extra_tlsa: Sequence[DnsLookup] = (),
) -> HostDns:
    chain_ = (cname,) if cname else ()
    a = lk(host, "A", ["192.0.2.1"], status=addr, cname_chain=chain_)
    aaaa = lk(host, "AAAA", ["2001:db8::1"] if v6 else [], status=addr, cname_chain=chain_)
    lookups: list[DnsLookup] = list(extra_tlsa)
    if tlsa is not None:
        rcode = "NOERROR" if tlsa else "NXDOMAIN"
        lookups.append(lk(f"_25._tcp.{host}", "TLSA", tlsa, status=tlsa_status, rcode=rcode))
    return HostDns(host, a, aaaa, tuple(lookups))


def handshake(ch: tuple[bytes, ...], variant: str = "default", ok: bool = True) -> TlsHandshake:
    return TlsHandshake(variant, ok, "TLSv1.3", "TLS_AES_128_GCM_SHA256", ch if ok else ())


def probe(
    host: str,
    ch: tuple[bytes, ...] = (),
    *,
    address: str = "192.0.2.1",
    status: ProbeStatus = ProbeStatus.OK,
    alternates: Sequence[TlsHandshake] = (),
) -> SmtpProbe:
    hs: tuple[TlsHandshake, ...] = ()
    if status is ProbeStatus.OK:
        hs = (handshake(ch), *alternates)
    return SmtpProbe(host, address, host, status, handshakes=hs)


def domain(
    name: str,
    mx: Sequence[str] | None,
    hosts: Sequence[HostDns] = (),
    probes: dict[str, tuple[SmtpProbe, ...]] | None = None,
    *,
    mx_status: str = "secure",
    mx_rcode: str | None = None,
    probing: bool = True,
    **kw: object,
) -> DomainFacts:
    mx_lookup = lk(name, "MX", mx or [], status=mx_status, rcode=mx_rcode)
    return DomainFacts(
        domain=name,
        mx=mx_lookup,
        implicit_mx=mx is None,
        hosts={h.host: h for h in hosts},
        probes=probes or {},
        probing_enabled=probing,
        **kw,  # type: ignore[arg-type]
    )
