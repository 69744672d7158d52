"""The report's "Share of domains that receive mail from each sender" section."""

from __future__ import annotations

from pathlib import Path

from analysis import db, report
from tests.analysis.analysis_synthetic import SCAN_IDS, SyntheticScans, write_table

B = SCAN_IDS[1]


def test_the_senders_section_appears_only_with_sender_rows(
    synthetic: SyntheticScans, tmp_path: Path
) -> None:
    scan = tmp_path / "s"
    domains = synthetic.table(B, "domains")
    write_table(scan, "domains", domains)
    write_table(scan, "scans", synthetic.table(B, "scans"))
    built = report.build(db.connect([scan]))
    assert "senders" not in [s.key for s in built.sections]  # an older scan: no table
    rows = [
        {
            "scan_id": B,
            "domain": d["domain"],
            "sender": sender,
            "outcome": d["mail_outcome"] if sender == "rfc7672" else "defer_or_bounce",
            "error_code": "" if sender == "rfc7672" else "4.7.5",
            "reason": "",
            "host": None,
            "observed_at": d["scanned_at"],
        }
        for d in domains
        for sender in ("rfc7672", "postfix-dane-only")
    ]
    write_table(scan, "sender_outcomes", rows)
    built = report.build(db.connect([scan]))
    (section,) = [s for s in built.sections if s.key == "senders"]
    assert "domains" in section.counts and section.charts and section.tables
    result = built.data["sender_outcomes"]
    assert result.column("sender") == ["rfc7672", "postfix-dane-only"]
    assert result.records()[1]["top_error"] == "4.7.5"
    md = report.render_markdown(built, "charts")
    assert "Share of domains that receive mail from each sender" in md
