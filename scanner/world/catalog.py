"""The scenario catalog (``data/scenarios.toml``): loading and validation.

The catalog is the single human-readable description of the local world: the TLD
zones of the private root, the shared mail providers, and one scenario per domain
with its DNS set-up, its MX hosts (SMTP behaviour, certificate, TLSA records) and
the expected judgement (``verdict``, ``mail_outcome``) per DESIGN §4. This module
turns the TOML into frozen dataclasses and rejects typos early (unknown keys,
unknown behaviours, verdict names that are not in ``scanner.model``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.model import HostOutcome, MailOutcome, Verdict

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
TLSA_REFS = frozenset({"leaf", "leaf:rsa", "leaf:ecdsa", "int", "root", "other", "next", "short"})
# Breakage kinds; ``bogus-sig`` takes "OWNER TYPE" arguments.
ZONE_BREAKAGE = frozenset(
    {"expired-sigs", "expiring-sigs", "ds-mismatch", "no-ds", "sha1-ds", "bogus-sig", "lame"}
)


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

    def bogus_sigs(self) -> list[tuple[str, str]]:
        """(owner, type) pairs whose RRSIGs are corrupted after signing."""
        out = []
        for b in self.breakage:
            parts = b.split()
            if parts[0] == "bogus-sig":
                out.append((parts[1].lower().rstrip("."), parts[2].upper()))
        return out


@dataclass(frozen=True, slots=True)
class Provider:
    """A shared mail provider zone whose hosts serve many scenario domains."""

    spec: ZoneSpec
    description: str = ""


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
    return Path(__file__).resolve().parents[2] / "data" / "scenarios.toml"


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
        if kind == "bogus-sig" and len(b.split()) != 3:
            raise CatalogError(f"{where}: 'bogus-sig OWNER TYPE' expected, got {b!r}")
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
        scenarios.append(
            Scenario(
                spec=_zone(where, _norm(sc["domain"]), sc),
                description=sc.get("description", "").strip(),
                verdict=verdict,
                mail_outcome=outcome,
                exists=bool(sc.get("exists", True)),
                mx=_mx(where, sc.get("mx", [])),
                host_outcomes=host_outcomes,
                findings=tuple(sc.get("findings", [])),
                expected_no_probe=no_probe,
                posttls=posttls,
                posttls_exception=sc.get("posttls_exception", "").strip(),
                rfc_note=sc.get("rfc_note", "").strip(),
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
    names = {s.domain for s in cat.scenarios}
    for canary in (cat.canary_secure, cat.canary_bogus):
        if canary not in names:
            raise CatalogError(f"canary {canary} has no scenario")
