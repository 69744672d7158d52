"""MTA-STS / TLS-RPT text parsing (RFC 8461 §3.1-3.3, §4.1; RFC 8460 §3)."""

from __future__ import annotations

import pytest

from scanner.core.mtasts import (
    MAX_AGE_LIMIT,
    MAX_POLICY_BYTES,
    Policy,
    StsRecord,
    has_tlsrpt,
    mx_covered,
    parse_policy,
    read_response,
    sts_record,
    tlsrpt_rua,
    txt_text,
)

GOOD = (
    b"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
    b"mx: *.Example.NET.\r\nmax_age: 604800\r\n"
)


def test_txt_text_joins_strings_and_keeps_bare_text() -> None:
    assert txt_text('"v=STSv1; " "id=1;"') == "v=STSv1; id=1;"
    assert txt_text('"a\\"b"') == 'a\\"b'
    assert txt_text("v=STSv1; id=1") == "v=STSv1; id=1"


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], None),
        (['"v=spf1 -all"'], None),
        (['"v=STSv1; id=20261123T000000;"'], StsRecord("20261123T000000")),
        (['"v=STSv1; id=abc"', '"unrelated"'], StsRecord("abc")),
        (['"v=STSv1;id=abc;ext=1;;"'], StsRecord("abc")),
        # §3.1: more than one v=STSv1 record: no policy.
        (['"v=STSv1; id=a;"', '"v=STSv1; id=b;"'], "2 v=STSv1 TXT records (exactly one allowed)"),
        (['"v=STSv1"'], "TXT record without a valid id (1-32 letters and digits)"),
        (['"v=STSv1; id=with-dash;"'], "TXT record without a valid id (1-32 letters and digits)"),
        (
            ['"v=STSv1; id=' + "a" * 33 + ';"'],
            "TXT record without a valid id (1-32 letters and digits)",
        ),
        (['"v=STSv1; junk;"'], "malformed TXT field 'junk'"),
        # "v=STSv10;" is not "v=STSv1;": discarded like any other record.
        (['"v=STSv10; id=a;"'], None),
    ],
)
def test_sts_record(records: list[str], expected: object) -> None:
    assert sts_record(records) == expected


def test_policy_good_crlf_and_lf() -> None:
    want = Policy(mode="enforce", max_age=604800, mx=("mx1.example.com", "*.example.net"))
    assert parse_policy(GOOD) == want
    assert parse_policy(GOOD.replace(b"\r\n", b"\n")) == want


def test_policy_unknown_keys_ignored_first_duplicate_wins() -> None:
    body = b"version: STSv1\nfoo: bar\nmode: testing\nmode: enforce\nmx: a.b.c\nmax_age: 0\n"
    assert parse_policy(body) == Policy(mode="testing", max_age=0, mx=("a.b.c",))


def test_policy_none_mode_needs_no_mx() -> None:
    assert parse_policy(b"version: STSv1\nmode: none\nmax_age: 86400\n") == Policy(
        mode="none", max_age=86400, mx=()
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"x" * (MAX_POLICY_BYTES + 1), f"policy body over {MAX_POLICY_BYTES} bytes"),
        (b"version: STSv1\n\xff\xfe", "policy body is not UTF-8 text"),
        (b"<html>not a policy</html>", "malformed policy line '<html>not a policy</html>'"),
        (b"mode: enforce\nmx: a.b\nmax_age: 1\n", "policy without 'version: STSv1'"),
        (
            b"version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n",
            "policy without 'version: STSv1'",
        ),
        (
            b"version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n",
            "policy mode 'strict' is not enforce, testing or none",
        ),
        (
            b"version: STSv1\nmx: a.b\nmax_age: 1\n",
            "policy mode None is not enforce, testing or none",
        ),
        (
            b"version: STSv1\nmode: enforce\nmx: a.b\n",
            f"policy max_age '' is not 0..{MAX_AGE_LIMIT}",
        ),
        (
            b"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n",
            f"policy max_age '-1' is not 0..{MAX_AGE_LIMIT}",
        ),
        (
            f"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: {MAX_AGE_LIMIT + 1}\n".encode(),
            f"policy max_age '{MAX_AGE_LIMIT + 1}' is not 0..{MAX_AGE_LIMIT}",
        ),
        (b"version: STSv1\nmode: enforce\nmax_age: 1\n", "policy without mx patterns"),
    ],
)
def test_policy_errors(body: bytes, error: str) -> None:
    assert parse_policy(body) == error


def test_max_age_limit_itself_is_allowed() -> None:
    body = f"version: STSv1\nmode: testing\nmx: a.b\nmax_age: {MAX_AGE_LIMIT}\n".encode()
    assert parse_policy(body) == Policy("testing", MAX_AGE_LIMIT, ("a.b",))


@pytest.mark.parametrize(
    ("patterns", "host", "covered"),
    [
        (("mx1.example.com",), "mx1.example.com", True),
        (("*.example.net",), "mx.example.net", True),
        (("*.example.net",), "a.mx.example.net", False),  # one label only (§4.1)
        (("*.example.net",), "example.net", False),
        (("mx1.example.com",), "mx2.example.com", False),
        ((), "mx1.example.com", False),
    ],
)
def test_mx_covered(patterns: tuple[str, ...], host: str, covered: bool) -> None:
    assert mx_covered(patterns, host) is covered


def test_read_response() -> None:
    assert read_response(200, "text/plain; charset=utf-8", GOOD) == parse_policy(GOOD)
    assert read_response(404, "text/html", b"") == "HTTP 404"
    assert read_response(301, "", b"", "https://elsewhere/") == (
        "HTTP 301 redirect to 'https://elsewhere/' (not followed: RFC 8461 §3.3)"
    )
    assert read_response(200, "text/html", GOOD) == "media type 'text/html', not text/plain"
    assert read_response(200, "", GOOD) == "media type 'missing', not text/plain"


def test_tlsrpt() -> None:
    rua = "mailto:tlsrpt@example.com,https://r.example/"
    assert tlsrpt_rua([f'"v=TLSRPTv1; rua={rua}"']) == rua
    assert has_tlsrpt([f'"v=TLSRPTv1;" "rua={rua}"'])
    assert tlsrpt_rua(['"v=TLSRPTv1; rua=a"', '"v=TLSRPTv1; rua=b"']) == ""  # two: none
    assert tlsrpt_rua(['"v=TLSRPTv1;"']) == ""
    assert not has_tlsrpt(['"v=spf1 -all"'])
