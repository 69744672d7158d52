"""The scenario catalog (``data/scenarios.toml``): loading and validation.

The catalog is the single human-readable description of the local world: the TLD
zones of the private root, the shared mail providers, and one scenario per domain
with its DNS set-up, its MX hosts (SMTP behaviour, certificate, TLSA records) and
the expected judgement (``verdict``, ``mail_outcome``) per DESIGN §4, plus its
MTA-STS policy (RFC 8461) and TLS-RPT record (RFC 8460) with what a scan must
report of them. This module turns the TOML into frozen dataclasses and rejects
typos early (unknown keys, unknown behaviours, verdict names that are not in
``scanner.core.model``, expectations that contradict the set-up).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from scanner.core.findings import DIAGNOSIS_CODES
from scanner.core.model import HostOutcome, MailOutcome, Verdict

SMTP_BEHAVIOURS = frozenset(
    {
        "starttls",  # normal: STARTTLS offered, TLS with the host's chain
        "no-starttls",  # EHLO does not advertise STARTTLS
        "starttls-454",  # STARTTLS advertised, answered 454
        "tls-fail",  # 220 to STARTTLS, then garbage instead of a ServerHello
        "tarpit",  # accepts the connection and never speaks
        "refused",  # no listener at all: connection refused
        "giant-banner",  # a multi-megabyte multi-line 220 greeting
        "endless-ehlo",  # EHLO reply continuation lines without end
        "slow-banner",  # multi-line 220 with pauses; drops clients that talk early
        "huge-chain",  # STARTTLS, then a certificate chain well over 100 KiB
        "banner-554",  # greets with 554 (service refused)
    }
)
CERT_ISSUERS = frozenset({"self", "ca"})
CERT_KEYS = frozenset({"ecdsa", "rsa", "dual"})
CERT_VALIDITY = frozenset({"valid", "expired", "future"})
CERT_CHAINS = frozenset({"leaf", "leaf+int", "leaf+int+root", "huge"})
DENIALS = frozenset({"nsec", "nsec3"})
ALGORITHMS = frozenset({"ecdsa", "rsasha256", "rsasha1"})
DNSSEC_MODES = frozenset({"signed", "unsigned"})
POSTTLS = frozenset({"verified", "trusted", "untrusted", "plaintext", "fail", "nomail"})
# What posttls-finger makes of a domain when the scenario says nothing else: the RFC 7672
# mail outcome in Postfix's words (the header of data/scenarios.toml explains).
POSTTLS_BY_MAIL_OUTCOME = {
    MailOutcome.DELIVER_AUTHENTICATED: "verified",
    MailOutcome.DELIVER_UNAUTHENTICATED_TLS: "untrusted",
    MailOutcome.DELIVER_OPPORTUNISTIC: "untrusted",
    MailOutcome.DEFER_OR_BOUNCE: "fail",
    MailOutcome.UNKNOWN: "fail",
    MailOutcome.NO_MAIL: "nomail",
}
# The sender profiles of DESIGN §4 (scanner.core.profiles.Sender; the world may import
# only scanner.core.model, so the names are repeated here and a test keeps them equal).
SENDERS = (
    "rfc7672",
    "postfix-dane",
    "postfix-dane-only",
    "exchange-opportunistic",
    "exchange-mandatory",
    "mta-sts",
)
_STRICT_KEEPS = frozenset(
    {MailOutcome.DELIVER_AUTHENTICATED, MailOutcome.NO_MAIL, MailOutcome.UNKNOWN}
)
_UNDELIVERED = frozenset({MailOutcome.DEFER_OR_BOUNCE, MailOutcome.NO_MAIL, MailOutcome.UNKNOWN})


def derived_sender_outcome(sender: str, mail_outcome: MailOutcome) -> MailOutcome:
    """A sender's outcome when the scenario states none (the header of scenarios.toml).

    Exchange's opportunistic mode and Postfix at ``dane`` do what RFC 7672 does; the
    strict senders (Postfix ``dane-only``, Exchange mandatory) deliver only where RFC 7672
    authenticates; an MTA-STS sender without an enforced policy delivers wherever RFC 7672
    delivers, with opportunistic TLS.
    """
    if sender in ("postfix-dane-only", "exchange-mandatory"):
        return mail_outcome if mail_outcome in _STRICT_KEEPS else MailOutcome.DEFER_OR_BOUNCE
    if sender == "mta-sts" and mail_outcome not in _UNDELIVERED:
        return MailOutcome.DELIVER_OPPORTUNISTIC
    return mail_outcome


TLSA_REFS = frozenset({"leaf", "leaf:rsa", "leaf:ecdsa", "int", "root", "other", "next", "short"})
# Breakage kinds; ``bogus-sig``, ``orphan-sig`` and ``nsec3-lie`` take "OWNER TYPE".
ZONE_BREAKAGE = frozenset(
    {
        "expired-sigs",
        "expiring-sigs",
        "future-sigs",
        "ds-mismatch",
        "ds-other-algorithm",
        "no-ds",
        "sha1-ds",
        "bogus-sig",
        "orphan-sig",
        "nsec3-lie",
        "lame",
    }
)
_TARGETED_BREAKAGE = frozenset({"bogus-sig", "orphan-sig", "nsec3-lie"})
# Breakage that makes every answer of the zone bogus (the chain breaks at its keys).
ZONE_BOGUS_BREAKAGE = frozenset(
    {"expired-sigs", "future-sigs", "ds-mismatch", "ds-other-algorithm"}
)


# How the world's HTTPS server (policyd) answers for a domain's MTA-STS policy.
MTA_STS_SERVE = frozenset(
    {
        "ok",  # 200, text/plain, the policy
        "not-found",  # 404
        "bad-cert",  # a world-CA certificate for another name (www.<domain>)
        "self-signed",  # a self-signed certificate for the right name
        "no-host",  # no address record for mta-sts.<domain>
        "refused",  # an address record, but nothing listens on port 443
        "redirect",  # 301 to another URL (RFC 8461 §3.3: senders must not follow)
        "wrong-type",  # 200 with the policy, but Content-Type text/html
        "garbage",  # 200 text/plain, a body without the version line
        "huge",  # 200 text/plain, the policy padded to more than 64 KiB
    }
)
MTA_STS_MODES = frozenset({"enforce", "testing", "none"})
MTA_STS_DEFAULT_TXT = "v=STSv1; id=20261123T000000;"
MTA_STS_DEFAULT_MAX_AGE = 604_800
MTA_STS_MAX_AGE_LIMIT = 31_557_600  # RFC 8461 §3.2: max_age up to one year
_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_LDH_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


class CatalogError(ValueError):
    """The catalog does not describe a buildable world."""


@dataclass(frozen=True, slots=True)
class CertSpec:
    """How to make the certificate chain an SMTP host presents."""

    issuer: str = "self"  # "self": self-signed leaf (DANE-EE); "ca": world CA leaf
    key: str = "ecdsa"  # "ecdsa" (P-256), "rsa" (2048), "dual" (both, server picks)
    names: tuple[str, ...] = ()  # DNS SANs; empty: the host name
    validity: str = "valid"  # "valid", "expired", "future"
    chain: str = ""  # "leaf", "leaf+int", "leaf+int+root", "huge"; "" = per issuer


@dataclass(frozen=True, slots=True)
class TlsaSpec:
    """A TLSA record by symbolic spec: ``"3 1 1 leaf"``; data computed at build time."""

    usage: int
    selector: int
    mtype: int
    ref: str  # see TLSA_REFS, or "hex:<data>"

    @classmethod
    def parse(cls, text: str) -> TlsaSpec:
        parts = text.split()
        if len(parts) != 4:
            raise CatalogError(f"TLSA spec {text!r}: want 'USAGE SELECTOR MTYPE REF'")
        try:
            u, s, m = (int(p) for p in parts[:3])
        except ValueError as exc:
            raise CatalogError(f"TLSA spec {text!r}: {exc}") from exc
        ref = parts[3]
        if ref not in TLSA_REFS and not ref.startswith("hex:"):
            raise CatalogError(f"TLSA spec {text!r}: unknown reference {ref!r}")
        return cls(u, s, m, ref)

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.ref}"


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One MX host name defined in a scenario or provider zone."""

    name: str
    smtp: str = "starttls"
    cert: CertSpec = field(default_factory=CertSpec)
    tlsa: tuple[TlsaSpec, ...] = ()
    ipv4: bool = True
    ipv6: bool = False
    # The host name is a CNAME to this name (no server of its own).
    cname: str = ""
    # TLSA RRset published at this name, reached through a CNAME from _25._tcp.<name>.
    tlsa_cname: str = ""

    @property
    def tlsa_owner(self) -> str:
        return f"_25._tcp.{self.name}"


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """DNS set-up shared by scenarios and providers."""

    zone: str
    dnssec: str = "signed"
    denial: str = "nsec"
    algorithm: str = "ecdsa"
    breakage: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()  # raw records, zone-file syntax, origin = zone
    hosts: tuple[HostSpec, ...] = ()

    @property
    def signed(self) -> bool:
        return self.dnssec == "signed"

    def breaks(self, kind: str) -> bool:
        return any(b.split()[0] == kind for b in self.breakage)

    def bogus_sigs(self, kinds: frozenset[str] = frozenset({"bogus-sig"})) -> list[tuple[str, str]]:
        """(owner, type) pairs whose RRSIGs are corrupted after signing (or, with
        ``kinds``, broken by any of those targeted breakages)."""
        out = []
        for b in self.breakage:
            parts = b.split()
            if parts[0] in kinds:
                out.append((parts[1].lower().rstrip("."), parts[2].upper()))
        return out

    def bogus_rrsets(self) -> list[tuple[str, str]]:
        """(owner, type) questions that validate bogus because of one targeted breakage:
        a corrupted RRSIG, an RRSIG by an unpublished key, a lying NSEC3 denial."""
        return self.bogus_sigs(_TARGETED_BREAKAGE)

    @property
    def zone_bogus(self) -> bool:
        """Every answer of the signed zone is bogus (its chain breaks at the keys)."""
        return self.signed and any(self.breaks(k) for k in ZONE_BOGUS_BREAKAGE)


