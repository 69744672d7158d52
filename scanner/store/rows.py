"""Facts and judgements → table rows of ``scanner.store.schema`` (pure, no I/O).

One function per table grain. The crawler and ``regrade`` both use them, so a re-judged
scan has exactly the layout of a fresh one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from scanner.core import factjson
from scanner.core.certs import key_type, leaf_names
from scanner.core.chain import ChainFacts, Diagnosis
from scanner.core.dnssec import lookup_status
from scanner.core.findings import CATALOGUE
from scanner.core.model import DnsLookup, DomainFacts, DomainJudgement, HostDns, SmtpProbe
from scanner.core.mtasts import mx_covered, tlsrpt_rua
from scanner.core.profiles import SenderOutcome
from scanner.core.tlsa import deciding_tlsa, is_usable, parse_tlsa, tlsa_base_of
from scanner.store.inputs import InputLine
from scanner.store.schema import MAX_RAW


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def domain_row(
    line: InputLine, facts: DomainFacts, judgement: DomainJudgement, scanned_at: float
) -> dict[str, Any]:
    mx = facts.mx
    hosts = [h.host for h in judgement.hosts]
    null_mx = mx.records == ("0 .",)
    zone = mx.rrsigs[0].signer if mx.rrsigs else None
    sts = facts.mta_sts
    rua = tlsrpt_rua(sts.tlsrpt_txt.records) if sts and sts.tlsrpt_txt else ""
    covers: bool | None = None
    if sts is not None and sts.mode:
        covers = all(mx_covered(sts.mx_patterns, h) for h in hosts) if hosts else False
    # The dataclasses go to the encoder as they are (the bytes are those of to_plain
    # first; tests/core/test_factjson.py holds the two together).
    stored: dict[str, Any] = {
        "mx": mx,
        "implicit_mx": facts.implicit_mx,
        "hosts": list(facts.hosts),
        "zone_keys": facts.zone_keys,
        "mta_sts": facts.mta_sts,
        "probing_enabled": facts.probing_enabled,
    }
    return {
        "domain": facts.domain,
        "input_name": line.raw,
        "rank": line.rank,
        "verdict": judgement.verdict.value,
        "mail_outcome": judgement.mail_outcome.value,
        "error_code": judgement.error_code,
        "fix": judgement.fix,
        "mx_status": judgement.mx_status.value,
        "mx_rcode": mx.rcode,
        "implicit_mx": facts.implicit_mx,
        "null_mx": null_mx,
        "mx_hosts": hosts,
        "findings": sorted({f.code for f in judgement.findings}),
        "zone": zone,
        "mta_sts_mode": sts.mode if sts is not None else "",
        "mta_sts_covers_mx": covers,
        "mta_sts_id": sts.policy_id if sts is not None else "",
        "mta_sts_error": sts.policy_error if sts is not None else "",
        "tlsrpt_rua": rua,
        "rules_version": judgement.rules_version,
        "scanned_at": _ts(scanned_at),
        "facts": factjson.dumps(stored),
    }


def domain_mx_rows(judgement: DomainJudgement, observed_at: float) -> list[dict[str, Any]]:
    at = _ts(observed_at)
    return [
        {
            "domain": judgement.domain,
            "preference": h.preference,
            "host": h.host,
            "outcome": h.outcome.value,
            "dane_applies": h.dane_applies,
            "address_status": h.address_status.value,
            "tlsa_status": h.tlsa_status.value if h.tlsa_status is not None else None,
            "tlsa_base": h.tlsa_base,
            "usable_records": h.usable_records,
            "detail": h.detail,
            "observed_at": at,
        }
        for h in judgement.hosts
    ]


def finding_rows(judgement: DomainJudgement, observed_at: float) -> list[dict[str, Any]]:
    at = _ts(observed_at)
    rows = []
    for f in judgement.findings:
        spec = CATALOGUE[f.code]
        rows.append(
            {
                "domain": judgement.domain,
                "host": f.host,
                "code": f.code,
                "severity": spec.severity,
                "rfc": spec.rfc,
                "detail": f.detail,
                "observed_at": at,
            }
        )
    return rows


def sender_rows(
    judgement: DomainJudgement, profiles: Sequence[SenderOutcome], observed_at: float
) -> list[dict[str, Any]]:
    """The ``sender_outcomes`` rows of one domain: ``profiles`` is
    ``scanner.core.profiles.judge_senders(facts, judgement, now, trust)``."""
    at = _ts(observed_at)
    return [
        {
            "domain": judgement.domain,
            "sender": o.sender.value,
            "outcome": o.outcome.value,
            "error_code": o.error_code,
            "reason": o.reason,
            "host": o.host,
            "observed_at": at,
        }
        for o in profiles
    ]


def _tlsa_found(host: HostDns) -> tuple[str | None, DnsLookup | None]:
    """The TLSA lookup that decided (as the rules pick it) and its base domain."""
    decided = deciding_tlsa(host.tlsa_lookups)
    return (tlsa_base_of(decided.name), decided) if decided is not None else (None, None)


def host_row(host: HostDns, observed_at: float) -> dict[str, Any]:
    base, tlsa = _tlsa_found(host)
    addresses = [*host.a.records, *host.aaaa.records]
    usable = 0
    if tlsa is not None:
        usable = sum(1 for r in tlsa.records if _usable_text(r))
    return {
        "host": host.host,
        "a_status": lookup_status(host.a).value,
        "aaaa_status": lookup_status(host.aaaa).value,
        "a_rcode": host.a.rcode,
        "aaaa_rcode": host.aaaa.rcode,
        "cname_chain": list(host.a.cname_chain or host.aaaa.cname_chain),
        "addresses": addresses,
        "tlsa_base": base,
        "tlsa_status": lookup_status(tlsa).value if tlsa is not None else None,
        "tlsa_rcode": tlsa.rcode if tlsa is not None else None,
        "tlsa_records": len(tlsa.records) if tlsa is not None else 0,
        "tlsa_usable": usable,
        "tlsa_ede": [f"{e.code} {e.text}".strip() for e in tlsa.ede] if tlsa is not None else [],
        "facts": factjson.dumps(host),
        "observed_at": _ts(observed_at),
    }


def _usable_text(rdata: str) -> bool:
    try:
        return is_usable(parse_tlsa(rdata))
    except ValueError:
        return False


def tlsa_rows(host: HostDns, observed_at: float) -> list[dict[str, Any]]:
    base, tlsa = _tlsa_found(host)
    if tlsa is None:
        return []
    status = lookup_status(tlsa).value
    rows = []
    for rdata in tlsa.records:
        try:
            rec = parse_tlsa(rdata)
        except ValueError:
            continue
        rows.append(
            {
                "host": host.host,
                "tlsa_base": base,
                "usage": rec.usage,
                "selector": rec.selector,
                "mtype": rec.mtype,
                "data_hex": rec.data.hex(),
                "usable": is_usable(rec),
                "dnssec_status": status,
                "observed_at": _ts(observed_at),
            }
        )
    return rows


def address_row(host: str, probe: SmtpProbe) -> dict[str, Any]:
    primary = probe.primary
    leaf_der = primary.chain[0] if primary is not None and primary.chain else None
    row: dict[str, Any] = {
        "host": host,
        "address": probe.address,
        "family": ipaddress.ip_address(probe.address).version,
        "probe_status": probe.status.value,
        "banner": probe.banner[:512],
        "starttls_offered": probe.starttls_offered,
        "tls_version": primary.version if primary is not None else "",
        "cipher": primary.cipher if primary is not None else "",
        "leaf_sha256": hashlib.sha256(leaf_der).hexdigest() if leaf_der else None,
        "leaf_key_type": None,
        "leaf_not_after": None,
        "leaf_names": [],
        "chain_length": len(primary.chain) if primary is not None else 0,
        "key_types": [],
        "elapsed_ms": round(probe.elapsed * 1000),
        "error": probe.error,
        "facts": factjson.dumps(probe),
        "observed_at": _ts(probe.started_at) if probe.started_at else None,
    }
    key_types = []
    for hs in probe.handshakes:
        if not hs.chain:
            continue
        try:
            cert = x509.load_der_x509_certificate(hs.chain[0])
        except ValueError:
            continue
        key_types.append(key_type(cert))
        if hs is primary:
            sans, cns = leaf_names(cert)
            row["leaf_key_type"] = key_types[-1]
            row["leaf_not_after"] = cert.not_valid_after_utc
            row["leaf_names"] = list(sans or cns)  # the CN counts only without DNS SANs
    row["key_types"] = sorted(set(key_types))
    return row


def diagnosis_row(diagnosis: Diagnosis, facts: ChainFacts, observed_at: float) -> dict[str, Any]:
    """One ``dnssec_diagnoses`` row: why a question is bogus, with the walked chain."""
    return {
        "name": diagnosis.name,
        "rrtype": diagnosis.rrtype,
        "zone": diagnosis.zone,
        "record_type": diagnosis.record_type,
        "code": diagnosis.code,
        "reason": diagnosis.reason,
        "key_tag": diagnosis.key_tag,
        "algorithm": diagnosis.algorithm,
        "detail": diagnosis.detail,
        "rfc": diagnosis.rfc,
        "fix": diagnosis.fix,
        "broken": diagnosis.broken,
        "queries": facts.queries,
        "observed_at": _ts(observed_at),
        "facts": factjson.dumps(facts),
    }


def invalid_row(line: InputLine, observed_at: float) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "raw": line.raw[:MAX_RAW],
        "reason": line.reason,
        "observed_at": _ts(observed_at),
    }
