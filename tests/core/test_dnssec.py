"""DNSSEC status of an answer (DESIGN §4)."""

from __future__ import annotations

import pytest

from scanner.core.dnssec import lookup_status
from scanner.core.model import DnsLookup, DnssecStatus, Ede


@pytest.mark.parametrize(
    ("lookup", "status"),
    [
        (DnsLookup("a.example", "MX", "NOERROR", ad=True), DnssecStatus.SECURE),
        (DnsLookup("a.example", "MX", "NXDOMAIN", ad=True), DnssecStatus.SECURE),
        (DnsLookup("a.example", "MX", "NOERROR"), DnssecStatus.INSECURE),
        (DnsLookup("a.example", "MX", "NXDOMAIN"), DnssecStatus.INSECURE),
        (DnsLookup("a.example", "MX", "SERVFAIL", cd_rcode="NOERROR"), DnssecStatus.BOGUS),
        (DnsLookup("a.example", "MX", "SERVFAIL", cd_rcode="NXDOMAIN"), DnssecStatus.BOGUS),
        (DnsLookup("a.example", "MX", "SERVFAIL", cd_rcode="SERVFAIL"), DnssecStatus.ERROR),
        (DnsLookup("a.example", "MX", "SERVFAIL"), DnssecStatus.ERROR),
        (DnsLookup("a.example", "MX", "REFUSED"), DnssecStatus.ERROR),
        (DnsLookup("a.example", "MX", "TIMEOUT"), DnssecStatus.ERROR),
        # EDE is evidence only: it never classifies.
        (
            DnsLookup("a.example", "MX", "NOERROR", ad=True, ede=(Ede(6, "DNSSEC Bogus"),)),
            DnssecStatus.SECURE,
        ),
        (
            DnsLookup("a.example", "MX", "NOERROR", ad=True, cname_limit_hit=True),
            DnssecStatus.ERROR,
        ),
    ],
)
def test_lookup_status(lookup: DnsLookup, status: DnssecStatus) -> None:
    assert lookup_status(lookup) is status


def test_final_name() -> None:
    assert DnsLookup("a", "A", "NOERROR").final_name == "a"
    assert DnsLookup("a", "A", "NOERROR", cname_chain=("b", "c")).final_name == "c"
