"""The chain of trust, link by link: one broken link per test, named as RFC 4035/5155 say.

Every chain is signed by dnspython (``tests.core.chain_fixtures``); a test breaks one
link the way a real zone breaks (an expired window, a stale DS, a key removed too early,
a lying NSEC3 bitmap) and checks the diagnosis: code, zone, record type, key tag,
algorithm, and the RFC section.
"""

from __future__ import annotations

import dataclasses

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from scanner.core import factjson
from scanner.core.chain import (
    ANCHOR_MISMATCH,
    CHAIN_UNREACHABLE,
    DENIAL_MISSING,
    DENIAL_WRONG,
    DNSKEY_NOT_SIGNED_BY_DS_KEY,
    DS_ALGORITHM_MISSING,
    DS_DIGEST_MISMATCH,
    NO_BROKEN_LINK,
    RRSIG_EXPIRED,
    RRSIG_INVALID,
    RRSIG_KEY_MISSING,
    RRSIG_MISSING,
    RRSIG_NOT_YET_VALID,
    ChainAnswer,
    ChainFacts,
    ChainMemo,
    Diagnosis,
    SignedRRset,
    TrustAnchor,
    TrustAnchorError,
    diagnose_chain,
    parse_trust_anchor,
)
from scanner.core.findings import CATALOGUE, DIAGNOSIS_CODES
from scanner.errors import EXIT_USAGE
from tests.core.chain_fixtures import (
    DAY,
    NOW,
    anchor,
    answer,
    corrupt,
    covering3,
    dnskeys,
    facts,
    key,
    link,
    nsec3_chain,
    nsec_chain,
    replace_link,
    secure_links,
    sign,
)

EX = "example.com"
EXPIRED = (int(NOW - 40 * DAY), int(NOW - 10 * DAY))
FUTURE = (int(NOW + 10 * DAY), int(NOW + 40 * DAY))


def diagnose(f: ChainFacts) -> Diagnosis:
    d = diagnose_chain(f, NOW)
    spec = CATALOGUE[d.code]
    assert d.fix == spec.fix and d.rfc.startswith("RFC ")
    return d


def test_secure_chain_has_no_broken_link() -> None:
    d = diagnose(facts())
    assert d.code == NO_BROKEN_LINK and not d.broken
    assert (d.name, d.rrtype, d.zone) == ("www.example.com", "A", EX)
    assert d.reason == "nothing broken found: every link validates"
    assert "3 zone(s) from . checked at 2027-01-15T08:00:00Z" in d.detail


def test_facts_and_diagnosis_round_trip_through_json() -> None:
    f = facts()
    assert factjson.loads(ChainFacts, factjson.dumps(f)) == f
    d = diagnose(f)
    assert factjson.loads(Diagnosis, factjson.dumps(d)) == d


# --------------------------------------------------------------------------- dates


def test_expired_dnskey_signature_names_the_zone_and_key() -> None:
    links = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [key(EX)], window=EXPIRED))
    d = diagnose(facts(links))
    assert d.code == RRSIG_EXPIRED and d.broken
    assert (d.zone, d.record_type, d.key_tag, d.algorithm) == (EX, "DNSKEY", key(EX).tag, 13)
    assert d.reason == "signature expired at 2027-01-05T08:00:00Z"
    assert d.rfc == "RFC 4035 §5.3.1"


def test_expired_answer_signature() -> None:
    ans = answer(rrsets=(sign("www.example.com", "A", ["192.0.2.1"], [key(EX)], EXPIRED),))
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.record_type) == (RRSIG_EXPIRED, EX, "A")


def test_signature_not_yet_valid() -> None:
    links = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [key(EX)], window=FUTURE))
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type) == (RRSIG_NOT_YET_VALID, EX, "DNSKEY")
    assert d.reason == "signature not yet valid until 2027-01-25T08:00:00Z"


def test_expiry_is_inclusive() -> None:
    """RFC 4035 §5.3.1: valid while now <= expiration and now >= inception."""
    edge = (int(NOW), int(NOW))
    ans = answer(rrsets=(sign("www.example.com", "A", ["192.0.2.1"], [key(EX)], edge),))
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


# --------------------------------------------------------------------------- memo


