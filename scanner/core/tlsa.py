"""TLSA records: parsing, usability for SMTP, and the TLSA base domain (pure; no I/O).

* ``parse_tlsa`` reads the presentation form (RFC 6698 §2.2), as dnspython prints it
  (``"3 1 1 <hex>"``, the hex possibly split by white space), and the RFC 3597
  generic form (``"\\# 35 0301...``").
* ``is_usable`` is RFC 7672 §3.1: only DANE-TA(2) and DANE-EE(3) are usable for SMTP,
  with selector Cert(0) or SPKI(1) and matching type Full(0), SHA2-256(1) or
  SHA2-512(2); the association data must have the right length.
* The TLSA base domain walk of RFC 7672 §2.2.2 lives here and nowhere else:
  ``tlsa_base_candidates`` (with a secure CNAME chain, the fully expanded name first,
  then the original MX host name), ``next_tlsa_base`` (the gatherer's loop: which owner
  to ask next, or None when the walk is decided), ``deciding_tlsa`` (which of the
  lookups made decides, for the rules) and ``presented_sni`` (the SNI a probe sends).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scanner.core.dnssec import FAILED_DNS, lookup_status
from scanner.core.model import DnsLookup, DnssecStatus, HostDns, TlsaRecord

USAGE_PKIX_TA = 0
USAGE_PKIX_EE = 1
USAGE_DANE_TA = 2
USAGE_DANE_EE = 3

SELECTOR_CERT = 0
SELECTOR_SPKI = 1

MTYPE_FULL = 0
MTYPE_SHA256 = 1
MTYPE_SHA512 = 2

DIGEST_LENGTH = {MTYPE_SHA256: 32, MTYPE_SHA512: 64}

SMTP_PORT_PREFIX = "_25._tcp."


class TlsaParseError(ValueError):
    """TLSA rdata that is not a well-formed TLSA record."""


def _octet(token: str, what: str) -> int:
    if not token.isdigit():
        raise TlsaParseError(f"{what} is not a number: {token!r}")
    value = int(token)
    if value > 255:
        raise TlsaParseError(f"{what} out of range: {value}")
    return value


def _hex(tokens: Iterable[str]) -> bytes:
    text = "".join(tokens)
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise TlsaParseError(f"bad hex data: {text[:40]!r}") from exc


def parse_tlsa(rdata_text: str) -> TlsaRecord:
    """Parse one TLSA rdata in presentation form; raise ``TlsaParseError`` if malformed.

    Empty association data is accepted here (``"3 1 1"``): it is a record the zone
    published, and ``is_usable`` rejects it.
    """
    tokens = rdata_text.split()
    if tokens and tokens[0] == "\\#":
        # RFC 3597 §5: "\# <length> <hex>"
        if len(tokens) < 2 or not tokens[1].isdigit():
            raise TlsaParseError("bad generic rdata length")
        wire = _hex(tokens[2:])
        if len(wire) != int(tokens[1]) or len(wire) < 3:
            raise TlsaParseError("generic rdata length mismatch")
        return TlsaRecord(wire[0], wire[1], wire[2], wire[3:])
    if len(tokens) < 3:
        raise TlsaParseError(f"too few fields: {rdata_text!r}")
    usage = _octet(tokens[0], "usage")
    selector = _octet(tokens[1], "selector")
    mtype = _octet(tokens[2], "matching type")
    return TlsaRecord(usage, selector, mtype, _hex(tokens[3:]))


def der_element_length(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Return ``(header_length, content_length)`` of the DER element at ``pos``.

    Raises ``ValueError`` on anything that is not definite-length DER inside ``data``.
    Shared with ``certs`` to extract the exact SubjectPublicKeyInfo bytes.
    """
    if pos + 2 > len(data):
        raise ValueError("truncated DER header")
    first = data[pos + 1]
    if first < 0x80:
        header, length = 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + 2 + count > len(data):
            raise ValueError("unsupported DER length")
        header = 2 + count
        length = int.from_bytes(data[pos + 2 : pos + header], "big")
    if pos + header + length > len(data):
        raise ValueError("truncated DER content")
    return header, length


def _is_der_sequence(data: bytes) -> bool:
    """Whether ``data`` is exactly one DER SEQUENCE (a certificate or an SPKI is)."""
    if not data or data[0] != 0x30:
        return False
    try:
        header, length = der_element_length(data)
    except ValueError:
        return False
    return header + length == len(data)


