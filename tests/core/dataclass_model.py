"""The fact model as frozen dataclasses, as it was until its types became msgspec Structs.

``scanner/core/model.py`` at commit 88af4ce, kept verbatim below this docstring (but for
the imports, the enums, which are the model's own since they did not change, and
``from_struct`` at the end, which is new): every stored scan up to then
was written from these dataclasses, by the hand-written reflection of
``tests.core.factjson_oracle`` and then by msgspec. ``from_struct`` turns a value of the
Struct model into its dataclass twin, so the tests can check that the Struct model is
written (and read) exactly as this one was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import msgspec

from scanner.core.model import DnssecStatus, HostOutcome, MailOutcome, ProbeStatus, Verdict

# The enums did not change: they are the model's own.


# --------------------------------------------------------------------------- DNS facts


@dataclass(frozen=True, slots=True)
class Ede:
    """An Extended DNS Error (RFC 8914), kept as evidence only."""

    code: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class Rrsig:
    """The parts of an RRSIG that findings need (algorithm, signer, validity end)."""

    covered: str  # type covered, e.g. "MX"
    algorithm: int
    signer: str
    expiration: int  # POSIX seconds
    inception: int


@dataclass(frozen=True, slots=True)
class DnsLookup:
    """One question asked of the validating resolver and everything it answered.

    ``rcode`` is the response code of the query with DO (and without CD), or
    ``"TIMEOUT"`` when no answer came after retries. ``cd_rcode`` is the response
    code of the same question repeated with CD set, asked only after a SERVFAIL.
    ``cname_chain`` lists the owner names of the CNAMEs followed, in order, from
    ``name`` (excluded) to the final name; ``records`` is the rdata, in presentation
    form, of the ``rrtype`` RRset at the final name.
    """

    name: str
    rrtype: str
    rcode: str
    ad: bool = False
    cd_rcode: str | None = None
    records: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    ttl: int | None = None
    ede: tuple[Ede, ...] = ()
    rrsigs: tuple[Rrsig, ...] = ()
    # True when the chain of CNAMEs was longer than the cap and was cut off.
    cname_limit_hit: bool = False
    error: str = ""  # transport detail for TIMEOUT / network errors

    @property
    def final_name(self) -> str:
        return self.cname_chain[-1] if self.cname_chain else self.name


@dataclass(frozen=True, slots=True)
class ZoneKeys:
    """DNSKEY and DS facts of a zone apex (for algorithm / digest findings)."""

    zone: str
    dnskey: DnsLookup
    ds: DnsLookup


# --------------------------------------------------------------------------- TLSA


@dataclass(frozen=True, slots=True)
class TlsaRecord:
    """One TLSA record (RFC 6698 §2.1), parsed; ``data`` is the raw association data."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    def presentation(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


# --------------------------------------------------------------------------- hosts


@dataclass(frozen=True, slots=True)
class HostDns:
    """Everything DNS said about one MX host name, gathered once per scan.

    ``tlsa_lookups`` holds the TLSA queries in the order they were asked (the
    candidate base domains of RFC 7672 §2.2.2, see ``tlsa.tlsa_base_candidates``);
    it is empty when the rules say no TLSA lookup is due (insecure addresses).
    """

    host: str
    a: DnsLookup
    aaaa: DnsLookup
    tlsa_lookups: tuple[DnsLookup, ...] = ()


@dataclass(frozen=True, slots=True)
class TlsHandshake:
    """One TLS handshake after STARTTLS; ``chain`` is every DER certificate sent, leaf first."""

    variant: str  # "default", "rsa", "ecdsa": which client offer obtained it
    ok: bool
    version: str = ""
    cipher: str = ""
    chain: tuple[bytes, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class SmtpProbe:
    """The transcript of one SMTP STARTTLS probe of one address of one host."""

    host: str
    address: str
    sni: str
    status: ProbeStatus
    banner: str = ""
    ehlo: tuple[str, ...] = ()
    starttls_offered: bool = False
    starttls_reply: str = ""
    handshakes: tuple[TlsHandshake, ...] = ()  # the default one first, then alternates
    error: str = ""
    started_at: float = 0.0
    elapsed: float = 0.0

    @property
    def primary(self) -> TlsHandshake | None:
        return self.handshakes[0] if self.handshakes else None


# --------------------------------------------------------------------------- domains


@dataclass(frozen=True, slots=True)
class MxHost:
    """One MX record: preference and exchange host name."""

    preference: int
    host: str


@dataclass(frozen=True, slots=True)
class MtaSts:
    """MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) facts of a domain."""

    sts_txt: DnsLookup | None = None
    policy_id: str = ""  # the TXT record's id
    policy_address: str = ""  # where the policy was fetched from (or tried last)
    policy_fetched: bool = False  # a valid policy came back
    policy_error: str = ""  # why not; "" also when no fetch was attempted (DNS-only scan)
    mode: str = ""  # enforce | testing | none | "" (no policy)
    mx_patterns: tuple[str, ...] = ()
    max_age: int | None = None
    tlsrpt_txt: DnsLookup | None = None


@dataclass(frozen=True, slots=True)
class DomainFacts:
    """Everything gathered for one domain: its MX answer, its hosts and their probes.

    ``hosts`` maps each MX host name (or the domain itself for an implicit MX) to its
    DNS facts; ``probes`` maps a host name to the probes of its addresses. A host
    absent from ``probes`` was not probed (probing off, or not due).
    """

    domain: str
    mx: DnsLookup
    implicit_mx: bool = False
    hosts: dict[str, HostDns] = field(default_factory=dict)
    probes: dict[str, tuple[SmtpProbe, ...]] = field(default_factory=dict)
    zone_keys: ZoneKeys | None = None
    mta_sts: MtaSts | None = None
    probing_enabled: bool = True


# --------------------------------------------------------------------------- judgements


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding of the catalogue (``findings.CATALOGUE``) about a domain or one host."""

    code: str
    host: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HostJudgement:
    """The rules' view of one MX host for one domain."""

    host: str
    preference: int
    outcome: HostOutcome
    dane_applies: bool  # secure MX, secure addresses, secure non-empty TLSA RRset
    address_status: DnssecStatus
    tlsa_status: DnssecStatus | None  # None when no TLSA lookup was due
    tlsa_base: str | None
    usable_records: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DomainJudgement:
    """The verdict on one domain and what a DANE-enforcing sender would do."""

    domain: str
    verdict: Verdict
    mail_outcome: MailOutcome
    error_code: str  # the code a DANE-enforcing sender reports, "" when mail flows
    fix: str  # one line for the domain owner, "" when nothing to fix
    mx_status: DnssecStatus
    hosts: tuple[HostJudgement, ...]
    findings: tuple[Finding, ...]
    rules_version: str


# --------------------------------------------------------------------------- new: twins


def from_struct(value: Any) -> Any:
    """``value`` with every Struct of ``scanner.core.model`` (and every enum) inside it
    replaced by its namesake here; tuples, dicts and scalars as they are."""
    if isinstance(value, msgspec.Struct):
        twin = globals()[type(value).__name__]
        return twin(**{n: from_struct(getattr(value, n)) for n in value.__struct_fields__})
    if isinstance(value, enum.Enum):
        return value  # the same enums
    if type(value) is tuple:
        return tuple(from_struct(v) for v in value)
    if type(value) is dict:
        return {k: from_struct(v) for k, v in value.items()}
    return value
