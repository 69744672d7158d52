"""Facts and judgements: the frozen value types every layer of danescan exchanges.

The I/O layers (``resolve``, ``probe``) produce the *fact* types; the pure rules
(``dnssec``, ``tlsa``, ``certs``, ``rules``, ``findings``) turn facts into the
*judgement* types. Nothing here does I/O. Names are in DNS presentation form:
lower-case A-labels without the trailing dot.

The types are frozen msgspec Structs (slotted, compared and hashed by their fields,
picklable), not frozen dataclasses: a frozen dataclass sets each field through
``object.__setattr__`` (1.7 µs for a ``DnsLookup`` against 0.2 µs), and a scan builds
several per domain; msgspec also reads the stored facts JSON (``factjson``) straight
into them. Change them with ``msgspec.structs.replace``.

``gc=False``: the garbage collector does not track them. Facts and judgements are trees
(no value refers back to one that holds it), so no cycle can run through them, and a
scan makes millions: untracked, they neither trigger collections nor get walked by
them (the judge stage: 40.3 → 37.7 µs CPU per domain, ``bench/bench_judge.py``).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

# --------------------------------------------------------------------------- enums


class DnssecStatus(StrEnum):
    """DNSSEC status of one answer, from a validating resolver (DESIGN §4)."""

    SECURE = "secure"  # AD set
    INSECURE = "insecure"  # validated, provably unsigned
    BOGUS = "bogus"  # SERVFAIL that succeeds when repeated with CD set
    ERROR = "error"  # timeout, SERVFAIL also with CD, REFUSED: indeterminate


class HostOutcome(StrEnum):
    """What a DANE-enforcing sender makes of one MX host (DESIGN §4 rule 6)."""

    AUTHENTICATED = "authenticated"
    TLSA_MISMATCH = "tlsa_mismatch"
    STARTTLS_MISSING = "starttls_missing"
    TLS_FAILED = "tls_failed"
    UNREACHABLE = "unreachable"
    TLSA_UNUSABLE = "tlsa_unusable"
    TLSA_LOOKUP_FAILED = "tlsa_lookup_failed"
    NOT_DANE = "not_dane"
    # Not a DESIGN outcome of its own: DANE applies but probing was switched off.
    UNPROBED = "unprobed"


class Verdict(StrEnum):
    """Domain verdict; exactly the names of the DESIGN §4 table."""

    DANE_VALID = "dane_valid"
    DANE_DEGRADED = "dane_degraded"
    DANE_PARTIAL = "dane_partial"
    DANE_UNUSABLE = "dane_unusable"
    DANE_BROKEN = "dane_broken"
    DNSSEC_NO_DANE = "dnssec_no_dane"
    INSECURE = "insecure"
    DNSSEC_BOGUS = "dnssec_bogus"
    NO_MAIL = "no_mail"
    NXDOMAIN = "nxdomain"
    DNS_ERROR = "dns_error"
    UNVERIFIED = "unverified"


class MailOutcome(StrEnum):
    """What a DANE-enforcing sender does with mail for the domain today."""

    DELIVER_AUTHENTICATED = "deliver_authenticated"
    DELIVER_UNAUTHENTICATED_TLS = "deliver_unauthenticated_tls"
    DELIVER_OPPORTUNISTIC = "deliver_opportunistic"
    DEFER_OR_BOUNCE = "defer_or_bounce"
    NO_MAIL = "no_mail"
    UNKNOWN = "unknown"


class ProbeStatus(StrEnum):
    """How far an SMTP probe of one address got; the last stage names the failure."""

    OK = "ok"  # TLS handshake completed, chain captured
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_ERROR = "connect_error"  # unreachable network, reset, ...
    BANNER_TIMEOUT = "banner_timeout"
    BANNER_REJECTED = "banner_rejected"  # 4xx/5xx greeting
    PROTOCOL_ERROR = "protocol_error"  # garbage, oversized line/reply, closed early
    EHLO_FAILED = "ehlo_failed"
    STARTTLS_MISSING = "starttls_missing"  # not advertised in EHLO
    STARTTLS_REJECTED = "starttls_rejected"  # advertised, but 4xx/5xx to STARTTLS
    TLS_FAILED = "tls_failed"  # handshake failed or timed out
    SKIPPED = "skipped"  # blocklisted / opt-out: never contacted


# --------------------------------------------------------------------------- DNS facts


class Ede(msgspec.Struct, frozen=True, gc=False):
    """An Extended DNS Error (RFC 8914), kept as evidence only."""

    code: int
    text: str = ""


class Rrsig(msgspec.Struct, frozen=True, gc=False):
    """The parts of an RRSIG that findings need (algorithm, signer, validity end)."""

    covered: str  # type covered, e.g. "MX"
    algorithm: int
    signer: str
    expiration: int  # POSIX seconds
    inception: int


class DnsLookup(msgspec.Struct, frozen=True, gc=False):
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


class ZoneKeys(msgspec.Struct, frozen=True, gc=False):
    """DNSKEY and DS facts of a zone apex (for algorithm / digest findings)."""

    zone: str
    dnskey: DnsLookup
    ds: DnsLookup


# --------------------------------------------------------------------------- TLSA


class TlsaRecord(msgspec.Struct, frozen=True, gc=False):
    """One TLSA record (RFC 6698 §2.1), parsed; ``data`` is the raw association data."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    def presentation(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


