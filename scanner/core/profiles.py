"""Sender profiles: one domain's facts judged for each kind of sender (DESIGN §1, §4).

What must live here: the six senders a mail administrator asks about, and for each the
outcome (a ``MailOutcome``), the error that sender reports and why, computed from the
same facts and host assessments as the RFC 7672 verdict (``scanner.core.rules``). The
rules give one answer ("what a DANE-enforcing sender does"); real senders differ, and
"will this partner receive our mail?" has one answer per sender (DESIGN §1).

Theory of operation
-------------------
Every sender walks the MX hosts in preference order and stops at the first host that
takes the mail (RFC 5321 §5.1; RFC 7672 §2.2: a host that fails authentication is
skipped, not fatal). Senders differ only in what they ask of one host (``_Take``):

``rfc7672``
    ``judge_domain``'s ``mail_outcome`` and error code, unchanged (the default profile).
``exchange-opportunistic``
    Exchange Online's ``-SmtpDaneMode Opportunistic``: DANE where published, opportunistic
    TLS elsewhere, exactly RFC 7672 (Microsoft: "If there's no TLSA record present, ... mail
    flow works as usual without any DANE checks"). Exchange's codes (4/5.4.312,
    5.7.321-325), as the rules report them.
``exchange-mandatory``
    ``-SmtpDaneMode Mandatory``: "if the destination does not support DANE or validation
    fails, mail is queued for 24 hours and then dropped". Decision: a host takes mail only
    when it authenticates with DANE; an insecure MX RRset, a host without (usable) TLSA
    records, a failed lookup or a failed authentication all make the host unusable, and
    the walk moves on (as in the opportunistic mode). Microsoft documents no code of its own
    for "no DANE" in this mode; danescan reports 5.7.323 (tlsa-invalid) for it.
``postfix-dane``
    Postfix 3.6+ at ``smtp_tls_security_level = dane`` with the default
    ``smtp_tls_dane_insecure_mx_policy = dane``: like RFC 7672, but a host whose address
    records are secure has its TLSA records applied (and enforced) even when the MX RRset is
    insecure (smtp_tls_policy.c, smtp_addr.c). Errors are Postfix's DSN status and log text
    ("Server certificate not trusted", "TLSA lookup error for HOST:25", ...).
``postfix-dane-only``
    Postfix at ``dane-only``: ``dane_init`` turns every "non-DANE" answer into a deferral
    with status 4.7.5: an insecure MX RRset ("non DNSSEC destination"), no TLSA records
    (also for a host whose addresses are insecure), unusable TLSA records ("TLSA records
    unusable"). The insecure-MX policy applies only at level ``dane`` (postconf(5)).
``mta-sts``
    An MTA-STS sender (RFC 8461) that validates DNSSEC answers as its resolver does but
    ignores TLSA. With a policy in ``enforce`` mode (read successfully), a host takes mail
    only if an ``mx`` pattern covers it (§4.1) and it presents, after STARTTLS, a chain
    that is PKIX-valid for its name (§4.2) under the sender's trust roots. Any other case
    (no policy, mode ``testing`` or ``none``, or a policy that could not be fetched on first
    contact, §5) is opportunistic TLS. Errors are TLS-RPT result types (RFC 8460 §4.3).

The PKIX check (``pkix_failure``) uses cryptography's verifier with the roots given by
the caller (the runs read them from a file; the core reads nothing). Like OpenSSL-based
senders it does not insist on web-PKI extension profiles. Known limitation: a leaf that
names the host only in its subject CN (no DNS SAN) is reported ``certificate-not-trusted``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import msgspec
from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from scanner.core.certs import leaf_names, name_matches
from scanner.core.dnssec import FAILED_DNS
from scanner.core.hosts import FAIL_MISNAMED, HostAssessment, assess_host
from scanner.core.memo import JudgeMemo
from scanner.core.model import (
    DnssecStatus,
    DomainFacts,
    DomainJudgement,
    HostOutcome,
    MailOutcome,
    MxHost,
    ProbeStatus,
    SmtpProbe,
)
from scanner.core.mtasts import mx_covered
from scanner.core.rules import (
    CODE_DNS_FAILED,
    CODE_DNSSEC_INVALID,
    CODE_TLSA_INVALID,
    host_error_code,
)


class Sender(StrEnum):
    """The sender profiles (DESIGN §4 "Sender profiles"); values are stable names."""

    RFC7672 = "rfc7672"
    POSTFIX_DANE = "postfix-dane"
    POSTFIX_DANE_ONLY = "postfix-dane-only"
    EXCHANGE_OPPORTUNISTIC = "exchange-opportunistic"
    EXCHANGE_MANDATORY = "exchange-mandatory"
    MTA_STS = "mta-sts"


DEFAULT_SENDER = Sender.RFC7672

RECEIVES = frozenset(
    {
        MailOutcome.DELIVER_AUTHENTICATED,
        MailOutcome.DELIVER_UNAUTHENTICATED_TLS,
        MailOutcome.DELIVER_OPPORTUNISTIC,
    }
)

# Exchange: no documented code of its own for "the destination does not support DANE".
CODE_NO_DANE = CODE_TLSA_INVALID

# Postfix DSN status codes (smtp_proto.c, smtp_tls_policy.c, smtp_connect.c).
PF_TLS = "4.7.5"  # DANE/TLS policy failures
PF_NO_STARTTLS = "4.7.4"  # "TLS is required, but was not offered"
PF_DNS = "4.4.3"  # "Host or domain name not found ... try again"
PF_CONNECT = "4.4.1"  # "connect to HOST[ADDR]:25: ..."
PF_SESSION = "4.4.2"  # greeting or session lost
PF_NO_ADDRESS = "5.4.4"  # "Host found but no data record of requested type"

# TLS-RPT result types (RFC 8460 §4.3), the errors of the mta-sts profile.
RPT_STARTTLS = "starttls-not-supported"
RPT_HOST_MISMATCH = "certificate-host-mismatch"
RPT_EXPIRED = "certificate-expired"
RPT_NOT_TRUSTED = "certificate-not-trusted"
RPT_VALIDATION = "validation-failure"
RPT_DNSSEC = "dnssec-invalid"


class SenderOutcome(msgspec.Struct, frozen=True, gc=False):
    """What one sender does with mail for the domain, the error it reports, and why."""

    sender: Sender
    outcome: MailOutcome
    error_code: str  # "" when mail flows (or the sender reports no code)
    reason: str  # one line: why, in the sender's words where it has them
    host: str | None = None  # the host that takes the mail, or whose failure is reported

    @property
    def receives(self) -> bool:
        return self.outcome in RECEIVES


@dataclass(frozen=True, slots=True)
class PkixTrust:
    """The trust roots of an MTA-STS sender (parsed DER certificates)."""

    roots: tuple[x509.Certificate, ...]

    @classmethod
    def from_der(cls, ders: Iterable[bytes]) -> PkixTrust:
        return cls(tuple(x509.load_der_x509_certificate(d) for d in ders))


@dataclass(slots=True)  # not frozen: made for every host by every sender, never shared
class _Take:
    """What a sender makes of one host: an outcome, or None (skipped) with the error."""

    outcome: MailOutcome | None
    code: str = ""
    reason: str = ""
    # A connection-level failure (not a DANE, TLS or DNSSEC matter): reported only
    # when no host failed for a reason the domain owner can fix in DNS or TLS.
    minor: bool = False


_WEAKEST_FIRST = (
    MailOutcome.DELIVER_OPPORTUNISTIC,
    MailOutcome.DELIVER_UNAUTHENTICATED_TLS,
    MailOutcome.DELIVER_AUTHENTICATED,
)


_TAKEN = (*_WEAKEST_FIRST, MailOutcome.UNKNOWN)  # what ends a walk, in this order


def _walk(
    sender: Sender, hosts: Sequence[HostAssessment], take: Callable[[HostAssessment], _Take]
) -> SenderOutcome:
    """The preference walk of ``rules.mail_outcome``, for any per-host rule.

    Within the first preference group that delivers, the weakest delivering outcome is
    reported (equal preferences are chosen at random: it is what can happen).
    """
    if len(hosts) == 1:  # most self-hosted domains: no groups to walk
        a = hosts[0]
        t = take(a)
        outcome = t.outcome
        if outcome is not None and outcome in _TAKEN:
            code = t.code if outcome is MailOutcome.UNKNOWN else ""
            return SenderOutcome(sender, outcome, code, t.reason, a.host)
        return SenderOutcome(sender, MailOutcome.DEFER_OR_BOUNCE, t.code, t.reason, a.host)
    groups: dict[int, list[tuple[HostAssessment, _Take]]] = {}
    for a in hosts:
        groups.setdefault(a.preference, []).append((a, take(a)))
    failed: list[tuple[HostAssessment, _Take]] = []
    for pref in sorted(groups):
        group = groups[pref]
        for outcome in _TAKEN:
            for a, t in group:
                if t.outcome is outcome:
                    code = t.code if outcome is MailOutcome.UNKNOWN else ""
                    return SenderOutcome(sender, outcome, code, t.reason, a.host)
        failed.extend(group)
    a, t = next(((a, t) for a, t in failed if not t.minor), failed[0])
    return SenderOutcome(sender, MailOutcome.DEFER_OR_BOUNCE, t.code, t.reason, a.host)


# --------------------------------------------------------------------------- why


def _owner(a: HostAssessment) -> str:
    return f"_25._tcp.{a.tlsa_base or a.host}"


def _fail_why(a: HostAssessment) -> str:
    """Why a DANE-enforcing sender cannot use this host, in plain words."""
    status = a.dns_failure_status
    if status is not None:
        what = "address" if a.address_status in FAILED_DNS else "TLSA"
        if status is DnssecStatus.BOGUS:
            return f"the {what} records of {a.host} fail DNSSEC validation (bogus)"
        return f"the {what} lookup for {a.host} got no answer"
    outcome = a.outcome
    if outcome is HostOutcome.TLSA_MISMATCH:
        if a.failure == FAIL_MISNAMED:
            return f"the certificate {a.host} presents does not name it (DANE-TA name check)"
        if a.failure == "expired":
            return f"the DANE-TA chain {a.host} presents holds an out-of-date certificate"
        return f"no TLSA record at {_owner(a)} matches the certificate {a.host} presents"
    if outcome is HostOutcome.STARTTLS_MISSING:
        return f"{a.host} does not offer STARTTLS (or refuses it)"
    if outcome is HostOutcome.TLS_FAILED:
        return f"the TLS handshake with {a.host} fails"
    if a.dead:
        return f"{a.host} has no address records"
    return f"{a.host} does not answer on port 25"


def _dane_take(a: HostAssessment, enforce: bool) -> _Take:
    """RFC 7672 for one host; ``enforce``: the host's TLSA records are applied."""
    if not enforce or a.outcome is HostOutcome.NOT_DANE:
        why = "the MX RRset is insecure" if not enforce else a.detail or "no TLSA records"
        if a.address_status not in FAILED_DNS and a.has_addresses and a.reachable is not False:
            return _Take(
                MailOutcome.DELIVER_OPPORTUNISTIC,
                reason=f"{a.host} is not DANE-protected ({why}): opportunistic TLS",
            )
        code = host_error_code(a)
        return _Take(None, code, _fail_why(a), minor=a.dns_failure_status is None)
    outcome = a.outcome
    if outcome is HostOutcome.AUTHENTICATED:
        return _Take(MailOutcome.DELIVER_AUTHENTICATED, reason=f"{a.host} authenticates (DANE)")
    if outcome is HostOutcome.TLSA_UNUSABLE:
        if a.addresses:
            return _Take(
                MailOutcome.DELIVER_UNAUTHENTICATED_TLS,
                reason=f"{a.host} has only unusable TLSA records: TLS without authentication",
            )
        return _Take(MailOutcome.UNKNOWN, reason=f"{a.host} was not probed")
    if outcome is HostOutcome.UNPROBED:
        return _Take(MailOutcome.UNKNOWN, reason=f"{a.host} was not probed")
    code = host_error_code(a)
    minor = outcome is HostOutcome.UNREACHABLE and a.dns_failure_status is None
    return _Take(None, code, _fail_why(a), minor=minor)


