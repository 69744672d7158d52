"""Chains of trust built with dnspython's own signer, for the tests of ``scanner.core.chain``.

``Chain`` signs a small hierarchy (the root, ``com``, ``example.com``) with fresh ECDSA
P-256 keys, the way a real signer would: the root's DS is the trust anchor, each parent
signs its child's DS, each zone's key signs its DNSKEY RRset and its records. A test
takes the secure chain and breaks one link (re-signing what a real zone would re-sign),
so every expectation comes from dnspython's ``dns.dnssec.sign`` / ``make_ds`` and the
RFCs, not from the code under test.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from scanner.core.chain import (
    ChainAnswer,
    ChainFacts,
    SignedRRset,
    TrustAnchor,
    ZoneLink,
)

NOW = 1_800_000_000.0  # 2027-01-15: the reference time of every test
DAY = 86_400
WINDOW = (int(NOW - DAY), int(NOW + 30 * DAY))


@dataclasses.dataclass(frozen=True)
class Key:
    zone: str
    private: ec.EllipticCurvePrivateKey
    dnskey: DNSKEY

    @property
    def tag(self) -> int:
        return dns.dnssec.key_id(self.dnskey)

    def ds(self, digest: str = "SHA256") -> str:
        made = dns.dnssec.make_ds(
            _abs(self.zone), self.dnskey, digest, policy=dns.dnssec.allow_all_policy
        )
        return str(made.to_text())


_KEYS: dict[tuple[str, int], Key] = {}


def key(zone: str, flags: int = 257, n: int = 0) -> Key:
    """A zone's n-th key (cached: key generation is the slow part of these tests)."""
    if (zone, n) not in _KEYS:
        private = ec.generate_private_key(ec.SECP256R1())
        dnskey = dns.dnssec.make_dnskey(private.public_key(), 13, flags=flags)
        assert isinstance(dnskey, DNSKEY)
        _KEYS[(zone, n)] = Key(zone, private, dnskey)
    return _KEYS[(zone, n)]


def _abs(name: str) -> dns.name.Name:
    return dns.name.from_text(name, origin=dns.name.root)


def sign(
    name: str,
    rrtype: str,
    records: Iterable[str],
    by: Iterable[Key],
    window: tuple[int, int] = WINDOW,
    ttl: int = 300,
    signer: str = "",
) -> SignedRRset:
    """An RRset and one RRSIG per key, made by dnspython (``signer`` overrides the zone)."""
    texts = list(records)
    rrset = dns.rrset.from_text_list(_abs(name), ttl, dns.rdataclass.IN, rrtype, texts)
    sigs = []
    for k in by:
        sig = dns.dnssec.sign(
            rrset,
            k.private,
            _abs(signer or k.zone),
            k.dnskey,
            inception=window[0],
            expiration=window[1],
        )
        sigs.append(sig.to_text())
    return SignedRRset(name, rrtype, ttl, tuple(r.to_text() for r in rrset), tuple(sigs))


def corrupt(rrset: SignedRRset) -> SignedRRset:
    """Flip one byte of each signature (the world's ``bogus-sig``)."""
    out = []
    for text in rrset.rrsigs:
        head, _, sig = text.rpartition(" ")
        raw = bytearray(base64.b64decode(sig))
        raw[len(raw) // 2] ^= 0x5A
        out.append(f"{head} {base64.b64encode(bytes(raw)).decode()}")
    return dataclasses.replace(rrset, rrsigs=tuple(out))


def dnskeys(
    zone: str, keys: Iterable[Key], by: Iterable[Key] | None = None, **kw: object
) -> SignedRRset:
    ks = list(keys)
    return sign(zone, "DNSKEY", [k.dnskey.to_text() for k in ks], ks if by is None else by, **kw)  # type: ignore[arg-type]


def anchor() -> TrustAnchor:
    return TrustAnchor(".", (key(".").ds(),), (), "test root")


def link(zone: str, parent: str, **kw: object) -> ZoneLink:
    """A secure zone cut: the parent signs the child's DS, the child's key its DNSKEYs."""
    fields: dict[str, object] = {
        "ds": sign(zone, "DS", [key(zone).ds()], [key(parent)]) if parent else None,
        "dnskey": dnskeys(zone, [key(zone)]),
    }
    fields.update(kw)
    return ZoneLink(zone, parent, **fields)  # type: ignore[arg-type]


def secure_links() -> list[ZoneLink]:
    return [link(".", ""), link("com", "."), link("example.com", "com")]


def answer(name: str = "www.example.com", rrtype: str = "A", **kw: object) -> ChainAnswer:
    fields: dict[str, object] = {
        "rcode": "NOERROR",
        "zone": "example.com",
        "rrsets": (sign(name, rrtype, ["192.0.2.1"], [key("example.com")]),),
    }
    fields.update(kw)
    return ChainAnswer(name, rrtype, **fields)  # type: ignore[arg-type]


def facts(
    links: list[ZoneLink] | None = None,
    ans: ChainAnswer | None = None,
    trust: TrustAnchor | None = None,
) -> ChainFacts:
    a = ans or answer()
    return ChainFacts(a.name, a.rrtype, trust or anchor(), tuple(links or secure_links()), a)


def replace_link(links: list[ZoneLink], zone: str, **kw: object) -> list[ZoneLink]:
    return [dataclasses.replace(x, **kw) if x.zone == zone else x for x in links]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- denial


def nsec_chain(zone: str, names: dict[str, str]) -> list[SignedRRset]:
    """A whole NSEC chain (RFC 4034 §4) over ``names`` {owner: "TYPES ..."}, signed."""
    owners = sorted(names, key=_abs)
    out = []
    for i, owner in enumerate(owners):
        nxt = owners[(i + 1) % len(owners)]
        out.append(sign(owner, "NSEC", [f"{nxt}. {names[owner]} RRSIG NSEC"], [key(zone)]))
    return out


def nsec3_hash(name: str, salt: str = "", iterations: int = 0) -> str:
    return dns.dnssec.nsec3_hash(_abs(name), salt or None, iterations, 1).lower()


def nsec3_chain(
    zone: str, names: dict[str, str], opt_out: bool = False, algorithm: int = 1
) -> dict[str, SignedRRset]:
    """A whole NSEC3 chain (RFC 5155 §7.1; no salt, 0 iterations), signed, by original name."""
    hashed = sorted((nsec3_hash(n), n) for n in names)
    out = {}
    flags = 1 if opt_out else 0
    for i, (h, n) in enumerate(hashed):
        nxt = hashed[(i + 1) % len(hashed)][0]
        rdata = f"{algorithm} {flags} 0 - {nxt.upper()} {names[n]}".strip()
        out[n] = sign(f"{h}.{zone}", "NSEC3", [rdata], [key(zone)])
    return out


def covering3(chain: dict[str, SignedRRset], name: str) -> SignedRRset:
    """The NSEC3 record of ``chain`` whose span covers the hash of ``name``."""
    h = nsec3_hash(name)
    for rrset in chain.values():
        owner = rrset.name.split(".")[0]
        nxt = rrset.records[0].split()[4].lower()
        if (owner < h < nxt) or (nxt <= owner and (h > owner or h < nxt)):
            return rrset
    raise AssertionError(f"nothing covers {name}")


def rdata(rrtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rrtype), text)
