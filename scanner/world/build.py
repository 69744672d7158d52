"""``build``: from the catalog to a state directory a world can run from.

Writes the CA (and ``ca/roots.pem``, the trust roots of PKIX clients inside the
world), per-host certificates, the MTA-STS policy hosts' certificates, the zone
keys, the signed zones, the NSD, Unbound, SMTP- and HTTPS-server configurations,
a ``main.cf`` for posttls-finger, the trust anchor and root hints, and finally
``world.json`` (written last: its presence means the build is complete).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from scanner.world import bench as bench_mod
from scanner.world import configs
from scanner.world.ca import (
    HostCerts,
    WorldCA,
    make_host_certs,
    make_web_chain,
    tlsa_data,
    write_chain,
)
from scanner.world.catalog import Catalog, HostSpec, TlsaSpec, load_catalog
from scanner.world.info import (
    NETNS,
    RESOLVER_ADDRESS,
    RESOLVER_ADDRESS6,
    HostInfo,
    WorldInfo,
    ca_roots_path,
    trust_anchor_path,
)
from scanner.world.signing import (
    ZoneKey,
    corrupt_signatures,
    make_key,
    parent_ds,
    sign_zone_file,
    signing_window,
    tamper_signed,
    write_key_files,
)
from scanner.world.zones import (
    Delegation,
    ZoneText,
    allocate_addresses,
    allocate_policy_addresses,
    leaf_zone,
    parent_zone,
)

# Worlds older than this are rebuilt by ``up`` (signatures are valid for 30 days,
# "expiring" ones for 3 days after the build).
MAX_AGE_SECONDS = 86_400


def _sign_all(
    zones: list[ZoneText], keys: dict[str, ZoneKey], zdir: Path, now: dt.datetime
) -> None:
    def one(z: ZoneText) -> None:
        fname = z.name or "root"
        unsigned = zdir / f"{fname}.zone"
        unsigned.write_text(z.text())
        if not z.signed:
            shutil.copyfile(unsigned, zdir / f"{fname}.signed")
            return
        key = keys[z.name]
        base = write_key_files(key, zdir.parent / "keys")
        signed = zdir / f"{fname}.signed"
        window = signing_window(now, z.breakage)
        sign_zone_file(unsigned, signed, z.name, base, z.denial, window)

        def targets(kind: str) -> list[tuple[str, str]]:
            return [(b.split()[1], b.split()[2]) for b in z.breakage if b.split()[0] == kind]

        bogus = targets("bogus-sig")
        if bogus and corrupt_signatures(signed, bogus) != len(bogus):
            raise RuntimeError(f"{z.name}: bogus-sig target not found: {bogus}")
        orphans, lies = targets("orphan-sig"), targets("nsec3-lie")
        if (orphans or lies) and tamper_signed(signed, key, window, orphans, lies) != len(
            orphans
        ) + len(lies):
            raise RuntimeError(f"{z.name}: orphan-sig / nsec3-lie target not found")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, zones))


def build(
    directory: Path,
    catalog_path: Path | str | None = None,
    now: dt.datetime | None = None,
    bench: int = 0,
) -> WorldInfo:
    """Build the world described by the catalog into ``directory``; return its info."""
    started = time.time()
    now = now or dt.datetime.now(dt.UTC)
    catalog = load_catalog(catalog_path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "world.json").unlink(missing_ok=True)
    for sub in ("zones", "keys", "certs", "postfix"):
        shutil.rmtree(directory / sub, ignore_errors=True)
        (directory / sub).mkdir()

    # -- certificates and TLSA data
    ca = WorldCA.create(now)
    certs_dir = directory / "certs"
    ca_root = certs_dir / "ca-root.pem"
    ca_root.write_bytes(ca.root.public_bytes(serialization.Encoding.PEM))
    # Not under certs/ (deleted above): a running `world exec` may hold this path.
    roots = ca_roots_path(directory)
    roots.parent.mkdir(exist_ok=True)
    roots.with_suffix(".tmp").write_bytes(ca.root.public_bytes(serialization.Encoding.PEM))
    roots.with_suffix(".tmp").replace(roots)
    host_certs: dict[str, HostCerts] = {}
    for name, host in catalog.hosts().items():
        if not host.cname:
            host_certs[name] = make_host_certs(name, host.cert, ca, now)

    def tlsa(host: HostSpec, spec: TlsaSpec) -> bytes:
        certs = host_certs.get(host.name)
        if certs is None:  # a CNAME host publishing its own TLSA: use its target's certs
            certs = host_certs[host.cname]
        return tlsa_data(spec, certs, ca)

    # -- zones
    addresses = allocate_addresses(catalog)
    policy_addresses = allocate_policy_addresses(catalog)
    leaf_zones: list[ZoneText] = []
    for p in catalog.providers:
        leaf_zones.append(leaf_zone(p.spec, None, addresses, tlsa))
    for s in catalog.scenarios:
        if s.exists and not s.spec.breaks("lame"):
            leaf_zones.append(leaf_zone(s.spec, s, addresses, tlsa, policy_addresses))
    bench_world = bench_mod.generate(directory, bench, ca, now) if bench > 0 else None
    if bench_world is not None:
        leaf_zones.extend(bench_world.zones)
    keys: dict[str, ZoneKey] = {}
    for z in leaf_zones:
        if z.signed:
            keys[z.name] = make_key(z.name, z.algorithm, z.denial)
    children: dict[str, list[Delegation]] = {t.name: [] for t in catalog.tlds}
    lame = [s.domain for s in catalog.scenarios if s.exists and s.spec.breaks("lame")]
    for z in leaf_zones:
        key = keys.get(z.name)
        ds = tuple(parent_ds(key, z.breakage)) if key else ()
        children[z.name.rsplit(".", 1)[-1]].append(Delegation(z.name, ds))
    for name in lame:
        children[name.rsplit(".", 1)[-1]].append(Delegation(name, (), lame=True))
    tld_zones = []
    for t in catalog.tlds:
        extra = ["a.root-servers.net. 3600 IN A 127.53.0.1"] if t.name == "net" else []
        tz = parent_zone(t.name, t.denial, t.algorithm, children[t.name], extra)
        keys[t.name] = make_key(t.name, t.algorithm, t.denial)
        tld_zones.append(tz)
    root_key = make_key("", "ecdsa", "nsec")
    keys[""] = root_key
    root = parent_zone(
        "",
        "nsec",
        "ecdsa",
        [Delegation(t.name, (keys[t.name].ds_text(),)) for t in catalog.tlds],
    )
    all_zones = [root, *tld_zones, *leaf_zones]
    _sign_all(all_zones, keys, directory / "zones", now)

    # -- SMTP server certificates and listeners
    listeners = []
    hosts_info: dict[str, HostInfo] = {}
    zone_of = {h.name: z.zone for z in catalog.zones() for h in z.hosts}
    for name, certs in host_certs.items():
        host = catalog.hosts()[name]
        files = [write_chain(certs_dir, name, ch) for ch in certs.chains]
        addr = addresses[name]
        hosts_info[name] = HostInfo(list(addr.ipv4), list(addr.ipv6), host.smtp, zone_of[name])
        if host.smtp == "refused":
            continue
        for ip in (*addr.ipv4, *addr.ipv6):
            listeners.append(
                {
                    "host": name,
                    "address": ip,
                    "behaviour": host.smtp,
                    "certs": [[str(c), str(k)] for c, k in files],
                }
            )

    if bench_world is not None:
        listeners.extend(bench_world.listeners)
        for name, (ips, zone) in bench_world.hosts.items():
            hosts_info[name] = HostInfo(ips, [], "starttls", zone)

    # -- MTA-STS policy hosts (HTTPS)
    policy_listeners, policy_hosts = _policy_listeners(
        catalog, policy_addresses, ca, certs_dir, now
    )

    # -- daemon configurations
    trust_anchor = f". 3600 IN DS {root_key.ds_text()}"
    configs.write_all(directory, all_zones, trust_anchor, listeners, policy_listeners)

    info = WorldInfo(
        dir=str(directory),
        netns=NETNS,
        resolver=RESOLVER_ADDRESS,
        resolver6=RESOLVER_ADDRESS6,
        resolver_port=53,
        auth=configs.AUTH_ADDRESS,
        trust_anchor=trust_anchor,
        trust_anchor_file=str(trust_anchor_path(directory)),
        root_hints_file=str(directory / "root.hints"),
        canary_secure=catalog.canary_secure,
        canary_bogus=catalog.canary_bogus,
        catalog=str(catalog.path),
        built_at=now.timestamp(),
        domains=[s.domain for s in catalog.scenarios],
        hosts=hosts_info,
        unbound_log=str(directory / "unbound.log"),
        postfix_config_dir=str(directory / "postfix"),
        ca_root=str(ca_root),
        smtp_listeners=len(listeners),
        ca_roots=str(roots),
        policy_hosts=policy_hosts,
        policy_listeners=len(policy_listeners),
        bench_domains=str(bench_world.domains_file) if bench_world else None,
        bench_count=bench_world.count if bench_world else 0,
        extra={"build_seconds": f"{time.time() - started:.2f}"},
    )
    info.dump(directory / "world.json")
    return info


def _policy_listeners(
    catalog: Catalog,
    policy_addresses: dict[str, str],
    ca: WorldCA,
    certs_dir: Path,
    now: dt.datetime,
) -> tuple[list[dict[str, object]], dict[str, str]]:
    """policyd's listeners (one per served policy) and {policy host: address}."""
    listeners: list[dict[str, object]] = []
    hosts: dict[str, str] = {}
    for s in catalog.scenarios:
        sts = s.mta_sts
        if sts is None:
            continue
        address = policy_addresses[s.domain]
        if sts.has_address:
            hosts[s.policy_host] = address
        if not sts.listens:
            continue
        # "bad-cert": a good world-CA certificate, for another name of the domain.
        name = f"www.{s.domain}" if sts.serve == "bad-cert" else s.policy_host
        chain = make_web_chain(name, sts.serve == "self-signed", ca, now)
        crt, key = write_chain(certs_dir, f"{s.policy_host}.https", chain)
        listeners.append(
            {
                "domain": s.domain,
                "host": s.policy_host,
                "address": address,
                "serve": sts.serve,
                "cert": str(crt),
                "key": str(key),
                "policy": sts.policy_text(),
            }
        )
    return listeners, hosts


def load_info(directory: Path) -> WorldInfo | None:
    path = directory / "world.json"
    return WorldInfo.load(path) if path.exists() else None


def is_stale(info: WorldInfo, catalog_path: Path | None = None) -> bool:
    """Older than a day, or the catalog changed since the build."""
    if time.time() - info.built_at > MAX_AGE_SECONDS:
        return True
    cat = Path(catalog_path or info.catalog)
    return cat.exists() and cat.stat().st_mtime > info.built_at


__all__ = ["MAX_AGE_SECONDS", "Catalog", "build", "is_stale", "load_info"]
