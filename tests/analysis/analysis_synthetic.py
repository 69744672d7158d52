"""A synthetic pair of scans written as ``scanner.store.schema`` says, for the analysis tests.

The crawler does not have to run: each domain follows a *profile* (a small story:
"signed, two hosts at bigmail.example, DANE-EE valid"), and the rows of every table
are written from it with pyarrow. Tests compute what the queries should answer
from these Python rows, never from SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from scanner.store.schema import TABLES

Row = dict[str, Any]

UTC = dt.UTC


@dataclass(frozen=True)
class HostSpec:
    """A host's DNS and TLSA as seen by the scan."""

    host: str
    secure: bool  # address records secure
    tlsa_base: str | None
    tlsa: tuple[tuple[int, int, int, str], ...]  # (usage, selector, mtype, data_hex)
    tlsa_status: str | None  # secure | insecure | bogus | None (no lookup due)


SHA_A = "aa" * 32
SHA_B = "bb" * 32
SHA_C = "cc" * 32
SHA_D = "dd" * 32
BAD_LENGTH = "abcd"  # 2 bytes where SHA-256 needs 32: a 3 1 1 record that is unusable


def usable_record(usage: int, selector: int, mtype: int, data_hex: str) -> bool:
    """RFC 7672 §3.1 with RFC 6698's digest lengths: DANE-TA/EE, a known selector and
    matching type, and data of the matching type's length (any non-empty for full data)."""
    lengths = {0: None, 1: 32, 2: 64}
    if usage not in (2, 3) or selector not in (0, 1) or mtype not in lengths:
        return False
    want = lengths[mtype]
    return len(data_hex) // 2 == want if want is not None else bool(data_hex)


HOSTS: dict[str, HostSpec] = {
    # Two hosts whose TLSA owner is one CNAME'd name: 2 records in 1 RRset, seen by 2 hosts.
    "mx1.bigmail.example": HostSpec(
        "mx1.bigmail.example",
        True,
        "mx.bigmail.example",
        ((3, 1, 1, SHA_A), (3, 1, 1, SHA_B)),
        "secure",
    ),
    "mx2.bigmail.example": HostSpec(
        "mx2.bigmail.example",
        True,
        "mx.bigmail.example",
        ((3, 1, 1, SHA_A), (3, 1, 1, SHA_B)),
        "secure",
    ),
    "mail.cheap.co.uk": HostSpec(
        "mail.cheap.co.uk",
        False,
        "mail.cheap.co.uk",
        ((3, 0, 1, SHA_C),),
        "insecure",
    ),
    "mx.signedonly.net": HostSpec("mx.signedonly.net", True, None, (), "secure"),
    "mx.broken.org": HostSpec(
        "mx.broken.org", True, "mx.broken.org", ((3, 1, 1, SHA_D), (3, 1, 1, BAD_LENGTH)), "secure"
    ),
}


@dataclass(frozen=True)
class Profile:
    verdict: str
    mail_outcome: str
    error_code: str
    mx_status: str
    hosts: tuple[tuple[str, str, bool], ...]  # (host, outcome, dane_applies); "{d}" = domain
    findings: tuple[tuple[str, str | None, str], ...] = ()  # (code, host, severity)
    algorithms: tuple[int, ...] = (13,)
    ds_digests: tuple[int, ...] = (2,)
    null_mx: bool = False


