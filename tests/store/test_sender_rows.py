"""``rows.sender_rows``: the ``sender_outcomes`` table of a scan, one row per sender profile."""

from __future__ import annotations

import pyarrow as pa

from scanner.core.profiles import Sender, judge_senders
from scanner.core.rules import judge_domain
from scanner.store.rows import sender_rows
from scanner.store.schema import TABLES
from tests.core.dane_fixtures import NOW_TS, domain, host_dns, probe
from tests.core.test_rules import WRONG, good_chain

MX = "mx.example.com"


def test_sender_rows_fit_the_schema_and_carry_every_profile() -> None:
    # An unsigned MX RRset in front of a signed host whose TLSA record matches nothing:
    # RFC 7672 delivers opportunistically, Postfix 3.6+ enforces the TLSA record and defers.
    facts = domain(
        "example.com",
        [f"10 {MX}."],
        [host_dns(MX, tlsa=[WRONG])],
        {MX: (probe(MX, good_chain(MX)),)},
        mx_status="insecure",
    )
    judgement = judge_domain(facts, NOW_TS)
    rows = sender_rows(judgement, judge_senders(facts, judgement, NOW_TS), NOW_TS)
    assert [r["sender"] for r in rows] == [s.value for s in Sender]
    by_sender = {r["sender"]: r for r in rows}
    assert by_sender["rfc7672"]["outcome"] == "deliver_opportunistic"
    assert by_sender["postfix-dane"]["outcome"] == "defer_or_bounce"
    assert by_sender["postfix-dane"]["error_code"] == "4.7.5"
    assert by_sender["postfix-dane"]["host"] == MX
    table = pa.Table.from_pylist(
        [{"scan_id": "s1", **r} for r in rows], schema=TABLES["sender_outcomes"]
    )
    assert table.num_rows == 6