def _mandatory_take(a: HostAssessment, mx_secure: bool) -> _Take:
    """Exchange's mandatory mode: only a DANE-authenticated host takes mail."""
    queued = "; mandatory mode queues the message for 24 hours, then drops it"
    if not mx_secure:
        return _Take(None, CODE_NO_DANE, f"the MX RRset is not DNSSEC-signed: no DANE{queued}")
    if a.outcome in (HostOutcome.NOT_DANE, HostOutcome.TLSA_UNUSABLE):
        why = a.detail or a.outcome.value.replace("_", " ")
        return _Take(None, CODE_NO_DANE, f"{a.host} is not DANE-protected ({why}){queued}")
    t = _dane_take(a, True)
    if t.outcome is None:
        return _Take(None, t.code, t.reason + queued, t.minor)
    return t


# --------------------------------------------------------------------------- Postfix


def _probes_of(facts: DomainFacts, host: str) -> tuple[SmtpProbe, ...]:
    return tuple(p for p in facts.probes.get(host, ()) if p.status is not ProbeStatus.SKIPPED)


_PF_CONNECT = {
    ProbeStatus.CONNECT_REFUSED: (PF_CONNECT, "Connection refused"),
    ProbeStatus.CONNECT_TIMEOUT: (PF_CONNECT, "Connection timed out"),
    ProbeStatus.CONNECT_ERROR: (PF_CONNECT, "Network is unreachable"),
}