def test_a_shared_memo_changes_no_diagnosis() -> None:
    """One ChainMemo across many chains and reference times (a diagnose task's): each
    diagnosis is the one a fresh memo gives. A signature that verified once is still
    dated at every later check: past its expiry the same facts are reported expired."""
    bad_ds = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [key(EX, n=1)]))
    corrupted = answer(rrsets=(corrupt(sign("www.example.com", "A", ["192.0.2.1"], [key(EX)])),))
    expired = answer(rrsets=(sign("www.example.com", "A", ["192.0.2.1"], [key(EX)], EXPIRED),))
    cases = [
        (facts(), NOW),
        (facts(ans=corrupted), NOW),
        (facts(), NOW),
        (facts(bad_ds), NOW),
        (facts(ans=expired), NOW),
        (facts(), NOW + 31 * DAY),  # every signature of the fixtures has expired
        (facts(), NOW - 2 * DAY),  # and none is valid yet
        (facts(), NOW),
    ]
    memo = ChainMemo()
    for f, at in cases:
        assert diagnose_chain(f, at, memo) == diagnose_chain(f, at)
    assert [diagnose_chain(f, at, memo).code for f, at in cases] == [
        NO_BROKEN_LINK,
        RRSIG_INVALID,
        NO_BROKEN_LINK,
        DS_DIGEST_MISMATCH,
        RRSIG_EXPIRED,
        RRSIG_EXPIRED,
        RRSIG_NOT_YET_VALID,
        NO_BROKEN_LINK,
    ]


def test_a_full_memo_starts_afresh() -> None:
    memo = ChainMemo(max_entries=3)
    for _ in range(3):
        assert diagnose_chain(facts(), NOW, memo).code == NO_BROKEN_LINK
    assert len(memo._values) <= 3


# --------------------------------------------------------------------------- DS -> DNSKEY


def test_ds_digest_matches_no_dnskey() -> None:
    tag, alg, dtype, digest = key(EX).ds().split()
    wrong = f"{tag} {alg} {dtype} {'00' if digest[:2] != '00' else 'ff'}{digest[2:]}"
    links = replace_link(secure_links(), EX, ds=sign(EX, "DS", [wrong], [key("com")]))
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type) == (DS_DIGEST_MISMATCH, EX, "DS")
    assert (d.key_tag, d.algorithm) == (key(EX).tag, 13)
    assert d.reason == "the DS digest matches no DNSKEY"
    assert f"{key(EX).tag}/13" in d.detail


def test_ds_for_an_algorithm_the_zone_lacks() -> None:
    """A half-done algorithm rollover: the parent's DS is for an RSA/SHA-256 key (8)."""
    rsa_ds = f"4711 8 2 {'ab' * 32}"
    links = replace_link(secure_links(), EX, ds=sign(EX, "DS", [rsa_ds], [key("com")]))
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type, d.key_tag, d.algorithm) == (
        DS_ALGORITHM_MISSING,
        EX,
        "DS",
        4711,
        8,
    )
    assert d.reason == "no DNSKEY for the DS algorithm 8"
    assert d.rfc == "RFC 6840 §5.11"


def test_zone_without_dnskey_is_missing_the_ds_algorithm() -> None:
    links = replace_link(secure_links(), EX, dnskey=None)
    d = diagnose(facts(links))
    assert d.code == DS_ALGORITHM_MISSING and "none" in d.detail


def test_one_good_ds_beside_a_stale_one_is_enough() -> None:
    """RFC 6840 §5.11: any one authenticated path will do."""
    ds = [key(EX).ds(), f"4711 8 2 {'ab' * 32}"]
    links = replace_link(secure_links(), EX, ds=sign(EX, "DS", ds, [key("com")]))
    assert diagnose(facts(links)).code == NO_BROKEN_LINK


def test_sha1_and_sha384_ds_digests_validate() -> None:
    ds = [key(EX).ds("SHA1"), key(EX).ds("SHA384")]
    links = replace_link(secure_links(), EX, ds=sign(EX, "DS", ds, [key("com")]))
    assert diagnose(facts(links)).code == NO_BROKEN_LINK


def test_ds_with_unvalidated_algorithm_or_digest_only_is_insecure() -> None:
    """RFC 4035 §5.2 / RFC 6840 §5.2: nothing to check with: insecure, not bogus."""
    ds = [f"4711 3 2 {'ab' * 32}", f"{key(EX).tag} 13 3 {'ab' * 32}"]
    links = replace_link(secure_links(), EX, ds=sign(EX, "DS", ds, [key("com")]))
    d = diagnose(facts(links))
    assert d.code == NO_BROKEN_LINK
    assert "uses no algorithm validators check [3, 13]" in d.reason


def test_dnskey_set_not_signed_by_the_ds_key() -> None:
    ksk, zsk = key(EX), key(EX, flags=256, n=1)
    links = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [ksk, zsk], by=[zsk]))
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type, d.key_tag) == (
        DNSKEY_NOT_SIGNED_BY_DS_KEY,
        EX,
        "DNSKEY",
        ksk.tag,
    )
    assert f"by {zsk.tag}/13" in d.detail