PROFILES: dict[str, Profile] = {
    "valid_big": Profile(
        "dane_valid",
        "deliver_authenticated",
        "",
        "secure",
        (
            ("mx1.bigmail.example", "authenticated", True),
            ("mx2.bigmail.example", "authenticated", True),
        ),
    ),
    "valid_self": Profile(
        "dane_valid",
        "deliver_authenticated",
        "",
        "secure",
        (("mail.{d}", "authenticated", True),),
        findings=(("tlsa_single_record", "mail.{d}", "warning"),),
        algorithms=(8,),
        ds_digests=(1, 2),
    ),
    "insecure_cheap": Profile(
        "insecure",
        "deliver_opportunistic",
        "",
        "insecure",
        (("mail.cheap.co.uk", "not_dane", False),),
        findings=(("tlsa_ignored_insecure", "mail.cheap.co.uk", "info"),),
    ),
    "insecure_big": Profile(
        "insecure",
        "deliver_opportunistic",
        "",
        "insecure",
        (("mx1.bigmail.example", "not_dane", False),),
        findings=(("tlsa_on_insecure_mx", "mx1.bigmail.example", "warning"),),
    ),
    "nodane": Profile(
        "dnssec_no_dane",
        "deliver_opportunistic",
        "",
        "secure",
        (("mx.signedonly.net", "not_dane", False),),
        algorithms=(5,),
        ds_digests=(1,),
        findings=(("weak_algorithm", None, "warning"), ("ds_sha1_only", None, "warning")),
    ),
    "broken": Profile(
        "dane_broken",
        "defer_or_bounce",
        "5.7.323",
        "secure",
        (("mx.broken.org", "tlsa_mismatch", True),),
        findings=(("tlsa_single_record", "mx.broken.org", "warning"),),
    ),
    "partial": Profile(
        "dane_partial",
        "deliver_authenticated",
        "",
        "secure",
        (("mx1.bigmail.example", "authenticated", True), ("mx.signedonly.net", "not_dane", False)),
    ),
    "degraded": Profile(
        "dane_degraded",
        "deliver_authenticated",
        "",
        "secure",
        (("mx.broken.org", "tlsa_mismatch", True), ("mx2.bigmail.example", "authenticated", True)),
        findings=(("tlsa_single_record", "mx.broken.org", "warning"),),
        algorithms=(13, 8),
    ),
    "unusable": Profile(
        "dane_unusable",
        "deliver_unauthenticated_tls",
        "",
        "secure",
        (("mail.{d}", "tlsa_unusable", True),),
        findings=(
            ("tlsa_pkix_usage", "mail.{d}", "error"),
            ("tlsa_single_record", "mail.{d}", "warning"),
        ),
    ),
    "bogus": Profile("dnssec_bogus", "defer_or_bounce", "4.5.312", "bogus", ()),
    "nomail": Profile("no_mail", "no_mail", "", "secure", (), null_mx=True),
    "nx": Profile("nxdomain", "no_mail", "", "insecure", ()),
    "dnserr": Profile("dns_error", "unknown", "", "error", ()),
}


def _self_host(domain: str, profile_name: str) -> HostSpec:
    host = f"mail.{domain}"
    if profile_name == "valid_self":
        return HostSpec(host, True, host, ((2, 1, 1, SHA_C), (3, 1, 1, SHA_B)), "secure")
    if profile_name == "unusable":
        return HostSpec(host, True, host, ((1, 0, 1, SHA_D),), "secure")
    raise AssertionError(profile_name)


SCAN1_PROFILES: dict[str, str] = {}
_TLDS = ("com", "net", "org", "nl", "se")
_ORDER = [
    "valid_big",
    "valid_big",
    "valid_big",
    "valid_big",
    "valid_big",
    "valid_big",
    "valid_self",
    "valid_self",
    "insecure_cheap",
    "insecure_cheap",
    "insecure_cheap",
    "insecure_cheap",
    "insecure_cheap",
    "insecure_big",
    "insecure_big",
    "nodane",
    "nodane",
    "nodane",
    "nodane",
    "broken",
    "broken",
    "partial",
    "partial",
    "degraded",
    "unusable",
    "bogus",
    "nomail",
    "nomail",
    "nx",
    "dnserr",
    "insecure_cheap",
    "valid_big",
    "nodane",
    "insecure_cheap",
    "valid_big",
    "insecure_cheap",
]
for _i, _p in enumerate(_ORDER):
    SCAN1_PROFILES[f"d{_i:02d}-{_p.replace('_', '')}.{_TLDS[_i % len(_TLDS)]}"] = _p