def _postfix_unreachable(a: HostAssessment, probes: Sequence[SmtpProbe]) -> tuple[str, str]:
    if a.dead:
        return PF_NO_ADDRESS, (
            f"Host or domain name not found. Name service error for name={a.host} "
            "type=AAAA: Host found but no data record of requested type"
        )
    for p in probes:
        where = f"{a.host}[{p.address}]"
        if p.status in _PF_CONNECT:
            code, text = _PF_CONNECT[p.status]
            return code, f"connect to {where}:25: {text}"
        if p.status is ProbeStatus.BANNER_TIMEOUT:
            return PF_SESSION, (
                f"conversation with {where} timed out while receiving the initial server greeting"
            )
        if p.status is ProbeStatus.BANNER_REJECTED:
            return PF_SESSION, f"host {where} refused to talk to me: {p.banner[:80]}"
    return PF_SESSION, f"lost connection with {a.host} while receiving the initial server greeting"


def _postfix_fail(a: HostAssessment, probes: Sequence[SmtpProbe]) -> tuple[str, str, bool]:
    """(DSN status, log text, minor) of the Postfix smtp client skipping this host."""
    status = a.dns_failure_status
    if status is not None:
        if a.address_status in FAILED_DNS:
            return (
                PF_DNS,
                f"Host or domain name not found. Name service error for name={a.host} "
                "type=A: Host not found, try again",
                False,
            )
        return PF_TLS, f"TLSA lookup error for {a.host}:25", False
    outcome = a.outcome
    if outcome is HostOutcome.TLSA_MISMATCH:
        # tls_verify.c: a name mismatch is "not verified", any other failure "not trusted".
        text = "not verified" if a.failure == FAIL_MISNAMED else "not trusted"
        return PF_TLS, f"Server certificate {text}", False
    if outcome is HostOutcome.STARTTLS_MISSING:
        refused = next((p for p in probes if p.status is ProbeStatus.STARTTLS_REJECTED), None)
        if refused is not None:
            text = f"TLS is required, but host {a.host} refused to start TLS: "
            return PF_TLS, text + refused.starttls_reply[:80], False
        return PF_NO_STARTTLS, f"TLS is required, but was not offered by host {a.host}", False
    if outcome is HostOutcome.TLS_FAILED:
        return PF_TLS, "Cannot start TLS: handshake failure", False
    code, text = _postfix_unreachable(a, probes)
    return code, text, True