def test_unsigned_dnskey_set() -> None:
    links = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [key(EX)], by=[]))
    d = diagnose(facts(links))
    assert d.code == DNSKEY_NOT_SIGNED_BY_DS_KEY and d.detail.endswith("by no key")


def test_ksk_and_zsk_split_validates() -> None:
    ksk, zsk = key(EX), key(EX, flags=256, n=1)
    links = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [ksk, zsk], by=[ksk]))
    ans = answer(rrsets=(sign("www.example.com", "A", ["192.0.2.1"], [zsk]),))
    assert diagnose(facts(links, ans)).code == NO_BROKEN_LINK


def test_ds_key_without_zone_flag_does_not_count() -> None:
    """RFC 4034 §2.1.1: only zone keys (flag bit 7) authenticate."""
    odd = key("example.com", flags=1, n=2)  # SEP bit only, not a zone key
    tag = odd.tag
    ds = sign(EX, "DS", [odd.ds()], [key("com")])
    links = replace_link(secure_links(), EX, ds=ds, dnskey=dnskeys(EX, [odd]))
    d = diagnose(facts(links))
    assert d.code == DS_DIGEST_MISMATCH and d.key_tag == tag


# --------------------------------------------------------------------------- signatures


def test_rrsig_by_a_key_missing_from_the_dnskey_set() -> None:
    gone = key(EX, flags=256, n=3)
    ans = answer(rrsets=(sign("www.example.com", "A", ["192.0.2.1"], [gone]),))
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.record_type, d.key_tag, d.algorithm) == (
        RRSIG_KEY_MISSING,
        EX,
        "A",
        gone.tag,
        13,
    )
    assert d.reason == f"RRSIG by key {gone.tag}, which is missing from the DNSKEY set"


def test_rrsig_by_another_signer() -> None:
    ans = answer(rrsets=(sign("www.example.com", "A", ["192.0.2.1"], [key("com")]),))
    d = diagnose(facts(ans=ans))
    assert d.code == RRSIG_KEY_MISSING and d.reason == "RRSIG by com., not by the zone example.com"


def test_corrupted_signature_does_not_verify() -> None:
    ans = answer(
        rrsets=(corrupt(sign("www.example.com", "MX", ["10 mx.example.com."], [key(EX)])),)
    )
    ans = dataclasses.replace(ans, rrtype="MX")
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.record_type, d.key_tag) == (RRSIG_INVALID, EX, "MX", key(EX).tag)
    assert d.reason == "signature does not verify" and d.rfc == "RFC 4035 §5.3.3"


def test_altered_records_do_not_verify() -> None:
    good = sign("www.example.com", "A", ["192.0.2.1"], [key(EX)])
    ans = answer(rrsets=(dataclasses.replace(good, records=("192.0.2.99",)),))
    assert diagnose(facts(ans=ans)).code == RRSIG_INVALID


def test_corrupted_ds_signature_is_reported_under_the_child() -> None:
    links = replace_link(
        secure_links(), EX, ds=corrupt(sign(EX, "DS", [key(EX).ds()], [key("com")]))
    )
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type) == (RRSIG_INVALID, EX, "DS")


def test_unsigned_rrset_in_signed_zone() -> None:
    ans = answer(rrsets=(SignedRRset("www.example.com", "A", 300, ("192.0.2.1",)),))
    d = diagnose(facts(ans=ans))
    assert (d.code, d.record_type, d.reason) == (RRSIG_MISSING, "A", "no RRSIG")


def test_signature_with_unvalidated_algorithm_only() -> None:
    good = sign("www.example.com", "A", ["192.0.2.1"], [key(EX)])
    sig = good.rrsigs[0].split()
    sig[1] = "3"  # DSA: not validated (RFC 8624 §3.1)
    ans = answer(rrsets=(dataclasses.replace(good, rrsigs=(" ".join(sig),)),))
    d = diagnose(facts(ans=ans))
    assert d.code == RRSIG_MISSING and d.reason == "no RRSIG by an algorithm validators check"


def test_a_date_is_named_before_a_missing_key() -> None:
    """Several failing RRSIGs: the expired one by a published key says most."""
    gone = key(EX, flags=256, n=3)
    a = sign("www.example.com", "A", ["192.0.2.1"], [gone])
    b = sign("www.example.com", "A", ["192.0.2.1"], [key(EX)], EXPIRED)
    ans = answer(rrsets=(dataclasses.replace(a, rrsigs=a.rrsigs + b.rrsigs),))
    assert diagnose(facts(ans=ans)).code == RRSIG_EXPIRED


def test_one_valid_signature_is_enough() -> None:
    gone = key(EX, flags=256, n=3)
    a = sign("www.example.com", "A", ["192.0.2.1"], [gone, key(EX)])
    assert diagnose(facts(ans=answer(rrsets=(a,)))).code == NO_BROKEN_LINK


