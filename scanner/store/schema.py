"""The Parquet tables of a scan: their names, columns and meaning (a stable contract).

Layout (``scanner.store.dataset``): one directory per table, hive-partitioned by scan,
``<table>/scan_date=YYYY-MM-DD/scan_id=<id>/part-NNNNN.parquet``, so that any number
of scans copied into one tree form one table that DuckDB and ``pyarrow.dataset`` read
with partition pruning (``read_parquet('<root>/domains/**/*.parquet',
hive_partitioning=true)``). Every row also carries ``scan_id``. Columns are only ever
added, never renamed; ``SCHEMA_VERSION`` is bumped when one is added, and each file's
Parquet key-value metadata records the schema, software and rules versions.
``facts`` columns hold the raw observations as JSON (``scanner.core.factjson``), so that
verdicts can be recomputed from a stored scan (``danescan regrade``).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 4  # 2: domains.mta_sts_id, mta_sts_error; 3: observed_at, scans lineage;
# 4: dnssec_diagnoses

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
            # 3: lineage and how the scan ran
            ("parent_scan_id", _str),  # the scan a regrade re-judged; null for a scan
            ("input_sha256", _str),  # of the input bytes read
            ("partitions", _i64),  # domain partitions (host/address partitions derive)
            ("engine", _str),  # in-process | local-cluster N | scheduler ADDR | shard K/N
            ("psl_version", _str),  # Public Suffix List snapshot the providers use
            ("options", _str),  # JSON of every setting that changes results
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
            ("observed_at", _ts),  # when the domain's facts were gathered
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
            ("observed_at", _ts),  # when the host's lookups were made
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
            ("observed_at", _ts),  # when the probe started
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
            ("observed_at", _ts),
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
            ("observed_at", _ts),  # when the domain's facts were gathered
        ]
    ),
    # One row per (domain, sender profile): what that sender does with the domain's mail
    # (scanner.core.profiles, DESIGN §4 "Sender profiles"; rows: rows.sender_rows).
    "sender_outcomes": pa.schema(
        [
            ("scan_id", _str),
            ("domain", _str),
            ("sender", _str),  # rfc7672 | postfix-dane | postfix-dane-only | exchange-... | mta-sts
            ("outcome", _str),  # MailOutcome
            ("error_code", _str),  # the sender's own code or TLS-RPT result type; "" if delivered
            ("reason", _str),  # why, in the sender's words (Postfix's log text)
            ("host", _str),  # the host that takes the mail, or whose failure is reported
            ("observed_at", _ts),  # when the domain's facts were gathered
        ]
    ),
    # One row per bogus question diagnosed (issue 11): the first broken link of its DNSSEC
    # chain of trust (scanner.core.chain; rows: rows.diagnosis_row). name/rrtype: the
    # question the resolver found bogus; zone/record_type/key_tag/algorithm: the link.
    "dnssec_diagnoses": pa.schema(
        [
            ("scan_id", _str),
            ("name", _str),
            ("rrtype", _str),
            ("zone", _str),  # the broken link's zone (a DS link: the child zone)
            ("record_type", _str),  # DS | DNSKEY | NSEC | NSEC3 | the answer's type
            ("code", _str),  # a DNSSEC diagnosis code of docs/findings.md
            ("reason", _str),  # e.g. "signature expired at 2026-11-13T10:00:00Z"
            ("key_tag", _i64),  # null when no key is involved (a denial proof)
            ("algorithm", _i64),
            ("detail", _str),  # the evidence: the RRSIG, DS or NSEC3 records at fault
            ("rfc", _str),
            ("fix", _str),
            ("broken", _bool),  # false: nothing broken found, or the walk could not look
            ("queries", _i64),  # what the walk of this question cost
            ("observed_at", _ts),  # when the chain was walked
            ("facts", _str),  # JSON of ChainFacts (re-diagnose with core.chain.diagnose_chain)
        ]
    ),
    # One row per input line that is not a usable domain name.
    "invalid_inputs": pa.schema(
        [
            ("scan_id", _str),
            ("line_no", _i64),
            ("raw", _str),  # the line as read, cut at MAX_RAW characters
            ("reason", _str),
            ("observed_at", _ts),  # when the line was read
        ]
    ),
}

MAX_RAW = 512  # characters of a rejected input line kept in invalid_inputs.raw


def file_metadata(table: str, scan_id: str, software: str, rules: str) -> dict[bytes, bytes]:
    """The Parquet key-value metadata every table file carries."""
    return {
        b"danescan.table": table.encode(),
        b"danescan.scan_id": scan_id.encode(),
        b"danescan.schema_version": str(SCHEMA_VERSION).encode(),
        b"danescan.software_version": software.encode(),
        b"danescan.rules_version": rules.encode(),
    }