def _postfix_take(a: HostAssessment, probes: Sequence[SmtpProbe], only: bool) -> _Take:
    """Postfix at ``dane`` (3.6+ defaults) or, with ``only``, at ``dane-only``."""
    if only and a.dns_failure_status is None:
        if a.outcome is HostOutcome.NOT_DANE:
            return _Take(None, PF_TLS, "no TLSA records found")
        if a.outcome is HostOutcome.TLSA_UNUSABLE:
            return _Take(None, PF_TLS, "TLSA records unusable")
    # smtp_tls_dane_insecure_mx_policy = dane: a secure host's TLSA records apply even
    # behind an insecure MX RRset, so the host is judged as the assessment has it.
    t = _dane_take(a, True)
    if t.outcome is not None:
        return t
    code, text, minor = _postfix_fail(a, probes)
    return _Take(None, code, text, minor)


# --------------------------------------------------------------------------- MTA-STS


def _ca_policy() -> ExtensionPolicy:
    # Issuers must be CAs (basicConstraints); other web-PKI extension profiles are not
    # insisted on, as OpenSSL-based senders do not.
    return ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, Criticality.AGNOSTIC, None
    )


def _ee_policy() -> ExtensionPolicy:
    # The server verifier matches names in the subjectAltName only (RFC 6125 §6.4.4 lets
    # a client skip the CN), so the leaf must carry one.
    return ExtensionPolicy.permit_all().require_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )


