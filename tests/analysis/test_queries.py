"""Every named query against numbers computed here, in Python, from the synthetic rows."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analysis import db, queries
from analysis.queries import QueryError
from scanner.store import psl
from tests.analysis.analysis_synthetic import (
    SCAN_IDS,
    SyntheticScans,
    usable_record,
    write_table,
)

DANE_VERDICTS = {
    "dane_valid",
    "dane_degraded",
    "dane_partial",
    "dane_unusable",
    "dane_broken",
    "unverified",
}
NO_MAIL = {"nxdomain", "no_mail", "dns_error"}
A, B = SCAN_IDS


def pct(n: int, d: int) -> float:
    return round(100.0 * n / d, 2)


def test_every_query_has_a_header_and_a_test() -> None:
    tested = {
        name[5:] for name in globals() if name.startswith("test_") and name[5:] in queries.names()
    }
    for q in queries.all_queries():
        assert q.question and q.counts, q.name
        grains = ("domains", "MX hosts", "TLSA RRsets", "TLSA records", "scans")
        assert any(g in q.counts for g in grains), q.name
    assert set(queries.names()) <= tested, set(queries.names()) - tested


def test_views_have_every_contract_column(con: duckdb.DuckDBPyConnection) -> None:
    for table, schema in db.TABLES.items():
        cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
        assert cols[: len(schema)] == schema.names, table
    # Scan 1's domains files were written without tlsrpt_rua: the column is there, null.
    rua = con.execute(
        "SELECT count(*) FILTER (WHERE tlsrpt_rua IS NULL), count(*) FROM domains"
        " WHERE scan_id = ?",
        [A],
    ).fetchall()[0]
    assert rua is not None and rua[0] == rua[1] > 0


def test_table_without_files_is_an_empty_view(synthetic: SyntheticScans, tmp_path: Path) -> None:
    scan = tmp_path / "only-domains"
    write_table(scan, "domains", synthetic.table(A, "domains")[:3])
    con = db.connect([scan])
    assert con.execute("SELECT count(*) FROM findings").fetchall()[0] == (0,)
    assert con.execute("SELECT count(*) FROM domains").fetchall()[0] == (3,)
    assert queries.run(con, "findings_breakdown").rows == ()
    assert next(r["domains"] for r in queries.run(con, "funnel").records()) == 3


def test_scan_dirs_and_parent_dirs(synthetic: SyntheticScans) -> None:
    one = db.find_scan_dirs([synthetic.scan_dir(A)])
    both = db.find_scan_dirs([synthetic.root, synthetic.scan_dir(B)])
    assert one == [synthetic.scan_dir(A)]
    assert both == [synthetic.scan_dir(A), synthetic.scan_dir(B)]
    with pytest.raises(db.NoScanError):
        db.find_scan_dirs([synthetic.scan_dir(A) / "domains"])
    con = db.connect([synthetic.scan_dir(B)])
    assert db.scan_ids(con) == [B]


def test_provider_mapping(con: duckdb.DuckDBPyConnection) -> None:
    assert db.provider_of("mx1.bigmail.example") == "bigmail.example"
    assert db.provider_of("Mail.Cheap.CO.UK.") == "cheap.co.uk"
    assert db.provider_of("co.uk") == "co.uk"
    # ICANN suffixes only: a private suffix (github.io) is not a registration point.
    assert db.provider_of("mx.foo.github.io") == "github.io"
    assert con.execute("SELECT provider('mx.foo.github.io')").fetchall()[0] == ("github.io",)
    assert db.psl_version() == psl.psl_version() and db.psl_version().startswith("20")
    assert con.execute("SELECT provider('mx.a.b.example.co.uk')").fetchall()[0] == (
        "example.co.uk",
    )
    rows = dict(con.execute("SELECT host, provider FROM providers").fetchall())
    assert rows["mail.d06-validself.net"] == "d06-validself.net"


def test_scan_order(con: duckdb.DuckDBPyConnection) -> None:
    assert db.scan_ids(con) == [A, B]


def test_funnel(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    result = queries.run(con, "funnel")
    for scan in SCAN_IDS:
        ds = synthetic.table(scan, "domains")
        mail = [d for d in ds if d["verdict"] not in NO_MAIL]
        signed = [d for d in mail if d["mx_status"] == "secure"]
        tlsa = [d for d in signed if d["verdict"] in DANE_VERDICTS]
        valid = [d for d in tlsa if d["verdict"] == "dane_valid"]
        expected = [len(ds), len(mail), len(signed), len(tlsa), len(valid)]
        got = result.where(scan_id=scan)
        assert got.column("domains") == expected
        assert got.column("pct_of_domains_scanned") == [pct(n, len(ds)) for n in expected]
    only_b = queries.run(con, "funnel", scan=B)
    assert set(only_b.column("scan_id")) == {B}


def test_verdict_shares(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    for scan in SCAN_IDS:
        counts = Counter(d["verdict"] for d in synthetic.table(scan, "domains"))
        got = queries.run(con, "verdict_shares", scan=scan)
        assert dict(zip(got.column("verdict"), got.column("domains"), strict=True)) == counts
        assert sum(got.column("domains")) == len(synthetic.table(scan, "domains"))


def test_mail_outcome_shares(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    for scan in SCAN_IDS:
        counts = Counter(
            (d["mail_outcome"], d["error_code"]) for d in synthetic.table(scan, "domains")
        )
        got = queries.run(con, "mail_outcome_shares", scan=scan).records()
        assert {(r["mail_outcome"], r["error_code"]): r["domains"] for r in got} == counts


def test_verdict_by_tld(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    ds = synthetic.table(B, "domains")
    counts = Counter((d["domain"].rsplit(".", 1)[1], d["verdict"]) for d in ds)
    tld_sizes = Counter(d["domain"].rsplit(".", 1)[1] for d in ds)
    got = queries.run(con, "verdict_by_tld", scan=B, top=0).records()
    assert {(r["tld"], r["verdict"]): r["domains"] for r in got} == counts
    for r in got:
        assert r["pct_of_tld"] == pct(counts[r["tld"], r["verdict"]], tld_sizes[r["tld"]])
    top2 = queries.run(con, "verdict_by_tld", scan=B, top=2)
    biggest = sorted(tld_sizes, key=lambda t: (-tld_sizes[t], t))[:2]
    assert set(top2.column("tld")) == set(biggest)


def test_verdict_by_provider(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    verdict = {d["domain"]: d["verdict"] for d in synthetic.table(A, "domains")}
    served: dict[str, set[str]] = defaultdict(set)
    hosts: dict[str, set[str]] = defaultdict(set)
    for m in synthetic.table(A, "domain_mx"):
        prov = (
            ".".join(m["host"].split(".")[-3:])
            if m["host"].endswith(".co.uk")
            else ".".join(m["host"].split(".")[-2:])
        )
        served[prov].add(m["domain"])
        hosts[prov].add(m["host"])
    got = {
        r["provider"]: r for r in queries.run(con, "verdict_by_provider", scan=A, top=0).records()
    }
    assert set(got) == set(served)
    for prov, domains in served.items():
        r = got[prov]
        assert r["domains"] == len(domains)
        assert r["dane_valid"] == sum(verdict[d] == "dane_valid" for d in domains)
        assert r["insecure"] == sum(verdict[d] == "insecure" for d in domains)
        assert r["dnssec_no_dane"] == sum(verdict[d] == "dnssec_no_dane" for d in domains)
        assert r["mx_hosts"] == len(hosts[prov])
    assert got["bigmail.example"]["provider_rank"] == 1
    assert got["bigmail.example"]["mx_hosts_with_tlsa"] == 2
    assert got["cheap.co.uk"]["mx_hosts_with_tlsa"] == 0  # its TLSA is insecure
    assert len(queries.run(con, "verdict_by_provider", scan=A, top=3)) == 3


def test_host_outcomes(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    rows = synthetic.table(B, "domain_mx")
    got = {r["outcome"]: r for r in queries.run(con, "host_outcomes", scan=B).records()}
    outcomes = {m["outcome"] for m in rows}
    assert set(got) == outcomes
    for o in outcomes:
        assert got[o]["mx_hosts"] == len({m["host"] for m in rows if m["outcome"] == o})
        assert got[o]["domains"] == len({m["domain"] for m in rows if m["outcome"] == o})
        assert got[o]["domain_mx_pairs"] == sum(m["outcome"] == o for m in rows)


def test_findings_breakdown(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    # Scan A's findings are split over two part files, beside an .inprogress file.
    for scan in SCAN_IDS:
        fs = synthetic.table(scan, "findings")
        n_domains = len(synthetic.table(scan, "domains"))
        got = {r["code"]: r for r in queries.run(con, "findings_breakdown", scan=scan).records()}
        assert set(got) == {f["code"] for f in fs}
        for code, r in got.items():
            of_code = [f for f in fs if f["code"] == code]
            assert r["domains"] == len({f["domain"] for f in of_code})
            assert r["mx_hosts"] == len({f["host"] for f in of_code if f["host"]})
            assert r["findings"] == len(of_code)
            assert r["pct_of_domains"] == pct(r["domains"], n_domains)
    errors = queries.run(con, "findings_breakdown", scan=A, severity="error")
    assert errors.column("code") == ["tlsa_pkix_usage"]


def test_tlsa_parameters(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    for include in (0, 1):
        recs = [
            r
            for r in synthetic.table(A, "tlsa_records")
            if include or r["dnssec_status"] == "secure"
        ]
        dane_domains: dict[str, set[str]] = defaultdict(set)
        for m in synthetic.table(A, "domain_mx"):
            if m["dane_applies"]:
                dane_domains[m["host"]].add(m["domain"])
        all_rrsets = {r["tlsa_base"] for r in recs}
        got = {
            r["parameters"]: r
            for r in queries.run(con, "tlsa_parameters", scan=A, include_insecure=include).records()
        }
        params = {f"{r['usage']} {r['selector']} {r['mtype']}" for r in recs}
        assert set(got) == params
        for p in params:
            of_p = [r for r in recs if f"{r['usage']} {r['selector']} {r['mtype']}" == p]
            records = {(r["tlsa_base"], r["data_hex"]) for r in of_p}
            # Usable by RFC 7672 §3.1 and the digest's length, decided here from the data.
            usable = {
                (base, data) for base, data in records if usable_record(*map(int, p.split()), data)
            }
            rrsets = {r["tlsa_base"] for r in of_p}
            usable_rrsets = {base for base, _ in usable}
            hosts = {r["host"] for r in of_p}
            assert got[p]["tlsa_records"] == len(records), p
            assert got[p]["usable_records"] == len(usable), p
            assert got[p]["unusable_records"] == len(records - usable), p
            assert got[p]["tlsa_rrsets"] == len(rrsets), p
            assert got[p]["usable_rrsets"] == len(usable_rrsets), p
            assert got[p]["unusable_rrsets"] == len(rrsets - usable_rrsets), p
            assert got[p]["mx_hosts"] == len(hosts), p
            assert got[p]["pct_of_rrsets"] == pct(len(rrsets), len(all_rrsets))
            assert got[p]["domains"] == len(set().union(*(dane_domains[h] for h in hosts)))
    # The grains differ: bigmail's two hosts share one RRset of two 3 1 1 records.
    got = {r["parameters"]: r for r in queries.run(con, "tlsa_parameters", scan=A).records()}
    rows_311 = [
        r
        for r in synthetic.table(A, "tlsa_records")
        if (r["usage"], r["selector"], r["mtype"]) == (3, 1, 1)
    ]
    assert got["3 1 1"]["tlsa_records"] < len(rows_311)
    assert "3 0 1" not in got  # only at an insecure host
    # One 3 1 1 record has truncated data: the parameters stay usable, that record does
    # not (a bool_and over the records would call the whole parameter set unusable).
    assert got["3 1 1"]["parameters_usable"] is True
    assert got["3 1 1"]["unusable_records"] == 1 and got["3 1 1"]["usable_records"] >= 1
    assert got["1 0 1"]["parameters_usable"] is False
    assert got["1 0 1"]["usable_rrsets"] == 0 and got["1 0 1"]["unusable_rrsets"] == 1


def _algorithms(ds: list[dict[str, Any]]) -> dict[tuple[str, int], set[str]]:
    import json

    out: dict[tuple[str, int], set[str]] = defaultdict(set)
    for d in ds:
        if d["mx_status"] != "secure":
            continue
        facts = json.loads(d["facts"])
        for sig in facts["mx"]["rrsigs"]:
            out["MX RRSIG algorithm", sig["algorithm"]].add(d["domain"])
        for rec in facts["zone_keys"]["dnskey"]["records"]:
            out["DNSKEY algorithm", int(rec.split()[2])].add(d["domain"])
        for rec in facts["zone_keys"]["ds"]["records"]:
            out["DS digest type", int(rec.split()[2])].add(d["domain"])
    return out


def test_dnssec_algorithms(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    ds = synthetic.table(B, "domains")
    expected = _algorithms(ds)
    signed = sum(d["mx_status"] == "secure" for d in ds)
    got = queries.run(con, "dnssec_algorithms", scan=B).records()
    assert {(r["kind"], r["number"]): r["domains"] for r in got} == {
        k: len(v) for k, v in expected.items()
    }
    for r in got:
        assert r["pct_of_signed_domains"] == pct(r["domains"], signed)
    weak = {(r["kind"], r["name"]) for r in got if r["weak"]}
    assert weak == {
        ("MX RRSIG algorithm", "RSASHA1"),
        ("DNSKEY algorithm", "RSASHA1"),
        ("DS digest type", "SHA-1"),
    }


def test_trend(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    got = queries.run(con, "trend").records()
    assert [r["scan_id"] for r in got] == [A, B]
    for r in got:
        ds = synthetic.table(r["scan_id"], "domains")
        assert r["domains"] == len(ds)
        assert r["dane_valid"] == sum(d["verdict"] == "dane_valid" for d in ds)
        assert r["signed_mx"] == sum(
            d["mx_status"] == "secure" and d["verdict"] not in NO_MAIL for d in ds
        )
        assert r["defer_or_bounce"] == sum(d["mail_outcome"] == "defer_or_bounce" for d in ds)
        assert r["pct_dane_valid"] == pct(r["dane_valid"], len(ds))
        assert r["started_at"] == synthetic.table(r["scan_id"], "scans")[0]["started_at"]
        assert r["tlsa_published"] == sum(
            d["mx_status"] == "secure" and d["verdict"] in DANE_VERDICTS for d in ds
        )


def test_scan_metadata(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    got = queries.run(con, "scan_metadata").records()
    assert [r["scan_id"] for r in got] == [A, B]
    for r in got:
        (meta,) = synthetic.table(r["scan_id"], "scans")
        assert r["started_at"] == meta["started_at"]
        assert r["resolvers"] == ", ".join(meta["resolvers"])
        assert r["software_version"] == meta["software_version"]
        assert r["domains_scanned"] == meta["domains_scanned"]


def test_diff(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    a = {d["domain"]: d for d in synthetic.table(A, "domains")}
    b = {d["domain"]: d for d in synthetic.table(B, "domains")}

    def providers(scan: str, domain: str) -> set[str]:
        return {
            ".".join(
                m["host"].split(".")[-3:]
                if m["host"].endswith(".co.uk")
                else m["host"].split(".")[-2:]
            )
            for m in synthetic.table(scan, "domain_mx")
            if m["domain"] == domain
        }

    expected: dict[str, set[str]] = {}
    for dom in a.keys() | b.keys():
        labels: set[str] = set()
        if dom not in a:
            labels.add("added")
        elif dom not in b:
            labels.add("removed")
        else:
            va, vb = a[dom]["verdict"], b[dom]["verdict"]
            ma, mb = a[dom]["mail_outcome"], b[dom]["mail_outcome"]
            if mb == "defer_or_bounce" and ma != mb:
                labels.add("newly_broken")
            if vb == "dane_valid" and va != vb:
                labels.add("newly_valid")
            if va == "dane_valid" and va != vb:
                labels.add("no_longer_valid")
            if va != vb:
                labels.add("verdict_changed")
            if ma != mb:
                labels.add("mail_outcome_changed")
            if providers(A, dom) != providers(B, dom):
                labels.add("provider_changed")
        if labels:
            expected[dom] = labels
    got = queries.run(con, "diff")  # defaults: the two most recent scans
    assert {r["domain"]: set(r["changes"]) for r in got.records()} == expected
    assert set(got.column("scan_a")) == {A} and set(got.column("scan_b")) == {B}
    same = queries.run(con, "diff", scan_a=B, scan_b=B)
    assert same.rows == ()


def test_partner_readiness(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    b = {d["domain"]: d for d in synthetic.table(B, "domains")}
    asked = ["d00-validbig.com", "D06-VALIDSELF.NET.", "unknown.example", "d26-nomail.net"]
    got = {r["domain"]: r for r in queries.run(con, "partner_readiness", domains=asked).records()}
    assert set(got) == {
        "d00-validbig.com",
        "d06-validself.net",
        "unknown.example",
        "d26-nomail.net",
    }
    for dom in ("d00-validbig.com", "d06-validself.net", "d26-nomail.net"):
        assert got[dom]["verdict"] == b[dom]["verdict"]
        assert got[dom]["mail_outcome"] == b[dom]["mail_outcome"]
        assert got[dom]["error_code"] == b[dom]["error_code"]
        assert got[dom]["fix"] == b[dom]["fix"]
        assert got[dom]["ready"] == b[dom]["mail_outcome"].startswith("deliver_")
    assert got["d00-validbig.com"]["error_code"] == "5.7.323"
    assert got["unknown.example"]["verdict"] == "not_scanned"
    assert got["unknown.example"]["ready"] is False
    # The earlier scan, all domains.
    everything = queries.run(con, "partner_readiness", scan=A)
    assert len(everything) == len(synthetic.table(A, "domains"))


def test_bind_rejects_unknown_parameters() -> None:
    with pytest.raises(QueryError, match="no parameter"):
        queries.load("funnel").bind({"scan_a": "x"})
    with pytest.raises(QueryError, match="no named query"):
        queries.load("../etc/passwd")


def test_header_parsing_requires_question_and_counts() -> None:
    with pytest.raises(QueryError, match="counts"):
        queries.parse("x", "-- question: what?\nSELECT 1")
    with pytest.raises(QueryError, match="undeclared"):
        queries.parse("x", "-- question: q\n-- counts: domains\nSELECT $nope")
    q = queries.parse(
        "x",
        "-- question: q\n--   more\n-- counts: domains\n"
        "-- param top = 5: how many\nSELECT $top::INTEGER",
    )
    assert q.question == "q more" and q.params[0].default == 5


def test_mta_sts(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    working = {"dane_valid", "dane_degraded", "dane_partial"}
    failing = {"dane_broken", "dane_unusable", "dnssec_bogus"}
    for scan in SCAN_IDS:
        want: Counter[tuple[str, str]] = Counter()
        rpt: Counter[tuple[str, str]] = Counter()
        uncovered: Counter[tuple[str, str]] = Counter()
        for d in synthetic.table(scan, "domains"):
            if d["verdict"] in ("nxdomain", "no_mail", "dns_error"):
                continue
            sts = d["mta_sts_mode"] or ("policy_error" if d["mta_sts_error"] else "absent")
            v = d["verdict"]
            dane = "dane_working" if v in working else "dane_failing" if v in failing else "no_dane"
            want[sts, dane] += 1
            rpt[sts, dane] += bool(d["tlsrpt_rua"])
            uncovered[sts, dane] += d["mta_sts_covers_mx"] is False
        got = queries.run(con, "mta_sts", scan=scan).records()
        assert {(r["mta_sts"], r["dane"]): r["domains"] for r in got} == want
        assert {(r["mta_sts"], r["dane"]): r["with_tlsrpt"] for r in got} == rpt
        assert {(r["mta_sts"], r["dane"]): r["mx_not_covered"] for r in got} == uncovered
        states = {"enforce", "testing", "absent"} | ({"policy_error"} if scan == B else set())
        assert {r["mta_sts"] for r in got} >= states  # the older scan has no mta_sts_error
        total = sum(want.values())
        for r in got:  # DuckDB rounds half away from zero, Python to even: 0.01 apart at most
            assert abs(r["pct_of_mail_domains"] - 100.0 * r["domains"] / total) <= 0.005 + 1e-9


def test_adoption_by_rank(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    limits = {"top 1k": 1_000, "top 10k": 10_000, "top 100k": 100_000, "top 1M": 1_000_000}
    for scan in SCAN_IDS:
        ds = synthetic.table(scan, "domains")
        got = queries.run(con, "adoption_by_rank", scan=scan).records()
        assert [r["bucket"] for r in got] == list(limits)  # ranks reach past 1M
        for r in got:
            inside = [d for d in ds if d["rank"] <= limits[r["bucket"]]]
            mail = [d for d in inside if d["verdict"] not in NO_MAIL]
            signed = [d for d in mail if d["mx_status"] == "secure"]
            tlsa = [d for d in signed if d["verdict"] in DANE_VERDICTS]
            assert r["domains"] == len(inside)
            assert r["accept_mail"] == len(mail)
            assert r["signed_mx"] == len(signed)
            assert r["tlsa_published"] == len(tlsa)
            assert r["dane_valid"] == sum(d["verdict"] == "dane_valid" for d in tlsa)
            assert r["defer_or_bounce"] == sum(
                d["mail_outcome"] == "defer_or_bounce" for d in inside
            )
            assert abs(r["pct_signed_mx"] - 100 * len(signed) / len(inside)) <= 0.005 + 1e-9


def test_adoption_by_rank_shows_only_buckets_the_list_reaches(
    synthetic: SyntheticScans, tmp_path: Path
) -> None:
    rows = [dict(d) for d in synthetic.table(B, "domains")]
    for n, d in enumerate(rows):
        d["rank"] = 1 + n * 200 if n < 10 else None  # ranks 1..1801, the rest unranked
    write_table(tmp_path / "s", "domains", rows)
    con = db.connect([tmp_path / "s"])
    got = queries.run(con, "adoption_by_rank").records()
    assert [(r["bucket"], r["domains"]) for r in got] == [("top 1k", 5), ("top 10k", 10)]
    for d in rows:
        d["rank"] = None
    write_table(tmp_path / "s", "domains", rows)
    con = db.connect([tmp_path / "s"])
    assert queries.run(con, "adoption_by_rank").rows == ()  # no ranks, no rows


def test_scan_settings(con: duckdb.DuckDBPyConnection, synthetic: SyntheticScans) -> None:
    got = queries.run(con, "scan_settings").records()
    assert [r["scan_id"] for r in got] == [A, B]
    for r in got:
        (meta,) = synthetic.table(r["scan_id"], "scans")
        # Every column of the scans table, as written (the Methods section reads them).
        for column in db.TABLES["scans"].names:
            if column in meta:
                assert r[column] == meta[column], column


def test_trend_places_scans_without_a_scans_row(synthetic: SyntheticScans, tmp_path: Path) -> None:
    write_table(tmp_path / "s", "domains", synthetic.table(B, "domains"))
    con = db.connect([tmp_path / "s"])
    (row,) = queries.run(con, "trend").records()
    assert row["started_at"] == min(d["scanned_at"] for d in synthetic.table(B, "domains"))


def test_sender_outcomes(synthetic: SyntheticScans, tmp_path: Path) -> None:
    """Per sender, the share of mail-accepting domains that receive (scanner/core/profiles)."""
    scan = tmp_path / "s"
    domains = synthetic.table(B, "domains")
    write_table(scan, "domains", domains)
    write_table(scan, "scans", synthetic.table(B, "scans"))
    rows = []
    strict = {"deliver_authenticated", "no_mail", "unknown"}
    for d in domains:
        mail = d["mail_outcome"]
        for sender, outcome, code in (
            ("rfc7672", mail, d["error_code"] or ""),
            ("exchange-mandatory", mail if mail in strict else "defer_or_bounce", "5.7.323"),
        ):
            rows.append(
                {
                    "scan_id": B,
                    "domain": d["domain"],
                    "sender": sender,
                    "outcome": outcome,
                    "error_code": code if outcome == "defer_or_bounce" else "",
                    "reason": "",
                    "host": None,
                    "observed_at": d["scanned_at"],
                }
            )
    write_table(scan, "sender_outcomes", rows)
    con = db.connect([scan])
    got = {r["sender"]: r for r in queries.run(con, "sender_outcomes").records()}
    assert list(got) == ["rfc7672", "exchange-mandatory"]  # the profiles' order
    for sender, r in got.items():
        mine = [x for x in rows if x["sender"] == sender and x["outcome"] != "no_mail"]
        receive = [x for x in mine if x["outcome"].startswith("deliver_")]
        deferred = [x for x in mine if x["outcome"] == "defer_or_bounce"]
        assert (r["domains"], r["receive"], r["deferred"]) == (
            len(mine),
            len(receive),
            len(deferred),
        )
        assert r["pct_receive"] == pct(len(receive), len(mine))
        assert r["authenticated"] == sum(x["outcome"] == "deliver_authenticated" for x in mine)
        codes = Counter(x["error_code"] for x in deferred)
        if codes:
            top = min(codes, key=lambda c: (-codes[c], c))
            assert (r["top_error"], r["top_error_domains"]) == (top, codes[top])
    assert got["exchange-mandatory"]["pct_receive"] <= got["rfc7672"]["pct_receive"]
    # A scan written before the table existed: no rows, and the report leaves the section out.
    assert queries.run(con, "sender_outcomes", scan="no-such-scan").rows == ()


def test_bogus_causes(tmp_path: Path) -> None:
    """Causes counted by the domains they break (MX, host address, TLSA or MTA-STS
    question) and by the zones where they are broken."""
    import datetime as dt

    at = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    scan = tmp_path / "s"

    def domain(name: str, verdict: str) -> dict[str, object]:
        return {"scan_id": B, "domain": name, "verdict": verdict, "scanned_at": at}

    write_table(
        scan,
        "domains",
        [
            domain("a.example", "dnssec_bogus"),  # its MX question is bogus
            domain("b.example", "dnssec_bogus"),  # its only host's A is bogus
            domain("c.example", "dane_degraded"),  # one of its hosts' TLSA is bogus
            domain("d.example", "dane_valid"),  # nothing bogus
        ],
    )
    write_table(
        scan,
        "domain_mx",
        [
            {"scan_id": B, "domain": "b.example", "host": "mx.broken.net", "preference": 10},
            {"scan_id": B, "domain": "c.example", "host": "mx.broken.net", "preference": 10},
            {
                "scan_id": B,
                "domain": "c.example",
                "host": "mx2.c.example",
                "preference": 20,
                "tlsa_base": "mx2.c.example",
            },
            {"scan_id": B, "domain": "d.example", "host": "mx.d.example", "preference": 10},
        ],
    )

    def diag(name: str, rrtype: str, code: str, zone: str) -> dict[str, object]:
        return {
            "scan_id": B,
            "name": name,
            "rrtype": rrtype,
            "code": code,
            "zone": zone,
            "broken": True,
            "observed_at": at,
        }

    write_table(
        scan,
        "dnssec_diagnoses",
        [
            diag("a.example", "MX", "dnssec_signature_expired", "a.example"),
            diag("mx.broken.net", "A", "dnssec_signature_expired", "broken.net"),
            diag("mx.broken.net", "AAAA", "dnssec_signature_expired", "broken.net"),
            diag("_25._tcp.mx2.c.example", "TLSA", "dnssec_ds_mismatch", "c.example"),
            {**diag("x.example", "A", "dnssec_nothing_broken", "x.example"), "broken": False},
        ],
    )
    con = db.connect([scan])
    got = {r["code"]: r for r in queries.run(con, "bogus_causes").records()}
    assert set(got) == {"dnssec_signature_expired", "dnssec_ds_mismatch"}
    expired = got["dnssec_signature_expired"]
    assert (expired["domains"], expired["bogus_domains"], expired["zones"]) == (3, 2, 2)
    assert expired["questions"] == 3
    mismatch = got["dnssec_ds_mismatch"]
    assert (mismatch["domains"], mismatch["bogus_domains"], mismatch["zones"]) == (1, 0, 1)
