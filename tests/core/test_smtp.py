"""The sans-IO SMTP reply parser and client dialogue: examples and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.model import ProbeStatus
from scanner.core.smtp import (
    CLOSED,
    MAX_LINE,
    MAX_LINES,
    MAX_REPLY,
    NEED_DATA,
    ClientDialogue,
    Finish,
    ProtocolError,
    Reply,
    ReplyParser,
    Send,
    Stage,
    StartTls,
    ehlo_keywords,
    offers_starttls,
)


def parse_all(chunks: list[bytes], *, eof: bool = True) -> tuple[list[Reply], str | None]:
    """Feed ``chunks`` one by one; the replies obtained and the error reason, if any."""
    parser = ReplyParser()
    replies: list[Reply] = []
    try:
        for chunk in chunks:
            parser.feed(chunk)
            while isinstance(ev := parser.next_event(), Reply):
                replies.append(ev)
        if eof:
            parser.feed_eof()
            while isinstance(ev := parser.next_event(), Reply):
                replies.append(ev)
            assert ev is CLOSED
    except ProtocolError as exc:
        return replies, exc.reason
    return replies, None


# --------------------------------------------------------------------------- examples


def test_single_and_multiline_replies_crlf_and_bare_lf() -> None:
    replies, err = parse_all([b"220 hi\r\n250-a\n250-STARTTLS\r\n250 SIZE 10\n221\r\n"])
    assert err is None
    assert [r.code for r in replies] == [220, 250, 221]
    assert replies[1].lines == ("250-a", "250-STARTTLS", "250 SIZE 10")
    assert replies[1].texts == ("a", "STARTTLS", "SIZE 10")
    assert replies[2].lines == ("221",)


def test_need_data_until_final_line() -> None:
    parser = ReplyParser()
    parser.feed(b"220-first\r\n220-second\r")
    assert parser.next_event() is NEED_DATA
    parser.feed(b"\n220 third")
    assert parser.next_event() is NEED_DATA
    parser.feed(b"\r\n")
    reply = parser.next_event()
    assert isinstance(reply, Reply) and reply.code == 220 and len(reply.lines) == 3
    assert parser.next_event() is NEED_DATA


def test_reply_code_is_the_last_lines() -> None:
    # RFC 5321 wants equal codes; a server that mixes them is recorded, not refused.
    (reply,), err = parse_all([b"250-x\r\n451 y\r\n"])
    assert err is None and reply.code == 451 and reply.klass == 4


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello\r\n", "not an SMTP reply line"),
        (b"22\r\n", "not an SMTP reply line"),
        (b"620 x\r\n", "not an SMTP reply line"),
        (b"2a0 x\r\n", "not an SMTP reply line"),
        (b"220_x\r\n", "bad separator"),
        (b"220 " + b"a" * MAX_LINE + b"\r\n", "reply line longer"),
        (b"220 " + b"a" * (2 * MAX_LINE), "reply line longer"),  # no terminator needed
        (b"250-x\r\n" * (MAX_LINES + 1), f"more than {MAX_LINES} lines"),
        ((b"250-" + b"x" * 3000 + b"\r\n") * 30, "reply longer than"),
        (b"220-partial\r\n", "closed in the middle"),
        (b"220 partial", "closed in the middle"),
    ],
)
def test_protocol_errors(data: bytes, reason: str) -> None:
    _, err = parse_all([data])
    assert err is not None and reason in err


def test_longest_lines_are_accepted() -> None:
    line = b"250-" + b"a" * (MAX_LINE - 4) + b"\r\n"
    assert len(line) == MAX_LINE + 2
    count = MAX_REPLY // len(line) - 1
    replies, err = parse_all([line * count + b"250 end\r\n"])
    assert err is None and len(replies[0].lines) == count + 1


def test_error_is_sticky() -> None:
    parser = ReplyParser()
    parser.feed(b"garbage\r\n")
    with pytest.raises(ProtocolError) as first:
        parser.next_event()
    parser.feed(b"220 fine\r\n")
    with pytest.raises(ProtocolError) as second:
        parser.next_event()
    assert first.value is second.value


def test_eight_bit_text_is_kept_not_fatal() -> None:
    (reply,), err = parse_all([b"220 caf\xe9 \xff\r\n"])
    assert err is None and reply.code == 220 and "caf" in reply.lines[0]


def test_leftover_bytes_after_reply() -> None:
    parser = ReplyParser()
    parser.feed(b"220 go ahead\r\n\x16\x03\x01")
    assert isinstance(parser.next_event(), Reply)
    assert parser.take_leftover() == b"\x16\x03\x01"


def test_ehlo_keywords_case_insensitive() -> None:
    (reply,), _ = parse_all(
        [b"250-mx.example STARTTLS-looking name\r\n250-size 100\r\n250 StartTLS\r\n"]
    )
    assert ehlo_keywords(reply) == {"SIZE", "STARTTLS"}
    assert offers_starttls(reply)
    # The greeting line is not an extension.
    (only_name,), _ = parse_all([b"250 STARTTLS\r\n"])
    assert not offers_starttls(only_name)
    (err_reply,), _ = parse_all([b"550-x\r\n550 STARTTLS\r\n"])
    assert not offers_starttls(err_reply)


# --------------------------------------------------------------------------- dialogue


def reply(data: bytes) -> Reply:
    (r,), err = parse_all([data])
    assert err is None
    return r


def test_dialogue_happy_path_never_sends_mail() -> None:
    d = ClientDialogue("probe.example")
    assert d.stage is Stage.BANNER
    a = d.handle_reply(reply(b"220-one\r\n220 two\r\n"))
    assert a == Send(b"EHLO probe.example\r\n")
    a = d.handle_reply(reply(b"250-mx\r\n250 STARTTLS\r\n"))
    assert a == Send(b"STARTTLS\r\n")
    assert d.starttls_offered
    a = d.handle_reply(reply(b"220 go\r\n"))
    assert isinstance(a, StartTls) and d.stage is Stage.TLS
    assert d.tls_established() == b"QUIT\r\n"
    assert d.banner == "220-one\n220 two"
    assert d.ehlo == ("250-mx", "250 STARTTLS")
    assert d.starttls_reply == "220 go"


@pytest.mark.parametrize(
    ("script", "status", "transient"),
    [
        ([b"421 busy\r\n"], ProbeStatus.BANNER_REJECTED, True),
        ([b"554 no\r\n"], ProbeStatus.BANNER_REJECTED, False),
        ([b"250 odd greeting\r\n"], ProbeStatus.PROTOCOL_ERROR, False),
        ([b"220 hi\r\n", b"451 later\r\n"], ProbeStatus.EHLO_FAILED, True),
        ([b"220 hi\r\n", b"502 no ehlo\r\n"], ProbeStatus.EHLO_FAILED, False),
        ([b"220 hi\r\n", b"250 mx\r\n"], ProbeStatus.STARTTLS_MISSING, False),
        (
            [b"220 hi\r\n", b"250-mx\r\n250 STARTTLS\r\n", b"454 no\r\n"],
            ProbeStatus.STARTTLS_REJECTED,
            True,
        ),
        (
            [b"220 hi\r\n", b"250-mx\r\n250 STARTTLS\r\n", b"554 no\r\n"],
            ProbeStatus.STARTTLS_REJECTED,
            False,
        ),
    ],
)
def test_dialogue_failures(script: list[bytes], status: ProbeStatus, transient: bool) -> None:
    d = ClientDialogue("probe.example")
    action = None
    for data in script:
        action = d.handle_reply(reply(data))
    assert isinstance(action, Finish)
    assert action.status is status
    assert action.transient is transient
    assert action.error.startswith("4xx ") is transient
    assert action.quit == b"QUIT\r\n"


def test_dialogue_rejects_bad_ehlo_name_and_misuse() -> None:
    with pytest.raises(ValueError):
        ClientDialogue("two words")
    d = ClientDialogue("x.example")
    with pytest.raises(RuntimeError):
        d.tls_established()


def test_feed_after_eof_is_a_caller_bug() -> None:
    parser = ReplyParser()
    parser.feed(b"220 hi\r\n")
    parser.feed_eof()
    parser.feed(b"")  # an empty read after EOF is harmless
    with pytest.raises(RuntimeError):
        parser.feed(b"250 late\r\n")
    assert parser.events(b"") == [Reply(220, ("220 hi",))]
    assert parser.next_event() is CLOSED


def test_take_leftover_refused_in_the_middle_of_a_reply() -> None:
    parser = ReplyParser()
    parser.feed(b"220-first line\r\n220 sec")
    assert parser.next_event() is NEED_DATA
    with pytest.raises(RuntimeError):
        parser.take_leftover()


def test_events_returns_every_completed_reply() -> None:
    parser = ReplyParser()
    assert parser.events(b"220 hi\r\n250-a\r\n250 b\r\n354 par") == [
        Reply(220, ("220 hi",)),
        Reply(250, ("250-a", "250 b")),
    ]
    assert parser.events(b"tial") == []
    assert parser.events(b"\n") == [Reply(354, ("354 partial",))]


def test_ehlo_keywords_skip_blank_extension_lines() -> None:
    # RFC 5321 §4.1.1.1: an ehlo-line starts with a keyword; a blank line offers nothing.
    r = reply(b"250-mx.example\r\n250-\r\n250-   \r\n250 STARTTLS\r\n")
    assert ehlo_keywords(r) == {"STARTTLS"}
    assert offers_starttls(r)


def test_dialogue_fed_through_its_own_parser() -> None:
    d = ClientDialogue("probe.example")
    d.receive_data(b"220-mx.example ESMTP\r\n")
    assert d.next_event() is NEED_DATA  # the greeting is awaited in full
    d.receive_data(b"220 ready\r\n")
    banner = d.next_event()
    assert isinstance(banner, Reply)
    assert d.handle_reply(banner) == Send(b"EHLO probe.example\r\n")
    d.receive_data(b"250 mx.example\r\n")
    ehlo = d.next_event()
    assert isinstance(ehlo, Reply)
    action = d.handle_reply(ehlo)
    assert isinstance(action, Finish) and action.status is ProbeStatus.STARTTLS_MISSING
    d.receive_data(b"221 bye\r\n")
    d.receive_eof()
    assert isinstance(d.next_event(), Reply)
    assert d.next_event() is CLOSED


@pytest.mark.parametrize("stage", ["tls", "quit"])
def test_dialogue_expects_no_reply_after_starttls(stage: str) -> None:
    d = ClientDialogue("probe.example")
    d.handle_reply(reply(b"220 hi\r\n"))
    d.handle_reply(reply(b"250-mx\r\n250 STARTTLS\r\n"))
    d.handle_reply(reply(b"220 go\r\n"))
    if stage == "quit":
        d.tls_established()
    assert d.stage.value == stage
    # During TLS the I/O layer owns the bytes; after QUIT the dialogue is over.
    with pytest.raises(RuntimeError, match=f"stage {stage}"):
        d.handle_reply(reply(b"221 bye\r\n"))


def test_dialogue_expects_no_reply_after_finish() -> None:
    d = ClientDialogue("probe.example")
    action = d.handle_reply(reply(b"554 go away\r\n"))
    assert isinstance(action, Finish) and d.stage is Stage.QUIT
    with pytest.raises(RuntimeError):
        d.handle_reply(reply(b"221 bye\r\n"))


# --------------------------------------------------------------------------- properties

code = st.sampled_from([b"220", b"250", b"354", b"421", b"454", b"550"])
text = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
eol = st.sampled_from([b"\r\n", b"\n"])


@st.composite
def wellformed_reply(draw: st.DrawFn) -> bytes:
    c = draw(code)
    more = draw(st.lists(st.tuples(text, eol), max_size=5))
    out = b"".join(c + b"-" + t + e for t, e in more)
    last = draw(st.one_of(st.just(b""), text.map(lambda t: b" " + t)))
    return out + c + last + draw(eol)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


@settings(max_examples=300)
@given(st.lists(wellformed_reply(), max_size=6), st.lists(st.integers(0, 10_000), max_size=12))
def test_wellformed_replies_parse_the_same_under_any_split(
    replies: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(replies)
    whole, err = parse_all([data])
    assert err is None and len(whole) == len(replies)
    assert parse_all(split(data, cuts)) == (whole, None)


# Hostile input: fragments that mix valid lines, junk, long runs and odd line ends.
fragment = st.one_of(
    wellformed_reply(),
    st.binary(max_size=60),
    st.sampled_from([b"\r", b"\n", b"\r\n", b"250-", b"250 ", b"220", b"-", b"\x00"]),
    st.integers(1, 3 * MAX_LINE).map(lambda n: b"a" * n),
    st.integers(1, 1100).map(lambda n: b"250-x\r\n" * n),
)


@settings(max_examples=300)
@given(
    st.lists(fragment, max_size=8), st.lists(st.integers(0, 100_000), max_size=12), st.booleans()
)
def test_any_input_any_split_same_outcome_only_protocol_error(
    fragments: list[bytes], cuts: list[int], eof: bool
) -> None:
    data = b"".join(fragments)
    whole = parse_all([data], eof=eof)  # raises for anything but ProtocolError
    assert parse_all(split(data, cuts), eof=eof) == whole
    if len(data) <= 5000:
        assert parse_all([data[i : i + 1] for i in range(len(data))], eof=eof) == whole
    for r in whole[0]:
        assert 200 <= r.code <= 599 and 1 <= len(r.lines) <= MAX_LINES
