"""TLSA parsing, usability (RFC 7672 §3.1) and base-domain candidates (§2.2.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from scanner.core.model import DnsLookup, HostDns, TlsaRecord
from scanner.core.tlsa import (
    TlsaParseError,
    deciding_tlsa,
    der_element_length,
    is_usable,
    next_tlsa_base,
    parse_tlsa,
    presented_sni,
    tlsa_base_candidates,
    tlsa_base_of,
    tlsa_owner,
    unusable_reason,
)
from tests.core.dane_fixtures import leaf, lk, tlsa_for

H32 = "ab" * 32
H64 = "cd" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"3 1 1 {H32}", TlsaRecord(3, 1, 1, bytes.fromhex(H32))),
        (f"3 1 1 {H32[:20]} {H32[20:]}", TlsaRecord(3, 1, 1, bytes.fromhex(H32))),
        (f"  2 0 2 {H64.upper()}  ", TlsaRecord(2, 0, 2, bytes.fromhex(H64))),
        ("3 1 1", TlsaRecord(3, 1, 1, b"")),
        ("255 255 255 00", TlsaRecord(255, 255, 255, b"\x00")),
        ("\\# 5 03010100ff", TlsaRecord(3, 1, 1, b"\x00\xff")),
        ("\\# 3 030101", TlsaRecord(3, 1, 1, b"")),
    ],
)
def test_parse(text: str, expected: TlsaRecord) -> None:
    assert parse_tlsa(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3 1",
        "3 1 x 00",
        "-1 1 1 00",
        "256 1 1 00",
        "3 1 1 zz",
        "3 1 1 abc",
        "\\#",
        "\\# x 00",
        "\\# 4 030101",
        "\\# 2 0301",
    ],
)
def test_parse_malformed(text: str) -> None:
    with pytest.raises(TlsaParseError):
        parse_tlsa(text)


def test_presentation_round_trip() -> None:
    rec = TlsaRecord(3, 1, 1, bytes.fromhex(H32))
    assert parse_tlsa(rec.presentation()) == rec


USABLE_CASES = [
    (TlsaRecord(3, 1, 1, bytes(32)), ""),
    (TlsaRecord(2, 0, 2, bytes(64)), ""),
    (TlsaRecord(3, 1, 1, bytes(31)), "bad_data_length"),
    (TlsaRecord(3, 1, 2, bytes(32)), "bad_data_length"),
    (TlsaRecord(3, 1, 1, b""), "bad_data_length"),
    (TlsaRecord(0, 1, 1, bytes(32)), "pkix_usage"),
    (TlsaRecord(1, 0, 1, bytes(32)), "pkix_usage"),
    (TlsaRecord(4, 1, 1, bytes(32)), "unknown_usage"),
    (TlsaRecord(3, 2, 1, bytes(32)), "unknown_selector"),
    (TlsaRecord(3, 1, 3, bytes(32)), "unknown_mtype"),
    (TlsaRecord(3, 1, 0, b""), "bad_data"),
    (TlsaRecord(3, 1, 0, b"\x04\x00"), "bad_data"),  # not a SEQUENCE
    (TlsaRecord(3, 1, 0, b"\x30\x05\x00"), "bad_data"),  # truncated
    (TlsaRecord(3, 1, 0, b"\x30\x01\x00\x00"), "bad_data"),  # trailing garbage
    (TlsaRecord(3, 1, 0, b"\x30\x01\x00"), ""),  # structurally one SEQUENCE
]


@pytest.mark.parametrize(("rec", "reason"), USABLE_CASES)
def test_usable(rec: TlsaRecord, reason: str) -> None:
    assert unusable_reason(rec) == reason
    assert is_usable(rec) is (reason == "")


def test_full_data_real_certificate_and_spki_are_usable() -> None:
    lf = leaf()
    assert is_usable(tlsa_for(lf, 3, 0, 0))
    assert is_usable(tlsa_for(lf, 3, 1, 0))


@pytest.mark.parametrize(
    ("data", "pos", "expected"),
    [
        (b"\x30\x00", 0, (2, 0)),
        (b"\x30\x81\x01\x00", 0, (3, 1)),
        (b"\x30\x82\x00\x01\x00", 0, (4, 1)),
        (b"\x00\x30\x00", 1, (2, 0)),
    ],
)
def test_der_element_length(data: bytes, pos: int, expected: tuple[int, int]) -> None:
    assert der_element_length(data, pos) == expected


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x80", b"\x30\x85\x00\x00\x00\x00\x01", b"\x30\x82\x01", b"\x30\x02\x00"],
)
def test_der_element_length_bad(data: bytes) -> None:
    with pytest.raises(ValueError):
        der_element_length(data)


def test_owner() -> None:
    assert tlsa_owner("mx.example.com") == "_25._tcp.mx.example.com"
    assert tlsa_base_of("_25._tcp.mx.example.com") == "mx.example.com"
    assert tlsa_base_of("mx.example.com") == "mx.example.com"


HOST = "mx.example.com"


def test_candidates_no_cname() -> None:
    a = lk(HOST, "A", ["192.0.2.1"])
    aaaa = lk(HOST, "AAAA", [])
    assert tlsa_base_candidates(HOST, a, aaaa) == (HOST,)


def test_candidates_secure_cname() -> None:
    a = lk(HOST, "A", ["192.0.2.1"], cname_chain=("mid.example.net", "mail.provider.net"))
    aaaa = lk(HOST, "AAAA", [], cname_chain=("mid.example.net", "mail.provider.net"))
    assert tlsa_base_candidates(HOST, a, aaaa) == ("mail.provider.net", HOST)


def test_candidates_differing_finals() -> None:
    a = lk(HOST, "A", ["192.0.2.1"], cname_chain=("v4.provider.net",))
    aaaa = lk(HOST, "AAAA", ["2001:db8::1"], cname_chain=("v6.provider.net",))
    assert tlsa_base_candidates(HOST, a, aaaa) == ("v4.provider.net", "v6.provider.net", HOST)


def test_candidates_cname_to_itself_is_not_repeated() -> None:
    a = lk(HOST, "A", ["192.0.2.1"], cname_chain=(HOST,))
    assert tlsa_base_candidates(HOST, a, lk(HOST, "AAAA", [])) == (HOST,)


@pytest.mark.parametrize("status", ["insecure", "bogus", "error"])
def test_candidates_insecure_cname(status: str) -> None:
    a = replace(lk(HOST, "A", ["192.0.2.1"], status=status), cname_chain=("mail.provider.net",))
    aaaa = lk(HOST, "AAAA", [])
    assert tlsa_base_candidates(HOST, a, aaaa) == (HOST,)


# ------------------------------------------------ the §2.2.2 walk the gatherer drives

CHAINED_A = lk(HOST, "A", ["192.0.2.1"], cname_chain=("mail.provider.net",))
NO_AAAA = lk(HOST, "AAAA", [])
REC = "3 1 1 " + "ab" * 32


def _walk(answers: dict[str, DnsLookup]) -> list[str]:
    """Drive ``next_tlsa_base`` as the gatherer does; return the owners asked."""
    done: list[DnsLookup] = []
    asked: list[str] = []
    while (base := next_tlsa_base(HOST, CHAINED_A, NO_AAAA, done)) is not None:
        asked.append(base)
        done.append(answers[base])
    return asked


def test_walk_stops_at_records_of_the_expanded_name() -> None:
    answers = {"mail.provider.net": lk("_25._tcp.mail.provider.net", "TLSA", [REC])}
    assert _walk(answers) == ["mail.provider.net"]


def test_walk_moves_on_after_a_denial() -> None:
    answers = {
        "mail.provider.net": lk("_25._tcp.mail.provider.net", "TLSA", [], rcode="NXDOMAIN"),
        HOST: lk(f"_25._tcp.{HOST}", "TLSA", [REC]),
    }
    assert _walk(answers) == ["mail.provider.net", HOST]


@pytest.mark.parametrize("status", ["bogus", "error"])
def test_walk_stops_at_a_failed_lookup(status: str) -> None:
    answers = {"mail.provider.net": lk("_25._tcp.mail.provider.net", "TLSA", status=status)}
    assert _walk(answers) == ["mail.provider.net"]


def test_walk_ends_when_candidates_run_out() -> None:
    denial = lk("x", "TLSA", [], rcode="NXDOMAIN")
    assert _walk({"mail.provider.net": denial, HOST: denial}) == ["mail.provider.net", HOST]


def test_deciding_and_sni_follow_the_walk() -> None:
    denial = lk("_25._tcp.mail.provider.net", "TLSA", [], rcode="NXDOMAIN")
    found = lk(f"_25._tcp.{HOST}", "TLSA", [REC])
    assert deciding_tlsa([denial, found]) is found
    assert deciding_tlsa([denial]) is denial
    assert deciding_tlsa([]) is None
    assert presented_sni(HostDns(HOST, CHAINED_A, NO_AAAA, (found,))) == HOST
    expanded = lk("_25._tcp.mail.provider.net", "TLSA", [REC])
    assert presented_sni(HostDns(HOST, CHAINED_A, NO_AAAA, (expanded,))) == "mail.provider.net"
    assert presented_sni(HostDns(HOST, CHAINED_A, NO_AAAA, (denial,))) == HOST
    assert presented_sni(HostDns(HOST, CHAINED_A, NO_AAAA, ())) == HOST


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=80),
)
def test_parse_presentation_property(u: int, s: int, m: int, data: bytes) -> None:
    rec = TlsaRecord(u, s, m, data)
    assert parse_tlsa(rec.presentation()) == rec
    usable = is_usable(rec)
    assert usable == (unusable_reason(rec) == "")
    if usable:
        assert u in (2, 3) and s in (0, 1) and m in (0, 1, 2)