# The second scan: two valid domains break, two no-DANE domains become valid, one
# moves from cheap.co.uk to bigmail.example, one disappears, one is new.
_names = list(SCAN1_PROFILES)
SCAN2_PROFILES: dict[str, str] = dict(SCAN1_PROFILES)
SCAN2_PROFILES[_names[0]] = "broken"
SCAN2_PROFILES[_names[1]] = "broken"
SCAN2_PROFILES[_names[15]] = "valid_big"
SCAN2_PROFILES[_names[16]] = "valid_big"
SCAN2_PROFILES[_names[8]] = "insecure_big"  # same verdict, other provider
del SCAN2_PROFILES[_names[29]]
SCAN2_PROFILES["new-one.se"] = "valid_self"

SCAN_IDS = ("scan-2026-10-01", "scan-2026-11-01")
STARTS = (dt.datetime(2026, 10, 1, 6, 0, tzinfo=UTC), dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC))


@dataclass
class SyntheticScans:
    """Where the scans were written and the Python rows behind them, per scan and table."""

    root: Path
    scan_ids: tuple[str, ...]
    profiles: dict[str, dict[str, str]]  # scan_id -> domain -> profile name
    rows: dict[str, dict[str, list[Row]]] = field(default_factory=dict)

    def scan_dir(self, scan_id: str) -> Path:
        return self.root / scan_id

    def table(self, scan_id: str, table: str) -> list[Row]:
        return self.rows[scan_id][table]


def _facts(profile: Profile, domain: str) -> str:
    rrsigs = (
        [
            {"covered": "MX", "algorithm": a, "signer": domain, "expiration": 0, "inception": 0}
            for a in profile.algorithms
        ]
        if profile.mx_status == "secure"
        else []
    )
    dnskeys = [f"257 3 {a} AwEAAa==" for a in profile.algorithms]
    ds = [f"12345 {profile.algorithms[0]} {t} {'ab' * 16}" for t in profile.ds_digests]
    return json.dumps(
        {
            "mx": {"name": domain, "rrtype": "MX", "rcode": "NOERROR", "rrsigs": rrsigs},
            "implicit_mx": False,
            "zone_keys": {
                "zone": domain,
                "dnskey": {"name": domain, "rrtype": "DNSKEY", "records": dnskeys},
                "ds": {"name": domain, "rrtype": "DS", "records": ds},
            }
            if profile.mx_status == "secure"
            else None,
        }
    )


def _mta_sts(n: int, hosts: list[str]) -> Row:
    """A deterministic MTA-STS / TLS-RPT story per domain: enforce, testing, a policy
    that cannot be read, none, or nothing published; TLS-RPT on every third domain."""
    kind = n % 5 if hosts else 4
    mode = {0: "enforce", 1: "testing", 3: "none"}.get(kind, "")
    return {
        "mta_sts_mode": mode,
        "mta_sts_covers_mx": (n % 2 == 0) if mode else None,
        "mta_sts_id": "" if kind == 4 else f"id{n}",
        "mta_sts_error": "HTTP 404" if kind == 2 else "",
        "tlsrpt_rua": f"mailto:rpt@d{n}.example" if n % 3 == 0 else "",
    }


