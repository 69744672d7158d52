"""The findings catalogue and its detectors (pure; no I/O).

One registry, ``CATALOGUE``: every finding has a stable ``code`` (stored in Parquet,
counted by reports: never rename one), a severity (``error`` breaks delivery from
some senders, ``warning`` will break or weakens protection, ``info`` is worth
knowing), the RFC section it comes from, a text for the domain owner and the fix.
``docs/findings.md`` is rendered from it (``render_markdown``; a test keeps the file
in step).

``detect`` is called by ``rules.judge_domain`` with the host assessments it made, and
returns the findings of one domain, sorted and without duplicates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from scanner.core.certs import names_match
from scanner.core.hosts import HostAssessment
from scanner.core.memo import JudgeMemo
from scanner.core.model import (
    DnsLookup,
    DnssecStatus,
    DomainFacts,
    Finding,
    HostOutcome,
    MtaSts,
)
from scanner.core.mtasts import has_tlsrpt, mx_covered, sts_record
from scanner.core.mxset import MxSet
from scanner.core.names import is_hostname
from scanner.core.tlsa import SELECTOR_CERT, USAGE_DANE_EE, unusable_reason

EXPIRY_WARNING_SECONDS = 7 * 24 * 3600

# RFC 8624 §3.1 (DNSSEC algorithm implementation requirements): RSAMD5 (1), DSA (3),
# DSA-NSEC3-SHA1 (6) and ECC-GOST (12) MUST NOT be used for signing; RSASHA1 (5) and
# RSASHA1-NSEC3-SHA1 (7) NOT RECOMMENDED. Decision: all six are "weak": the first four
# are treated as unsupported (zone insecure) by modern validators, the SHA-1 pair is
# being withdrawn by operating systems and validators.
WEAK_ALGORITHMS = {
    1: "RSAMD5",
    3: "DSA",
    5: "RSASHA1",
    6: "DSA-NSEC3-SHA1",
    7: "RSASHA1-NSEC3-SHA1",
    12: "ECC-GOST",
}
DS_SHA1 = 1


@dataclass(frozen=True, slots=True)
class FindingSpec:
    code: str
    severity: str  # error | warning | info
    rfc: str
    text: str
    fix: str


SEVERITIES = ("error", "warning", "info")

_SPECS = (
    FindingSpec(
        "null_mx_mixed",
        "error",
        "RFC 7505 §3",
        'A null MX ("0 .") is published together with other MX records.',
        "Remove the null MX if the domain receives mail, or all other MX records if it does not.",
    ),
    FindingSpec(
        "mx_invalid_target",
        "warning",
        "RFC 5321 §5.1",
        "An MX record is malformed or names something that is not a host name "
        "(an IP address, a label with invalid characters).",
        "Point every MX record at a host name that has address records.",
    ),
    FindingSpec(
        "mx_limit_exceeded",
        "info",
        "RFC 7672 §2.2",
        "More than 32 MX hosts; senders and this scan only try the first ones.",
        "Publish fewer MX hosts.",
    ),
    FindingSpec(
        "mx_is_cname",
        "warning",
        "RFC 2181 §10.3",
        "An MX host name is a CNAME alias; MX targets must be host names with address "
        "records, and the TLSA base domain becomes the alias target (RFC 7672 §2.2.2).",
        "Point the MX record at the canonical host name.",
    ),
    FindingSpec(
        "tlsa_single_record",
        "warning",
        "RFC 7671 §8.1",
        "The TLSA RRset has a single usable record: a certificate or key change breaks "
        "DANE unless the next record is published first (no rollover scheme).",
        'Publish a second TLSA record (the next key, or a "2 1 1" for the issuing CA) '
        "before every rollover.",
    ),
    FindingSpec(
        "tlsa_selector0",
        "warning",
        "RFC 7671 §5.1",
        "A DANE-EE record uses selector 0 (full certificate): it breaks at every "
        "certificate renewal, even when the key is kept.",
        'Use "3 1 1" (SubjectPublicKeyInfo, SHA-256) records.',
    ),
    FindingSpec(
        "tlsa_pkix_usage",
        "warning",
        "RFC 7672 §3.1.3",
        "TLSA records with usage 0 or 1 (PKIX-TA/PKIX-EE) are published; SMTP senders "
        "treat them as unusable.",
        "Replace them with DANE-EE (3 1 1) or DANE-TA (2 1 1) records.",
    ),
    FindingSpec(
        "tlsa_unusable_params",
        "warning",
        "RFC 7672 §3.1",
        "TLSA records with unknown usage, selector or matching type, wrong data length, "
        "or malformed data are published; senders ignore them.",
        "Fix or remove the malformed TLSA records.",
    ),
    FindingSpec(
        "tlsa_ignored_insecure_mx",
        "warning",
        "RFC 7672 §2.2.1",
        "MX hosts publish TLSA records, but the domain's MX RRset is not DNSSEC-signed, "
        "so DANE does not apply: senders use opportunistic TLS.",
        "Sign the domain's zone (DNSSEC) and publish its DS record.",
    ),
    FindingSpec(
        "tlsa_on_insecure_mx_postfix",
        "error",
        "RFC 7672 §2.2.1",
        "The MX RRset is unsigned, so RFC 7672 ignores the hosts' TLSA records, but "
        "Postfix 3.6+ enforces them (smtp_tls_dane_insecure_mx_policy = dane) and this "
        "host fails them: Postfix senders defer mail.",
        "Fix the host's TLSA records or certificate, or sign the domain's zone.",
    ),
    FindingSpec(
        "tlsa_ignored_insecure_host",
        "warning",
        "RFC 7672 §2.2.2",
        "An MX host publishes TLSA records but its address records are not "
        "DNSSEC-signed, so DANE does not apply to it.",
        "Sign the zone of the MX host's address records.",
    ),
    FindingSpec(
        "rrsig_expiring",
        "warning",
        "RFC 4035 §5.3.1",
        "A DNSSEC signature expires within 7 days; if the zone is not re-signed in "
        "time, the records turn bogus and DANE senders defer mail.",
        "Check that automatic re-signing of the zone works.",
    ),
    FindingSpec(
        "weak_dnssec_algorithm",
        "warning",
        "RFC 8624 §3.1",
        "The zone is signed with a weak or deprecated DNSSEC algorithm "
        "(RSAMD5, DSA, RSA/SHA-1, ECC-GOST).",
        "Roll the zone to ECDSA P-256 (13) or RSA/SHA-256 (8).",
    ),
    FindingSpec(
        "ds_sha1_only",
        "warning",
        "RFC 8624 §3.3",
        "The zone's only DS digests are SHA-1.",
        "Publish a SHA-256 DS record (digest type 2) at the parent.",
    ),
    FindingSpec(
        "dane_ee_cert_expired",
        "info",
        "RFC 7672 §3.1.1",
        "The certificate matched by a DANE-EE record has expired: harmless for DANE "
        "senders (dates are ignored) but PKIX-validating senders reject it.",
        "Renew the certificate and publish the TLSA record of the new key first.",
    ),
    FindingSpec(
        "dane_ee_cert_misnamed",
        "info",
        "RFC 7672 §3.1.1",
        "The certificate matched by a DANE-EE record does not name the MX host: "
        "harmless for DANE senders but PKIX-validating senders reject it.",
        "Use a certificate whose DNS names include the MX host name.",
    ),
    FindingSpec(
        "host_bogus_others_fine",
        "warning",
        "RFC 7672 §2.1.1",
        "DNSSEC validation fails for one MX host while others are fine: validating "
        "senders skip it.",
        "Repair the DNSSEC signatures of the failing host's zone.",
    ),
    FindingSpec(
        "tlsa_matches_one_key_type",
        "error",
        "RFC 7671 §8.1",
        "The server has several certificates (RSA and ECDSA) and the TLSA records "
        "match only some: senders that get the other one fail authentication.",
        "Publish TLSA records for every certificate the server may present.",
    ),
    FindingSpec(
        "address_auth_differs",
        "warning",
        "RFC 7672 §2.2.3",
        "The addresses of one MX host (IPv4/IPv6) do not authenticate alike: senders "
        "that reach the failing address are refused or delayed.",
        "Serve the same certificate chain on every address of the host.",
    ),
    FindingSpec(
        "mta_sts_testing",
        "info",
        "RFC 8461 §5",
        "The MTA-STS policy is in testing mode: failures are reported, not enforced.",
        "Switch the policy to mode: enforce once TLS-RPT reports are clean.",
    ),
    FindingSpec(
        "mta_sts_policy_error",
        "warning",
        "RFC 8461 §3.3",
        "An MTA-STS TXT record is published but no valid policy could be read over HTTPS "
        "(the detail says why: TLS, HTTP status, media type, size or syntax).",
        "Serve the policy as text/plain at https://mta-sts.<domain>/.well-known/mta-sts.txt "
        "with a publicly trusted certificate for mta-sts.<domain>, or remove the TXT record.",
    ),
    FindingSpec(
        "mta_sts_mx_mismatch",
        "error",
        "RFC 8461 §4.1",
        "The MTA-STS policy's mx patterns do not cover every MX host: in enforce mode "
        "senders refuse those hosts.",
        "Add the missing MX host names to the policy's mx lines.",
    ),
    FindingSpec(
        "tlsrpt_missing",
        "info",
        "RFC 8460 §3",
        "DANE is deployed but no TLS-RPT record asks senders to report failures.",
        "Publish a _smtp._tls TXT record with a rua address.",
    ),
)

# Why a bogus answer is bogus: the first broken link of its chain of trust, named by
# ``scanner.core.chain.diagnose_chain`` (issue 11). Codes of the same catalogue, but not
# domain findings: ``detect`` never raises them; they are stored in their own table
# (``dnssec_diagnoses``), one per diagnosed question.
_DIAGNOSIS_SPECS = (
    FindingSpec(
        "dnssec_rrsig_expired",
        "error",
        "RFC 4035 §5.3.1",
        "A signature on the chain of trust has expired: validating resolvers treat the "
        "records as bogus and DANE senders defer mail.",
        "Re-sign the zone now and make sure automatic re-signing runs well before "
        "signatures expire.",
    ),
    FindingSpec(
        "dnssec_rrsig_not_yet_valid",
        "error",
        "RFC 4035 §5.3.1",
        "A signature on the chain of trust is not valid yet (its inception lies in the "
        "future): the signer's clock or signing window is wrong.",
        "Fix the signer's clock or inception offset and re-sign the zone.",
    ),
    FindingSpec(
        "dnssec_ds_digest_mismatch",
        "error",
        "RFC 4035 §5.2",
        "The DS record at the parent matches no DNSKEY of the zone (a key rollover that "
        "did not update the DS, or a wrong DS at the registrar).",
        "Publish at the registrar the DS of the zone's current key-signing key and "
        "remove the stale DS.",
    ),
    FindingSpec(
        "dnssec_ds_algorithm_missing",
        "error",
        "RFC 6840 §5.11",
        "The DS at the parent names a DNSSEC algorithm for which the zone has no DNSKEY "
        "(a half-done algorithm rollover).",
        "Publish and sign with a key of the DS's algorithm, or replace the DS at the "
        "registrar with one for the zone's current key.",
    ),
    FindingSpec(
        "dnssec_dnskey_not_signed_by_ds_key",
        "error",
        "RFC 4035 §5.2",
        "The key the parent's DS points to is published but does not sign the DNSKEY "
        "RRset: the chain of trust stops there.",
        "Sign the DNSKEY RRset with the key-signing key the DS refers to.",
    ),
    FindingSpec(
        "dnssec_rrsig_key_missing",
        "error",
        "RFC 4035 §5.3.1",
        "Records are signed only by a key that is not in the zone's DNSKEY set (a key "
        "removed too early in a rollover).",
        "Re-sign the records with a published key, or publish the signing key again "
        "until its signatures have left every cache.",
    ),
    FindingSpec(
        "dnssec_rrsig_invalid",
        "error",
        "RFC 4035 §5.3.3",
        "A signature does not verify with the key that made it: the records or the "
        "signature changed after signing.",
        "Re-sign the zone, and check that nothing rewrites signed records afterwards "
        "(a hidden primary, a broken zone transfer).",
    ),
    FindingSpec(
        "dnssec_rrsig_missing",
        "error",
        "RFC 4035 §2.2",
        "Records of a signed zone come without a signature a validator can check.",
        "Re-sign the zone so that every authoritative RRset carries an RRSIG by a published key.",
    ),
    FindingSpec(
        "dnssec_denial_missing",
        "error",
        "RFC 4035 §3.1.3",
        "A negative answer (no such name or type) of a signed zone comes without the "
        "NSEC or NSEC3 records that prove it.",
        "Re-sign the zone so that its NSEC or NSEC3 chain is complete, and serve it "
        "from up-to-date name servers.",
    ),
    FindingSpec(
        "dnssec_denial_wrong",
        "error",
        "RFC 4035 §5.4",
        "The NSEC or NSEC3 records of a negative answer do not prove it (the type "
        "bitmap lists the type, or no record covers the name).",
        "Regenerate the zone's NSEC or NSEC3 chain by re-signing the whole zone.",
    ),
    FindingSpec(
        "dnssec_anchor_mismatch",
        "error",
        "RFC 4035 §4.4",
        "The trust anchor matches no DNSKEY of its zone: the anchor is out of date (a "
        "root key rollover) or belongs to another root.",
        "Update the scanner's trust anchor (--trust-anchor) to the zone's current key.",
    ),
    FindingSpec(
        "dnssec_chain_unreachable",
        "warning",
        "RFC 4035 §4.3",
        "The chain of trust could not be walked: a name server gave no answer even with "
        "checking disabled, so the failure is not a signature problem (a lame "
        "delegation, a server down).",
        "Make every name server of the zone answer for it, and remove lame NS records.",
    ),
    FindingSpec(
        "dnssec_no_broken_link",
        "info",
        "RFC 4035 §4.3",
        "The resolver found the answer bogus, but the walk of the chain of trust found "
        "no broken link (a transient failure, or other servers' answers).",
        "Repeat the check; if it persists, compare the answers of every name server of the zone.",
    ),
)

CATALOGUE: dict[str, FindingSpec] = {spec.code: spec for spec in (*_SPECS, *_DIAGNOSIS_SPECS)}
DIAGNOSIS_CODES = frozenset(spec.code for spec in _DIAGNOSIS_SPECS)


def render_markdown() -> str:
    """The text of ``docs/findings.md``."""
    lines = [
        "# Findings",
        "",
        "Generated from `scanner/findings.py` (`CATALOGUE`); a test keeps this file in step.",
        "Codes are stable: they are stored in scans and counted by reports.",
        "",
        "| code | severity | RFC | what it means | fix |",
        "|---|---|---|---|---|",
    ]
    for spec in _SPECS:
        lines.append(f"| `{spec.code}` | {spec.severity} | {spec.rfc} | {spec.text} | {spec.fix} |")
    lines += [
        "",
        "## DNSSEC diagnoses",
        "",
        "Why an answer is bogus: the first broken link of its chain of trust, walked from the",
        "trust anchor with checking disabled (`scanner/core/chain.py`). Stored per diagnosed",
        "question in the `dnssec_diagnoses` table, not among a domain's findings.",
        "",
        "| code | severity | RFC | what it means | fix |",
        "|---|---|---|---|---|",
    ]
    for spec in _DIAGNOSIS_SPECS:
        lines.append(f"| `{spec.code}` | {spec.severity} | {spec.rfc} | {spec.text} | {spec.fix} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- detectors


def _f(code: str, host: str | None = None, detail: str = "") -> Finding:
    assert code in CATALOGUE, code  # a detector naming an unknown code is a bug
    return Finding(code, host, detail)


Lookups = list[tuple[str | None, DnsLookup]]


def _signed_lookups(facts: DomainFacts, hosts: Lookups) -> Lookups:
    """The domain's and its hosts' lookups that carry RRSIGs (with the host they are of,
    None for the domain's own); ``hosts``: ``_host_signed(hosts)``."""
    found: Lookups = [(None, facts.mx)] if facts.mx.rrsigs else []
    found += hosts
    if facts.zone_keys is not None:
        found += [(None, lk) for lk in (facts.zone_keys.dnskey, facts.zone_keys.ds) if lk.rrsigs]
    return found


def _host_signed(hosts: Sequence[HostAssessment]) -> Lookups:
    found: Lookups = []
    for h in hosts:
        if h.dns is not None:
            for lookup in (h.dns.a, h.dns.aaaa, *h.dns.tlsa_lookups):
                if lookup.rrsigs:
                    found.append((h.host, lookup))
    return found


def _mx_findings(mxset: MxSet | None) -> Iterator[Finding]:
    if mxset is None:
        return
    if mxset.null_mx_mixed:
        yield _f("null_mx_mixed")
    for text in mxset.invalid:
        yield _f("mx_invalid_target", detail=text)
    for mx in mxset.hosts:
        if not is_hostname(mx.host):
            yield _f("mx_invalid_target", mx.host)
    if mxset.truncated:
        yield _f("mx_limit_exceeded", detail=f"{mxset.truncated} hosts not processed")


def _rrsig_findings(lookups: Lookups, now: float) -> Iterator[Finding]:
    for host, lookup in lookups:
        for sig in lookup.rrsigs:
            if now <= sig.expiration < now + EXPIRY_WARNING_SECONDS:
                when = dt.datetime.fromtimestamp(sig.expiration, dt.UTC).isoformat()
                yield _f(
                    "rrsig_expiring",
                    host,
                    f"{sig.covered} {lookup.name} signed by {sig.signer} expires {when}",
                )


def _algorithm_findings(facts: DomainFacts, lookups: Lookups) -> Iterator[Finding]:
    for _host, lookup in lookups:
        for sig in lookup.rrsigs:
            if sig.algorithm in WEAK_ALGORITHMS:
                name = WEAK_ALGORITHMS[sig.algorithm]
                yield _f("weak_dnssec_algorithm", None, f"{sig.signer} {sig.algorithm} {name}")
    keys = facts.zone_keys
    if keys is None:
        return
    for text in keys.dnskey.records:  # "flags protocol algorithm key"
        parts = text.split()
        if len(parts) >= 3 and parts[2].isdigit() and int(parts[2]) in WEAK_ALGORITHMS:
            algorithm = int(parts[2])
            name = WEAK_ALGORITHMS[algorithm]
            yield _f("weak_dnssec_algorithm", None, f"{keys.zone} {algorithm} {name}")
    digests = set()
    for text in keys.ds.records:  # "tag algorithm digest-type digest"
        parts = text.split()
        if len(parts) >= 3 and parts[2].isdigit():
            digests.add(int(parts[2]))
    if digests == {DS_SHA1}:
        yield _f("ds_sha1_only", None, keys.zone)


def _tlsa_findings(h: HostAssessment, mx_secure: bool) -> Iterator[Finding]:
    if not (h.records or h.unparsable) or h.tlsa_status in (
        DnssecStatus.BOGUS,
        DnssecStatus.ERROR,
    ):
        return
    if not mx_secure:
        yield _f("tlsa_ignored_insecure_mx", h.host)
    elif h.address_status is DnssecStatus.INSECURE:
        yield _f("tlsa_ignored_insecure_host", h.host)
    reasons = [unusable_reason(r) for r in h.records]
    if "pkix_usage" in reasons:
        yield _f("tlsa_pkix_usage", h.host)
    if h.unparsable or any(r not in ("", "pkix_usage") for r in reasons):
        yield _f("tlsa_unusable_params", h.host)
    usable = h.usable
    if any(r.usage == USAGE_DANE_EE and r.selector == SELECTOR_CERT for r in usable):
        yield _f("tlsa_selector0", h.host)
    # One usable record, whatever unusable ones sit beside it: senders only see that one.
    if len(usable) == 1:
        yield _f("tlsa_single_record", h.host, usable[0].presentation())


_POSTFIX_FAILURES = frozenset(
    {
        HostOutcome.TLSA_MISMATCH,
        HostOutcome.STARTTLS_MISSING,
        HostOutcome.TLS_FAILED,
        HostOutcome.TLSA_LOOKUP_FAILED,
    }
)


def _probe_findings(h: HostAssessment, domain: str, mx_secure: bool) -> Iterator[Finding]:
    if not mx_secure and h.secure_addresses and h.outcome in _POSTFIX_FAILURES:
        yield _f("tlsa_on_insecure_mx_postfix", h.host, h.outcome.value)
    if not h.addresses:
        return
    names = tuple(n for n in (h.tlsa_base, h.host, domain) if n)
    expired = misnamed = one_key = False
    for result in h.addresses:
        ev = result.evidence
        if ev is not None and ev.ee_matched and ev.leaf_parsed:
            expired = expired or ev.leaf_expired
            misnamed = misnamed or not names_match(ev, names)
        primary_ok = result.outcome is HostOutcome.AUTHENTICATED
        one_key = one_key or any(ok != primary_ok for _variant, ok in result.alternates)
    if expired:
        yield _f("dane_ee_cert_expired", h.host)
    if misnamed:
        yield _f("dane_ee_cert_misnamed", h.host)
    if one_key:
        yield _f("tlsa_matches_one_key_type", h.host)
    auth = {r.outcome is HostOutcome.AUTHENTICATED for r in h.addresses}
    if len(auth) > 1:
        detail = " ".join(f"{r.address}={r.outcome.value}" for r in h.addresses)
        yield _f("address_auth_differs", h.host, detail)


def _host_findings(
    hosts: Sequence[HostAssessment], domain: str, mx_secure: bool
) -> Iterator[Finding]:
    fine = any(not (h.dns_failed or h.dead) for h in hosts)
    for h in hosts:
        if h.dns is not None and (h.dns.a.cname_chain or h.dns.aaaa.cname_chain):
            yield _f("mx_is_cname", h.host, h.dns.a.final_name)
        if fine and h.dns_failure_status is DnssecStatus.BOGUS:
            yield _f("host_bogus_others_fine", h.host)
        yield from _tlsa_findings(h, mx_secure)
        yield from _probe_findings(h, domain, mx_secure)


def _mta_sts_findings(
    sts: MtaSts, hosts: Sequence[HostAssessment], mx_secure: bool
) -> Iterator[Finding]:
    txt = sts.sts_txt
    # An empty policy_error: the fetch was not attempted (a DNS-only scan). The record is
    # parsed last: most domains publish none.
    if (
        sts.policy_error
        and not sts.policy_fetched
        and txt is not None
        and sts_record(txt.records) is not None
    ):
        yield _f("mta_sts_policy_error", detail=sts.policy_error)
    if sts.policy_fetched and sts.mode == "testing":
        yield _f("mta_sts_testing")
    if sts.policy_fetched and sts.mode in ("enforce", "testing"):
        for h in hosts:
            if not mx_covered(sts.mx_patterns, h.host):
                yield _f("mta_sts_mx_mismatch", h.host)
    rpt = sts.tlsrpt_txt
    if (
        mx_secure
        and not (rpt is not None and has_tlsrpt(rpt.records))
        and any(h.dane_applies for h in hosts)
    ):
        yield _f("tlsrpt_missing")


def detect(
    facts: DomainFacts,
    mx_status: DnssecStatus,
    mxset: MxSet | None,
    hosts: Sequence[HostAssessment],
    now: float,
    memo: JudgeMemo | None = None,
) -> tuple[Finding, ...]:
    """Every finding for one domain; sorted by (code, host, detail), no duplicates.
    ``memo`` (``scanner.core.memo``): what depends on the hosts alone is found once."""
    mx_secure = mx_status is DnssecStatus.SECURE
    if memo is None or (key := memo.ids(hosts)) is None:
        host_signed = _host_signed(hosts)
        of_hosts = list(_host_findings(hosts, facts.domain, mx_secure))
    else:
        # Kept assessments never read the domain (see scanner.core.memo).
        host_signed, of_hosts = memo.derived(
            ("host findings", key, mx_secure),
            lambda: (_host_signed(hosts), list(_host_findings(hosts, facts.domain, mx_secure))),
        )
    if memo is None or mxset is None or (mx_key := memo.key_of(mxset)) is None:
        of_mx = list(_mx_findings(mxset))
    else:
        of_mx = memo.derived(("mx findings", mx_key), lambda: list(_mx_findings(mxset)))
    found = [*of_mx, *of_hosts]
    lookups = _signed_lookups(facts, host_signed)
    if lookups:
        found += _rrsig_findings(lookups, now)
    if lookups or facts.zone_keys is not None:
        found += _algorithm_findings(facts, lookups)
    sts = facts.mta_sts
    # Each MTA-STS finding needs one of these (most domains publish no policy).
    if sts is not None and (sts.policy_error or sts.policy_fetched or mx_secure):
        found += _mta_sts_findings(sts, hosts, mx_secure)
    if len(found) < 2:
        return tuple(found)
    return tuple(sorted(set(found), key=_order))


def _order(f: Finding) -> tuple[str, str, str]:
    return (f.code, f.host or "", f.detail)