@dataclass(frozen=True, slots=True)
class MtaStsSpec:
    """A domain's MTA-STS set-up: the policy, how it is served, the ``_mta-sts`` TXT."""

    mode: str  # enforce | testing | none
    mx: tuple[str, ...]  # the policy's mx patterns ("*.example.net" allowed)
    max_age: int = MTA_STS_DEFAULT_MAX_AGE
    serve: str = "ok"  # see MTA_STS_SERVE
    txt: str = MTA_STS_DEFAULT_TXT  # "" = no _mta-sts TXT record

    @property
    def published(self) -> bool:
        """A sender looks for a policy only after a valid STSv1 TXT record (RFC 8461 §3.1:
        ``v=STSv1`` first, an ``id`` of 1-32 letters and digits)."""
        fields = [f.strip() for f in self.txt.split(";") if f.strip()]
        if not fields or fields[0] != "v=STSv1":
            return False
        ids = [f.removeprefix("id=") for f in fields if f.startswith("id=")]
        return len(ids) == 1 and bool(_STS_ID.match(ids[0]))

    @property
    def has_address(self) -> bool:
        return self.serve != "no-host"

    @property
    def listens(self) -> bool:
        return self.serve not in ("no-host", "refused")

    def policy_text(self) -> str:
        """The policy body of RFC 8461 §3.2: CRLF-separated ``key: value`` lines."""
        lines = ["version: STSv1", f"mode: {self.mode}"]
        lines += [f"mx: {m}" for m in self.mx]
        lines.append(f"max_age: {self.max_age}")
        return "".join(line + "\r\n" for line in lines)


