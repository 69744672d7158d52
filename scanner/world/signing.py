"""DNSSEC keys and zone signing with ``ldns-signzone`` (NSEC and NSEC3), plus breakage.

Each signed zone gets one combined signing key (flags 257, a "CSK") made with
``cryptography`` and written in BIND's key-file format, which ``ldns-signzone``
reads. Breakage that the catalog asks for is applied to the signed zone text
afterwards (a corrupted RRSIG; an RRSIG made by a key the zone does not publish; an
NSEC3 whose type bitmap lies, validly re-signed), or by the signing window (expired,
expiring or not-yet-valid signatures), or by what the parent publishes (a DS that
matches no key, a DS for an algorithm the zone does not use).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scanner.world.ca import PrivateKey, new_key

# (catalog algorithm, denial) -> DNSSEC algorithm number and mnemonic
_ALG = {
    ("ecdsa", "nsec"): (13, "ECDSAP256SHA256"),
    ("ecdsa", "nsec3"): (13, "ECDSAP256SHA256"),
    ("rsasha256", "nsec"): (8, "RSASHA256"),
    ("rsasha256", "nsec3"): (8, "RSASHA256"),
    ("rsasha1", "nsec"): (5, "RSASHA1"),
    ("rsasha1", "nsec3"): (7, "NSEC3RSASHA1"),
}


@dataclass(frozen=True)
class ZoneKey:
    """A zone's signing key: private key, DNSKEY rdata, and its BIND file base name."""

    zone: str
    algorithm: int
    key: PrivateKey
    dnskey: dns.rdata.Rdata
    tag: int

    def ds(self, digest: str = "SHA256") -> dns.rdata.Rdata:
        return dns.dnssec.make_ds(
            dns.name.from_text(self.zone), self.dnskey, digest, policy=dns.dnssec.allow_all_policy
        )

    def ds_text(self, digest: str = "SHA256") -> str:
        return str(self.ds(digest).to_text())


def make_key(zone: str, algorithm: str, denial: str) -> ZoneKey:
    alg, _ = _ALG[(algorithm, denial)]
    key = new_key("ecdsa" if alg == 13 else "rsa")
    dnskey = dns.dnssec.make_dnskey(key.public_key(), alg, flags=257)
    return ZoneKey(zone, alg, key, dnskey, dns.dnssec.key_id(dnskey))


def _b64int(value: int) -> str:
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")).decode()


def write_key_files(key: ZoneKey, directory: Path) -> Path:
    """Write ``K<zone>.+AAA+TTTTT.{key,private}``; return the base path (no suffix)."""
    origin = key.zone.rstrip(".") + "."
    if origin == "..":
        origin = "."
    base = directory / f"K{origin}+{key.algorithm:03d}+{key.tag:05d}"
    mnemonic = next(m for (a, m) in _ALG.values() if a == key.algorithm)
    lines = ["Private-key-format: v1.3", f"Algorithm: {key.algorithm} ({mnemonic})"]
    if isinstance(key.key, ec.EllipticCurvePrivateKey):
        d = key.key.private_numbers().private_value
        lines.append("PrivateKey: " + base64.b64encode(d.to_bytes(32, "big")).decode())
    else:
        assert isinstance(key.key, rsa.RSAPrivateKey)
        n = key.key.private_numbers()
        pub = n.public_numbers
        lines += [
            f"Modulus: {_b64int(pub.n)}",
            f"PublicExponent: {_b64int(pub.e)}",
            f"PrivateExponent: {_b64int(n.d)}",
            f"Prime1: {_b64int(n.p)}",
            f"Prime2: {_b64int(n.q)}",
            f"Exponent1: {_b64int(n.dmp1)}",
            f"Exponent2: {_b64int(n.dmq1)}",
            f"Coefficient: {_b64int(n.iqmp)}",
        ]
    base.with_name(base.name + ".private").write_text("\n".join(lines) + "\n")
    base.with_name(base.name + ".key").write_text(
        f"{origin} 3600 IN DNSKEY {key.dnskey.to_text()}\n"
    )
    return base


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def signing_window(now: dt.datetime, breakage: tuple[str, ...]) -> tuple[dt.datetime, dt.datetime]:
    kinds = {b.split()[0] for b in breakage}
    if "expired-sigs" in kinds:
        return now - dt.timedelta(days=40), now - dt.timedelta(days=10)
    if "expiring-sigs" in kinds:
        return now - dt.timedelta(days=1), now + dt.timedelta(days=3)
    if "future-sigs" in kinds:  # a signer whose clock runs ten days ahead
        return now + dt.timedelta(days=10), now + dt.timedelta(days=40)
    return now - dt.timedelta(days=1), now + dt.timedelta(days=30)


