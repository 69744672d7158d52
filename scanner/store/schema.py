"""The Parquet tables of a scan: their names, columns and meaning (a stable contract).

One directory per scan, one sub-directory per table, files ``part-NNNNNN.parquet``;
every row carries ``scan_id`` so that many scans read side by side form one table
(``read_parquet('scans/*/domains/*.parquet', union_by_name=true)``). Columns are
only ever added, never renamed; ``SCHEMA_VERSION`` is bumped when one is added.
``facts`` columns hold the raw observations as JSON (``scanner.core.factjson``), so that
verdicts can be recomputed from a stored scan (``danescan regrade``).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 2  # 2: domains.mta_sts_id, mta_sts_error

_str = pa.string()
_bool = pa.bool_()
_i64 = pa.int64()
_ts = pa.timestamp("ms", tz="UTC")
_strs = pa.list_(pa.string())

TABLES: dict[str, pa.Schema] = {
    # One row per scan: what was scanned, how, and with which software.
    "scans": pa.schema(
        [
            ("scan_id", _str),
            ("started_at", _ts),
            ("finished_at", _ts),  # null while running or when interrupted
            ("status", _str),  # running | complete | interrupted | resolver_failed
            ("resolvers", _strs),
            ("trust_anchor", _str),  # DS/DNSKEY text the resolver validated with, if known
            ("software_version", _str),
            ("rules_version", _str),
            ("schema_version", _i64),
            ("input", _str),
            ("probing", _bool),
            ("ehlo_name", _str),
            ("domains_input", _i64),  # lines read (valid and invalid)
            ("domains_scanned", _i64),
            ("domains_invalid", _i64),
            ("hosts", _i64),
            ("addresses", _i64),
            ("queries", _i64),
        ]
    ),
    # One row per valid input domain: the verdict and what a DANE-enforcing sender does.
    "domains": pa.schema(
        [
            ("scan_id", _str),
            ("domain", _str),  # A-label form, lower case, no trailing dot
            ("input_name", _str),  # as written in the input (U-labels kept)
            ("rank", _i64),  # from a ranked list (Tranco), else null
            ("verdict", _str),
            ("mail_outcome", _str),
            ("error_code", _str),  # e.g. 5.7.323; "" when mail flows
            ("fix", _str),
            ("mx_status", _str),  # secure | insecure | bogus | error
            ("mx_rcode", _str),
            ("implicit_mx", _bool),
            ("null_mx", _bool),
            ("mx_hosts", _strs),  # in preference order
            ("findings", _strs),  # finding codes (details in the findings table)
            ("zone", _str),  # signer of the MX RRset (zone apex), when signed
            ("mta_sts_mode", _str),  # enforce | testing | none | "" (absent)
            ("mta_sts_covers_mx", _bool),
            ("mta_sts_id", _str),  # id of the _mta-sts TXT record; "" when none
            ("mta_sts_error", _str),  # why no policy was read ("" when read or not tried)
            ("tlsrpt_rua", _str),
            ("rules_version", _str),
            ("scanned_at", _ts),
            ("facts", _str),  # JSON: MX lookup, zone keys, MTA-STS facts
        ]
    ),
    # One row per (domain, MX host): the host outcome *for this domain*.
    "domain_mx": pa.schema(
        [
            ("scan_id", _str),
            ("domain", _str),
            ("preference", _i64),
            ("host", _str),
            ("outcome", _str),  # HostOutcome
            ("dane_applies", _bool),
            ("address_status", _str),
            ("tlsa_status", _str),
            ("tlsa_base", _str),
            ("usable_records", _i64),
            ("detail", _str),
        ]
    ),
    # One row per MX host name, looked up once per scan however many domains use it.
    "hosts": pa.schema(
        [
            ("scan_id", _str),
            ("host", _str),
            ("a_status", _str),
            ("aaaa_status", _str),
            ("a_rcode", _str),
            ("aaaa_rcode", _str),
            ("cname_chain", _strs),
            ("addresses", _strs),
            ("tlsa_base", _str),  # owner the TLSA RRset was found at (without _25._tcp.)
            ("tlsa_status", _str),
            ("tlsa_rcode", _str),
            ("tlsa_records", _i64),
            ("tlsa_usable", _i64),
            ("tlsa_ede", _strs),
            ("facts", _str),  # JSON of HostDns
        ]
    ),
    # One row per probed (host, address): the SMTP/STARTTLS transcript, summarised.
    "addresses": pa.schema(
        [
            ("scan_id", _str),
            ("host", _str),
            ("address", _str),
            ("family", _i64),  # 4 | 6
            ("probe_status", _str),  # ProbeStatus
            ("banner", _str),
            ("starttls_offered", _bool),
            ("tls_version", _str),
            ("cipher", _str),
            ("leaf_sha256", _str),
            ("leaf_key_type", _str),  # rsa | ecdsa | ed25519 | ...
            ("leaf_not_after", _ts),
            ("leaf_names", _strs),
            ("chain_length", _i64),
            ("key_types", _strs),  # key types of all leaves obtained (default + alternates)
            ("elapsed_ms", _i64),
            ("error", _str),
            ("facts", _str),  # JSON of SmtpProbe (chains base64)
        ]
    ),
    # One row per TLSA record seen at a host's TLSA base domain.
    "tlsa_records": pa.schema(
        [
            ("scan_id", _str),
            ("host", _str),
            ("tlsa_base", _str),
            ("usage", _i64),
            ("selector", _i64),
            ("mtype", _i64),
            ("data_hex", _str),
            ("usable", _bool),
            ("dnssec_status", _str),
        ]
    ),
    # One row per finding; host is null for domain-level findings.
    "findings": pa.schema(
        [
            ("scan_id", _str),
            ("domain", _str),
            ("host", _str),
            ("code", _str),
            ("severity", _str),  # error | warning | info
            ("rfc", _str),
            ("detail", _str),
        ]
    ),
    # One row per input line that is not a usable domain name.
    "invalid_inputs": pa.schema(
        [
            ("scan_id", _str),
            ("line_no", _i64),
            ("raw", _str),
            ("reason", _str),
        ]
    ),
}
