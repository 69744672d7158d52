"""DANE certificate matching and chain checks with ``cryptography`` (pure; no I/O).

Two steps, so that the crawler can evaluate a host's chain once and then check names
per recipient domain without keeping any DER around:

* ``evaluate_chain(records, chain, now) -> ChainEvidence`` matches every TLSA record
  against the presented chain and, for DANE-TA, verifies the chain from the matched
  certificate down to the leaf. The evidence is small, frozen and hashable: it keeps
  the leaf's DNS names and CN, never the certificates.
* ``names_match(evidence, candidate_names)`` is the DANE-TA name check
  (RFC 7672 §3.2.3), and ``authenticates`` combines the two.

Decisions, with the RFC in hand:

* DANE-EE(3) (RFC 7672 §3.2.1, RFC 7671 §5.1): only the leaf is compared; names and
  validity dates are ignored. Cert(0) is compared against the DER bytes as sent,
  SPKI(1) against the SubjectPublicKeyInfo bytes extracted from that DER (not
  re-encoded by a library, so odd encodings still match byte for byte).
* DANE-TA(2) (RFC 7672 §3.2.2, RFC 7671 §5.2): any certificate of the presented chain
  (the leaf included) may match. RFC 7672 §3.1.2 says servers MUST include the TA
  certificate in the chain they present, even a self-signed root; so a TA that is not
  in the presented chain is not matched: we do not treat a ``2 1 0`` record as a bare
  public key. A usage-2 record matching the leaf itself makes a one-certificate chain
  whose trust anchor is the leaf: its validity dates and the name check still apply,
  as for any DANE-TA authentication (RFC 7671 §5.2.2 gives no exemption).
* The chain from the matched certificate to the leaf is verified with cryptography's
  x509 verifier (signatures, validity at ``now`` of every certificate on the path,
  the trust anchor included; CA certificates need basicConstraints cA) using
  ``ExtensionPolicy.permit_all()``: DANE-TA chains are private PKIs, web-PKI extension
  profiles do not apply. Dates are first checked by us on the presented path so that
  an expired certificate is reported as such (Exchange's 5.7.322) rather than as a
  generic chain failure (leaf and trust anchor first; when the verifier fails, an
  out-of-date certificate presented between them); its message text is never parsed.
* Known limitation: cryptography's verifier accepts only web-PKI public-key
  algorithms (RSA, ECDSA P-256/384/521): a DANE-TA chain with Ed25519 or Ed448 keys is
  reported as ``chain_invalid``; so is a trust anchor (or intermediate) without a
  basicConstraints extension, which OpenSSL would still accept for a self-signed
  legacy root. A trust anchor that is the leaf itself needs no CA flag. DANE-EE is
  unaffected by either (it only hashes).
* Name check (RFC 7672 §3.2.3): DNS SANs; a wildcard only as the whole left-most
  label, matching exactly one label, and never directly under a one-label suffix
  (``*.com``); the subject CN only when the certificate has no DNS SAN.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from scanner.core.model import TlsaRecord
from scanner.core.tlsa import (
    MTYPE_FULL,
    MTYPE_SHA256,
    SELECTOR_CERT,
    USAGE_DANE_EE,
    USAGE_DANE_TA,
    der_element_length,
    is_usable,
)

MAX_CHAIN = 20  # certificates processed per chain (NOTES: hostile peers)

# Error codes of one record's evidence.
OK = ""
NO_MATCH = "no_match"
UNUSABLE = "unusable"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
CHAIN_INVALID = "chain_invalid"
NO_CHAIN = "no_chain"


@dataclass(frozen=True, slots=True)
class RecordEvidence:
    """What one TLSA record made of the presented chain.

    ``matched``: the record matched a certificate (the leaf for DANE-EE, any for
    DANE-TA); ``depth`` is that certificate's index (0 = leaf). ``chain_ok``: DANE-EE
    matched, or the DANE-TA chain verified at ``now`` (names are checked separately).
    """

    record: TlsaRecord
    matched: bool
    chain_ok: bool
    depth: int | None = None
    error: str = OK
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChainEvidence:
    """The outcome of ``evaluate_chain``: small, frozen, hashable, no DER."""

    records: tuple[RecordEvidence, ...]
    leaf_parsed: bool
    leaf_dns_names: tuple[str, ...] = ()
    leaf_cn: tuple[str, ...] = ()
    leaf_key_type: str = ""  # rsa | ecdsa | ed25519 | ed448 | dsa | other | "" (unparsed)
    leaf_expired: bool = False  # leaf outside its validity period at ``now``

    @property
    def ee_matched(self) -> bool:
        """A DANE-EE record matched the leaf (authenticates regardless of names)."""
        return any(r.matched and r.record.usage == USAGE_DANE_EE for r in self.records)

    @property
    def ta_chain_ok(self) -> bool:
        """A DANE-TA record matched and its chain verified (names still to check)."""
        return any(r.chain_ok and r.record.usage == USAGE_DANE_TA for r in self.records)

    @property
    def ta_matched(self) -> bool:
        return any(r.matched and r.record.usage == USAGE_DANE_TA for r in self.records)

    @property
    def ta_expired(self) -> bool:
        """A DANE-TA record matched but a certificate on the path is out of date."""
        return any(
            r.matched and r.record.usage == USAGE_DANE_TA and r.error in (EXPIRED, NOT_YET_VALID)
            for r in self.records
        )


def _digest(data: bytes, mtype: int) -> bytes:
    if mtype == MTYPE_FULL:
        return data
    if mtype == MTYPE_SHA256:
        return hashlib.sha256(data).digest()
    return hashlib.sha512(data).digest()


def spki_der(cert_der: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo bytes exactly as encoded in a DER certificate.

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ... } }
    (RFC 5280 §4.1). None when the DER is not shaped like that.
    """
    try:
        if not cert_der or cert_der[0] != 0x30:
            return None
        header, _ = der_element_length(cert_der, 0)
        pos = header  # at tbsCertificate
        if cert_der[pos] != 0x30:
            return None
        tbs_header, _ = der_element_length(cert_der, pos)
        pos += tbs_header
        if cert_der[pos] == 0xA0:  # explicit version
            h, n = der_element_length(cert_der, pos)
            pos += h + n
        for _ in range(5):  # serialNumber, signature, issuer, validity, subject
            h, n = der_element_length(cert_der, pos)
            pos += h + n
        if cert_der[pos] != 0x30:
            return None
        h, n = der_element_length(cert_der, pos)
        return cert_der[pos : pos + h + n]
    except (ValueError, IndexError):
        return None


