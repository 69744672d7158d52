"""Input hygiene: canonical A-label form or a stable reason code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.core import names
from scanner.core.names import REASONS, InvalidName, is_hostname, normalize_domain

VALID = [
    ("example.com", "example.com"),
    ("Example.COM.", "example.com"),
    ("  mail.example.org  ", "mail.example.org"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("BÜCHER.example", "xn--bcher-kva.example"),  # UTS 46 maps case
    ("bücher。example", "xn--bcher-kva.example"),  # ideographic full stop (UTS 46)
    ("faß.de", "xn--fa-hia.de"),  # non-transitional: ß stays
    ("a-b.c-d.example", "a-b.c-d.example"),
    ("1.2.3.example", "1.2.3.example"),
    ("a" * 63 + ".com", "a" * 63 + ".com"),
    (".".join(["a" * 63] * 3) + "." + "b" * 61, ".".join(["a" * 63] * 3) + "." + "b" * 61),
]

INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    (".", "empty"),
    ("a..com", "empty_label"),
    (".com", "empty_label"),
    ("com", "single_label"),
    ("localhost.", "single_label"),
    ("a" * 64 + ".com", "label_too_long"),
    (".".join(["a" * 63] * 4), "too_long"),
    ("under_score.com", "bad_character"),
    ("_dmarc.example.com", "bad_character"),
    ("sp ace.com", "bad_character"),
    ("\x00.com", "bad_character"),
    ("-lead.example", "bad_hyphen"),
    ("trail-.example", "bad_hyphen"),
    ("ab--cd.example", "bad_hyphen"),
    ("xn--zz.com", "bad_a_label"),
    ("xn--a.com", "bad_a_label"),
    ("xn--Bcher-kva.example", None),  # lower-cased first: valid
    ("xn--ls8h.la", "bad_a_label"),  # emoji: not IDNA 2008
    ("\u2603.com", "bad_u_label"),  # snowman: disallowed in IDNA 2008
    ("a\u0000b.com", "bad_character"),
    ("ex\u00e4mple.com\u0000", "bad_u_label"),
    ("1.2.3.4", "numeric_tld"),
    ("example.123", "numeric_tld"),
]


@pytest.mark.parametrize(("raw", "expected"), VALID)
def test_valid(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected
    assert is_hostname(expected)


@pytest.mark.parametrize(("raw", "reason"), INVALID)
def test_invalid(raw: str, reason: str | None) -> None:
    if reason is None:
        assert normalize_domain(raw)
        return
    with pytest.raises(InvalidName) as info:
        normalize_domain(raw)
    assert info.value.reason == reason
    assert reason in REASONS
    assert reason in str(info.value)


def test_u_label_that_fails_idna2008_after_mapping() -> None:
    # U+0640 ARABIC TATWEEL is PVALID only in context; alone it fails CONTEXTJ/bidi rules.
    with pytest.raises(InvalidName) as info:
        normalize_domain("a\u0640.com")
    assert info.value.reason == "bad_u_label"


def test_a_label_that_does_not_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    # A decoder may accept a non-canonical Punycode encoding; the round trip catches it.
    import idna

    monkeypatch.setattr(idna, "alabel", lambda u: b"xn--other-kva")
    with pytest.raises(InvalidName) as info:
        normalize_domain("xn--bcher-kva.example")
    assert info.value.reason == "bad_a_label"


def test_invalid_name_without_name() -> None:
    assert str(InvalidName("empty")) == "empty"


def test_is_hostname() -> None:
    assert is_hostname("mx.example.com.")
    assert not is_hostname("bücher.example")  # DNS gives A-labels only
    assert not is_hostname("192.0.2.1")
    assert not is_hostname("mx_1.example.com")


@given(st.text(max_size=80))
def test_never_crashes_and_is_idempotent(raw: str) -> None:
    try:
        name = normalize_domain(raw)
    except InvalidName as exc:
        assert exc.reason in REASONS
        return
    assert normalize_domain(name) == name
    assert name == name.lower() and name.isascii() and not name.endswith(".")
    assert len(name) <= 253


def _by_the_rules(name: str) -> bool:
    """Whether a lower-case ASCII name passes every label and name rule, one by one."""
    labels = name.split(".")
    try:
        for label in labels:
            names._check_ascii_label(label, name)
    except InvalidName:
        return False
    return len(name) <= names.MAX_NAME and len(labels) >= 2 and not labels[-1].isdigit()


@given(
    st.lists(
        st.text(alphabet="az09-", max_size=6) | st.sampled_from(["xn--", "a" * 63, "a" * 64]),
        min_size=1,
        max_size=6,
    ).map(".".join)
)
def test_the_plain_name_shortcut_accepts_only_what_the_rules_accept(name: str) -> None:
    # normalize_domain takes the shortcut for names of at most MAX_NAME characters
    if len(name) <= names.MAX_NAME and names._PLAIN.match(name):
        assert _by_the_rules(name)


def test_the_plain_name_shortcut_takes_the_common_names() -> None:
    for name in ("example.com", "mx-1.mail.example.co.uk", "a.b", "1-800.com", "x.y2k"):
        assert names._PLAIN.match(name) and _by_the_rules(name)
    for name in ("xn--bcher-kva.example", "ab--c.example", "a.1", "a-.com", "a" * 64 + ".com"):
        assert not names._PLAIN.match(name)
