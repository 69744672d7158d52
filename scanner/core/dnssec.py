"""DNSSEC status of a validating resolver's answer (DESIGN §4), as a pure function.

The Extended DNS Error codes are kept as evidence but never classify: Unbound gives
different codes for the same broken zone depending on cache state and log level.
"""

from __future__ import annotations

from scanner.core.model import DnsLookup, DnssecStatus

ANSWERED = frozenset({"NOERROR", "NXDOMAIN"})
# A lookup that failed (not a denial): a DANE sender cannot use what it was about.
FAILED_DNS = (DnssecStatus.BOGUS, DnssecStatus.ERROR)


def lookup_status(lookup: DnsLookup) -> DnssecStatus:
    """Classify one lookup: AD → secure; answered without AD → insecure;
    SERVFAIL that the CD retry answers → bogus; anything else → error."""
    if lookup.cname_limit_hit:
        return DnssecStatus.ERROR
    if lookup.rcode in ANSWERED:
        return DnssecStatus.SECURE if lookup.ad else DnssecStatus.INSECURE
    if lookup.rcode == "SERVFAIL" and lookup.cd_rcode in ANSWERED:
        return DnssecStatus.BOGUS
    return DnssecStatus.ERROR
