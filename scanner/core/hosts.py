"""One MX host judged for DANE, as if the MX RRset were secure (DESIGN §4 rules 2-6).

What must live here: ``HostAssessment`` (the facts of one host digested for the verdict,
the mail outcome and the findings), ``AddressResult`` (one probed address), and
``assess_host``, the one place where DNS status, TLSA usability and the probes of a host
become a host outcome. The domain-level rules (``scanner.core.rules``) and the findings
(``scanner.core.findings``) both read assessments; neither is imported here, so the
arrows point one way: rules -> findings -> hosts.

Decisions (see also ``scanner.core.rules``):

* Several addresses of one host: a host authenticates if any of its addresses does
  (RFC 7672 §2.2: a sender tries the next address); the host outcome is the *best*
  address outcome, in the order of ``_RANK``.
* RSA vs ECDSA: the default handshake decides; alternates only feed the finding
  ``tlsa_matches_one_key_type``.
* Address lookups that are bogus or indeterminate make the host ``unreachable`` for a
  DANE sender (RFC 7672 §2.1.1); a host whose addresses are securely absent is ``dead``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from scanner.core.certs import ChainEvidence, EvidenceCache, authenticates, names_match
from scanner.core.dnssec import FAILED_DNS, lookup_status
from scanner.core.model import (
    DnsLookup,
    DnssecStatus,
    HostDns,
    HostOutcome,
    MxHost,
    ProbeStatus,
    SmtpProbe,
    TlsaRecord,
)
from scanner.core.tlsa import (
    TlsaParseError,
    deciding_tlsa,
    is_usable,
    parse_tlsa,
    tlsa_base_of,
)

# Failure kinds of a TLSA mismatch.
FAIL_EXPIRED = "expired"
FAIL_MISNAMED = "misnamed"
FAIL_MISMATCH = "mismatch"

_FAILED_DNS = FAILED_DNS

# Best first: the host outcome over several addresses is the best address outcome.
_RANK = {
    HostOutcome.AUTHENTICATED: 0,
    HostOutcome.TLSA_UNUSABLE: 1,
    HostOutcome.TLSA_MISMATCH: 2,
    HostOutcome.TLS_FAILED: 3,
    HostOutcome.STARTTLS_MISSING: 4,
    HostOutcome.UNREACHABLE: 5,
}

_UNREACHABLE_PROBES = frozenset(
    {
        ProbeStatus.CONNECT_REFUSED,
        ProbeStatus.CONNECT_TIMEOUT,
        ProbeStatus.CONNECT_ERROR,
        ProbeStatus.BANNER_TIMEOUT,
        ProbeStatus.BANNER_REJECTED,
        ProbeStatus.PROTOCOL_ERROR,
        ProbeStatus.EHLO_FAILED,
    }
)
# A plain-text (opportunistic) sender can hand mail to these.
_TALKS_SMTP = frozenset(
    {
        ProbeStatus.OK,
        ProbeStatus.STARTTLS_MISSING,
        ProbeStatus.STARTTLS_REJECTED,
        ProbeStatus.TLS_FAILED,
    }
)


class AddressResult(msgspec.Struct, frozen=True, gc=False):
    """The DANE outcome of one probed address (its default handshake)."""

    address: str
    outcome: HostOutcome
    failure: str = ""  # expired | misnamed | mismatch, for TLSA_MISMATCH
    evidence: ChainEvidence | None = None
    # (variant, authenticates) of the alternate handshakes (RSA vs ECDSA), if any.
    alternates: tuple[tuple[str, bool], ...] = ()
    key_type: str = ""


class HostAssessment(msgspec.Struct, frozen=True, gc=False):
    """One MX host judged as if the MX RRset were secure (input to verdict and findings)."""

    host: str
    preference: int
    dns: HostDns | None
    address_status: DnssecStatus
    has_addresses: bool
    tlsa_lookup: DnsLookup | None  # the lookup that decided (RFC 7672 §2.2.2 walk)
    tlsa_status: DnssecStatus | None
    tlsa_base: str | None
    records: tuple[TlsaRecord, ...]  # every parsable record of the deciding RRset
    unparsable: int
    outcome: HostOutcome
    reachable: bool | None  # a plain SMTP sender could talk to it; None: not probed
    addresses: tuple[AddressResult, ...] = ()
    failure: str = ""
    detail: str = ""

    @property
    def usable(self) -> tuple[TlsaRecord, ...]:
        return tuple(r for r in self.records if is_usable(r))

    @property
    def tlsa_published(self) -> bool:
        """A secure, non-empty TLSA RRset (DANE applies when the MX is secure too)."""
        return self.tlsa_status is DnssecStatus.SECURE and bool(self.records or self.unparsable)

    @property
    def secure_addresses(self) -> bool:
        return self.address_status is DnssecStatus.SECURE and self.has_addresses

    @property
    def dane_applies(self) -> bool:
        return self.secure_addresses and self.tlsa_published

    @property
    def dns_failed(self) -> bool:
        return self.address_status in _FAILED_DNS or (
            self.secure_addresses and self.tlsa_status in _FAILED_DNS
        )

    @property
    def dns_failure_status(self) -> DnssecStatus | None:
        if self.address_status in _FAILED_DNS:
            return self.address_status
        if self.secure_addresses and self.tlsa_status in _FAILED_DNS:
            return self.tlsa_status
        return None

    @property
    def dead(self) -> bool:
        """Securely no addresses: no sender (and no attacker) can use this host."""
        return self.address_status is DnssecStatus.SECURE and not self.has_addresses


def _worst_status(lookups: Iterable[DnsLookup]) -> DnssecStatus:
    statuses = {lookup_status(lookup) for lookup in lookups}
    for status in (
        DnssecStatus.BOGUS,
        DnssecStatus.ERROR,
        DnssecStatus.INSECURE,
    ):
        if status in statuses:
            return status
    return DnssecStatus.SECURE


def _parse_records(lookup: DnsLookup | None) -> tuple[tuple[TlsaRecord, ...], int]:
    if lookup is None or lookup.rcode != "NOERROR":
        return (), 0
    records: list[TlsaRecord] = []
    bad = 0
    for text in lookup.records:
        try:
            records.append(parse_tlsa(text))
        except TlsaParseError:
            bad += 1
    return tuple(records), bad


# Many domains share a host: its chain is evaluated once and reused (see EvidenceCache).
EVIDENCE_CACHE = EvidenceCache()


def _evidence(
    records: tuple[TlsaRecord, ...], chain: tuple[bytes, ...], now: float
) -> ChainEvidence:
    return EVIDENCE_CACHE.evaluate(records, chain, now)


def _failure_kind(evidence: ChainEvidence, names: Sequence[str]) -> str:
    if evidence.ta_chain_ok and not names_match(evidence, names):
        return FAIL_MISNAMED
    if evidence.ta_expired:
        return FAIL_EXPIRED
    return FAIL_MISMATCH


def _probe_outcome(
    probe: SmtpProbe, usable: tuple[TlsaRecord, ...], names: Sequence[str], now: float
) -> AddressResult | None:
    """The DANE outcome of one address; None when it was never contacted."""
    status = probe.status
    if status is ProbeStatus.SKIPPED:
        return None
    if status in _UNREACHABLE_PROBES:
        return AddressResult(probe.address, HostOutcome.UNREACHABLE)
    if status in (ProbeStatus.STARTTLS_MISSING, ProbeStatus.STARTTLS_REJECTED):
        # Decision: a 4xx/5xx answer to STARTTLS is, for a sender that requires TLS,
        # the same as STARTTLS not offered (Exchange 5.7.321 starttls-not-supported).
        return AddressResult(probe.address, HostOutcome.STARTTLS_MISSING)
    primary = probe.primary
    if status is not ProbeStatus.OK or primary is None or not primary.ok:
        return AddressResult(probe.address, HostOutcome.TLS_FAILED)
    if not usable:
        return AddressResult(probe.address, HostOutcome.TLSA_UNUSABLE)
    evidence = _evidence(usable, primary.chain, now)
    alternates = tuple(
        (hs.variant, authenticates(_evidence(usable, hs.chain, now), names))
        for hs in probe.handshakes[1:]
        if hs.ok
    )
    if authenticates(evidence, names):
        return AddressResult(
            probe.address,
            HostOutcome.AUTHENTICATED,
            evidence=evidence,
            alternates=alternates,
            key_type=evidence.leaf_key_type,
        )
    return AddressResult(
        probe.address,
        HostOutcome.TLSA_MISMATCH,
        failure=_failure_kind(evidence, names),
        evidence=evidence,
        alternates=alternates,
        key_type=evidence.leaf_key_type,
    )


def assess_host(
    mx: MxHost,
    dns: HostDns | None,
    probes: Sequence[SmtpProbe] | None,
    domain: str,
    now: float,
) -> HostAssessment:
    """Judge one host for one domain as if the MX RRset were secure (DESIGN rules 2-6)."""
    if dns is None:
        # The crawler did not resolve this host (it should have): indeterminate.
        return HostAssessment(
            host=mx.host,
            preference=mx.preference,
            dns=None,
            address_status=DnssecStatus.ERROR,
            has_addresses=False,
            tlsa_lookup=None,
            tlsa_status=None,
            tlsa_base=None,
            records=(),
            unparsable=0,
            outcome=HostOutcome.UNREACHABLE,
            reachable=False,
            detail="host not resolved",
        )
    address_status = _worst_status((dns.a, dns.aaaa))
    has_addresses = bool(
        (dns.a.rcode == "NOERROR" and dns.a.records)
        or (dns.aaaa.rcode == "NOERROR" and dns.aaaa.records)
    )
    tlsa_lookup = deciding_tlsa(dns.tlsa_lookups)
    tlsa_status = None if tlsa_lookup is None else lookup_status(tlsa_lookup)
    tlsa_base = None if tlsa_lookup is None else tlsa_base_of(tlsa_lookup.name)
    records, unparsable = _parse_records(tlsa_lookup)
    usable = tuple(r for r in records if is_usable(r))
    probed = [p for p in (probes or ()) if p.status is not ProbeStatus.SKIPPED]
    reachable = any(p.status in _TALKS_SMTP for p in probed) if probed else None

    def with_outcome(
        outcome: HostOutcome,
        detail: str = "",
        addresses: tuple[AddressResult, ...] = (),
        failure: str = "",
    ) -> HostAssessment:
        # One HostAssessment per host (a frozen dataclass is dear to make): every field
        # but these four is known before the outcome.
        return HostAssessment(
            mx.host,
            mx.preference,
            dns,
            address_status,
            has_addresses,
            tlsa_lookup,
            tlsa_status,
            tlsa_base,
            records,
            unparsable,
            outcome,
            reachable,
            addresses,
            failure,
            detail,
        )

    if address_status in _FAILED_DNS:
        return with_outcome(HostOutcome.UNREACHABLE, f"address lookup {address_status.value}")
    if address_status is DnssecStatus.INSECURE:
        # RFC 7672 §2.2.2: insecure address records → no TLSA lookup is due, no DANE.
        return with_outcome(HostOutcome.NOT_DANE, "address records insecure")
    if not has_addresses:
        return with_outcome(HostOutcome.UNREACHABLE, "no address records")
    if tlsa_status is None:
        return with_outcome(HostOutcome.NOT_DANE, "no TLSA lookup")
    if tlsa_status in _FAILED_DNS:
        # DESIGN rule 3: bogus or failed TLSA → a DANE sender cannot use the host.
        return with_outcome(HostOutcome.TLSA_LOOKUP_FAILED, f"TLSA lookup {tlsa_status.value}")
    if not (tlsa_status is DnssecStatus.SECURE and (records or unparsable)):
        # HostAssessment.tlsa_published
        detail = "TLSA records insecure" if records else "no TLSA records"
        return with_outcome(HostOutcome.NOT_DANE, detail)

    names = tuple(dict.fromkeys(n for n in (tlsa_base, mx.host, domain) if n))
    results = tuple(
        r for r in (_probe_outcome(p, usable, names, now) for p in probes or ()) if r is not None
    )
    if not results:
        # Probing off or every address skipped. With only unusable records the
        # outcome is known from DNS alone (TLS mandatory, unauthenticated).
        if not usable:
            return with_outcome(HostOutcome.TLSA_UNUSABLE, "no usable TLSA record; not probed")
        return with_outcome(HostOutcome.UNPROBED, "not probed")
    best = min(results, key=lambda r: _RANK[r.outcome])
    detail = "" if usable else "no usable TLSA record"
    return with_outcome(best.outcome, detail or best.failure, results, best.failure)