# --------------------------------------------------------------------------- anchors


def test_dnskey_trust_anchor() -> None:
    trust = TrustAnchor(".", (), (key(".").dnskey.to_text(),), "keys")
    assert diagnose(facts(trust=trust)).code == NO_BROKEN_LINK


def test_stale_trust_anchor() -> None:
    old = key(".", n=9)
    for trust in (
        TrustAnchor(".", (old.ds(),), (), "old DS"),
        TrustAnchor(".", (), (old.dnskey.to_text(),), "old key"),
    ):
        d = diagnose(facts(trust=trust))
        assert (d.code, d.zone, d.record_type) == (ANCHOR_MISMATCH, ".", "DNSKEY")
        assert f"{old.tag}/13" in d.detail and trust.source in d.detail


def test_anchor_of_unvalidated_algorithm_leaves_everything_insecure() -> None:
    trust = TrustAnchor(".", (f"4711 3 2 {'ab' * 32}",), (), "dsa")
    d = diagnose(facts(trust=trust))
    assert d.code == NO_BROKEN_LINK and "insecure" in d.reason


# --------------------------------------------------------------------------- unreachable


def test_answer_unreachable_even_with_cd() -> None:
    ans = ChainAnswer("lame.example.com", "MX", "SERVFAIL", "", error="no server answered")
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.record_type) == (CHAIN_UNREACHABLE, "lame.example.com", "MX")
    assert not d.broken
    assert d.reason == "no answer even with checking disabled (SERVFAIL no server answered)"


def test_answer_that_cannot_be_parsed() -> None:
    ans = ChainAnswer("_25._tcp.mx.example.com", "TLSA", "MALFORMED", EX, error="bad digest")
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.reason) == (
        CHAIN_UNREACHABLE,
        EX,
        "the answer could not be parsed to check it (bad digest)",
    )


def test_unreachable_answer_after_a_broken_link_names_the_link() -> None:
    links = replace_link(secure_links(), EX, dnskey=dnskeys(EX, [key(EX)], window=EXPIRED))
    ans = ChainAnswer("www.example.com", "A", "TIMEOUT", EX)
    assert diagnose(facts(links, ans)).code == RRSIG_EXPIRED


def test_unreachable_answer_in_a_secure_zone() -> None:
    ans = ChainAnswer("www.example.com", "A", "TIMEOUT", EX)
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone) == (CHAIN_UNREACHABLE, EX)


def test_zone_the_walk_did_not_reach() -> None:
    f = dataclasses.replace(facts(), links=tuple(secure_links()[1:]), error="walk deadline")
    d = diagnose(f)
    assert (d.code, d.zone, d.detail) == (CHAIN_UNREACHABLE, ".", "walk deadline")


def test_link_without_a_parent() -> None:
    links = replace_link(secure_links(), EX, parent="", ds=None, ds_rcode="SERVFAIL")
    d = diagnose(facts(links))
    assert (d.code, d.zone) == (CHAIN_UNREACHABLE, EX)
    assert d.reason == "the walk found no parent zone above it (SERVFAIL)"


def test_ds_unreachable() -> None:
    links = replace_link(secure_links(), EX, ds=None, ds_rcode="TIMEOUT")
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type) == (CHAIN_UNREACHABLE, EX, "DS")


def test_dnskey_unreachable() -> None:
    links = replace_link(secure_links(), EX, dnskey=None, dnskey_rcode="SERVFAIL")
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type) == (CHAIN_UNREACHABLE, EX, "DNSKEY")


# --------------------------------------------------------------------------- NSEC


ZONE_NAMES = {
    EX: "SOA NS DNSKEY",
    "a.example.com": "A",
    "mail.example.com": "A MX",
    "x.y.example.com": "TXT",  # y.example.com: an empty non-terminal
}


def nsec_answer(name: str, rrtype: str, rcode: str, records: list[SignedRRset]) -> ChainAnswer:
    return ChainAnswer(name, rrtype, rcode, EX, denial=tuple(records))


def by_owner(chain: list[SignedRRset], owner: str) -> SignedRRset:
    return next(r for r in chain if r.name == owner)


def test_nsec_nodata() -> None:
    chain = nsec_chain(EX, ZONE_NAMES)
    ans = nsec_answer("a.example.com", "MX", "NOERROR", [by_owner(chain, "a.example.com")])
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