def build_rows(
    scan_id: str, start: dt.datetime, profiles: dict[str, str], rank0: int = 1
) -> dict[str, list[Row]]:
    """Every table's rows of one scan, from the domain profiles."""
    tables: dict[str, list[Row]] = {t: [] for t in TABLES}
    host_specs: dict[str, HostSpec] = {}
    for n, (domain, pname) in enumerate(profiles.items()):
        p = PROFILES[pname]
        hosts = [(h.replace("{d}", domain), o, a) for h, o, a in p.hosts]
        for h, _, _ in hosts:
            host_specs[h] = HOSTS[h] if h in HOSTS else _self_host(domain, pname)
        tables["domains"].append(
            {
                "scan_id": scan_id,
                "domain": domain,
                "input_name": domain,
                "rank": rank0 + n**4,  # 6 in the top 1k, ..., 4 beyond the top 1M
                "verdict": p.verdict,
                "mail_outcome": p.mail_outcome,
                "error_code": p.error_code,
                "fix": "publish TLSA matching the certificate" if p.error_code else "",
                "mx_status": p.mx_status,
                "mx_rcode": "NXDOMAIN" if pname == "nx" else "NOERROR",
                "implicit_mx": False,
                "null_mx": p.null_mx,
                "mx_hosts": [h for h, _, _ in hosts],
                "findings": sorted({c for c, _, _ in p.findings}),
                "zone": domain if p.mx_status == "secure" else None,
                **_mta_sts(n, [h for h, _, _ in hosts]),
                "rules_version": "1",
                "scanned_at": start + dt.timedelta(seconds=n),
                "facts": _facts(p, domain),
            }
        )
        for pref, (h, outcome, applies) in enumerate(hosts):
            spec = host_specs[h]
            tables["domain_mx"].append(
                {
                    "scan_id": scan_id,
                    "domain": domain,
                    "preference": 10 * (pref + 1),
                    "host": h,
                    "outcome": outcome,
                    "dane_applies": applies,
                    "address_status": "secure" if spec.secure else "insecure",
                    "tlsa_status": spec.tlsa_status,
                    "tlsa_base": spec.tlsa_base,
                    "usable_records": sum(usable_record(*r) for r in spec.tlsa) if applies else 0,
                    "detail": "",
                }
            )
        for code, fhost, severity in p.findings:
            tables["findings"].append(
                {
                    "scan_id": scan_id,
                    "domain": domain,
                    "host": fhost.replace("{d}", domain) if fhost else None,
                    "code": code,
                    "severity": severity,
                    "rfc": "RFC 7672",
                    "detail": "",
                }
            )
    for h, spec in sorted(host_specs.items()):
        tables["hosts"].append(
            {
                "scan_id": scan_id,
                "host": h,
                "a_status": "secure" if spec.secure else "insecure",
                "aaaa_status": "secure" if spec.secure else "insecure",
                "a_rcode": "NOERROR",
                "aaaa_rcode": "NOERROR",
                "cname_chain": [],
                "addresses": ["127.0.0.1"],
                "tlsa_base": spec.tlsa_base,
                "tlsa_status": spec.tlsa_status,
                "tlsa_rcode": "NOERROR",
                "tlsa_records": len(spec.tlsa),
                "tlsa_usable": sum(usable_record(*r) for r in spec.tlsa),
                "tlsa_ede": [],
                "facts": "{}",
            }
        )
        tables["addresses"].append(
            {
                "scan_id": scan_id,
                "host": h,
                "address": "127.0.0.1",
                "family": 4,
                "probe_status": "ok",
                "banner": "220 mx ESMTP",
                "starttls_offered": True,
                "tls_version": "TLSv1.3",
                "cipher": "TLS_AES_256_GCM_SHA384",
                "leaf_sha256": SHA_A,
                "leaf_key_type": "ecdsa",
                "leaf_not_after": start + dt.timedelta(days=90),
                "leaf_names": [h],
                "chain_length": 2,
                "key_types": ["ecdsa"],
                "elapsed_ms": 12,
                "error": "",
                "facts": "{}",
            }
        )
        for u, s, m, data in spec.tlsa:
            tables["tlsa_records"].append(
                {
                    "scan_id": scan_id,
                    "host": h,
                    "tlsa_base": spec.tlsa_base,
                    "usage": u,
                    "selector": s,
                    "mtype": m,
                    "data_hex": data,
                    "usable": usable_record(u, s, m, data),
                    "dnssec_status": spec.tlsa_status,
                }
            )
    tables["scans"].append(
        {
            "scan_id": scan_id,
            "started_at": start,
            "finished_at": start + dt.timedelta(minutes=5),
            "status": "complete",
            "resolvers": ["127.0.0.53:53"],
            "trust_anchor": ". IN DS 20326 8 2 " + "e0" * 32,
            "software_version": "danescan 0.1.0",
            "rules_version": "1",
            "schema_version": 1,
            "input": "synthetic.txt",
            "probing": True,
            "ehlo_name": "scanner.example",
            "domains_input": len(profiles) + 1,
            "domains_scanned": len(profiles),
            "domains_invalid": 1,
            "hosts": len(host_specs),
            "addresses": len(host_specs),
            "queries": 1000,
            "parent_scan_id": None,
            "input_sha256": "00" * 32,
            "psl_version": "2026-01-01_00-00-00_UTC commit 0123456789ab (publicsuffixlist 1.0)",
            "options": json.dumps(
                {
                    "canary_secure": "secure.canary.example",
                    "canary_bogus": "bogus.canary.example",
                    "blocklist": "optout.txt",
                    "probe": True,
                }
            ),
        }
    )
    tables["invalid_inputs"].append(
        {"scan_id": scan_id, "line_no": 1, "raw": "not a domain!", "reason": "invalid_label"}
    )
    return tables


