"""The DANE rules of DESIGN §4 (RFC 7672) as pure functions over gathered facts.

``judge_domain(facts, now)`` returns the domain verdict, what a DANE-enforcing sender
does with mail for the domain (``mail_outcome``), the error code such a sender would
report, a one-line fix for the domain owner, one judgement per MX host, and the
findings of ``scanner.core.findings``. No I/O, no clock: ``now`` is POSIX seconds.

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
  The host outcome is the *best* address outcome, in the order of ``scanner.core.hosts._RANK``.
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

from collections.abc import Sequence

from scanner.core import findings as findings_mod
from scanner.core.dnssec import FAILED_DNS, lookup_status
from scanner.core.hosts import FAIL_EXPIRED, FAIL_MISNAMED, HostAssessment, assess_host
from scanner.core.memo import JudgeMemo
from scanner.core.model import (
    DnssecStatus,
    DomainFacts,
    DomainJudgement,
    HostJudgement,
    HostOutcome,
    MailOutcome,
    MxHost,
    Verdict,
)
from scanner.core.mxset import MxSet, parse_mx

RULES_VERSION = "1"

# Exchange Online's codes (DESIGN §1/§4).
CODE_DNS_FAILED = "4.4.312"
CODE_STARTTLS = "5.7.321"
CODE_CERT_EXPIRED = "5.7.322"
CODE_TLSA_INVALID = "5.7.323"
CODE_DNSSEC_INVALID = "5.7.324"
CODE_HOST_MISMATCH = "5.7.325"
CODE_UNREACHABLE = "4.4.316"


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


def _judgements(hosts: Sequence[HostAssessment], secure: bool) -> tuple[HostJudgement, ...]:
    return tuple(_judgement(h, secure) for h in hosts)


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
        usable_dns = a.address_status not in FAILED_DNS and a.has_addresses
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
    return assess_domain(facts, now)[0]


def assess_domain(
    facts: DomainFacts, now: float, memo: JudgeMemo | None = None
) -> tuple[DomainJudgement, tuple[HostAssessment, ...]]:
    """``judge_domain``, and the host assessments the judgement rests on (the sender
    profiles of ``scanner.core.profiles`` judge the same assessments: passing them on
    saves assessing every host twice). ``memo``: what many domains share is worked out
    once (``scanner.core.memo``); the result is the same with or without it."""
    mx_status = lookup_status(facts.mx)

    def done(
        verdict: Verdict,
        outcome: MailOutcome,
        code: str = "",
        fix: str = "",
        hosts: Sequence[HostAssessment] = (),
        mxset: MxSet | None = None,
        judged: tuple[HostJudgement, ...] | None = None,
    ) -> tuple[DomainJudgement, tuple[HostAssessment, ...]]:
        secure = mx_status is DnssecStatus.SECURE
        hosts = tuple(hosts)
        found = findings_mod.detect(facts, mx_status, mxset, hosts, now, memo)
        if judged is None:  # not made with the decision (kept in the memo)
            judged = _judgements(hosts, secure)
        judgement = DomainJudgement(
            facts.domain, verdict, outcome, code, fix, mx_status, judged, found, RULES_VERSION
        )
        return judgement, hosts

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

    mxset = parse_mx(facts.mx.records) if memo is None else memo.parse_mx(facts.mx.records)
    if facts.implicit_mx or not facts.mx.records:
        # RFC 5321 §5.1: no MX records → the domain itself, if it has addresses.
        mxset = MxSet(hosts=(MxHost(0, facts.domain),))
    elif not mxset.hosts:
        # A lone null MX (RFC 7505), or nothing usable in the MX RRset.
        return done(Verdict.NO_MAIL, MailOutcome.NO_MAIL, mxset=mxset)

    assess = assess_host if memo is None else memo.assess
    hosts = tuple(
        assess(mx, facts.hosts.get(mx.host), facts.probes.get(mx.host), facts.domain, now)
        for mx in mxset.hosts
    )
    if facts.implicit_mx or not facts.mx.records:
        implicit = hosts[0]
        if not implicit.has_addresses and implicit.address_status not in FAILED_DNS:
            return done(Verdict.NO_MAIL, MailOutcome.NO_MAIL, hosts=hosts, mxset=mxset)

    secure = mx_status is DnssecStatus.SECURE
    if memo is None or (key := memo.ids(hosts)) is None:
        verdict, outcome, code, fix = _decide(hosts, secure)
        return done(verdict, outcome, code, fix, hosts, mxset)
    # One memo entry for all that depends on the hosts alone, made at once.
    verdict, outcome, code, fix, judged = memo.derived(
        ("decision", key, secure), lambda: (*_decide(hosts, secure), _judgements(hosts, secure))
    )
    return done(verdict, outcome, code, fix, hosts, mxset, judged)


def _decide(hosts: Sequence[HostAssessment], secure: bool) -> tuple[Verdict, MailOutcome, str, str]:
    """Verdict, mail outcome, error code and fix of a domain with these hosts."""
    verdict = _secure_verdict(hosts) if secure else Verdict.INSECURE
    outcome = mail_outcome(hosts, secure)
    code, fix = _error_and_fix(verdict, outcome, hosts, secure)
    return verdict, outcome, code, fix