def test_nsec_nodata_whose_bitmap_lists_the_type() -> None:
    chain = nsec_chain(EX, ZONE_NAMES)
    ans = nsec_answer("mail.example.com", "MX", "NOERROR", [by_owner(chain, "mail.example.com")])
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.record_type) == (DENIAL_WRONG, EX, "NSEC")
    assert d.reason == "NSEC proof wrong: the NSEC at mail.example.com. lists MX"
    assert d.rfc == "RFC 4035 §5.4"


def test_nsec_nodata_with_cname_bit() -> None:
    chain = nsec_chain(EX, {**ZONE_NAMES, "alias.example.com": "CNAME"})
    ans = nsec_answer("alias.example.com", "A", "NOERROR", [by_owner(chain, "alias.example.com")])
    assert diagnose(facts(ans=ans)).reason.endswith("lists CNAME")


def test_nsec_nodata_for_an_empty_non_terminal() -> None:
    chain = nsec_chain(EX, ZONE_NAMES)
    # mail.example.com -> x.y.example.com covers y.example.com, and the next name is below it
    ans = nsec_answer("y.example.com", "A", "NOERROR", [by_owner(chain, "mail.example.com")])
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


def test_nsec_bitmap_without_the_type_window_or_byte() -> None:
    """TLSA (52) lies past the bitmap's last byte, CAA (257) in a window it lacks."""
    chain = nsec_chain(EX, ZONE_NAMES)
    for rrtype in ("TLSA", "CAA"):
        ans = nsec_answer("a.example.com", rrtype, "NOERROR", [by_owner(chain, "a.example.com")])
        assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


def test_nsec_wildcard_nodata() -> None:
    chain = nsec_chain(EX, {**ZONE_NAMES, "*.example.com": "TXT"})
    cover = next(r for r in chain if r.name == "a.example.com")  # a -> mail covers b
    wild = by_owner(chain, "*.example.com")
    ans = nsec_answer("b.example.com", "A", "NOERROR", [cover, wild])
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK
    wild_a = by_owner(nsec_chain(EX, {**ZONE_NAMES, "*.example.com": "A"}), "*.example.com")
    ans = nsec_answer("b.example.com", "A", "NOERROR", [cover, wild_a])
    d = diagnose(facts(ans=ans))
    assert d.code == DENIAL_WRONG and "no NSEC matches b.example.com." in d.reason


def test_nsec_nxdomain() -> None:
    chain = nsec_chain(EX, ZONE_NAMES)
    # b.example.com: a -> mail covers it; *.example.com: apex -> a covers the wildcard
    records = [by_owner(chain, "a.example.com"), by_owner(chain, EX)]
    assert diagnose(facts(ans=nsec_answer("b.example.com", "A", "NXDOMAIN", records))).code == (
        NO_BROKEN_LINK
    )
    d = diagnose(facts(ans=nsec_answer("b.example.com", "A", "NXDOMAIN", records[1:])))
    assert d.reason == "NSEC proof wrong: no NSEC covers b.example.com."
    d = diagnose(facts(ans=nsec_answer("b.example.com", "A", "NXDOMAIN", records[:1])))
    assert d.reason == (
        "NSEC proof wrong: no NSEC proves that the wildcard *.example.com. does not exist"
    )


def test_nsec_wrap_around_covers_names_after_the_last_owner() -> None:
    chain = nsec_chain(EX, ZONE_NAMES)
    last = by_owner(chain, "x.y.example.com")  # x.y -> apex: the end of the chain
    records = [last, by_owner(chain, EX)]
    ans = nsec_answer("z.example.com", "A", "NXDOMAIN", records)
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


def test_denial_without_nsec_records() -> None:
    ans = nsec_answer("b.example.com", "A", "NXDOMAIN", [])
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.record_type) == (DENIAL_MISSING, EX, "A")
    assert d.reason == "NXDOMAIN without NSEC or NSEC3 records"


def test_expired_nsec_signature() -> None:
    bad = sign("a.example.com", "NSEC", ["mail.example.com. A RRSIG NSEC"], [key(EX)], EXPIRED)
    d = diagnose(facts(ans=nsec_answer("a.example.com", "MX", "NOERROR", [bad])))
    assert (d.code, d.record_type) == (RRSIG_EXPIRED, "NSEC")


def test_insecure_delegation_proven_by_nsec() -> None:
    nsec = sign(EX, "NSEC", ["foo.com. NS RRSIG NSEC"], [key("com")])
    links = replace_link(secure_links(), EX, ds=None, ds_denial=(nsec,), dnskey=None)
    unsigned = SignedRRset("www.example.com", "A", 300, ("192.0.2.1",))
    d = diagnose(facts(links, answer(rrsets=(unsigned,))))
    assert d.code == NO_BROKEN_LINK
    assert d.reason == (
        "nothing broken found: the chain is insecure (com proves that example.com has no DS)"
    )
    # ... and a denial inside the insecure zone needs no proof either
    d = diagnose(facts(links, nsec_answer("b.example.com", "A", "NXDOMAIN", [])))
    assert d.code == NO_BROKEN_LINK and "insecure" in d.reason


