"""Facts and judgements → table rows of ``scanner.store.schema`` (pure, no I/O).

One function per table grain. The crawler and ``regrade`` both use them, so a re-judged
scan has exactly the layout of a fresh one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import msgspec
from cryptography import x509

from scanner.core import factjson
from scanner.core.assemble import ProbeKey, host_facts
from scanner.core.certs import key_type, leaf_names
from scanner.core.chain import ChainFacts, Diagnosis
from scanner.core.dnssec import lookup_status
from scanner.core.findings import CATALOGUE
from scanner.core.model import (
    DnsLookup,
    DnssecStatus,
    DomainFacts,
    DomainJudgement,
    Finding,
    HostDns,
    HostJudgement,
    HostOutcome,
    MailOutcome,
    MtaSts,
    SmtpProbe,
    Verdict,
    ZoneKeys,
)
from scanner.core.mtasts import mx_covered, tlsrpt_rua
from scanner.core.profiles import Sender, SenderOutcome
from scanner.core.tlsa import deciding_tlsa, is_usable, parse_tlsa, tlsa_base_of
from scanner.store.inputs import InputLine
from scanner.store.schema import MAX_RAW, TABLES


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def ts_ms(seconds: float) -> int:
    """What a ``timestamp("ms")`` column stores for ``_ts(seconds)``, without making the
    datetime: ``fromtimestamp`` rounds the fraction to microseconds half-even (CPython's
    ``_PyTime_DoubleToDenominator``: ``modf``, times 10**6, ``_PyTime_ROUND_HALF_EVEN``),
    and pyarrow floors microseconds to milliseconds."""
    fraction, whole = math.modf(seconds)
    return (int(whole) * 1_000_000 + round(fraction * 1e6)) // 1000


def _fields(table: str) -> tuple[str, ...]:
    """The columns of ``table`` a row function fills (``scan_id`` is the writer's)."""
    return tuple(n for n in TABLES[table].names if n != "scan_id")


# The judge's rows hold the values of ``StrEnum`` members as ``_TEXT[member]``: the
# same text as ``.value`` (a property written in Python) and ``str(member)``, but one
# ``str`` object per value for the whole run, not a new one per row (Arrow reads each
# row's values when a row group is written: a fresh string per row, allocated among
# everything else made for its domain, is a cache miss by then).
_TEXT: dict[StrEnum, str] = {
    m: str(m) for e in (Verdict, MailOutcome, DnssecStatus, HostOutcome, Sender) for m in e
}

# The columns of the judge's tables, in schema order: the ``*_values`` functions below
# give a row's values in this order, the dict rows and the column writers share them.
DOMAIN_FIELDS = _fields("domains")
DOMAIN_MX_FIELDS = _fields("domain_mx")
FINDING_FIELDS = _fields("findings")
SENDER_FIELDS = _fields("sender_outcomes")


class StoredDomainFacts(msgspec.Struct, frozen=True, gc=False):
    """What ``domains.facts`` holds: a domain's own facts and its MX host names (typed,
    so that ``factjson.dumps`` sees from the type hints that no float is inside, instead
    of looking through a dict; the JSON is that of the same dict)."""

    mx: DnsLookup
    implicit_mx: bool
    hosts: list[str]
    zone_keys: ZoneKeys | None
    mta_sts: MtaSts | None
    probing_enabled: bool


def domain_values(
    input_name: str,
    rank: int | None,
    facts: DomainFacts,
    judgement: DomainJudgement,
    scanned_at: Any,
    facts_text: str | bytes | None = None,
) -> tuple[Any, ...]:
    """A ``domains`` row's values, in ``DOMAIN_FIELDS`` order (``scanned_at`` as given;
    ``input_name`` and ``rank``: the input line's ``raw`` and ``rank``; ``facts_text``: the
    ``facts`` column's text (str or UTF-8), if at hand: ``OwnText.stored``)."""
    mx = facts.mx
    hosts = [h.host for h in judgement.hosts]
    sts = facts.mta_sts
    rua = (
        tlsrpt_rua(sts.tlsrpt_txt.records)
        if sts and sts.tlsrpt_txt and sts.tlsrpt_txt.records
        else ""
    )
    covers: bool | None = None
    if sts is not None and sts.mode:
        covers = all(mx_covered(sts.mx_patterns, h) for h in hosts) if hosts else False
    found = judgement.findings
    return (
        facts.domain,
        input_name,
        rank,
        _TEXT[judgement.verdict],
        _TEXT[judgement.mail_outcome],
        judgement.error_code,
        judgement.fix,
        _TEXT[judgement.mx_status],
        mx.rcode,
        facts.implicit_mx,
        mx.records == ("0 .",),
        hosts,
        sorted({f.code for f in found}) if found else [],
        mx.rrsigs[0].signer if mx.rrsigs else None,
        sts.mode if sts is not None else "",
        covers,
        sts.policy_id if sts is not None else "",
        sts.policy_error if sts is not None else "",
        rua,
        judgement.rules_version,
        scanned_at,
        facts_text if facts_text is not None else stored_facts(facts),
    )


def stored_facts(facts: DomainFacts) -> str:
    """``domains.facts``: the text of ``StoredDomainFacts``."""
    # The facts go to the encoder as they are (the bytes are those of to_plain
    # first; tests/core/test_factjson.py holds the two together).
    stored = StoredDomainFacts(
        facts.mx,
        facts.implicit_mx,
        list(facts.hosts),
        facts.zone_keys,
        facts.mta_sts,
        facts.probing_enabled,
    )
    return factjson.dumps(stored)


_NULL = msgspec.Raw(b"null")
_IMPLICIT = {True: b',"implicit_mx":true', False: b',"implicit_mx":false'}
_PROBING = {True: b',"probing_enabled":true}', False: b',"probing_enabled":false}'}


class OwnText(msgspec.Struct, frozen=True):
    """The domain stage's text of a domain's own facts (``factjson.dumps`` of a
    ``DomainFacts`` without hosts), read by the judge stage: the domain, and the parts
    ``domains.facts`` repeats (``StoredDomainFacts``) as the texts they were written
    as. The parts are decoded one by one (``facts``) and their texts copied into
    ``domains.facts`` (``stored``), not encoded again (5 µs per domain): the encoder
    writes a Struct or dataclass as its fields' texts in turn, so the copy is what encoding the
    decoded parts gives. ``hosts``, ``probes`` and ``probing_enabled`` are left out:
    the judge's are the assembled ones (``scanner.core.assemble``). Missing keys take
    the defaults of ``DomainFacts``, unknown ones are skipped, as decoding it does."""

    domain: str
    mx: msgspec.Raw
    implicit_mx: bool = False
    zone_keys: msgspec.Raw = _NULL
    mta_sts: msgspec.Raw = _NULL

    def facts(
        self,
        names: Sequence[str],
        hosts: Mapping[str, HostDns],
        probes: Mapping[ProbeKey, SmtpProbe] | None,
    ) -> DomainFacts:
        """The ``DomainFacts`` the rules judge (``assemble`` of the decoded own facts).
        Raises ``msgspec.DecodeError`` when a part does not fit its type."""
        found, probed = host_facts(names, hosts, probes)
        return DomainFacts(
            self.domain,
            _MX.decode(self.mx),
            self.implicit_mx,
            found,
            probed,
            _ZONE_KEYS.decode(self.zone_keys),
            _MTA_STS.decode(self.mta_sts),
            probes is not None,
        )

    def stored(self, facts: DomainFacts) -> bytes:
        """``domains.facts`` of ``facts`` (made by ``self.facts``), as UTF-8 (the host
        names are those of the stored host facts: UTF-8 already)."""
        return b"".join(
            (
                b'{"mx":',
                self.mx,
                _IMPLICIT[self.implicit_mx],
                b',"hosts":',
                _STRINGS.encode(list(facts.hosts)),
                b',"zone_keys":',
                self.zone_keys,
                b',"mta_sts":',
                self.mta_sts,
                b',"probing_enabled":true}'
                if facts.probing_enabled
                else b',"probing_enabled":false}',
            )
        )


_OWN = msgspec.json.Decoder(OwnText)
_MX = msgspec.json.Decoder(DnsLookup)
_ZONE_KEYS = msgspec.json.Decoder(ZoneKeys | None)
_MTA_STS = msgspec.json.Decoder(MtaSts | None)
_STRINGS = msgspec.json.Encoder()


def read_own(text: str | bytes) -> OwnText:
    """The domain stage's text of a domain's own facts, its parts as text. Raises
    ``msgspec.DecodeError`` when it is not such a text."""
    return _OWN.decode(text)


def domain_row(
    line: InputLine, facts: DomainFacts, judgement: DomainJudgement, scanned_at: float
) -> dict[str, Any]:
    values = domain_values(line.raw, line.rank, facts, judgement, _ts(scanned_at))
    return dict(zip(DOMAIN_FIELDS, values, strict=True))


def domain_mx_values(domain: str, h: HostJudgement, observed_at: Any) -> tuple[Any, ...]:
    """A ``domain_mx`` row's values, in ``DOMAIN_MX_FIELDS`` order."""
    return (
        domain,
        h.preference,
        h.host,
        _TEXT[h.outcome],
        h.dane_applies,
        _TEXT[h.address_status],
        _TEXT[h.tlsa_status] if h.tlsa_status is not None else None,
        h.tlsa_base,
        h.usable_records,
        h.detail,
        observed_at,
    )


def domain_mx_rows(judgement: DomainJudgement, observed_at: float) -> list[dict[str, Any]]:
    at = _ts(observed_at)
    return [
        dict(zip(DOMAIN_MX_FIELDS, domain_mx_values(judgement.domain, h, at), strict=True))
        for h in judgement.hosts
    ]


def finding_values(domain: str, f: Finding, observed_at: Any) -> tuple[Any, ...]:
    """A ``findings`` row's values, in ``FINDING_FIELDS`` order."""
    spec = CATALOGUE[f.code]
    return (domain, f.host, f.code, spec.severity, spec.rfc, f.detail, observed_at)


def finding_rows(judgement: DomainJudgement, observed_at: float) -> list[dict[str, Any]]:
    at = _ts(observed_at)
    return [
        dict(zip(FINDING_FIELDS, finding_values(judgement.domain, f, at), strict=True))
        for f in judgement.findings
    ]


def sender_values(domain: str, o: SenderOutcome, observed_at: Any) -> tuple[Any, ...]:
    """A ``sender_outcomes`` row's values, in ``SENDER_FIELDS`` order."""
    return (domain, _TEXT[o.sender], _TEXT[o.outcome], o.error_code, o.reason, o.host, observed_at)


def sender_rows(
    judgement: DomainJudgement, profiles: Sequence[SenderOutcome], observed_at: float
) -> list[dict[str, Any]]:
    """The ``sender_outcomes`` rows of one domain: ``profiles`` is
    ``scanner.core.profiles.judge_senders(facts, judgement, now, trust)``."""
    at = _ts(observed_at)
    return [
        dict(zip(SENDER_FIELDS, sender_values(judgement.domain, o, at), strict=True))
        for o in profiles
    ]


# The two below spell out ``*_values`` column by column (a part is made per domain when
# its hosts are its own: half the CPU of making the rows and transposing them);
# tests/store/test_domain_row.py holds them together.


def domain_mx_columns(hosts: Sequence[HostJudgement]) -> tuple[list[Any], ...]:
    """The ``domain_mx`` values of these hosts, column by column, but for the first and
    last (``domain``, ``observed_at``): what many domains with the same hosts share."""
    return (
        [h.preference for h in hosts],
        [h.host for h in hosts],
        [_TEXT[h.outcome] for h in hosts],
        [h.dane_applies for h in hosts],
        [_TEXT[h.address_status] for h in hosts],
        [_TEXT[h.tlsa_status] if h.tlsa_status is not None else None for h in hosts],
        [h.tlsa_base for h in hosts],
        [h.usable_records for h in hosts],
        [h.detail for h in hosts],
    )


def sender_columns(profiles: Sequence[SenderOutcome]) -> tuple[list[Any], ...]:
    """``sender_outcomes`` values, column by column, but for ``domain`` and ``observed_at``."""
    return (
        [_TEXT[o.sender] for o in profiles],
        [_TEXT[o.outcome] for o in profiles],
        [o.error_code for o in profiles],
        [o.reason for o in profiles],
        [o.host for o in profiles],
    )


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
