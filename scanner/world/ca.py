"""The world's private PKI: a root and intermediate CA, per-host leaf chains, TLSA data.

Everything is made with ``cryptography`` at build time, relative to the build time
``now`` (so "valid" certificates stay valid and "expired" ones stay expired whenever
the world is rebuilt). The root is also the one trust root of PKIX clients inside the
world (the MTA-STS policy hosts' certificates chain to it). ``tlsa_data`` turns a
symbolic TLSA spec of the catalog (``"3 1 1 leaf"``, ``"2 0 1 int"``, ...) into the
association data for one host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from scanner.world.catalog import CertSpec, TlsaSpec

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

DAY = dt.timedelta(days=1)
_PAD_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.25.1")


def new_key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "danescan world"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _ca_cert(
    cn: str,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    now: dt.datetime,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 2 * DAY)
        .not_valid_after(now + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_ski(key), critical=False)
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return b.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class WorldCA:
    """Root and intermediate of the world's private CA (for DANE-TA scenarios)."""

    root: x509.Certificate
    root_key: PrivateKey
    inter: x509.Certificate
    inter_key: PrivateKey

    @classmethod
    def create(cls, now: dt.datetime) -> WorldCA:
        root_key = new_key("ecdsa")
        root = _ca_cert("danescan world root CA", root_key, None, root_key, now)
        inter_key = new_key("ecdsa")
        inter = _ca_cert("danescan world intermediate CA", inter_key, root, root_key, now)
        return cls(root, root_key, inter, inter_key)


@dataclass(frozen=True)
class Chain:
    """One certificate chain (leaf first) and the leaf's private key."""

    certs: tuple[x509.Certificate, ...]
    key: PrivateKey
    kind: str  # "ecdsa" | "rsa"

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]


@dataclass(frozen=True)
class HostCerts:
    """The chains a host presents (two for "dual": ECDSA first) and spare keys."""

    chains: tuple[Chain, ...]
    other: x509.Certificate  # an unrelated certificate: hash mismatches
    next_key: PrivateKey  # the next key of a rollover pair (published, not yet in use)


def _leaf(
    names: tuple[str, ...],
    key: PrivateKey,
    spec: CertSpec,
    ca: WorldCA,
    now: dt.datetime,
) -> x509.Certificate:
    if spec.validity == "expired":
        start, end = now - 400 * DAY, now - 30 * DAY
    elif spec.validity == "future":
        start, end = now + 30 * DAY, now + 400 * DAY
    else:
        start, end = now - DAY, now + 365 * DAY
    self_signed = spec.issuer == "self"
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(_name(names[0]) if self_signed else ca.inter.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(_ski(key), critical=False)
    )
    if not self_signed:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.inter_key.public_key()),
            critical=False,
        )
    return b.sign(key if self_signed else ca.inter_key, hashes.SHA256())


def _padding(now: dt.datetime, count: int = 26, size: int = 4500) -> list[x509.Certificate]:
    """Big useless certificates that push a chain far beyond 100 KiB."""
    key = new_key("ecdsa")
    out = []
    for i in range(count):
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(f"padding {i}"))
            .issuer_name(_name(f"padding {i}"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY)
            .not_valid_after(now + 365 * DAY)
            .add_extension(x509.UnrecognizedExtension(_PAD_OID, os.urandom(size)), critical=False)
        )
        out.append(b.sign(key, hashes.SHA256()))
    return out


def make_host_certs(host_name: str, spec: CertSpec, ca: WorldCA, now: dt.datetime) -> HostCerts:
    names = spec.names or (host_name,)
    kinds = ["ecdsa", "rsa"] if spec.key == "dual" else [spec.key]
    chains = []
    for kind in kinds:
        key = new_key(kind)
        leaf = _leaf(names, key, spec, ca, now)
        certs = [leaf]
        if spec.issuer == "ca" and spec.chain in ("leaf+int", "leaf+int+root", "huge"):
            certs.append(ca.inter)
        if spec.issuer == "ca" and spec.chain == "leaf+int+root":
            certs.append(ca.root)
        if spec.chain == "huge":
            certs.extend(_padding(now))
        chains.append(Chain(tuple(certs), key, kind))
    other_key = new_key("ecdsa")
    other = _leaf(names, other_key, CertSpec(), ca, now)
    return HostCerts(tuple(chains), other, new_key("ecdsa"))


def make_web_chain(name: str, self_signed: bool, ca: WorldCA, now: dt.datetime) -> Chain:
    """An HTTPS server chain (ECDSA) naming ``name``: world-CA leaf + intermediate, or a
    self-signed leaf. The MTA-STS policy hosts use these (RFC 8461 §3.3: PKIX-valid)."""
    spec = CertSpec(issuer="self" if self_signed else "ca")
    key = new_key("ecdsa")
    leaf = _leaf((name,), key, spec, ca, now)
    return Chain((leaf,) if self_signed else (leaf, ca.inter), key, "ecdsa")


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _spki(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def tlsa_data(spec: TlsaSpec, certs: HostCerts, ca: WorldCA) -> bytes:
    """Association data for a symbolic TLSA spec (unknown params: hashed like 3 1 1)."""
    ref = spec.ref
    if ref.startswith("hex:"):
        return bytes.fromhex(ref[4:])
    if ref == "short":
        return hashlib.sha256(b"short").digest()[:16]
    if ref == "next":
        cert_der, spki = b"", _spki(certs.next_key)
        if spec.selector == 0:
            raise ValueError("'next' is a bare key: use selector 1")
    else:
        if ref in ("leaf", "leaf:ecdsa", "leaf:rsa"):
            wanted = ref.partition(":")[2]
            chain = next((c for c in certs.chains if not wanted or c.kind == wanted), None)
            if chain is None:
                raise ValueError(f"no {wanted} chain for TLSA {spec}")
            cert = chain.leaf
        elif ref == "int":
            cert = ca.inter
        elif ref == "root":
            cert = ca.root
        else:  # "other"
            cert = certs.other
        cert_der = _der(cert)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    blob = cert_der if spec.selector == 0 else spki
    if spec.mtype == 0:
        return blob
    if spec.mtype == 2:
        return hashlib.sha512(blob).digest()
    return hashlib.sha256(blob).digest()


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def chain_pem(chain: Chain) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain.certs)


def write_chain(directory: Path, stem: str, chain: Chain) -> tuple[Path, Path]:
    """Write ``<stem>.<kind>.crt`` (chain, leaf first) and ``.key``; return the paths."""
    crt = directory / f"{stem}.{chain.kind}.crt"
    key = directory / f"{stem}.{chain.kind}.key"
    crt.write_bytes(chain_pem(chain))
    key.write_bytes(key_pem(chain.key))
    return crt, key