def test_ds_denial_that_lists_ds() -> None:
    nsec = sign(EX, "NSEC", ["foo.com. NS DS RRSIG NSEC"], [key("com")])
    links = replace_link(secure_links(), EX, ds=None, ds_denial=(nsec,))
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type) == (DENIAL_WRONG, EX, "NSEC")


def test_ds_denial_from_the_child_apex() -> None:
    """RFC 6840 §4.1: the child's apex NSEC (SOA bit) cannot deny the parent's DS."""
    nsec = sign(EX, "NSEC", ["a.example.com. SOA NS DNSKEY RRSIG NSEC"], [key("com")])
    links = replace_link(secure_links(), EX, ds=None, ds_denial=(nsec,))
    d = diagnose(facts(links))
    assert d.code == DENIAL_WRONG and d.rfc == "RFC 6840 §4.1"


def test_ds_denial_missing() -> None:
    links = replace_link(secure_links(), EX, ds=None)
    d = diagnose(facts(links))
    assert (d.code, d.zone, d.record_type) == (DENIAL_MISSING, EX, "DS")
    assert d.reason == "NODATA without NSEC or NSEC3 records"


# --------------------------------------------------------------------------- NSEC3


NSEC3_NAMES = {
    EX: "SOA NS DNSKEY NSEC3PARAM RRSIG",
    "a.example.com": "A RRSIG",
    "mail.example.com": "A MX RRSIG",
    "alias.example.com": "CNAME RRSIG",
    "*.w.example.com": "TXT RRSIG",
    "w.example.com": "",
}


def nsec3_answer(name: str, rrtype: str, rcode: str, records: list[SignedRRset]) -> ChainAnswer:
    return ChainAnswer(name, rrtype, rcode, EX, denial=tuple(records))


def test_nsec3_nodata() -> None:
    chain = nsec3_chain(EX, NSEC3_NAMES)
    ans = nsec3_answer("a.example.com", "MX", "NOERROR", [chain["a.example.com"]])
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


def test_nsec3_nodata_whose_bitmap_lists_the_type() -> None:
    """The world's broken-nsec3 scenario: the NSEC3 matching the name claims MX exists."""
    chain = nsec3_chain(EX, NSEC3_NAMES)
    ans = nsec3_answer("mail.example.com", "MX", "NOERROR", [chain["mail.example.com"]])
    d = diagnose(facts(ans=ans))
    assert (d.code, d.zone, d.record_type) == (DENIAL_WRONG, EX, "NSEC3")
    assert d.reason == "NSEC3 proof wrong: the NSEC3 matching mail.example.com. lists MX"
    assert d.rfc == "RFC 5155 §8.5"


def test_nsec3_nodata_with_cname_bit() -> None:
    chain = nsec3_chain(EX, NSEC3_NAMES)
    ans = nsec3_answer("alias.example.com", "A", "NOERROR", [chain["alias.example.com"]])
    d = diagnose(facts(ans=ans))
    assert d.code == DENIAL_WRONG and d.rfc == "RFC 6840 §4.3"


def test_nsec3_nodata_without_a_matching_record() -> None:
    chain = nsec3_chain(EX, NSEC3_NAMES)
    ans = nsec3_answer("a.example.com", "MX", "NOERROR", [chain["mail.example.com"]])
    d = diagnose(facts(ans=ans))
    assert d.reason == "NSEC3 proof wrong: no NSEC3 matches a.example.com."


def test_nsec3_wildcard_nodata() -> None:
    chain = nsec3_chain(EX, NSEC3_NAMES)
    q = "b.w.example.com"
    records = [chain["w.example.com"], covering3(chain, q), chain["*.w.example.com"]]
    assert diagnose(facts(ans=nsec3_answer(q, "A", "NOERROR", records))).code == NO_BROKEN_LINK
    d = diagnose(facts(ans=nsec3_answer(q, "TXT", "NOERROR", records)))
    assert d.code == DENIAL_WRONG