class _Chain:
    """The presented chain, parsed lazily, with selector/digest values cached."""

    def __init__(self, chain: Sequence[bytes]) -> None:
        self.der = list(chain[:MAX_CHAIN])
        self._parsed: dict[int, x509.Certificate | None] = {}
        self._values: dict[tuple[int, int, int], bytes | None] = {}

    def cert(self, i: int) -> x509.Certificate | None:
        if i not in self._parsed:
            try:
                self._parsed[i] = x509.load_der_x509_certificate(self.der[i])
            except ValueError:
                self._parsed[i] = None
        return self._parsed[i]

    def value(self, i: int, selector: int, mtype: int) -> bytes | None:
        key = (i, selector, mtype)
        if key not in self._values:
            selected = self.der[i] if selector == SELECTOR_CERT else spki_der(self.der[i])
            self._values[key] = None if selected is None else _digest(selected, mtype)
        return self._values[key]

    def matches(self, i: int, rec: TlsaRecord) -> bool:
        return self.value(i, rec.selector, rec.mtype) == rec.data

    def all(self) -> list[x509.Certificate]:
        return [c for c in (self.cert(i) for i in range(len(self.der))) if c is not None]


def _timestamp(moment: dt.datetime) -> float:
    return moment.timestamp()


def _date_error(cert: x509.Certificate, now: float) -> str:
    if now < _timestamp(cert.not_valid_before_utc):
        return NOT_YET_VALID
    if now > _timestamp(cert.not_valid_after_utc):
        return EXPIRED
    return OK


def _ca_policy() -> ExtensionPolicy:
    # The verifier insists that a CA policy requires basicConstraints; everything else
    # is permitted (DANE-TA chains are private PKIs, RFC 7671 §5.2).
    return ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, Criticality.AGNOSTIC, None
    )


