"""Zone contents of the world (root, TLDs, provider and scenario zones) as zone-file text.

Pure functions over the catalog: addresses of the MX hosts are allocated here
(127.25.x.y and fd25::n, in catalog order, so they are stable across rebuilds of
the same catalog), and those of the MTA-STS policy hosts (``mta-sts.<domain>``,
127.44.x.y, one per scenario with a policy, also in catalog order); delegations
and glue point at the one authoritative server (``info.AUTH_ADDRESS``) or, for a
lame delegation, at an address nobody serves. A scenario's zone also carries its
``_mta-sts`` TXT (RFC 8461 §3.1) and ``_smtp._tls`` TXT (RFC 8460 §3) records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from scanner.world.catalog import Catalog, HostSpec, Scenario, TlsaSpec, ZoneSpec
from scanner.world.info import AUTH_ADDRESS, LAME_ADDRESS, POLICY_NET

SOA_TIMERS = "1 1800 900 604800 300"
LEAF_TTL = 300
DELEGATION_TTL = 3600


@dataclass
class ZoneText:
    """One zone to serve: its records (absolute names) and how to sign it."""

    name: str  # "" for the root
    records: list[str] = field(default_factory=list)
    signed: bool = True
    denial: str = "nsec"
    algorithm: str = "ecdsa"
    breakage: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        return self.name + "." if self.name else "."

    def text(self) -> str:
        return f"$TTL {LEAF_TTL}\n" + "\n".join(self.records) + "\n"


def fqdn(name: str) -> str:
    return name.rstrip(".") + "." if name not in ("", ".") else "."


@dataclass(frozen=True)
class Addresses:
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]


def allocate_addresses(catalog: Catalog) -> dict[str, Addresses]:
    """Give every non-CNAME host its SMTP addresses, in catalog order."""
    out: dict[str, Addresses] = {}
    n = 0
    for zone in catalog.zones():
        for h in zone.hosts:
            if h.cname:
                continue
            n += 1
            v4 = (f"127.25.{n // 250}.{n % 250 + 1}",) if h.ipv4 else ()
            v6 = (f"fd25::{n:x}",) if h.ipv6 else ()
            out[h.name] = Addresses(v4, v6)
    return out


def allocate_policy_addresses(catalog: Catalog) -> dict[str, str]:
    """Give every scenario with an MTA-STS policy an HTTPS address: {domain: ipv4}.

    Also the ones whose host has no address record or no listener (``no-host``,
    ``refused``), so that changing a scenario's behaviour moves no other address.
    """
    out: dict[str, str] = {}
    n = 0
    for s in catalog.scenarios:
        if s.mta_sts is not None:
            n += 1
            out[s.domain] = f"{POLICY_NET}.{n // 250}.{n % 250 + 1}"
    return out


def txt_rdata(text: str) -> str:
    """TXT rdata in zone-file syntax: quoted strings of at most 255 bytes each."""
    raw = text.encode()
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return " ".join('"' + c.decode() + '"' for c in chunks)


def mail_policy_records(scenario: Scenario, policy_address: str | None) -> list[str]:
    """MTA-STS TXT and policy-host address, TLS-RPT TXT (absolute owner names)."""
    origin = fqdn(scenario.domain)
    out = []
    sts = scenario.mta_sts
    if sts is not None:
        if sts.txt:
            out.append(f"_mta-sts.{origin} IN TXT {txt_rdata(sts.txt)}")
        if sts.has_address and policy_address:
            out.append(f"{fqdn(scenario.policy_host)} IN A {policy_address}")
    if scenario.tlsrpt:
        out.append(f"_smtp._tls.{origin} IN TXT {txt_rdata('v=TLSRPTv1; rua=' + scenario.tlsrpt)}")
    return out


TlsaResolver = Callable[[HostSpec, TlsaSpec], bytes]


def leaf_zone(
    spec: ZoneSpec,
    scenario: Scenario | None,
    addresses: dict[str, Addresses],
    tlsa: TlsaResolver,
    policy_addresses: dict[str, str] | None = None,
) -> ZoneText:
    origin = fqdn(spec.zone)
    z = ZoneText(
        spec.zone,
        signed=spec.signed,
        denial=spec.denial,
        algorithm=spec.algorithm,
        breakage=spec.breakage,
    )
    ns = f"ns1.{origin}"
    z.records += [
        f"{origin} {LEAF_TTL} IN SOA {ns} hostmaster.{origin} {SOA_TIMERS}",
        f"{origin} {DELEGATION_TTL} IN NS {ns}",
        f"{ns} {DELEGATION_TTL} IN A {AUTH_ADDRESS}",
    ]
    if scenario is not None:
        for pref, host in scenario.mx:
            z.records.append(f"{origin} IN MX {pref} {fqdn(host)}")
        z.records += mail_policy_records(scenario, (policy_addresses or {}).get(scenario.domain))
    for h in spec.hosts:
        name = fqdn(h.name)
        if h.cname:
            z.records.append(f"{name} IN CNAME {fqdn(h.cname)}")
        else:
            a = addresses[h.name]
            z.records += [f"{name} IN A {ip}" for ip in a.ipv4]
            z.records += [f"{name} IN AAAA {ip}" for ip in a.ipv6]
        if h.tlsa:
            owner = fqdn(h.tlsa_owner)
            if h.tlsa_cname:
                z.records.append(f"{owner} IN CNAME {fqdn(h.tlsa_cname)}")
                owner = fqdn(h.tlsa_cname)
            for t in h.tlsa:
                z.records.append(
                    f"{owner} IN TLSA {t.usage} {t.selector} {t.mtype} {tlsa(h, t).hex()}"
                )
    z.records += [_absolute(r, origin) for r in spec.extra]
    return z


def _absolute(record: str, origin: str) -> str:
    """Make the owner of a catalog ``extra`` record absolute ('@' = the zone)."""
    owner, _, rest = record.strip().partition(" ")
    if owner == "@":
        owner = origin
    elif not owner.endswith("."):
        owner = f"{owner}.{origin}"
    return f"{owner} {rest}"


@dataclass(frozen=True)
class Delegation:
    """A child zone as its parent sees it."""

    child: str
    ds: tuple[str, ...] = ()
    lame: bool = False


def parent_zone(
    name: str,
    denial: str,
    algorithm: str,
    children: Iterable[Delegation],
    extra: Iterable[str] = (),
) -> ZoneText:
    """The root (name "") or a TLD: delegations with glue and DS records."""
    origin = fqdn(name)
    z = ZoneText(name, denial=denial, algorithm=algorithm)
    ns = "a.root-servers.net." if not name else f"a.nic.{origin}"
    z.records += [
        f"{origin} {DELEGATION_TTL} IN SOA {ns} hostmaster.nic.{'' if not name else origin} "
        f"{SOA_TIMERS}",
        f"{origin} {DELEGATION_TTL} IN NS {ns}",
        f"{ns} {DELEGATION_TTL} IN A {AUTH_ADDRESS}",
    ]
    for d in children:
        child = fqdn(d.child)
        child_ns = f"a.nic.{child}" if not name else f"ns1.{child}"
        z.records += [
            f"{child} {DELEGATION_TTL} IN NS {child_ns}",
            f"{child_ns} {DELEGATION_TTL} IN A {LAME_ADDRESS if d.lame else AUTH_ADDRESS}",
        ]
        z.records += [f"{child} {DELEGATION_TTL} IN DS {ds}" for ds in d.ds]
    z.records += list(extra)
    return z