def test_nsec3_nxdomain() -> None:
    chain = nsec3_chain(EX, NSEC3_NAMES)
    q = "d.example.com"  # hashes are fixed (no salt): three distinct records prove it
    ce, nc, wc = chain[EX], covering3(chain, q), covering3(chain, "*.example.com")
    assert len({ce, nc, wc}) == 3
    ok = nsec3_answer(q, "A", "NXDOMAIN", [ce, nc, wc])
    assert diagnose(facts(ans=ok)).code == NO_BROKEN_LINK
    for records, reason, rfc in [
        ([nc, wc], "no closest-encloser proof for d.example.com.", "RFC 5155 §8.3"),
        ([ce, wc], "no closest-encloser proof for d.example.com.", "RFC 5155 §8.3"),
        ([ce, nc], "no NSEC3 covers the wildcard *.example.com.", "RFC 5155 §8.4"),
    ]:
        d = diagnose(facts(ans=nsec3_answer(q, "A", "NXDOMAIN", records)))
        assert (d.code, d.reason, d.rfc) == (DENIAL_WRONG, f"NSEC3 proof wrong: {reason}", rfc)


def test_nsec3_nxdomain_for_a_name_that_exists() -> None:
    chain = nsec3_chain(EX, NSEC3_NAMES)
    ans = nsec3_answer("a.example.com", "A", "NXDOMAIN", [chain["a.example.com"]])
    d = diagnose(facts(ans=ans))
    assert (d.reason, d.rfc) == (
        "NSEC3 proof wrong: an NSEC3 matches a.example.com., so the name exists",
        "RFC 5155 §8.4",
    )


def test_nsec3_of_another_hash_algorithm_is_ignored() -> None:
    chain = nsec3_chain(EX, NSEC3_NAMES, algorithm=2)
    ans = nsec3_answer("a.example.com", "MX", "NOERROR", [chain["a.example.com"]])
    d = diagnose(facts(ans=ans))
    assert d.code == DENIAL_WRONG and d.rfc == "RFC 5155 §8.1"


def test_nsec3_opt_out_proves_an_insecure_delegation() -> None:
    """RFC 5155 §8.6: no matching NSEC3, the next closer covered by an opt-out span."""
    com = {"com": "SOA NS DNSKEY NSEC3PARAM RRSIG", "other.com": "NS DS"}
    opt = nsec3_chain("com", com, opt_out=True)
    records = (opt["com"], covering3(opt, EX))
    links = replace_link(secure_links(), EX, ds=None, ds_denial=records)
    unsigned = SignedRRset("www.example.com", "A", 300, ("192.0.2.1",))
    d = diagnose(facts(links, answer(rrsets=(unsigned,))))
    assert d.code == NO_BROKEN_LINK and "insecure" in d.reason
    plain = nsec3_chain("com", com)
    records = (plain["com"], covering3(plain, EX))
    links = replace_link(secure_links(), EX, ds=None, ds_denial=records)
    d = diagnose(facts(links, answer(rrsets=(unsigned,))))
    assert (d.code, d.zone, d.record_type) == (DENIAL_WRONG, EX, "NSEC3")


# --------------------------------------------------------------------------- CNAME / DNAME


def test_cname_into_another_zone_is_checked_in_that_zone() -> None:
    links = [*secure_links(), link("other.com", "com")]
    cname = sign("www.example.com", "CNAME", ["host.other.com."], [key(EX)])
    target = sign("host.other.com", "A", ["192.0.2.7"], [key("other.com")], EXPIRED)
    d = diagnose(facts(links, answer(rrsets=(cname, target))))
    assert (d.code, d.zone, d.record_type) == (RRSIG_EXPIRED, "other.com", "A")


def test_cname_to_a_name_without_the_type() -> None:
    chain = nsec_chain(EX, ZONE_NAMES)
    cname = sign("www.example.com", "CNAME", ["a.example.com."], [key(EX)])
    ans = ChainAnswer(
        "www.example.com", "MX", "NOERROR", EX, (cname,), (by_owner(chain, "a.example.com"),)
    )
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


def test_unsigned_cname_synthesised_from_a_dname_is_skipped() -> None:
    dname = sign("sub.example.com", "DNAME", ["other.example.com."], [key(EX)])
    cname = SignedRRset("www.sub.example.com", "CNAME", 300, ("www.other.example.com.",))
    a = sign("www.other.example.com", "A", ["192.0.2.1"], [key(EX)])
    ans = answer("www.sub.example.com", rrsets=(dname, cname, a))
    assert diagnose(facts(ans=ans)).code == NO_BROKEN_LINK


# --------------------------------------------------------------------------- anchor files

ROOT_DS = ". 3600 IN DS 20326 8 2 e06d44b80b8f1d39a95c0b0d7c65d08458e880409bbc683457104237c7f8ec8d"


def test_parse_ds_anchor() -> None:
    a = parse_trust_anchor(ROOT_DS + "\n", "root.ds")
    assert a == TrustAnchor(".", (ROOT_DS.split(" DS ")[1],), (), "root.ds")
    assert a.text() == ". IN DS " + ROOT_DS.split(" DS ")[1]