def write_table(
    directory: Path, table: str, rows: list[Row], parts: int = 1, drop: tuple[str, ...] = ()
) -> None:
    """Write rows as ``part-NNNNNN.parquet`` files of the contract schema (minus ``drop``)."""
    schema = TABLES[table]
    for name in drop:
        schema = schema.remove(schema.get_field_index(name))
    out = directory / table
    out.mkdir(parents=True, exist_ok=True)
    size = max(1, -(-len(rows) // parts))
    for i in range(parts):
        chunk = rows[i * size : (i + 1) * size]
        data = {f.name: [r.get(f.name) for r in chunk] for f in schema}
        pq.write_table(pa.table(data, schema=schema), out / f"part-{i:06d}.parquet")


# Columns the older scan's files lack (read back as NULL).
OLD_SCHEMA_MISSING = ("tlsrpt_rua", "mta_sts_id", "mta_sts_error")


def write_synthetic(root: Path) -> SyntheticScans:
    """Two scans side by side under ``root``; the older one was written by an older schema.

    Scan 1 lacks ``invalid_inputs`` files entirely and its ``domains`` files lack the
    :data:`OLD_SCHEMA_MISSING` columns (as if written before they were added); its
    findings are split over two part files, and an ``.inprogress`` file lies next to
    them (never read).
    """
    profiles = {SCAN_IDS[0]: SCAN1_PROFILES, SCAN_IDS[1]: SCAN2_PROFILES}
    synth = SyntheticScans(root, SCAN_IDS, profiles)
    for scan_id, start in zip(SCAN_IDS, STARTS, strict=True):
        rows = build_rows(scan_id, start, profiles[scan_id])
        first = scan_id == SCAN_IDS[0]
        if first:
            rows["invalid_inputs"] = []
            for row in rows["domains"]:  # what a reader of the older files sees
                row.update(dict.fromkeys(OLD_SCHEMA_MISSING, None))
        synth.rows[scan_id] = rows
        scan_dir = root / scan_id
        for table, table_rows in rows.items():
            if first and table == "invalid_inputs":
                continue
            drop = OLD_SCHEMA_MISSING if first and table == "domains" else ()
            write_table(
                scan_dir, table, table_rows, parts=2 if table == "findings" else 1, drop=drop
            )
        if first:
            (scan_dir / "findings" / "part-000002.parquet.inprogress").write_bytes(b"garbage")
    return synth