def pkix_failure(chain: Sequence[bytes], host: str, now: float, trust: PkixTrust) -> str:
    """Why ``chain`` is not PKIX-valid for ``host`` at ``now`` (a TLS-RPT result type),
    or "" when it is (RFC 8461 §4.2: the MX certificate must be valid for the MX host
    name and chain to a root the sender trusts)."""
    try:
        leaf = x509.load_der_x509_certificate(chain[0]) if chain else None
    except ValueError:
        leaf = None
    if leaf is None:
        return RPT_VALIDATION
    sans, cns = leaf_names(leaf)
    if not any(name_matches(p, host) for p in sans or cns):
        return RPT_HOST_MISMATCH
    when = dt.datetime.fromtimestamp(now, dt.UTC)
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        return RPT_EXPIRED
    intermediates = []
    for der in chain[1:20]:
        try:
            intermediates.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    try:
        verifier = (
            PolicyBuilder()
            .store(Store(list(trust.roots)))
            .time(when)
            .extension_policies(ca_policy=_ca_policy(), ee_policy=_ee_policy())
            .build_server_verifier(x509.DNSName(host))
        )
        verifier.verify(leaf, intermediates)
    except (VerificationError, ValueError):
        return RPT_NOT_TRUSTED
    return ""


def _sts_take(
    a: HostAssessment,
    probes: Sequence[SmtpProbe],
    patterns: Sequence[str],
    now: float,
    trust: PkixTrust | None,
) -> _Take:
    """An MTA-STS sender with an enforce policy, at one host."""
    if not mx_covered(patterns, a.host):
        return _Take(None, RPT_VALIDATION, f"{a.host} matches no mx pattern of the policy")
    if a.address_status in FAILED_DNS:
        code = RPT_DNSSEC if a.address_status is DnssecStatus.BOGUS else ""
        return _Take(None, code, _fail_why(a))
    if not a.has_addresses:
        return _Take(None, "", _fail_why(a), minor=True)
    if not probes:
        return _Take(MailOutcome.UNKNOWN, reason=f"{a.host} was not probed")
    if trust is None:
        return _Take(MailOutcome.UNKNOWN, reason="no PKIX trust roots given: cannot judge")
    failures: list[str] = []
    for p in probes:
        if p.status in (ProbeStatus.STARTTLS_MISSING, ProbeStatus.STARTTLS_REJECTED):
            failures.append(RPT_STARTTLS)
        elif p.status is ProbeStatus.TLS_FAILED:
            failures.append(RPT_VALIDATION)
        elif p.status is ProbeStatus.OK and p.primary is not None and p.primary.ok:
            error = pkix_failure(p.primary.chain, a.host, now, trust)
            if not error:
                return _Take(
                    MailOutcome.DELIVER_AUTHENTICATED,
                    reason=f"{a.host} presents a PKIX-valid certificate (MTA-STS enforce)",
                )
            failures.append(error)
    if not failures:
        return _Take(None, "", f"{a.host} does not answer on port 25", minor=True)
    error = failures[0]
    return _Take(None, error, f"{a.host}: {error} (the MTA-STS policy is in enforce mode)")