def test_parse_unbound_style_dnskey_anchor_with_comments_and_parentheses() -> None:
    k = key(".").dnskey.to_text().split()
    text = (
        "; autotrust trust anchor file\n;;id: . 1\n"
        f". 172800 IN DNSKEY {k[0]} {k[1]} {k[2]} (\n  {k[3]}\n  {''.join(k[4:])} ) ;{{id = 1}}\n"
        "example. IN DS 1 13 2 " + "ab" * 32 + "\n"
    )
    with pytest.raises(TrustAnchorError, match="several zones"):
        parse_trust_anchor(text, "f")
    a = parse_trust_anchor(text.rsplit("example.", 1)[0], "f")
    assert a.dnskey == (key(".").dnskey.to_text(),) and a.zone == "."
    assert diagnose(facts(trust=a)).code == NO_BROKEN_LINK


def test_parse_anchor_without_ttl_or_class() -> None:
    a = parse_trust_anchor(f". DS {key('.').ds()}\n", "short")
    assert a.ds == (key(".").ds(),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no DS or DNSKEY record"),
        ("this is not a zone file\n", "not DS/DNSKEY zone-file lines"),
        (". IN A 192.0.2.1\n", "A records are not a trust anchor"),
        (". IN DS 1 3 2 " + "ab" * 32 + "\n", "no record with an algorithm"),
        (". IN DNSKEY 1 3 13 " + "AA" * 32 + "\n", "is not a zone key"),
    ],
)
def test_bad_anchor_files(text: str, message: str) -> None:
    with pytest.raises(TrustAnchorError, match=message) as info:
        parse_trust_anchor(text, "bad.key")
    assert str(info.value).startswith("trust anchor bad.key: ")
    assert info.value.exit_code == EXIT_USAGE


def test_every_diagnosis_code_is_in_the_catalogue_and_reachable() -> None:
    """Each code of findings' DNSSEC diagnoses is raised by a test above (by name)."""
    import scanner.core.chain as chain

    codes = {v for k, v in vars(chain).items() if k.isupper() and isinstance(v, str)}
    assert codes >= DIAGNOSIS_CODES
    assert {CATALOGUE[c].severity for c in DIAGNOSIS_CODES} == {"error", "warning", "info"}
    _ = anchor  # the fixture's default anchor is the root key's DS


# --------------------------------------------------------------------------- questions


def test_bogus_questions_of_a_domain() -> None:
    from scanner.core.chain import bogus_questions, domain_lookups
    from scanner.core.model import DnsLookup, DomainFacts, HostDns, MtaSts, ZoneKeys

    def lk(name: str, rrtype: str, rcode: str = "NOERROR", cd: str | None = None) -> DnsLookup:
        return DnsLookup(name, rrtype, rcode, ad=rcode == "NOERROR", cd_rcode=cd)

    bogus_a = lk("MX.example.com.", "a", "SERVFAIL", "NOERROR")
    host = HostDns(
        "mx.example.com",
        bogus_a,
        lk("mx.example.com", "AAAA", "SERVFAIL", "SERVFAIL"),  # error, not bogus
        (lk("_25._tcp.mx.example.com", "TLSA", "SERVFAIL", "NXDOMAIN"),),
    )
    facts = DomainFacts(
        "example.com",
        lk("example.com", "MX"),
        hosts={
            "mx.example.com": host,
            "mx2.example.com": HostDns("mx2.example.com", bogus_a, bogus_a),
        },
        mta_sts=MtaSts(sts_txt=lk("_mta-sts.example.com", "TXT", "SERVFAIL", "NXDOMAIN")),
        zone_keys=ZoneKeys(EX, lk(EX, "DNSKEY"), lk(EX, "DS")),
    )
    assert len(domain_lookups(facts)) == 9
    assert bogus_questions(domain_lookups(facts)) == [
        ("mx.example.com", "A"),
        ("_25._tcp.mx.example.com", "TLSA"),
        ("_mta-sts.example.com", "TXT"),
    ]
    assert domain_lookups(DomainFacts(EX, lk(EX, "MX"))) == [lk(EX, "MX")]


def test_a_signature_read_from_the_wire_is_kept_as_what_its_text_parses_to() -> None:
    """A walker hands over RRSIGs it parsed from the wire: their text is what the facts
    carry, and reading that text back gives the same record without parsing it again."""
    text = "MX 13 2 3600 20300101000000 20200101000000 12345 example.com. " + "A" * 88
    sig = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RRSIG, text)
    memo = ChainMemo()
    kept = memo.rrsig_text(sig)
    assert kept == sig.to_text()
    assert memo.rrsig(kept) is sig
    assert ChainMemo().rrsig(kept) == sig  # what parsing the text would have given
