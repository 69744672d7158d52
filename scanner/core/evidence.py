"""Evidence, proven fixes and look-ahead for one domain, as plain JSON-ready values.

What must live here: what ``danescan check`` shows a mail administrator beside the
verdict, in the manner of danecheck and posttls-finger — per MX host the TLSA RRset
(DNSSEC status, each record usable or why not, which record matched which address and
at which chain depth), per address the stage the SMTP dialogue reached, the TLS version
and every certificate presented (subject, SANs, issuer, validity, SPKI SHA-256, key
type) for each key type the server offered, and the Extended DNS Errors; the TLSA
record that would match what a failing host presents now (``suggest_records``); and
the warnings of a look-ahead window (``lookahead``). Pure: facts and host assessments
in, dicts out; the clock is an argument.

Decisions:

* A suggested record is *proven* before it is offered: it is evaluated against the very
  chain the host presented (``certs.evaluate_chain``) and kept only if that chain then
  authenticates (``certs.authenticates``) with the host's DANE name candidates. For a
  DANE-TA setup (a usable usage-2 record published) ``2 1 1`` of the leaf's issuer is
  tried first, then ``3 1 1`` of the leaf key (RFC 7671 §5.1: a DANE-EE SPKI record
  survives certificate renewals that keep the key, and ignores names and dates).
* Suggestions are made for every handshake that failed to authenticate, the alternate
  key types (RSA vs ECDSA) included: senders that get the other certificate fail too.
* Look-ahead warns of certificates (every certificate of each presented chain: the leaf
  and the DANE-TA path) and RRSIGs that expire within the window, and of a host whose
  TLSA RRset has a single usable record (it stops matching at the next key change,
  unless the next key's record is published beside it). The MTA-STS policy host's
  certificate is not kept by the gatherer, so it is not in the look-ahead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from cryptography import x509

from scanner.core.certs import (
    ChainEvidence,
    authenticates,
    evaluate_chain,
    key_type,
    leaf_names,
    spki_der,
)
from scanner.core.dnssec import lookup_status
from scanner.core.hosts import HostAssessment
from scanner.core.model import DnsLookup, DomainFacts, SmtpProbe, TlsaRecord, TlsHandshake
from scanner.core.tlsa import USAGE_DANE_TA, unusable_reason

DAY = 86400.0


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _cert_iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- certificates


def certificate_info(der: bytes) -> dict[str, Any]:
    """What a reader wants to see of one certificate (never the DER itself)."""
    spki = spki_der(der)
    info: dict[str, Any] = {
        "sha256": hashlib.sha256(der).hexdigest(),
        "spki_sha256": hashlib.sha256(spki).hexdigest() if spki is not None else None,
    }
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        info["error"] = f"unparsable certificate ({str(exc)[:80]})"
        return info
    sans, _cns = leaf_names(cert)
    info.update(
        subject=cert.subject.rfc4514_string(),
        sans=list(sans),
        issuer=cert.issuer.rfc4514_string(),
        not_before=_cert_iso(cert.not_valid_before_utc),
        not_after=_cert_iso(cert.not_valid_after_utc),
        key_type=key_type(cert),
    )
    return info


def _ede(lookups: Sequence[DnsLookup]) -> list[dict[str, Any]]:
    return [
        {"lookup": f"{lk.name} {lk.rrtype}", "code": e.code, "text": e.text}
        for lk in lookups
        for e in lk.ede
    ]


def _record_entries(
    a: HostAssessment, evidences: Sequence[tuple[str, ChainEvidence | None]]
) -> list[dict[str, Any]]:
    """Each TLSA record: usable or why not, and which addresses it matched, at which depth."""
    out = []
    for rec in a.records:
        matched = []
        for address, ev in evidences:
            for r in ev.records if ev is not None else ():
                if r.record == rec and r.matched:
                    matched.append({"address": address, "depth": r.depth, "chain_ok": r.chain_ok})
        reason = unusable_reason(rec)
        out.append(
            {
                "record": rec.presentation(),
                "usable": not reason,
                "unusable_reason": reason,
                "matched": matched,
            }
        )
    return out


def _handshake(hs: TlsHandshake) -> dict[str, Any]:
    return {
        "variant": hs.variant,
        "ok": hs.ok,
        "tls_version": hs.version,
        "cipher": hs.cipher,
        "error": hs.error,
        "chain": [certificate_info(der) for der in hs.chain],
    }


def _stage(p: SmtpProbe) -> str:
    """The last stage the dialogue reached (posttls-finger's view of a session)."""
    if p.status.value.startswith("connect_"):
        return "connect"
    if p.status.value.startswith("banner_"):
        return "banner"
    if p.status.value in ("ehlo_failed", "protocol_error"):
        return "ehlo"
    if p.status.value.startswith("starttls_"):
        return "starttls"
    if p.status.value == "skipped":
        return "not contacted"
    return "tls"


def host_evidence(
    a: HostAssessment, probes: Sequence[SmtpProbe], domain: str, now: float
) -> dict[str, Any]:
    """The evidence for one MX host of one domain."""
    dns = a.dns
    results = {r.address: r for r in a.addresses}
    evidences = [(addr, r.evidence) for addr, r in results.items()]
    lookups: list[DnsLookup] = []
    if dns is not None:
        lookups = [dns.a, dns.aaaa, *dns.tlsa_lookups]
    tlsa = a.tlsa_lookup
    addresses = []
    for p in probes:
        r = results.get(p.address)
        addresses.append(
            {
                "address": p.address,
                "sni": p.sni,
                "probe_status": p.status.value,
                "stage": _stage(p),
                "error": p.error,
                "banner": p.banner[:200],
                "starttls_offered": p.starttls_offered,
                "tls_version": p.primary.version if p.primary is not None else "",
                "outcome": r.outcome.value if r is not None else None,
                "failure": r.failure if r is not None else "",
                "alternates": [
                    {"variant": v, "authenticates": ok} for v, ok in (r.alternates if r else ())
                ],
                "handshakes": [_handshake(hs) for hs in p.handshakes],
            }
        )
    return {
        "host": a.host,
        "preference": a.preference,
        "outcome": a.outcome.value,
        "detail": a.detail,
        "address_status": a.address_status.value,
        "addresses_dns": sorted({*dns.a.records, *dns.aaaa.records} if dns is not None else set()),
        "cname_chain": list(dns.a.cname_chain) if dns is not None else [],
        "tlsa": {
            "owner": tlsa.name if tlsa is not None else None,
            "status": lookup_status(tlsa).value if tlsa is not None else None,
            "rcode": tlsa.rcode if tlsa is not None else None,
            "records": _record_entries(a, evidences),
            "unparsable": a.unparsable,
        },
        "ede": _ede(lookups),
        "probes": addresses,
        "suggested_tlsa": suggest_records(a, probes, domain, now),
    }


# --------------------------------------------------------------------------- proven fixes


def _sha256_spki(der: bytes) -> bytes | None:
    spki = spki_der(der)
    return hashlib.sha256(spki).digest() if spki is not None else None


def _candidates(a: HostAssessment, chain: tuple[bytes, ...]) -> Iterator[TlsaRecord]:
    if any(r.usage == USAGE_DANE_TA for r in a.usable) and len(chain) > 1:
        issuer = _sha256_spki(chain[1])
        if issuer is not None:
            yield TlsaRecord(2, 1, 1, issuer)
    leaf = _sha256_spki(chain[0])
    if leaf is not None:
        yield TlsaRecord(3, 1, 1, leaf)


def suggest_records(
    a: HostAssessment, probes: Sequence[SmtpProbe], domain: str, now: float
) -> list[dict[str, Any]]:
    """TLSA records that would make each failing handshake of this host authenticate.

    Only for a host whose TLSA records are published (secure) and whose TLS handshakes
    completed: a record for what the server presents *now*, each proven against the
    presented chain before it is offered.
    """
    if not a.tlsa_published:
        return []
    names = tuple(dict.fromkeys(n for n in (a.tlsa_base, a.host, domain) if n))
    owner = f"_25._tcp.{a.tlsa_base or a.host}"
    usable = a.usable
    seen: dict[str, dict[str, Any]] = {}
    for p in probes:
        for hs in p.handshakes:
            if not hs.ok or not hs.chain:
                continue
            if usable and authenticates(evaluate_chain(usable, hs.chain, now), names):
                continue
            for rec in _candidates(a, hs.chain):
                if not authenticates(evaluate_chain((rec,), hs.chain, now), names):
                    continue
                text = rec.presentation()
                entry = seen.setdefault(
                    text,
                    {
                        "owner": owner,
                        "record": text,
                        "for": [],
                        "advice": (
                            f"Publish {owner} TLSA {text} beside the current records, "
                            "and keep it until the next key change."
                        ),
                    },
                )
                entry["for"].append(f"{p.address} {hs.variant}")
                break
    return list(seen.values())


# --------------------------------------------------------------------------- look-ahead


def _lookups(facts: DomainFacts, hosts: Sequence[HostAssessment]) -> Iterator[DnsLookup]:
    yield facts.mx
    for h in hosts:
        if h.dns is not None:
            yield h.dns.a
            yield h.dns.aaaa
            yield from h.dns.tlsa_lookups
    if facts.mta_sts is not None and facts.mta_sts.sts_txt is not None:
        yield facts.mta_sts.sts_txt


def lookahead(
    facts: DomainFacts, hosts: Sequence[HostAssessment], now: float, days: float
) -> list[dict[str, Any]]:
    """Warnings of what breaks within ``days`` of ``now``, soonest first."""
    until = now + days * DAY
    found: dict[tuple[str, str, str], dict[str, Any]] = {}

    def warn(kind: str, host: str | None, when: float | None, detail: str) -> None:
        key = (kind, host or "", detail)
        found.setdefault(
            key,
            {
                "kind": kind,
                "host": host,
                "date": _iso(when) if when is not None else None,
                "detail": detail,
            },
        )

    for lookup in _lookups(facts, hosts):
        for sig in lookup.rrsigs:
            if now <= sig.expiration <= until:
                warn(
                    "rrsig_expires",
                    None,
                    sig.expiration,
                    f"RRSIG {sig.covered} {lookup.name} by {sig.signer}",
                )
    for h in hosts:
        for p in facts.probes.get(h.host, ()):
            for hs in p.handshakes:
                for depth, der in enumerate(hs.chain[:20]):
                    try:
                        cert = x509.load_der_x509_certificate(der)
                    except ValueError:
                        continue
                    end = cert.not_valid_after_utc.timestamp()
                    what = "leaf" if depth == 0 else f"chain depth {depth}"
                    subject = cert.subject.rfc4514_string()
                    if end < now:
                        warn("certificate_expired", h.host, end, f"{what} {subject}")
                    elif end <= until:
                        warn("certificate_expires", h.host, end, f"{what} {subject}")
        if h.tlsa_published and len(h.usable) == 1:
            warn(
                "tlsa_single_record",
                h.host,
                None,
                f"{h.usable[0].presentation()} is the only usable record at "
                f"_25._tcp.{h.tlsa_base or h.host}: it stops matching at the next key "
                "change unless the next key's record is published beside it",
            )
    return sorted(found.values(), key=lambda w: (w["date"] or "9999", w["kind"], w["detail"]))
