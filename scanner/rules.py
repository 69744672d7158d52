"""The DANE rules of DESIGN §4 (RFC 7672) as pure functions over gathered facts.

``judge_domain(facts, now)`` returns the domain verdict, what a DANE-enforcing sender
does with mail for the domain (``mail_outcome``), the error code such a sender would
report, a one-line fix for the domain owner, one judgement per MX host, and the
findings of ``scanner.findings``. No I/O, no clock: ``now`` is POSIX seconds.

Theory of operation
-------------------
1. MX (RFC 7672 §2.2.1, RFC 7505, RFC 5321 §5.1). NXDOMAIN → ``nxdomain``; bogus →
   ``dnssec_bogus``; indeterminate → ``dns_error``; a lone null MX → ``no_mail``;
   NODATA → the domain itself is the implicit MX host (its own security is the
   security of the NODATA proof), ``no_mail`` when it has no address records.
2. Each host is *assessed* once (``assess_host``) as if the MX RRset were secure, so
   that "TLSA ignored because the MX RRset is insecure" and Postfix's stricter policy
   can be reported; the host judgement of an insecure-MX domain is ``not_dane``.
3. Host outcome (DESIGN rule 6): DNS first (addresses, TLSA), then the probes.
4. Verdict from the classes of the hosts; ``mail_outcome`` from the preference walk.

Decisions where the RFCs leave room (each is also commented at its rule):

* Several addresses of one host: a host authenticates if any of its addresses does.
  Postfix (and Exchange) try the next address, then the next MX host, when a TLS
  session fails to authenticate (RFC 7672 §2.2: a failed host is skipped, not fatal).
  Differences between addresses are reported as the ``address_auth_differs`` finding.
  The host outcome is the *best* address outcome, in the order of ``_RANK``.
* RSA vs ECDSA: the default handshake decides; alternates only feed the finding
  ``tlsa_matches_one_key_type``.
* Address lookups that are bogus or indeterminate make the host ``unreachable`` for a
  DANE sender (RFC 7672 §2.1.1: a failed lookup is not a denial; the host is skipped);
  ``HostJudgement.address_status`` keeps the DNSSEC reason. A host whose addresses are
  securely absent is also ``unreachable`` and is not an attack vector: it never makes a
  domain ``dane_partial``.
* TLSA base domain (RFC 7672 §2.2.2): the lookups are walked in the order the crawler
  asked them; a denial (NXDOMAIN or NODATA) moves on to the next candidate, anything
  else (records, insecure records, bogus, error) decides.
* Equal MX preferences: senders pick among them at random (RFC 5321 §5.1), so the
  reported ``mail_outcome`` is the *weakest* delivering outcome within the first
  preference group that delivers (conservative: it is what can happen).
* At most 32 MX hosts are processed (NOTES: hostile peers), lowest preference first.
* A null MX mixed with other MX records (RFC 7505 §3: "MUST NOT") is ignored: senders
  cannot resolve "." and move on to the other hosts; the ``null_mx_mixed`` finding
  says so.
* ``dnssec_bogus`` for a secure MX RRset needs every host that is not securely
  address-less to fail as bogus; if any of them is indeterminate instead, the verdict
  is ``dns_error`` (we cannot tell). ``unverified``: DANE applies, no host
  authenticated and some host with usable TLSA was not probed (probing off, or every
  address skipped by the blocklist); when another host authenticated, the domain is
  ``dane_degraded`` (it cannot be called valid).
* "." as an MX target with a preference other than 0 is treated like the null MX
  (it names no host).
* Error codes are Exchange Online's: an MX lookup that fails (bogus or indeterminate)
  surfaces as 4.4.312 "DNS query failed" (the resolver just answers SERVFAIL); a
  host's bogus address/TLSA records as 5.7.324 dnssec-invalid; a DANE-TA chain with
  an expired certificate 5.7.322, a wrong name 5.7.325, any other mismatch or TLS
  failure 5.7.323, no STARTTLS (or STARTTLS refused) 5.7.321. Hosts that cannot be
  reached at all get 4.4.316 (Exchange Online's "Connection refused" deferral, seen
  in its message traces as "450 4.4.316"), which is not a DANE code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from scanner import findings as findings_mod
from scanner.certs import ChainEvidence, EvidenceCache, authenticates, names_match
from scanner.dnssec import lookup_status
from scanner.model import (
    DnsLookup,
    DnssecStatus,
    DomainFacts,
    DomainJudgement,
    HostDns,
    HostJudgement,
    HostOutcome,
    MailOutcome,
    MxHost,
    ProbeStatus,
    SmtpProbe,
    TlsaRecord,
    Verdict,
)
from scanner.tlsa import TlsaParseError, is_usable, parse_tlsa, tlsa_base_of

RULES_VERSION = "1"

MAX_MX_HOSTS = 32

# Exchange Online's codes (DESIGN §1/§4).
CODE_DNS_FAILED = "4.4.312"
CODE_STARTTLS = "5.7.321"
CODE_CERT_EXPIRED = "5.7.322"
CODE_TLSA_INVALID = "5.7.323"
CODE_DNSSEC_INVALID = "5.7.324"
CODE_HOST_MISMATCH = "5.7.325"
CODE_UNREACHABLE = "4.4.316"

# Failure kinds of a TLSA mismatch.
FAIL_EXPIRED = "expired"
FAIL_MISNAMED = "misnamed"
FAIL_MISMATCH = "mismatch"

_FAILED_DNS = (DnssecStatus.BOGUS, DnssecStatus.ERROR)

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


# --------------------------------------------------------------------------- host assessment


@dataclass(frozen=True, slots=True)
class AddressResult:
    """The DANE outcome of one probed address (its default handshake)."""

    address: str
    outcome: HostOutcome
    failure: str = ""  # expired | misnamed | mismatch, for TLSA_MISMATCH
    evidence: ChainEvidence | None = None
    # (variant, authenticates) of the alternate handshakes (RSA vs ECDSA), if any.
    alternates: tuple[tuple[str, bool], ...] = ()
    key_type: str = ""


@dataclass(frozen=True, slots=True)
class HostAssessment:
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


def deciding_tlsa(lookups: Sequence[DnsLookup]) -> DnsLookup | None:
    """RFC 7672 §2.2.2: try the candidates in order; a denial moves on to the next."""
    decided: DnsLookup | None = None
    for lookup in lookups:
        decided = lookup
        if tlsa_lookup_decides(lookup):
            break
    return decided


def tlsa_lookup_decides(lookup: DnsLookup) -> bool:
    """Records, or a failed lookup, end the candidate walk; only a secure or insecure
    denial (NXDOMAIN / NODATA) moves on to the next candidate base domain."""
    return bool(lookup.records) or lookup_status(lookup) in _FAILED_DNS


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
    base = HostAssessment(
        host=mx.host,
        preference=mx.preference,
        dns=dns,
        address_status=address_status,
        has_addresses=has_addresses,
        tlsa_lookup=tlsa_lookup,
        tlsa_status=tlsa_status,
        tlsa_base=tlsa_base,
        records=records,
        unparsable=unparsable,
        outcome=HostOutcome.NOT_DANE,
        reachable=reachable,
    )

    def with_outcome(
        outcome: HostOutcome,
        detail: str = "",
        addresses: tuple[AddressResult, ...] = (),
        failure: str = "",
    ) -> HostAssessment:
        return replace(base, outcome=outcome, detail=detail, addresses=addresses, failure=failure)

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
    if not base.tlsa_published:
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


# --------------------------------------------------------------------------- MX parsing


@dataclass(frozen=True, slots=True)
class MxSet:
    """The MX hosts to process, after null-MX handling, de-duplication and the cap."""

    hosts: tuple[MxHost, ...]
    null_mx: bool = False  # a null MX (RFC 7505) was present
    null_mx_mixed: bool = False  # ... together with other MX records
    invalid: tuple[str, ...] = ()  # unparsable MX rdata
    truncated: int = 0  # hosts beyond MAX_MX_HOSTS, dropped


def parse_mx(records: Sequence[str]) -> MxSet:
    """Parse MX rdata ("10 mx.example.") into hosts sorted by preference (stable)."""
    hosts: dict[str, MxHost] = {}
    invalid: list[str] = []
    null_mx = False
    parsed: list[MxHost] = []
    for text in records:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) > 65535:
            invalid.append(text)
            continue
        target = parts[1].lower().rstrip(".")
        if not target:
            # "0 ." is the null MX (RFC 7505 §3); "." with another preference is
            # equally unusable as a host, treat it alike.
            null_mx = True
            continue
        parsed.append(MxHost(int(parts[0]), target))
    for mx in sorted(parsed, key=lambda m: m.preference):
        hosts.setdefault(mx.host, mx)  # a host listed twice counts at its best preference
    ordered = tuple(hosts.values())
    return MxSet(
        hosts=ordered[:MAX_MX_HOSTS],
        null_mx=null_mx,
        null_mx_mixed=null_mx and bool(ordered or invalid),
        invalid=tuple(invalid),
        truncated=max(0, len(ordered) - MAX_MX_HOSTS),
    )


# --------------------------------------------------------------------------- the domain


def _judgement(a: HostAssessment, mx_secure: bool) -> HostJudgement:
    applies = mx_secure and a.dane_applies
    return HostJudgement(
        host=a.host,
        preference=a.preference,
        outcome=a.outcome if mx_secure else HostOutcome.NOT_DANE,
        dane_applies=applies,
        address_status=a.address_status,
        tlsa_status=a.tlsa_status,
        tlsa_base=a.tlsa_base,
        usable_records=len(a.usable),
        detail=a.detail if mx_secure else "MX RRset insecure",
    )


def _secure_verdict(hosts: Sequence[HostAssessment]) -> Verdict:
    """DESIGN §4 verdict table for a domain whose MX RRset is secure."""
    dane = [h for h in hosts if h.dane_applies]
    failed = [h for h in hosts if h.dns_failed]
    unprotected = [h for h in hosts if not (h.dane_applies or h.dns_failed or h.dead)]
    if not dane:
        if unprotected or not failed:
            # Some host reachable without DANE (or every host securely address-less).
            return Verdict.DNSSEC_NO_DANE
        if all(h.dns_failure_status is DnssecStatus.BOGUS for h in failed):
            return Verdict.DNSSEC_BOGUS
        return Verdict.DNS_ERROR
    if unprotected:
        return Verdict.DANE_PARTIAL
    if not any(h.usable for h in dane):
        return Verdict.DANE_UNUSABLE
    outcomes = [h.outcome for h in hosts]
    authenticated = outcomes.count(HostOutcome.AUTHENTICATED)
    if authenticated == len(hosts):
        return Verdict.DANE_VALID
    if authenticated:
        return Verdict.DANE_DEGRADED
    if HostOutcome.UNPROBED in outcomes:
        return Verdict.UNVERIFIED
    return Verdict.DANE_BROKEN


def _delivery(a: HostAssessment, mx_secure: bool) -> MailOutcome | None:
    """What a DANE-enforcing sender gets from this host; None = skipped (fails)."""
    if not mx_secure or a.outcome is HostOutcome.NOT_DANE:
        # Opportunistic TLS. A host never probed is presumed to accept mail when it
        # has addresses that resolve (the crawler may probe only DANE hosts).
        usable_dns = a.address_status not in _FAILED_DNS and a.has_addresses
        if usable_dns and a.reachable is not False:
            return MailOutcome.DELIVER_OPPORTUNISTIC
        return None
    if a.outcome is HostOutcome.AUTHENTICATED:
        return MailOutcome.DELIVER_AUTHENTICATED
    if a.outcome is HostOutcome.TLSA_UNUSABLE:
        # RFC 7672 §2.2: TLS is mandatory but unauthenticated; unknown until probed.
        if a.addresses:
            return MailOutcome.DELIVER_UNAUTHENTICATED_TLS
        return MailOutcome.UNKNOWN
    if a.outcome is HostOutcome.UNPROBED:
        return MailOutcome.UNKNOWN
    return None


_WEAKEST_FIRST = (
    MailOutcome.DELIVER_OPPORTUNISTIC,
    MailOutcome.DELIVER_UNAUTHENTICATED_TLS,
    MailOutcome.DELIVER_AUTHENTICATED,
)


def mail_outcome(hosts: Sequence[HostAssessment], mx_secure: bool) -> MailOutcome:
    """Walk the MX hosts in preference order; stop at the first group that takes mail."""
    groups: dict[int, list[MailOutcome | None]] = {}
    for a in hosts:
        groups.setdefault(a.preference, []).append(_delivery(a, mx_secure))
    for pref in sorted(groups):
        results = groups[pref]
        for outcome in _WEAKEST_FIRST:
            if outcome in results:
                return outcome
        if MailOutcome.UNKNOWN in results:
            return MailOutcome.UNKNOWN
    return MailOutcome.DEFER_OR_BOUNCE


def host_error_code(a: HostAssessment) -> str:
    """The code a DANE-enforcing sender reports for a host it could not use."""
    status = a.dns_failure_status
    if status is not None:
        return CODE_DNSSEC_INVALID if status is DnssecStatus.BOGUS else CODE_DNS_FAILED
    if a.outcome is HostOutcome.TLSA_MISMATCH:
        return {FAIL_EXPIRED: CODE_CERT_EXPIRED, FAIL_MISNAMED: CODE_HOST_MISMATCH}.get(
            a.failure, CODE_TLSA_INVALID
        )
    if a.outcome is HostOutcome.STARTTLS_MISSING:
        return CODE_STARTTLS
    if a.outcome is HostOutcome.TLS_FAILED:
        return CODE_TLSA_INVALID
    return CODE_UNREACHABLE


def host_fix(a: HostAssessment) -> str:
    """One line for the domain owner about a host a DANE sender cannot use."""
    host = a.host
    status = a.dns_failure_status
    if status is DnssecStatus.BOGUS:
        what = "address" if a.address_status is DnssecStatus.BOGUS else "TLSA"
        return f"Repair DNSSEC for the {what} records of {host}: validating resolvers reject them."
    if status is DnssecStatus.ERROR:
        return f"Make the name servers for {host} answer its address and TLSA queries."
    if a.outcome is HostOutcome.TLSA_MISMATCH:
        owner = f"_25._tcp.{a.tlsa_base or host}"
        if a.failure == FAIL_EXPIRED:
            return f"Renew the expired certificate in the chain {host} presents."
        if a.failure == FAIL_MISNAMED:
            return f"Give {host} a certificate whose DNS names include {host}."
        return f"Update the TLSA records at {owner} to match the certificate {host} presents."
    if a.outcome is HostOutcome.STARTTLS_MISSING:
        return f"Offer STARTTLS on {host} (DANE makes TLS mandatory) or remove its TLSA records."
    if a.outcome is HostOutcome.TLS_FAILED:
        return f"Fix the TLS handshake of {host} after STARTTLS."
    if a.dead:
        return f"Remove {host} from the MX records or give it an address."
    return f"Make {host} reachable on port 25 or remove it from the MX records."


def _error_and_fix(
    verdict: Verdict, outcome: MailOutcome, hosts: Sequence[HostAssessment], mx_secure: bool
) -> tuple[str, str]:
    if outcome is MailOutcome.DEFER_OR_BOUNCE:
        failing = [h for h in hosts if _delivery(h, mx_secure) is None]
        # Prefer the most preferred host whose failure is a DANE/DNSSEC matter.
        dane_failing = [h for h in failing if host_error_code(h) != CODE_UNREACHABLE]
        first = (dane_failing or failing)[0]
        return host_error_code(first), host_fix(first)
    if verdict is Verdict.DANE_PARTIAL:
        open_host = next(h for h in hosts if not (h.dane_applies or h.dns_failed or h.dead))
        return "", (
            f"Publish TLSA records for {open_host.host} too (or drop it from the MX records): "
            "an attacker can steer mail to it."
        )
    if verdict is Verdict.DANE_UNUSABLE:
        return "", "Replace the unusable TLSA records with DANE-EE records (3 1 1)."
    if verdict is Verdict.DANE_DEGRADED:
        failing_host = next(h for h in hosts if h.outcome is not HostOutcome.AUTHENTICATED)
        return "", host_fix(failing_host)
    return "", ""


def judge_domain(facts: DomainFacts, now: float) -> DomainJudgement:
    """The verdict on one domain at time ``now`` (POSIX seconds): DESIGN §4."""
    mx_status = lookup_status(facts.mx)

    def done(
        verdict: Verdict,
        outcome: MailOutcome,
        code: str = "",
        fix: str = "",
        hosts: Sequence[HostAssessment] = (),
        mxset: MxSet | None = None,
    ) -> DomainJudgement:
        secure = mx_status is DnssecStatus.SECURE
        found = findings_mod.detect(facts, mx_status, mxset, tuple(hosts), now)
        return DomainJudgement(
            domain=facts.domain,
            verdict=verdict,
            mail_outcome=outcome,
            error_code=code,
            fix=fix,
            mx_status=mx_status,
            hosts=tuple(_judgement(h, secure) for h in hosts),
            findings=found,
            rules_version=RULES_VERSION,
        )

    if mx_status is DnssecStatus.BOGUS:
        return done(
            Verdict.DNSSEC_BOGUS,
            MailOutcome.DEFER_OR_BOUNCE,
            CODE_DNS_FAILED,
            f"Repair DNSSEC for {facts.domain}: validating resolvers reject its MX records.",
        )
    if mx_status is DnssecStatus.ERROR:
        return done(
            Verdict.DNS_ERROR,
            MailOutcome.UNKNOWN,
            CODE_DNS_FAILED,
            f"Make the name servers for {facts.domain} answer MX queries.",
        )
    if facts.mx.rcode == "NXDOMAIN":
        return done(Verdict.NXDOMAIN, MailOutcome.NO_MAIL)

    mxset = parse_mx(facts.mx.records)
    if facts.implicit_mx or not facts.mx.records:
        # RFC 5321 §5.1: no MX records → the domain itself, if it has addresses.
        mxset = MxSet(hosts=(MxHost(0, facts.domain),))
    elif not mxset.hosts:
        # A lone null MX (RFC 7505), or nothing usable in the MX RRset.
        return done(Verdict.NO_MAIL, MailOutcome.NO_MAIL, mxset=mxset)

    hosts = tuple(
        assess_host(mx, facts.hosts.get(mx.host), facts.probes.get(mx.host), facts.domain, now)
        for mx in mxset.hosts
    )
    if facts.implicit_mx or not facts.mx.records:
        implicit = hosts[0]
        if not implicit.has_addresses and implicit.address_status not in _FAILED_DNS:
            return done(Verdict.NO_MAIL, MailOutcome.NO_MAIL, hosts=hosts, mxset=mxset)

    secure = mx_status is DnssecStatus.SECURE
    verdict = _secure_verdict(hosts) if secure else Verdict.INSECURE
    outcome = mail_outcome(hosts, secure)
    code, fix = _error_and_fix(verdict, outcome, hosts, secure)
    return done(verdict, outcome, code, fix, hosts, mxset)