# --------------------------------------------------------------------------- hosts


class HostDns(msgspec.Struct, frozen=True, gc=False):
    """Everything DNS said about one MX host name, gathered once per scan.

    ``tlsa_lookups`` holds the TLSA queries in the order they were asked (the
    candidate base domains of RFC 7672 §2.2.2, see ``tlsa.tlsa_base_candidates``);
    it is empty when the rules say no TLSA lookup is due (insecure addresses).
    """

    host: str
    a: DnsLookup
    aaaa: DnsLookup
    tlsa_lookups: tuple[DnsLookup, ...] = ()


class TlsHandshake(msgspec.Struct, frozen=True, gc=False):
    """One TLS handshake after STARTTLS; ``chain`` is every DER certificate sent, leaf first."""

    variant: str  # "default", "rsa", "ecdsa": which client offer obtained it
    ok: bool
    version: str = ""
    cipher: str = ""
    chain: tuple[bytes, ...] = ()
    error: str = ""


class SmtpProbe(msgspec.Struct, frozen=True, gc=False):
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


class MxHost(msgspec.Struct, frozen=True, gc=False):
    """One MX record: preference and exchange host name."""

    preference: int
    host: str


class MtaSts(msgspec.Struct, frozen=True, gc=False):
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


class DomainFacts(msgspec.Struct, frozen=True, gc=False):
    """Everything gathered for one domain: its MX answer, its hosts and their probes.

    ``hosts`` maps each MX host name (or the domain itself for an implicit MX) to its
    DNS facts; ``probes`` maps a host name to the probes of its addresses. A host
    absent from ``probes`` was not probed (probing off, or not due).
    """

    domain: str
    mx: DnsLookup
    implicit_mx: bool = False
    hosts: dict[str, HostDns] = msgspec.field(default_factory=dict)
    probes: dict[str, tuple[SmtpProbe, ...]] = msgspec.field(default_factory=dict)
    zone_keys: ZoneKeys | None = None
    mta_sts: MtaSts | None = None
    probing_enabled: bool = True


# --------------------------------------------------------------------------- judgements


class Finding(msgspec.Struct, frozen=True, gc=False):
    """One finding of the catalogue (``findings.CATALOGUE``) about a domain or one host."""

    code: str
    host: str | None = None
    detail: str = ""


class HostJudgement(msgspec.Struct, frozen=True, gc=False):
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


class DomainJudgement(msgspec.Struct, frozen=True, gc=False):
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
