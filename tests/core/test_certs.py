"""DANE-EE / DANE-TA matching, chain verification and the name check."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core import certs
from scanner.core.certs import (
    CHAIN_INVALID,
    EXPIRED,
    NO_CHAIN,
    NO_MATCH,
    NOT_YET_VALID,
    OK,
    UNUSABLE,
    ChainEvidence,
    authenticates,
    evaluate_chain,
    name_matches,
    names_match,
    spki_der,
)
from scanner.core.model import TlsaRecord
from tests.core.dane_fixtures import NOW_TS, Cert, chain, leaf, make_cert, pki, tlsa_for

MX = ("mx.example.com",)


# --------------------------------------------------------------------------- DANE-EE


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ee_matches_leaf(selector: int, mtype: int) -> None:
    lf = leaf()
    ev = evaluate_chain([tlsa_for(lf, 3, selector, mtype)], chain(lf), NOW_TS)
    assert ev.ee_matched and ev.records[0].depth == 0 and ev.records[0].error == OK
    assert authenticates(ev, ["unrelated.example"])  # names ignored


def test_dane_ee_ignores_dates_and_names() -> None:
    lf = leaf(("other.example",), cn="other.example", na_days=-1, nb_days=-30)
    ev = evaluate_chain([tlsa_for(lf, 3, 1, 1)], chain(lf), NOW_TS)
    assert ev.leaf_expired
    assert authenticates(ev, MX)
    assert not names_match(ev, MX)


def test_dane_ee_not_on_intermediate() -> None:
    _root, inter = pki()
    ev = evaluate_chain([tlsa_for(inter, 3, 1, 1)], chain(), NOW_TS)
    assert not ev.ee_matched
    assert ev.records[0].error == NO_MATCH
    assert not authenticates(ev, MX)


def test_dane_ee_wrong_digest() -> None:
    rec = TlsaRecord(3, 1, 1, bytes(32))
    ev = evaluate_chain([rec], chain(), NOW_TS)
    assert ev.records[0] == certs.RecordEvidence(rec, False, False, error=NO_MATCH)


# --------------------------------------------------------------------------- DANE-TA


@pytest.mark.parametrize("target", ["root", "inter"])
@pytest.mark.parametrize(("selector", "mtype"), [(0, 0), (0, 1), (1, 1), (1, 2), (1, 0)])
def test_dane_ta(target: str, selector: int, mtype: int) -> None:
    root, inter = pki()
    ta = root if target == "root" else inter
    ev = evaluate_chain([tlsa_for(ta, 2, selector, mtype)], chain(), NOW_TS)
    rec = ev.records[0]
    assert rec.matched and rec.chain_ok and rec.depth == (2 if target == "root" else 1)
    assert ev.ta_chain_ok and ev.ta_matched and not ev.ta_expired
    assert authenticates(ev, MX)
    assert not authenticates(ev, ["other.example"])


def test_dane_ta_root_not_presented_does_not_match() -> None:
    # RFC 7672 §3.1.2: the server MUST present the TA; no bare-key fallback.
    root, _inter = pki()
    ev = evaluate_chain([tlsa_for(root, 2, 1, 0)], chain(with_root=False), NOW_TS)
    assert not ev.ta_matched and ev.records[0].error == NO_MATCH


def test_dane_ta_is_the_leaf() -> None:
    lf = leaf()
    ev = evaluate_chain([tlsa_for(lf, 2, 1, 1)], (lf.der,), NOW_TS)
    assert ev.records[0].chain_ok and ev.records[0].depth == 0
    assert authenticates(ev, MX)
    assert not authenticates(ev, ["other.example"])  # names still checked


def test_dane_ta_leaf_expired() -> None:
    lf = leaf(na_days=-1, nb_days=-30)
    _root, inter = pki()
    ev = evaluate_chain([tlsa_for(inter, 2, 1, 1)], chain(lf), NOW_TS)
    assert ev.records[0].error == EXPIRED and ev.ta_expired and not ev.ta_chain_ok
    assert "leaf" in ev.records[0].detail


def test_dane_ta_leaf_not_yet_valid() -> None:
    lf = leaf(nb_days=2, na_days=30)
    _root, inter = pki()
    ev = evaluate_chain([tlsa_for(inter, 2, 1, 1)], chain(lf), NOW_TS)
    assert ev.records[0].error == NOT_YET_VALID and ev.ta_expired


def test_dane_ta_anchor_expired() -> None:
    root, _ = pki()
    old_inter = make_cert("Inter ec", "inter-ec", root, "root-ec", ca=True, nb_days=-90, na_days=-2)
    lf = leaf()
    ev = evaluate_chain([tlsa_for(old_inter, 2, 0, 1)], (lf.der, old_inter.der), NOW_TS)
    assert ev.records[0].error == EXPIRED
    assert "trust anchor" in ev.records[0].detail


def test_dane_ta_expired_intermediate_between() -> None:
    root, _ = pki()
    old_inter = make_cert("Inter ec", "inter-ec", root, "root-ec", ca=True, nb_days=-90, na_days=-2)
    lf = leaf()
    ev = evaluate_chain([tlsa_for(root, 2, 0, 1)], (lf.der, old_inter.der, root.der), NOW_TS)
    assert ev.records[0].error == EXPIRED and "depth 1" in ev.records[0].detail


def test_dane_ta_second_match_verifies() -> None:
    # The same key in an expired and a valid certificate: the valid one wins.
    root, inter = pki()
    old_inter = make_cert("Inter ec", "inter-ec", root, "root-ec", ca=True, nb_days=-90, na_days=-2)
    lf = leaf()
    ev = evaluate_chain([tlsa_for(inter, 2, 1, 1)], (lf.der, old_inter.der, inter.der), NOW_TS)
    assert ev.records[0].chain_ok and ev.records[0].depth == 2


def test_dane_ta_intermediate_missing() -> None:
    root, _ = pki()
    lf = leaf()
    ev = evaluate_chain([tlsa_for(root, 2, 1, 1)], (lf.der, root.der), NOW_TS)
    assert ev.records[0].matched and ev.records[0].error == CHAIN_INVALID
    assert not authenticates(ev, MX)


def test_dane_ta_self_signed_leaf_without_basic_constraints() -> None:
    c = make_cert("mx.example.com", "selfsigned", sans=MX, basic_constraints=False)
    ev = evaluate_chain([tlsa_for(c, 2, 1, 1)], (c.der,), NOW_TS)
    assert authenticates(ev, MX)


def test_dane_ta_root_without_basic_constraints_is_refused() -> None:
    # Known limitation (scanner.core.certs docstring): cryptography requires the CA flag.
    root = make_cert("Legacy root", "legacy-root", basic_constraints=False)
    lf = make_cert("mx.example.com", "leaf-ec", root, "legacy-root", sans=MX)
    ev = evaluate_chain([tlsa_for(root, 2, 1, 1)], (lf.der, root.der), NOW_TS)
    assert ev.records[0].error == CHAIN_INVALID


def test_dane_ta_every_match_fails_first_reported() -> None:
    root, _ = pki()
    lf = leaf()
    ev = evaluate_chain([tlsa_for(root, 2, 1, 1)], (lf.der, root.der, root.der), NOW_TS)
    assert ev.records[0].error == CHAIN_INVALID and ev.records[0].depth == 1


def test_dane_ta_not_a_ca() -> None:
    root, _ = pki()
    fake = make_cert("Inter ec", "inter-ec", root, "root-ec", ca=False)
    lf = leaf()
    ev = evaluate_chain([tlsa_for(root, 2, 1, 1)], (lf.der, fake.der, root.der), NOW_TS)
    assert ev.records[0].error == CHAIN_INVALID


def test_dane_ta_garbage_on_path() -> None:
    garbage = b"\x30\x03\x02\x01\x00"
    lf = leaf()
    rec = TlsaRecord(2, 0, 1, hashlib.sha256(garbage).digest())
    ev = evaluate_chain([rec], (lf.der, garbage), NOW_TS)
    assert ev.records[0].matched and ev.records[0].error == CHAIN_INVALID


@pytest.mark.parametrize("kind", ["ec", "rsa", "ed25519"])
def test_key_types(kind: str) -> None:
    root, _inter = pki(kind)
    lf = leaf(kind=kind)
    ch = chain(lf, kind)
    ev = evaluate_chain([tlsa_for(root, 2, 1, 1), tlsa_for(lf, 3, 1, 1)], ch, NOW_TS)
    assert ev.ee_matched
    # cryptography's verifier only allows web-PKI key algorithms: an Ed25519 DANE-TA
    # chain is reported as invalid (a known limitation, documented in scanner.core.certs).
    assert ev.ta_chain_ok is (kind != "ed25519")
    assert ev.leaf_key_type == {"ec": "ecdsa", "rsa": "rsa", "ed25519": "ed25519"}[kind]
    assert spki_der(lf.der) == lf.spki


def test_other_key_types(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ed448, x25519

    class Fake:
        def __init__(self, key: object) -> None:
            self.key = key

        def public_key(self) -> object:
            if isinstance(self.key, Exception):
                raise self.key
            return self.key

    assert certs.key_type(Fake(ed448.Ed448PrivateKey.generate().public_key())) == "ed448"  # type: ignore[arg-type]
    dsa_key = dsa.generate_private_key(1024).public_key()
    assert certs.key_type(Fake(dsa_key)) == "dsa"  # type: ignore[arg-type]
    x_key = x25519.X25519PrivateKey.generate().public_key()
    assert certs.key_type(Fake(x_key)) == "other"  # type: ignore[arg-type]
    assert certs.key_type(Fake(UnsupportedAlgorithm("x"))) == "other"  # type: ignore[arg-type]


# --------------------------------------------------------------------------- odd input


def test_empty_chain() -> None:
    good = TlsaRecord(3, 1, 1, bytes(32))
    bad = TlsaRecord(0, 1, 1, bytes(32))
    ev = evaluate_chain([good, bad], (), NOW_TS)
    assert [r.error for r in ev.records] == [NO_CHAIN, UNUSABLE]
    assert not ev.leaf_parsed and not authenticates(ev, MX)


def test_unusable_record_is_not_matched() -> None:
    lf = leaf()
    rec = TlsaRecord(1, 1, 1, hashlib.sha256(lf.spki).digest())  # PKIX-EE
    ev = evaluate_chain([rec], chain(lf), NOW_TS)
    assert ev.records[0].error == UNUSABLE and not ev.records[0].matched


def test_garbage_leaf() -> None:
    garbage = b"\x30\x03\x02\x01\x00"
    rec0 = TlsaRecord(3, 0, 1, hashlib.sha256(garbage).digest())
    rec1 = TlsaRecord(3, 1, 1, hashlib.sha256(garbage).digest())
    ev = evaluate_chain([rec0, rec1], (garbage,), NOW_TS)
    # Cert(0) compares the bytes as sent; SPKI(1) needs a parsable certificate.
    assert ev.records[0].matched and not ev.records[1].matched
    assert not ev.leaf_parsed and ev.leaf_dns_names == () and ev.leaf_key_type == ""


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x04\x00",
        b"\x30\x02\x04\x00",  # tbs is not a SEQUENCE
        b"\x30\x02\x30\x00",  # empty tbs
        b"\x30\x0c\x30\x0a\xa0\x00\x02\x00\x30\x00\x30\x00\x30\x00",  # truncated fields
        b"\x30\x0e\x30\x0c\x02\x00\x30\x00\x30\x00\x30\x00\x30\x00\x04\x00",  # SPKI not SEQ
    ],
)
def test_spki_der_garbage(der: bytes) -> None:
    assert spki_der(der) is None


def test_spki_der_without_version() -> None:
    der = b"\x30\x10\x30\x0e\x02\x00\x30\x00\x30\x00\x30\x00\x30\x00\x30\x02\x05\x00"
    assert spki_der(der) == b"\x30\x02\x05\x00"


def test_malformed_san_extension_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exts:
        def get_extension_for_class(self, cls: object) -> object:
            raise ValueError("bad extension")

    class FakeCert:
        extensions = Exts()
        subject = leaf().cert.subject

    dns, cns = certs.leaf_names(FakeCert())  # type: ignore[arg-type]
    assert dns == () and cns == ("mx.example.com",)


def test_evidence_is_small_and_hashable() -> None:
    lf = leaf()
    ev = evaluate_chain([tlsa_for(lf, 3, 1, 1)], chain(lf), NOW_TS)
    assert isinstance(hash(ev), int)
    assert ev == evaluate_chain([tlsa_for(lf, 3, 1, 1)], chain(lf), NOW_TS)
    assert lf.der not in repr(ev).encode()


def test_chain_is_capped() -> None:
    lf = leaf()
    root, inter = pki()
    long_chain = (lf.der,) + (inter.der,) * 25 + (root.der,)
    ev = evaluate_chain([tlsa_for(root, 2, 1, 1)], long_chain, NOW_TS)
    assert ev.records[0].error == NO_MATCH  # the root is beyond the 20th certificate


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("pattern", "name", "ok"),
    [
        ("mx.example.com", "mx.example.com", True),
        ("MX.Example.COM.", "mx.example.com", True),
        ("mx.example.com", "mx2.example.com", False),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "example.com", False),
        ("*.example.com", ".example.com", False),
        ("*.com", "example.com", False),
        ("f*.example.com", "foo.example.com", False),
        ("*.*.example.com", "a.b.example.com", False),
        ("mx.*.com", "mx.example.com", False),
        ("", "mx.example.com", False),
        ("mx.example.com", "", False),
        ("*.xn--bcher-kva.example", "mx.xn--bcher-kva.example", True),
        ("xn--mnchen-3ya.example", "xn--mnchen-3ya.example", True),
    ],
)
def test_name_matches(pattern: str, name: str, ok: bool) -> None:
    assert name_matches(pattern, name) is ok


def _ta_evidence(lf: Cert) -> ChainEvidence:
    root, _ = pki()
    return evaluate_chain([tlsa_for(root, 2, 1, 1)], chain(lf), NOW_TS)


def test_wildcard_san() -> None:
    ev = _ta_evidence(leaf(("*.example.com",), cn="mail"))
    assert authenticates(ev, ["mx.example.com"])
    assert not authenticates(ev, ["example.com", "a.mx.example.com"])


def test_cn_only_without_san() -> None:
    ev = _ta_evidence(leaf(None, cn="mx.example.com"))
    assert ev.leaf_dns_names == () and ev.leaf_cn == ("mx.example.com",)
    assert authenticates(ev, ["mx.example.com"])


def test_cn_ignored_when_san_present() -> None:
    ev = _ta_evidence(leaf(("other.example.com",), cn="mx.example.com"))
    assert not authenticates(ev, ["mx.example.com"])
    assert authenticates(ev, ["other.example.com"])


def test_idn_names() -> None:
    ev = _ta_evidence(leaf(("mx.xn--bcher-kva.example",), cn="x"))
    assert authenticates(ev, ["mx.xn--bcher-kva.example"])
    assert not authenticates(ev, ["mx.bücher.example"])  # candidates are A-labels


def test_any_candidate_name() -> None:
    ev = _ta_evidence(leaf(("example.com",), cn="x"))
    assert authenticates(ev, ["mx.example.com", "mail.provider.net", "example.com"])


# --------------------------------------------------------------------------- properties

TARGETS = ["leaf", "inter", "root", "unrelated"]


def _cert_for(target: str) -> Cert:
    root, inter = pki()
    if target == "leaf":
        return leaf()
    if target == "inter":
        return inter
    if target == "root":
        return root
    return make_cert("Unrelated", "unrelated", ca=True)


@settings(max_examples=150, deadline=None)
@given(
    usage=st.sampled_from([0, 1, 2, 3, 4]),
    selector=st.sampled_from([0, 1, 2]),
    mtype=st.sampled_from([0, 1, 2, 3]),
    target=st.sampled_from(TARGETS),
    with_root=st.booleans(),
    name_ok=st.booleans(),
    corrupt=st.booleans(),
)
def test_matching_model(
    usage: int,
    selector: int,
    mtype: int,
    target: str,
    with_root: bool,
    name_ok: bool,
    corrupt: bool,
) -> None:
    """The outcome equals a simple model of RFC 7672 §3.2 for every parameter mix."""
    cert = _cert_for(target)
    rec = tlsa_for(cert, usage, min(selector, 1), min(mtype, 2))
    rec = TlsaRecord(usage, selector, mtype, rec.data)
    if corrupt and rec.data:
        rec = TlsaRecord(usage, selector, mtype, bytes([rec.data[0] ^ 1]) + rec.data[1:])
    ch = chain(with_root=with_root)
    names = MX if name_ok else ("other.example",)
    ev = evaluate_chain([rec], ch, NOW_TS)

    usable = usage in (2, 3) and selector in (0, 1) and mtype in (0, 1, 2)
    presented = target in ("leaf", "inter") or (target == "root" and with_root)
    expected = (
        usable
        and not corrupt
        and ((usage == 3 and target == "leaf") or (usage == 2 and presented and name_ok))
    )
    assert authenticates(ev, names) is expected
    assert ev.records[0].error != OK or expected or (usage == 2 and not name_ok)


# --------------------------------------------------------------------------- the cache


def test_cache_reuses_within_validity_window() -> None:
    root, _ = pki()
    lf = leaf(na_days=5)
    recs = [tlsa_for(root, 2, 1, 1)]
    cache = certs.EvidenceCache()
    first = cache.evaluate(recs, chain(lf), NOW_TS)
    assert cache.evaluate(recs, chain(lf), NOW_TS + 3600) is first
    assert (cache.hits, cache.misses) == (1, 1)
    later = cache.evaluate(recs, chain(lf), NOW_TS + 6 * 86400)  # leaf expired since
    assert later != first and later.ta_expired
    assert later == evaluate_chain(recs, chain(lf), NOW_TS + 6 * 86400)
    assert cache.misses == 2


def test_cache_is_bounded_and_handles_empty_and_garbage_chains() -> None:
    cache = certs.EvidenceCache(maxsize=2)
    rec = [TlsaRecord(3, 1, 1, bytes(32))]
    for ch in [(), (b"\x30\x00",), chain()]:
        assert cache.evaluate(rec, ch, NOW_TS) == evaluate_chain(rec, ch, NOW_TS)
    assert len(cache._data) == 2
    assert cache.evaluate(rec, (), NOW_TS) == evaluate_chain(rec, (), NOW_TS)
    assert cache.misses == 4


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.floats(-400, 400, allow_nan=False), min_size=1, max_size=6),
    target=st.sampled_from(TARGETS),
)
def test_cache_agrees_with_direct_evaluation(offsets: list[float], target: str) -> None:
    lf = leaf(na_days=3, key_name="short")
    rec = [tlsa_for(_cert_for(target), 2, 1, 1), tlsa_for(lf, 3, 1, 1)]
    cache = certs.EvidenceCache()
    for off in offsets:
        t = NOW_TS + off * 86400
        assert cache.evaluate(rec, chain(lf), t) == evaluate_chain(rec, chain(lf), t)