@dataclass(frozen=True, slots=True)
class Provider:
    """A shared mail provider zone whose hosts serve many scenario domains."""

    spec: ZoneSpec
    description: str = ""


@dataclass(frozen=True, slots=True)
class ExpectedDiagnosis:
    """Why a scenario's question is bogus: the broken link ``scanner.core.chain`` must
    name for it (issue 11), cross-checked with delv / unbound-host / ldns-verify-zone."""

    code: str  # a DNSSEC diagnosis code (scanner.core.findings.DIAGNOSIS_CODES)
    zone: str  # the zone of the broken link
    record_type: str  # the RRset of the broken link: DS, DNSKEY, MX, NSEC3, ...
    name: str  # the bogus question (default: the scenario's domain)
    rrtype: str = "MX"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One domain of the world and what a correct scanner must say about it."""

    spec: ZoneSpec
    description: str
    verdict: Verdict
    mail_outcome: MailOutcome
    exists: bool = True
    mx: tuple[tuple[int, str], ...] = ()
    host_outcomes: dict[str, HostOutcome] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    expected_no_probe: Verdict | None = None
    posttls: str = ""  # expected posttls-finger category; "" = derived from mail_outcome
    posttls_exception: str = ""  # why posttls-finger legitimately differs from RFC 7672
    rfc_note: str = ""  # where an expectation was decided, and why
    mta_sts: MtaStsSpec | None = None
    tlsrpt: str = ""  # the rua of a _smtp._tls TXT record; "" = none published
    mta_sts_mode: str = ""  # expected domains.mta_sts_mode ("" = no usable policy)
    tlsrpt_rua: str = ""  # expected domains.tlsrpt_rua
    # Sender profiles whose outcome differs from ``derived_sender_outcome``, and why.
    senders: dict[str, MailOutcome] = field(default_factory=dict)
    senders_note: str = ""
    diagnosis: ExpectedDiagnosis | None = None  # required for dnssec_bogus scenarios

    def expected_sender(self, sender: str) -> MailOutcome:
        """What the sender profile ``sender`` must say of this domain."""
        if sender not in SENDERS:
            raise KeyError(sender)
        return self.senders.get(sender) or derived_sender_outcome(sender, self.mail_outcome)

    @property
    def rfc_posttls(self) -> str:
        """The posttls-finger category that follows from the RFC 7672 mail outcome."""
        return POSTTLS_BY_MAIL_OUTCOME[self.mail_outcome]

    @property
    def expected_posttls(self) -> str:
        """What posttls-finger must say: the scenario's own ``posttls``, else the RFC's."""
        return self.posttls or self.rfc_posttls

    @property
    def policy_host(self) -> str:
        """The host serving the MTA-STS policy (RFC 8461 §3.3)."""
        return f"mta-sts.{self.domain}"

    @property
    def domain(self) -> str:
        return self.spec.zone

    @property
    def signed(self) -> bool:
        return self.exists and self.spec.signed

    @property
    def bogus(self) -> bool:
        return self.verdict is Verdict.DNSSEC_BOGUS


@dataclass(frozen=True, slots=True)
class Tld:
    """A top-level zone of the private root."""

    name: str
    denial: str = "nsec"
    algorithm: str = "ecdsa"


@dataclass(frozen=True, slots=True)
class Catalog:
    """The whole catalog: TLDs, providers, scenarios, canaries."""

    tlds: tuple[Tld, ...]
    providers: tuple[Provider, ...]
    scenarios: tuple[Scenario, ...]
    canary_secure: str
    canary_bogus: str
    path: Path

    def scenario(self, domain: str) -> Scenario:
        for s in self.scenarios:
            if s.domain == domain:
                return s
        raise KeyError(domain)

    def zones(self) -> list[ZoneSpec]:
        """Every leaf zone to build (providers first), excluding non-existent domains."""
        return [p.spec for p in self.providers] + [s.spec for s in self.scenarios if s.exists]

    def hosts(self) -> dict[str, HostSpec]:
        """Every host defined anywhere, by name."""
        return {h.name: h for z in self.zones() for h in z.hosts}


def default_catalog_path() -> Path:
    """The catalog shipped with the package, ``scanner/world/data/scenarios.toml``.

    Package data, so that an installed wheel builds its world too; in a source checkout it
    is a symlink to ``data/scenarios.toml``, the file people edit (setuptools copies the
    target into the wheel). A path, not just a resource: ``world up`` compares its mtime
    with the build's, and the world only runs from an unpacked installation anyway.
    """
    return Path(str(resources.files("scanner.world").joinpath("data", "scenarios.toml")))


# --------------------------------------------------------------------------- parsing


def _norm(name: str) -> str:
    return name.strip().lower().rstrip(".")


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")


def _choice(where: str, value: str, allowed: frozenset[str]) -> str:
    if value not in allowed:
        raise CatalogError(f"{where}: {value!r} not one of {sorted(allowed)}")
    return value


def _cert(where: str, raw: dict[str, Any]) -> CertSpec:
    _check_keys(where, raw, {"issuer", "key", "names", "validity", "chain"})
    issuer = _choice(where, raw.get("issuer", "self"), CERT_ISSUERS)
    chain = raw.get("chain", "leaf" if issuer == "self" else "leaf+int")
    return CertSpec(
        issuer=issuer,
        key=_choice(where, raw.get("key", "ecdsa"), CERT_KEYS),
        names=tuple(_norm(n) if not n.startswith("*") else n.lower() for n in raw.get("names", [])),
        validity=_choice(where, raw.get("validity", "valid"), CERT_VALIDITY),
        chain=_choice(where, chain, CERT_CHAINS),
    )


def _host(where: str, zone: str, raw: dict[str, Any]) -> HostSpec:
    _check_keys(where, raw, {"name", "smtp", "cert", "tlsa", "ipv4", "ipv6", "cname", "tlsa_cname"})
    name = _norm(raw["name"])
    if name != zone and not name.endswith("." + zone):
        raise CatalogError(f"{where}: host {name} is not inside zone {zone}")
    return HostSpec(
        name=name,
        smtp=_choice(where, raw.get("smtp", "starttls"), SMTP_BEHAVIOURS),
        cert=_cert(where + ".cert", raw.get("cert", {})),
        tlsa=tuple(TlsaSpec.parse(t) for t in raw.get("tlsa", [])),
        ipv4=bool(raw.get("ipv4", True)),
        ipv6=bool(raw.get("ipv6", False)),
        cname=_norm(raw.get("cname", "")),
        tlsa_cname=_norm(raw.get("tlsa_cname", "")),
    )


_ZONE_KEYS = {"dnssec", "denial", "algorithm", "breakage", "extra", "host"}


def _zone(where: str, zone: str, raw: dict[str, Any]) -> ZoneSpec:
    for b in raw.get("breakage", []):
        kind = b.split()[0]
        _choice(where + ".breakage", kind, ZONE_BREAKAGE)
        if kind in _TARGETED_BREAKAGE and len(b.split()) != 3:
            raise CatalogError(f"{where}: '{kind} OWNER TYPE' expected, got {b!r}")
    return ZoneSpec(
        zone=zone,
        dnssec=_choice(where, raw.get("dnssec", "signed"), DNSSEC_MODES),
        denial=_choice(where, raw.get("denial", "nsec"), DENIALS),
        algorithm=_choice(where, raw.get("algorithm", "ecdsa"), ALGORITHMS),
        breakage=tuple(raw.get("breakage", [])),
        extra=tuple(raw.get("extra", [])),
        hosts=tuple(
            _host(f"{where}.host[{i}]", zone, h) for i, h in enumerate(raw.get("host", []))
        ),
    )


def _mx(where: str, raw: list[str]) -> tuple[tuple[int, str], ...]:
    out = []
    for item in raw:
        pref, _, host = item.partition(" ")
        try:
            out.append((int(pref), _norm(host) if host.strip() != "." else "."))
        except ValueError as exc:
            raise CatalogError(f"{where}: bad MX {item!r}") from exc
    return tuple(out)


def _pattern(where: str, raw: object) -> str:
    """An MTA-STS mx pattern (RFC 8461 §4.1): a host name, or ``*.`` and a host name."""
    if not isinstance(raw, str):
        raise CatalogError(f"{where}: mx pattern {raw!r} is not a string")
    text = raw.strip().lower().rstrip(".")
    if not _LDH_NAME.match(text.removeprefix("*.")):
        raise CatalogError(f"{where}: bad mx pattern {raw!r}")
    return text


def _mta_sts(where: str, raw: object, mx: tuple[tuple[int, str], ...]) -> MtaStsSpec:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: want a table")
    _check_keys(where, raw, {"mode", "mx", "max_age", "serve", "txt"})
    if "mode" not in raw:
        raise CatalogError(f"{where}: 'mode' is required")
    mode = _choice(where + ".mode", raw["mode"], MTA_STS_MODES)
    if "mx" in raw:
        if not isinstance(raw["mx"], list):
            raise CatalogError(f"{where}.mx: want a list of patterns")
        patterns = tuple(_pattern(where + ".mx", p) for p in raw["mx"])
    else:
        patterns = tuple(h for _, h in mx if h != ".")
    if mode != "none" and not patterns:
        raise CatalogError(f"{where}: mode {mode} needs at least one mx pattern (RFC 8461 §3.2)")
    max_age = raw.get("max_age", MTA_STS_DEFAULT_MAX_AGE)
    if isinstance(max_age, bool) or not isinstance(max_age, int):
        raise CatalogError(f"{where}.max_age: {max_age!r} is not an integer")
    if not 0 <= max_age <= MTA_STS_MAX_AGE_LIMIT:
        raise CatalogError(f"{where}.max_age: {max_age} outside 0..{MTA_STS_MAX_AGE_LIMIT}")
    txt = raw.get("txt", MTA_STS_DEFAULT_TXT)
    if not isinstance(txt, str) or not txt.isascii() or '"' in txt or "\\" in txt:
        raise CatalogError(f"{where}.txt: want ASCII without quotes or backslashes")
    return MtaStsSpec(
        mode=mode,
        mx=patterns,
        max_age=max_age,
        serve=_choice(where + ".serve", raw.get("serve", "ok"), MTA_STS_SERVE),
        txt=txt,
    )


def _tlsrpt(where: str, raw: object) -> str:
    """A TLS-RPT rua value (RFC 8460 §3): ``mailto:`` or ``https:`` URIs, comma-separated."""
    if not isinstance(raw, str) or not raw.isascii() or any(c in raw for c in '"\\;'):
        raise CatalogError(f"{where}: want an ASCII rua without quotes, backslashes or ';'")
    for uri in raw.split(","):
        if not uri.strip().startswith(("mailto:", "https:")):
            raise CatalogError(f"{where}: rua URI {uri!r} is neither mailto: nor https:")
    return raw


def _sts_expectations(where: str, sc: dict[str, Any], sts: MtaStsSpec | None) -> tuple[str, str]:
    """The expected ``mta_sts_mode`` and ``tlsrpt_rua``, checked against the set-up.

    Each must be written out where its record is published (an expectation is a
    statement, not a default). The mode is the policy's only when the TXT record is
    published and the policy is served correctly (RFC 8461 §3.1-§3.3); else "".
    """
    if sts is not None and "mta_sts_mode" not in sc:
        raise CatalogError(f"{where}: a scenario with mta_sts must say mta_sts_mode")
    if sc.get("tlsrpt") and "tlsrpt_rua" not in sc:
        raise CatalogError(f"{where}: a scenario with tlsrpt must say tlsrpt_rua")
    mode = sc.get("mta_sts_mode", "")
    rua = sc.get("tlsrpt_rua", "")
    if not isinstance(mode, str) or not isinstance(rua, str):
        raise CatalogError(f"{where}: mta_sts_mode and tlsrpt_rua are strings")
    if mode:
        _choice(where + ".mta_sts_mode", mode, MTA_STS_MODES)
    usable = sts is not None and sts.published and sts.serve == "ok"
    want = sts.mode if sts is not None and usable else ""
    if mode != want:
        raise CatalogError(
            f"{where}: mta_sts_mode {mode!r} contradicts the set-up (served "
            f"{sts.serve if sts else 'nothing'!r}, TXT {sts.txt if sts else ''!r}): want {want!r}"
        )
    if rua != sc.get("tlsrpt", ""):
        raise CatalogError(f"{where}: tlsrpt_rua {rua!r} is not the published rua")
    return mode, rua


def _senders(
    where: str, sc: dict[str, Any], outcome: MailOutcome, sts_mode: str
) -> dict[str, MailOutcome]:
    """The scenario's ``senders`` table: only profiles that differ from the derived
    outcome, each one explained by ``senders_note``; an enforced MTA-STS policy must
    state the ``mta-sts`` outcome (it depends on the MX certificates)."""
    raw = sc.get("senders", {})
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: senders must be a table of sender = outcome")
    out: dict[str, MailOutcome] = {}
    for sender, value in raw.items():
        _choice(where + ".senders", sender, frozenset(SENDERS))
        try:
            got = MailOutcome(value)
        except ValueError as exc:
            raise CatalogError(f"{where}.senders.{sender}: {exc}") from exc
        if sender == "rfc7672":
            raise CatalogError(f"{where}: the rfc7672 outcome is mail_outcome")
        if got is derived_sender_outcome(sender, outcome) and not (
            sender == "mta-sts" and sts_mode == "enforce"
        ):
            raise CatalogError(f"{where}.senders.{sender}: {value!r} is already the default")
        out[sender] = got
    if out and not sc.get("senders_note", "").strip():
        raise CatalogError(f"{where}: senders needs a senders_note saying why")
    return out


def _diagnosis(where: str, sc: dict[str, Any], verdict: Verdict) -> ExpectedDiagnosis | None:
    """The expected diagnosis (``diagnosis = { code, zone, type, name?, rrtype? }``):
    required where the verdict is dnssec_bogus, so no bogus scenario goes unexplained."""
    raw = sc.get("diagnosis")
    if raw is None:
        if verdict is Verdict.DNSSEC_BOGUS:
            raise CatalogError(f"{where}: a dnssec_bogus scenario must say its diagnosis")
        return None
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}.diagnosis: want a table {{ code, zone, type }}")
    _check_keys(where + ".diagnosis", raw, {"code", "zone", "type", "name", "rrtype"})
    try:
        code, zone, rtype = raw["code"], _norm(raw["zone"]) or ".", raw["type"].upper()
    except KeyError as exc:
        raise CatalogError(f"{where}.diagnosis: missing {exc}") from exc
    _choice(where + ".diagnosis.code", code, DIAGNOSIS_CODES)
    name = _norm(raw.get("name", sc["domain"]))
    if zone != "." and name != zone and not name.endswith("." + zone):
        raise CatalogError(f"{where}.diagnosis: zone {zone} does not hold {name}")
    return ExpectedDiagnosis(code, zone, rtype, name, raw.get("rrtype", "MX").upper())


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Read and validate the scenario catalog (default ``data/scenarios.toml``)."""
    p = Path(path) if path is not None else default_catalog_path()
    with p.open("rb") as fh:
        raw = tomllib.load(fh)
    _check_keys("catalog", raw, {"world", "tld", "provider", "scenario"})
    world = raw.get("world", {})
    tlds = tuple(
        Tld(
            name=_norm(name),
            denial=_choice(f"tld.{name}", t.get("denial", "nsec"), DENIALS),
            algorithm=_choice(f"tld.{name}", t.get("algorithm", "ecdsa"), ALGORITHMS),
        )
        for name, t in raw.get("tld", {}).items()
    )
    providers = []
    for i, pr in enumerate(raw.get("provider", [])):
        where = f"provider[{i}]"
        _check_keys(where, pr, _ZONE_KEYS | {"zone", "description"})
        providers.append(
            Provider(_zone(where, _norm(pr["zone"]), pr), description=pr.get("description", ""))
        )
    scenarios = []
    for i, sc in enumerate(raw.get("scenario", [])):
        where = f"scenario[{i}] {sc.get('domain', '?')}"
        _check_keys(
            where,
            sc,
            _ZONE_KEYS
            | {
                "domain",
                "description",
                "verdict",
                "mail_outcome",
                "exists",
                "mx",
                "host_outcomes",
                "findings",
                "expected_no_probe",
                "posttls",
                "posttls_exception",
                "rfc_note",
                "mta_sts",
                "tlsrpt",
                "mta_sts_mode",
                "tlsrpt_rua",
                "senders",
                "senders_note",
                "diagnosis",
            },
        )
        try:
            verdict = Verdict(sc["verdict"])
            outcome = MailOutcome(sc["mail_outcome"])
            host_outcomes = {
                _norm(h): HostOutcome(o) for h, o in sc.get("host_outcomes", {}).items()
            }
            enp = sc.get("expected_no_probe")
            no_probe = Verdict(enp) if enp else None
        except (KeyError, ValueError) as exc:
            raise CatalogError(f"{where}: {exc}") from exc
        posttls = sc.get("posttls", "")
        if posttls:
            _choice(where + ".posttls", posttls, POSTTLS)
        mx = _mx(where, sc.get("mx", []))
        sts = _mta_sts(where + ".mta_sts", sc["mta_sts"], mx) if "mta_sts" in sc else None
        tlsrpt = _tlsrpt(where + ".tlsrpt", sc["tlsrpt"]) if "tlsrpt" in sc else ""
        mode, rua = _sts_expectations(where, sc, sts)
        senders = _senders(where, sc, outcome, mode)
        scenarios.append(
            Scenario(
                spec=_zone(where, _norm(sc["domain"]), sc),
                description=sc.get("description", "").strip(),
                verdict=verdict,
                mail_outcome=outcome,
                exists=bool(sc.get("exists", True)),
                mx=mx,
                host_outcomes=host_outcomes,
                findings=tuple(sc.get("findings", [])),
                expected_no_probe=no_probe,
                posttls=posttls,
                posttls_exception=sc.get("posttls_exception", "").strip(),
                rfc_note=sc.get("rfc_note", "").strip(),
                mta_sts=sts,
                tlsrpt=tlsrpt,
                mta_sts_mode=mode,
                tlsrpt_rua=rua,
                senders=senders,
                senders_note=sc.get("senders_note", "").strip(),
                diagnosis=_diagnosis(where, sc, verdict),
            )
        )
    cat = Catalog(
        tlds=tlds,
        providers=tuple(providers),
        scenarios=tuple(scenarios),
        canary_secure=_norm(world.get("canary_secure", "isc.org")),
        canary_bogus=_norm(world.get("canary_bogus", "dnssec-failed.org")),
        path=p,
    )
    _validate(cat)
    return cat


def _validate(cat: Catalog) -> None:
    tld_names = {t.name for t in cat.tlds}
    seen: set[str] = set()
    for z in [p.spec for p in cat.providers] + [s.spec for s in cat.scenarios]:
        if z.zone in seen:
            raise CatalogError(f"zone {z.zone} defined twice")
        seen.add(z.zone)
        if z.zone.rsplit(".", 1)[-1] not in tld_names:
            raise CatalogError(f"zone {z.zone} is not under a catalog TLD")
    hosts = cat.hosts()
    for s in cat.scenarios:
        for _, h in s.mx:
            if h != "." and h not in hosts and s.exists:
                raise CatalogError(f"{s.domain}: MX host {h} is defined nowhere")
        if (s.mta_sts is not None or s.tlsrpt) and (not s.exists or s.spec.breaks("lame")):
            raise CatalogError(f"{s.domain}: MTA-STS/TLS-RPT records need a served zone")
        if s.mta_sts is not None and s.policy_host in hosts:
            raise CatalogError(f"{s.domain}: {s.policy_host} is also an MX host")
    names = {s.domain for s in cat.scenarios}
    for canary in (cat.canary_secure, cat.canary_bogus):
        if canary not in names:
            raise CatalogError(f"canary {canary} has no scenario")