def sign_zone_file(
    unsigned: Path,
    signed: Path,
    zone: str,
    key_base: Path,
    denial: str,
    window: tuple[dt.datetime, dt.datetime],
) -> None:
    """Sign ``unsigned`` into ``signed`` with ldns-signzone (NSEC3: 0 iterations, no salt)."""
    origin = zone.rstrip(".") + "." if zone not in ("", ".") else "."
    cmd = ["ldns-signzone", "-o", origin, "-i", _stamp(window[0]), "-e", _stamp(window[1])]
    if denial == "nsec3":
        cmd += ["-n", "-t", "0"]
    cmd += ["-f", str(signed), str(unsigned), str(key_base)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ldns-signzone failed for {zone}: {res.stderr.strip()}")


_RRSIG_LINE = re.compile(r"^(\S+)\s+(\d+)\s+IN\s+RRSIG\s+(\S+)\s(.*)\s(\S+)$")


def corrupt_signatures(signed: Path, targets: list[tuple[str, str]]) -> int:
    """Flip one byte of the RRSIG over each (owner, type); return how many were hit."""
    wanted = {(o.lower().rstrip(".") + ".", t.upper()) for o, t in targets}
    hit = 0
    out = []
    for line in signed.read_text().splitlines():
        m = _RRSIG_LINE.match(line)
        if m and (m.group(1).lower(), m.group(3).upper()) in wanted:
            sig = bytearray(base64.b64decode(m.group(5)))
            sig[len(sig) // 2] ^= 0x5A
            line = (
                f"{m.group(1)}\t{m.group(2)}\tIN\tRRSIG\t{m.group(3)} {m.group(4)} "
                + base64.b64encode(bytes(sig)).decode()
            )
            hit += 1
        out.append(line)
    signed.write_text("\n".join(out) + "\n")
    return hit


def parent_ds(key: ZoneKey, breakage: tuple[str, ...]) -> list[str]:
    """The DS rdata (text) the parent publishes for a signed child, per its breakage."""
    kinds = {b.split()[0] for b in breakage}
    if "no-ds" in kinds:
        return []
    if "sha1-ds" in kinds:
        return [key.ds_text("SHA1")]
    if "ds-mismatch" in kinds:
        ds = key.ds()
        digest = bytearray(ds.digest)  # type: ignore[attr-defined]
        digest[0] ^= 0xFF
        return [f"{key.tag} {key.algorithm} 2 {bytes(digest).hex()}"]
    if "ds-other-algorithm" in kinds:
        # A half-done algorithm rollover: the parent already has the DS of the next key,
        # of another algorithm, which the zone neither publishes nor signs with.
        other = ("rsasha256", "nsec") if key.algorithm == 13 else ("ecdsa", "nsec")
        return [make_key(key.zone, *other).ds_text("SHA256")]
    return [key.ds_text("SHA256")]


def tamper_signed(
    signed: Path,
    key: ZoneKey,
    window: tuple[dt.datetime, dt.datetime],
    orphan_sigs: list[tuple[str, str]],
    nsec3_lies: list[tuple[str, str]],
) -> int:
    """Break a signed zone in ways that need valid signatures; return the targets hit.

    ``orphan_sigs``: the RRSIGs over each (owner, type) are replaced by one made with a
    fresh key of the zone's algorithm that the DNSKEY set does not hold (a ZSK removed
    before its signatures expired). ``nsec3_lies``: the NSEC3 record matching owner
    gets type added to its bitmap and is re-signed with the zone's own key, so its
    signature verifies but it denies nothing (RFC 5155 §8.5).
    """
    origin = dns.name.from_text(key.zone.rstrip(".") + ".")
    zone = dns.zone.from_file(str(signed), origin=origin, relativize=False)
    inception, expiration = window
    hit = 0

    def resign(name: dns.name.Name, rdataset: dns.rdataset.Rdataset, by: ZoneKey) -> None:
        sig = dns.dnssec.sign(
            (name, rdataset),
            by.key,
            origin,
            by.dnskey,  # type: ignore[arg-type]
            inception=inception,
            expiration=expiration,
            policy=dns.dnssec.allow_all_policy,
        )
        node = zone.find_node(name)
        node.delete_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdataset.rdtype)
        node.replace_rdataset(dns.rdataset.from_rdata(rdataset.ttl, sig))

    if orphan_sigs:
        mnemonic = {13: "ecdsa", 8: "rsasha256", 5: "rsasha1", 7: "rsasha1"}[key.algorithm]
        denial = "nsec3" if key.algorithm == 7 else "nsec"
        gone = make_key(key.zone, mnemonic, denial)
        for owner, rrtype in orphan_sigs:
            name = dns.name.from_text(owner.rstrip(".") + ".")
            rdataset = zone.get_rdataset(name, rrtype)
            if rdataset is not None:
                resign(name, rdataset, gone)
                hit += 1
    if nsec3_lies:
        param = zone.get_rdataset(origin, dns.rdatatype.NSEC3PARAM)
        assert param is not None, f"{key.zone}: nsec3-lie needs an NSEC3-signed zone"
        p = param[0]
        for owner, rrtype in nsec3_lies:
            label = dns.dnssec.nsec3_hash(owner.rstrip(".") + ".", p.salt, p.iterations, 1)
            name = dns.name.Name((label.lower().encode(), *origin.labels))
            old = zone.get_rdataset(name, dns.rdatatype.NSEC3)
            if old is None:
                continue
            lie = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.NSEC3, f"{old[0].to_text()} {rrtype.upper()}"
            )
            new = dns.rdataset.from_rdata(old.ttl, lie)
            zone.find_node(name).replace_rdataset(new)
            resign(name, new, key)
            hit += 1
    zone.to_file(str(signed), relativize=False)
    return hit