def _verify_ta(chain: _Chain, depth: int, now: float) -> tuple[bool, str, str]:
    """Verify the path from chain[depth] (the trust anchor) down to the leaf."""
    leaf, anchor = chain.cert(0), chain.cert(depth)
    if leaf is None or anchor is None:
        return False, CHAIN_INVALID, "unparsable leaf or trust anchor certificate"
    for what, cert in (("leaf", leaf), ("trust anchor", anchor)):
        error = _date_error(cert, now)
        if error:
            return False, error, f"{what} certificate {error.replace('_', ' ')}"
    intermediates = [c for c in (chain.cert(i) for i in range(1, len(chain.der))) if c is not None]
    when = dt.datetime.fromtimestamp(now, dt.UTC)
    try:
        verifier = (
            PolicyBuilder()
            .store(Store([anchor]))
            .time(when)
            .extension_policies(ca_policy=_ca_policy(), ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        verifier.verify(leaf, intermediates)
    except (VerificationError, ValueError) as exc:
        # Name the likely cause without parsing the verifier's text: an out-of-date
        # certificate presented between the trust anchor and the leaf.
        for i in range(1, depth):
            between = chain.cert(i)
            error = _date_error(between, now) if between is not None else OK
            if error:
                return False, error, f"certificate at depth {i} {error.replace('_', ' ')}"
        return False, CHAIN_INVALID, str(exc)[:200]
    return True, OK, ""


def key_type(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "other"
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa"
    return "other"


def leaf_names(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = tuple(n.lower().rstrip(".") for n in san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns = ()
    except ValueError:  # malformed extensions
        dns = ()
    cns = tuple(
        str(a.value).lower().rstrip(".")
        for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    )
    return dns, cns


def _evaluate_record(chain: _Chain, rec: TlsaRecord, now: float) -> RecordEvidence:
    if not is_usable(rec):
        return RecordEvidence(rec, matched=False, chain_ok=False, error=UNUSABLE)
    if rec.usage == USAGE_DANE_EE:
        if chain.matches(0, rec):
            return RecordEvidence(rec, matched=True, chain_ok=True, depth=0)
        return RecordEvidence(rec, matched=False, chain_ok=False, error=NO_MATCH)
    # DANE-TA: try every matching certificate, nearest the leaf first.
    first_failure: RecordEvidence | None = None
    for depth in range(len(chain.der)):
        if not chain.matches(depth, rec):
            continue
        ok, error, detail = _verify_ta(chain, depth, now)
        if ok:
            return RecordEvidence(rec, matched=True, chain_ok=True, depth=depth)
        if first_failure is None:
            first_failure = RecordEvidence(rec, True, False, depth, error, detail)
    if first_failure is not None:
        return first_failure
    return RecordEvidence(rec, matched=False, chain_ok=False, error=NO_MATCH)


def _evaluate(
    recs: tuple[TlsaRecord, ...], chain: Sequence[bytes], now: float
) -> tuple[ChainEvidence, _Chain | None]:
    if not chain:
        evidence = ChainEvidence(
            records=tuple(
                RecordEvidence(r, False, False, error=NO_CHAIN if is_usable(r) else UNUSABLE)
                for r in recs
            ),
            leaf_parsed=False,
        )
        return evidence, None
    parsed = _Chain(chain)
    records = tuple(_evaluate_record(parsed, r, now) for r in recs)
    leaf = parsed.cert(0)
    if leaf is None:
        return ChainEvidence(records=records, leaf_parsed=False), parsed
    dns, cns = leaf_names(leaf)
    evidence = ChainEvidence(
        records=records,
        leaf_parsed=True,
        leaf_dns_names=dns,
        leaf_cn=cns,
        leaf_key_type=key_type(leaf),
        leaf_expired=_date_error(leaf, now) != OK,
    )
    return evidence, parsed


def evaluate_chain(
    records: Iterable[TlsaRecord], chain: Sequence[bytes], now: float
) -> ChainEvidence:
    """Match every record against the presented chain (leaf first) at time ``now``."""
    return _evaluate(tuple(records), chain, now)[0]


class EvidenceCache:
    """``evaluate_chain`` results, reused while nothing time-dependent can change.

    Many domains share one MX host, and the crawler judges each domain at its own
    ``now``. The evidence depends on ``now`` only through the validity periods of the
    presented certificates, so a result is reused for any time strictly between the
    nearest validity boundaries around the time it was computed. Keys hold a SHA-256
    of the chain, not the DER, so the cache stays small (about 1 KiB an entry).
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[
            tuple[tuple[TlsaRecord, ...], bytes], tuple[ChainEvidence, float, float]
        ] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def evaluate(
        self, records: Iterable[TlsaRecord], chain: Sequence[bytes], now: float
    ) -> ChainEvidence:
        recs = tuple(records)
        digest = hashlib.sha256()
        for der in chain:
            digest.update(len(der).to_bytes(4, "big"))
            digest.update(der)
        key = (recs, digest.digest())
        cached = self._data.get(key)
        if cached is not None and cached[1] < now < cached[2]:
            self._data.move_to_end(key)
            self.hits += 1
            return cached[0]
        self.misses += 1
        evidence, parsed = _evaluate(recs, chain, now)
        lo, hi = -math.inf, math.inf
        for cert in parsed.all() if parsed is not None else ():
            for edge in (
                _timestamp(cert.not_valid_before_utc),
                _timestamp(cert.not_valid_after_utc),
            ):
                if edge <= now:
                    lo = max(lo, edge)
                if edge >= now:
                    hi = min(hi, edge)
        self._data[key] = (evidence, lo, hi)
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return evidence


def name_matches(pattern: str, name: str) -> bool:
    """One presented identifier against one reference identifier (RFC 7672 §3.2.3)."""
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if not pattern or not name:
        return False
    if pattern.startswith("*."):
        rest = pattern[2:]
        # The wildcard is the whole left-most label and stands for exactly one label;
        # "*.com"-style patterns (one-label remainder) are never honoured.
        if "." not in rest or "*" in rest:
            return False
        head, _, tail = name.partition(".")
        return bool(head) and tail == rest
    return "*" not in pattern and pattern == name


def names_match(evidence: ChainEvidence, candidate_names: Iterable[str]) -> bool:
    """Whether the leaf names any candidate: DNS SANs, or the CN only without DNS SAN."""
    presented = evidence.leaf_dns_names or evidence.leaf_cn
    candidates = tuple(candidate_names)
    return any(name_matches(p, c) for p in presented for c in candidates)


def authenticates(evidence: ChainEvidence, candidate_names: Iterable[str]) -> bool:
    """RFC 7672 §3.2: a DANE-EE match, or a verified DANE-TA chain naming a candidate."""
    return evidence.ee_matched or (evidence.ta_chain_ok and names_match(evidence, candidate_names))