def _sts_mode(facts: DomainFacts) -> tuple[bool, str]:
    """(enforced, why not) of the domain's MTA-STS policy as a sender sees it."""
    sts = facts.mta_sts
    if sts is None or not sts.policy_fetched:
        if sts is not None and sts.policy_error:
            return False, f"no MTA-STS policy could be read ({sts.policy_error})"
        return False, "no MTA-STS policy"
    if sts.mode != "enforce":
        return False, f"MTA-STS policy in mode {sts.mode}"
    return True, ""


# --------------------------------------------------------------------------- domain


def host_assessments(
    facts: DomainFacts, judgement: DomainJudgement, now: float
) -> tuple[HostAssessment, ...]:
    """The assessments ``judge_domain`` made of the judgement's hosts (as if the MX RRset
    were secure); the chain evaluations are cached, so this is cheap."""
    return tuple(
        assess_host(
            MxHost(h.preference, h.host),
            facts.hosts.get(h.host),
            facts.probes.get(h.host),
            facts.domain,
            now,
        )
        for h in judgement.hosts
    )


def _without_hosts(sender: Sender, facts: DomainFacts, judgement: DomainJudgement) -> SenderOutcome:
    """Domains decided before any host is looked at: NXDOMAIN, null MX, MX failures."""
    outcome = judgement.mail_outcome
    if outcome is MailOutcome.NO_MAIL:
        return SenderOutcome(sender, outcome, "", "the domain receives no mail")
    bogus = judgement.mx_status is DnssecStatus.BOGUS
    if sender in (Sender.POSTFIX_DANE, Sender.POSTFIX_DANE_ONLY):
        code = PF_DNS
        reason = (
            f"Host or domain name not found. Name service error for name={facts.domain} "
            "type=MX: Host not found, try again"
        )
    elif sender is Sender.MTA_STS:
        code = RPT_DNSSEC if bogus else ""
        reason = f"the MX lookup for {facts.domain} fails" + (" (bogus)" if bogus else "")
    else:
        code = judgement.error_code or CODE_DNS_FAILED
        reason = f"the MX lookup for {facts.domain} fails" + (" (bogus)" if bogus else "")
    return SenderOutcome(sender, outcome, code, reason)


def judge_senders(
    facts: DomainFacts,
    judgement: DomainJudgement,
    now: float,
    trust: PkixTrust | None = None,
    assessments: Sequence[HostAssessment] | None = None,
    memo: JudgeMemo | None = None,
) -> tuple[SenderOutcome, ...]:
    """Every sender profile's outcome for one domain, in ``Sender`` order.

    ``judgement`` is ``judge_domain(facts, now)``; ``trust`` the MTA-STS sender's roots
    (None: an enforce policy's hosts cannot be judged, the outcome is ``unknown``);
    ``assessments`` the host assessments ``rules.assess_domain`` returned with the
    judgement (None: they are made again here); ``memo`` the one ``assess_domain`` was
    given (``scanner.core.memo``): domains whose hosts and policy are alike share the
    result.
    """
    if not judgement.hosts or judgement.mail_outcome is MailOutcome.NO_MAIL:
        # Decided before any host matters (an implicit MX without addresses has a host).
        return tuple(_without_hosts(s, facts, judgement) for s in Sender)
    hosts = host_assessments(facts, judgement, now) if assessments is None else tuple(assessments)
    if memo is None or (key := memo.ids(hosts)) is None:
        return _judge_hosts(facts, judgement, now, trust, hosts)
    enforced, why = _sts_mode(facts)
    patterns: tuple[str, ...] = ()
    if enforced:
        assert facts.mta_sts is not None  # enforced implies a policy
        if any(_probes_of(facts, a.host) for a in hosts):
            # The PKIX check reads the time and the trust roots: not shared.
            return _judge_hosts(facts, judgement, now, trust, hosts)
        patterns = facts.mta_sts.mx_patterns
    # Everything _judge_hosts reads besides the hosts (kept assessments stand for their
    # facts and probes, which are what _probes_of reads): the domain is not read.
    shared = (
        "senders",
        key,
        judgement.mx_status,
        judgement.mail_outcome,
        judgement.error_code,
        enforced,
        why,
        patterns,
    )
    return memo.derived(shared, lambda: _judge_hosts(facts, judgement, now, trust, hosts))