def unusable_reason(rec: TlsaRecord) -> str:
    """Why a record is unusable for SMTP ("" when usable), RFC 7672 §3.1 / RFC 6698."""
    if rec.usage in (USAGE_PKIX_TA, USAGE_PKIX_EE):
        # RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not to be used for SMTP.
        return "pkix_usage"
    if rec.usage not in (USAGE_DANE_TA, USAGE_DANE_EE):
        return "unknown_usage"
    if rec.selector not in (SELECTOR_CERT, SELECTOR_SPKI):
        return "unknown_selector"
    if rec.mtype not in (MTYPE_FULL, MTYPE_SHA256, MTYPE_SHA512):
        return "unknown_mtype"
    if rec.mtype == MTYPE_FULL:
        # Decision: Full(0) data must at least be one DER SEQUENCE (a certificate or an
        # SPKI); anything else can never equal what a server presents, so it is as
        # unusable as a digest of the wrong length (RFC 7671 §5.1 / RFC 6698 §2.1.3).
        # Only the structure is checked, not the key algorithm.
        return "" if _is_der_sequence(rec.data) else "bad_data"
    return "" if len(rec.data) == DIGEST_LENGTH[rec.mtype] else "bad_data_length"


def is_usable(rec: TlsaRecord) -> bool:
    """RFC 7672 §3.1: DANE-TA/DANE-EE, Cert/SPKI, Full/SHA2-256/SHA2-512, right length."""
    return unusable_reason(rec) == ""


def tlsa_owner(base: str) -> str:
    """The TLSA owner name for SMTP on port 25 (RFC 7672 §2.2.3)."""
    return SMTP_PORT_PREFIX + base


def tlsa_base_of(owner: str) -> str:
    """The inverse of ``tlsa_owner`` (the owner itself when it has no prefix)."""
    return owner[len(SMTP_PORT_PREFIX) :] if owner.startswith(SMTP_PORT_PREFIX) else owner


def tlsa_base_candidates(host: str, a: DnsLookup, aaaa: DnsLookup) -> tuple[str, ...]:
    """The TLSA base domains to try, in order (RFC 7672 §2.2.2).

    When the address lookups went through CNAMEs and every such lookup validated
    (``secure``), the fully expanded name comes first, then the original host name.
    Otherwise only the host name: the crawler looks TLSA up even for insecure hosts
    so that "TLSA ignored" findings can be reported; the rules decide applicability.
    Never empty.
    """
    chained = [lookup for lookup in (a, aaaa) if lookup.cname_chain]
    candidates: list[str] = []
    if chained and all(lookup_status(lookup) is DnssecStatus.SECURE for lookup in chained):
        for lookup in chained:
            if lookup.final_name not in candidates and lookup.final_name != host:
                candidates.append(lookup.final_name)
    candidates.append(host)
    return tuple(candidates)


def tlsa_lookup_decides(lookup: DnsLookup) -> bool:
    """Records, or a failed lookup, end the candidate walk; only a secure or insecure
    denial (NXDOMAIN / NODATA) moves on to the next candidate base domain."""
    return bool(lookup.records) or lookup_status(lookup) in FAILED_DNS


def next_tlsa_base(
    host: str, a: DnsLookup, aaaa: DnsLookup, done: Sequence[DnsLookup]
) -> str | None:
    """The next TLSA base domain to ask about, given the lookups ``done`` so far (in
    order), or None when the walk is decided (RFC 7672 §2.2.2: a denial moves on to the
    next candidate; records or a failed lookup decide; the candidates may run out)."""
    if done and tlsa_lookup_decides(done[-1]):
        return None
    candidates = tlsa_base_candidates(host, a, aaaa)
    return candidates[len(done)] if len(done) < len(candidates) else None


def deciding_tlsa(lookups: Sequence[DnsLookup]) -> DnsLookup | None:
    """The lookup that decided the walk: the first that is not a denial, else the last."""
    decided: DnsLookup | None = None
    for lookup in lookups:
        decided = lookup
        if tlsa_lookup_decides(lookup):
            break
    return decided


def presented_sni(host: HostDns) -> str:
    """The SNI a probe presents (DESIGN rule 4): the base domain where TLSA records were
    found, else the MX host name."""
    decided = deciding_tlsa(host.tlsa_lookups)
    return tlsa_base_of(decided.name) if decided is not None and decided.records else host.host