def _judge_hosts(
    facts: DomainFacts,
    judgement: DomainJudgement,
    now: float,
    trust: PkixTrust | None,
    hosts: tuple[HostAssessment, ...],
) -> tuple[SenderOutcome, ...]:
    secure = judgement.mx_status is DnssecStatus.SECURE
    walked = _walk(Sender.RFC7672, hosts, lambda a: _dane_take(a, secure))
    # The rules are the authority on the RFC 7672 outcome and code; the walk above gives
    # the same answer (tests hold them together) and names the host and the reason.
    rfc = SenderOutcome(
        Sender.RFC7672, judgement.mail_outcome, judgement.error_code, walked.reason, walked.host
    )
    results = [rfc]
    for sender in Sender:
        if sender is Sender.RFC7672:
            continue
        if sender is Sender.EXCHANGE_OPPORTUNISTIC:
            results.append(SenderOutcome(sender, rfc.outcome, rfc.error_code, rfc.reason, rfc.host))
        elif sender is Sender.EXCHANGE_MANDATORY:
            results.append(_walk(sender, hosts, lambda a: _mandatory_take(a, secure)))
        elif sender is Sender.POSTFIX_DANE:
            results.append(
                _walk(sender, hosts, lambda a: _postfix_take(a, _probes_of(facts, a.host), False))
            )
        elif sender is Sender.POSTFIX_DANE_ONLY:
            if not secure:
                results.append(
                    SenderOutcome(
                        sender, MailOutcome.DEFER_OR_BOUNCE, PF_TLS, "non DNSSEC destination"
                    )
                )
            else:
                results.append(
                    _walk(
                        sender, hosts, lambda a: _postfix_take(a, _probes_of(facts, a.host), True)
                    )
                )
        else:
            # Behind an insecure MX RRset the walk above is the opportunistic one.
            results.append(_mta_sts(facts, hosts, now, trust, None if secure else walked))
    return tuple(results)


def _mta_sts(
    facts: DomainFacts,
    hosts: Sequence[HostAssessment],
    now: float,
    trust: PkixTrust | None,
    opportunistic: SenderOutcome | None = None,
) -> SenderOutcome:
    """``opportunistic``: the walk of ``_dane_take(a, False)`` if already made."""
    enforced, why = _sts_mode(facts)
    if not enforced:
        walked = opportunistic
        if walked is None:
            walked = _walk(Sender.MTA_STS, hosts, lambda a: _dane_take(a, False))
        reason = f"{why}: opportunistic TLS" if walked.receives else walked.reason
        # Exchange's codes do not apply; only a bogus answer has a TLS-RPT result type.
        code = RPT_DNSSEC if walked.error_code == CODE_DNSSEC_INVALID else ""
        return SenderOutcome(Sender.MTA_STS, walked.outcome, code, reason, walked.host)
    assert facts.mta_sts is not None  # enforced implies a policy
    patterns = facts.mta_sts.mx_patterns
    return _walk(
        Sender.MTA_STS,
        hosts,
        lambda a: _sts_take(a, _probes_of(facts, a.host), patterns, now, trust),
    )


def sender_outcome(outcomes: Iterable[SenderOutcome], sender: Sender) -> SenderOutcome:
    """The outcome of ``sender`` among ``judge_senders``'s results."""
    return next(o for o in outcomes if o.sender is sender)
