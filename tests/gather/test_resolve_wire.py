"""The hand-written codec (scanner.gather.dnswire) against dnspython, the reference.

Property: for every message dnspython parses, ``dnswire.decode_reply`` gives an equal
``Reply``; for any bytes at all, it returns or raises ``MalformedReply``, nothing else.
Queries built by ``dnswire.encode_query`` are byte-identical to dnspython's.

Every test that uses the codec runs on each build of it (``codecs.IMPLEMENTATIONS``): the
module as written, and its mypyc compilation when that is what the scanner runs.
"""

from __future__ import annotations

import os
from types import ModuleType

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scanner.gather import codecs
from scanner.gather.dnsreply import MalformedReply, Reply, reply_from_message
from scanner.gather.dnswire import DnspythonCodec


@pytest.fixture(
    scope="module",
    params=codecs.IMPLEMENTATIONS,
    ids=codecs.build_name,
)
def dnswire(request: pytest.FixtureRequest) -> ModuleType:
    """A build of the codec (module scope: hypothesis allows no function-scoped fixture)."""
    build: ModuleType = request.param
    return build


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------- queries

label = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,20}", fullmatch=True)
names = st.lists(label, min_size=1, max_size=6).map(lambda ls: ".".join(ls).lower())
rdtypes = st.sampled_from([1, 2, 5, 6, 15, 16, 28, 43, 46, 48, 52, 255, 65, 4000])


@SETTINGS
@given(names, rdtypes, st.integers(0, 65535), st.booleans(), st.sampled_from([512, 1232, 4096]))
def test_encode_query_is_byte_identical(
    dnswire: ModuleType, qname: str, rdtype: int, qid: int, cd: bool, payload: int
) -> None:
    ref = DnspythonCodec().encode_query(qname, rdtype, qid, cd, payload)
    fast = dnswire.encode_query(qname, rdtype, qid, cd, payload)
    assert fast == ref


@SETTINGS
@given(st.from_regex(r"[A-Za-z0-9_*.\\-]{1,270}", fullmatch=True), st.booleans())
@example("a" * 63 + ".example", False)
@example("a" * 64 + ".example", False)
@example(".".join(["a" * 63] * 3 + ["b" * 61]), False)
@example(".".join(["a" * 63] * 3 + ["b" * 62]), False)
@example("mx.example.", False)
@example("a..b", False)
@example(".", False)
@example("Mx.Example", False)
def test_fast_codec_queries_and_names_asked_match_the_general_path(
    dnswire: ModuleType, name: str, cd: bool
) -> None:
    """``FastCodec`` builds a literal name's query in one pass (``_literal_wire``): the
    same octets as dnspython, and the same entry in its table of names asked as the
    general path (``_encode_name`` + ``asked_name``) gives, for any name."""
    codec = dnswire.FastCodec()
    try:
        ref: bytes | None = DnspythonCodec().encode_query(name, 16, 5, cd, 1232)
    except Exception:
        ref = None
    try:
        got: bytes | None = codec.encode_query(name, 16, 5, cd, 1232)
    except Exception:
        got = None
    assert got == ref
    try:
        wire = dnswire._encode_name(name)
    except UnicodeError:
        wire = None
    entry = dnswire.asked_name(name, wire) if wire is not None else None
    assert codec._asked == ({wire: entry} if entry is not None else {})
    assert dnswire._literal_wire(name) in (None, wire)


def test_encode_query_hands_odd_names_to_dnspython(dnswire: ModuleType) -> None:
    assert dnswire.encode_query("a\\.b.example", 1, 1, False, 1232) is None
    codec = dnswire.FastCodec()
    ref = DnspythonCodec().encode_query("a\\.b.example", 1, 7, True, 1232)
    assert codec.encode_query("a\\.b.example", 1, 7, True, 1232) == ref
    assert dnswire.encode_query(".", 2, 9, False, 1232) == DnspythonCodec().encode_query(
        ".", 2, 9, False, 1232
    )


# ----------------------------------------------------------------------------- replies

owners = st.sampled_from(
    ["a.example.", "A.Example.", "b.example.", "mx.provider.example.", "_25._tcp.mx.example."]
)
ttls = st.integers(0, 2**32 - 1)


@st.composite
def rdatas(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(
        st.sampled_from(["A", "AAAA", "MX", "CNAME", "TLSA", "TXT", "RRSIG", "SOA", "NS", "DS"])
    )
    if kind == "A":
        return kind, ".".join(str(draw(st.integers(0, 255))) for _ in range(4))
    if kind == "AAAA":
        groups = [draw(st.sampled_from([0, 0, 1, 0xFFFF, 0x2001, 0xDB8])) for _ in range(8)]
        return kind, ":".join(f"{g:x}" for g in groups)
    if kind == "MX":
        return kind, f"{draw(st.integers(0, 65535))} {draw(owners)}"
    if kind in ("CNAME", "NS"):
        return kind, draw(st.sampled_from(["a.example.", "B.example.", ".", "c.example."]))
    if kind == "TLSA":
        mtype = draw(st.integers(0, 3))
        size = {1: 32, 2: 64}.get(mtype, draw(st.integers(1, 80)))
        data = draw(st.binary(min_size=size, max_size=size)).hex()
        return kind, f"{draw(st.integers(0, 255))} {draw(st.integers(0, 255))} {mtype} {data}"
    if kind == "TXT":
        return kind, " ".join(
            f'"{s}"' for s in draw(st.lists(st.text("ab c;é", max_size=5), min_size=1))
        )
    if kind == "RRSIG":
        covered = draw(st.sampled_from(["A", "MX", "CNAME", "TLSA", "TYPE4000"]))
        alg = draw(st.sampled_from([5, 8, 13, 15]))
        signer = draw(st.sampled_from(["example.", "Example.", "provider.example.", "."]))
        exp, inc = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
        sig = draw(st.sampled_from(["AAAA", "BBBB", "CCCCCCCC"]))
        return (
            kind,
            f"{covered} {alg} 2 300 {exp} {inc} {draw(st.integers(0, 65535))} {signer} {sig}",
        )
    if kind == "SOA":
        return kind, "ns.example. admin.example. 1 2 3 4 5"
    return kind, "12345 13 2 " + "ab" * 32


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    q = dns.message.make_query(
        draw(owners), draw(st.sampled_from(["A", "MX", "TLSA", "AAAA"])), want_dnssec=True
    )
    q.id = draw(st.integers(0, 65535))
    r = dns.message.make_response(q)
    r.flags |= draw(st.sampled_from([0, dns.flags.AD, dns.flags.TC, dns.flags.AD | dns.flags.RA]))
    if not draw(st.booleans()):
        r.flags &= ~dns.flags.QR
    rcode = draw(st.sampled_from([0, 2, 3, 5, 1, 4, 9, 16, 23]))
    r.set_rcode(dns.rcode.Rcode.make(rcode))
    for _ in range(draw(st.integers(0, 6))):
        kind, text = draw(rdatas())
        r.answer.append(dns.rrset.from_text(draw(owners), draw(ttls), "IN", kind, text))
    if draw(st.booleans()):
        r.answer.append(dns.rrset.from_text("ch.example.", 60, "CH", "TXT", '"chaos"'))
    for _ in range(draw(st.integers(0, 2))):
        owner = draw(st.sampled_from(["example.", "Provider.example.", "."]))
        r.authority.append(
            dns.rrset.from_text(owner, 60, "IN", "SOA", "ns.example. admin.example. 1 2 3 4 5")
        )
    if draw(st.booleans()):
        r.authority.append(
            dns.rrset.from_text("a.example.", 60, "IN", "NSEC", "b.example. A RRSIG NSEC")
        )
    edes = draw(
        st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["", "bogus", "é ok"])), max_size=2)
    )
    options: list[dns.edns.Option] = [dns.edns.EDEOption(c, t or None) for c, t in edes]
    if draw(st.booleans()):
        options.append(dns.edns.GenericOption(65001, b"\x01\x02"))
    r.use_edns(0, dns.flags.DO, 1232, options=options)
    return r.to_wire(max_size=65535)


def reference(wire: bytes) -> Reply | None:
    try:
        msg = dns.message.from_wire(wire)
    except Exception:
        return None
    if msg.opcode() != 0:
        return None
    return reply_from_message(msg)


def fast(dnswire: ModuleType, wire: bytes) -> Reply | None:
    try:
        return dnswire.decode_reply(wire)
    except MalformedReply:
        return None


@SETTINGS
@given(replies())
def test_decode_equals_dnspython_on_generated_replies(dnswire: ModuleType, wire: bytes) -> None:
    ref = reference(wire)
    assert ref is not None
    assert fast(dnswire, wire) == ref


@SETTINGS
@given(replies(), st.data())
def test_decode_on_mutated_replies_matches_or_is_more_lenient(
    dnswire: ModuleType, wire: bytes, data: st.DataObject
) -> None:
    mutated = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if not mutated:
            break
        i = data.draw(st.integers(0, len(mutated) - 1))
        if op == "flip":
            mutated[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del mutated[i:]
        else:
            mutated.insert(i, data.draw(st.integers(0, 255)))
    blob = bytes(mutated)
    ref = reference(blob)
    got = fast(dnswire, blob)  # must not raise anything but MalformedReply (caught in fast())
    if ref is not None:
        assert got == ref


@SETTINGS
@given(st.binary(max_size=300))
def test_decode_garbage_never_crashes(dnswire: ModuleType, blob: bytes) -> None:
    ref = reference(blob)
    got = fast(dnswire, blob)
    if ref is not None:
        assert got == ref


def asked_first(dnswire: ModuleType, wire: bytes) -> Reply | None:
    """``FastCodec``'s decoding of ``wire`` once it has asked the question of the reply
    (its names read from the table of names asked, not label by label)."""
    codec = dnswire.FastCodec()
    question = dns.message.from_wire(wire).question[0]
    name = question.name.to_text().lower().rstrip(".")
    codec.encode_query(name, question.rdtype, 1, False, 1232)
    try:
        return codec.decode_reply(wire)
    except MalformedReply:
        return None


@SETTINGS
@given(replies())
def test_decode_of_an_asked_question_equals_dnspython(dnswire: ModuleType, wire: bytes) -> None:
    lower = wire[:12] + wire[12:].replace(b"Example", b"example").replace(b"A", b"a")
    for blob in (wire, lower):
        ref = reference(blob)
        if ref is not None:
            assert asked_first(dnswire, blob) == ref


@SETTINGS
@given(replies(), st.data())
def test_decode_of_an_asked_question_on_mutated_replies(
    dnswire: ModuleType, wire: bytes, data: st.DataObject
) -> None:
    codec = dnswire.FastCodec()
    msg = dns.message.from_wire(wire)
    codec.encode_query(msg.question[0].name.to_text().lower().rstrip("."), 1, 1, False, 1232)
    mutated = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(mutated) - 1))
        mutated[i] = data.draw(st.integers(0, 255))
    blob = bytes(mutated)
    ref = reference(blob)
    try:
        got: Reply | None = codec.decode_reply(blob)
    except MalformedReply:
        got = None
    if ref is not None:
        assert got == ref


def test_wrong_length_tlsa_is_kept_where_dnspython_refuses(dnswire: ModuleType) -> None:
    q = dns.message.make_query("_25._tcp.mx.example.", "TLSA", want_dnssec=True)
    r = dns.message.make_response(q)
    digest = bytes(range(32))
    r.answer.append(
        dns.rrset.from_text(q.question[0].name, 60, "IN", "TLSA", f"3 1 1 {digest.hex()}")
    )
    wire = r.to_wire().replace(
        b"\x00\x23\x03\x01\x01" + digest, b"\x00\x22\x03\x01\x01" + digest[:31]
    )
    assert reference(wire) is None
    got = fast(dnswire, wire)
    assert got is not None and got.answer[0].records == (f"3 1 1 {digest[:31].hex()}",)
    assert DnspythonCodec().decode_reply(wire) == got


def test_oversized_and_short_messages(dnswire: ModuleType) -> None:
    with pytest.raises(MalformedReply):
        dnswire.decode_reply(b"\x00" * 11)
    with pytest.raises(MalformedReply):
        dnswire.decode_reply(b"\x00" * 65536)
    with pytest.raises(MalformedReply):
        DnspythonCodec().decode_reply(b"\x00" * 65536)


CORPUS = os.path.join(os.path.dirname(__file__), "data", "resolve_replies.bin")


def _corpus() -> list[bytes]:
    with open(CORPUS, "rb") as fh:
        blob = fh.read()
    out, pos = [], 0
    while pos < len(blob):
        size = int.from_bytes(blob[pos : pos + 2], "big")
        out.append(blob[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return out


@pytest.mark.skipif(not os.path.exists(CORPUS), reason="no captured replies")
def test_decode_equals_dnspython_on_captured_replies(dnswire: ModuleType) -> None:
    """Real replies of the local world's Unbound (``bench/bench_resolve.py --capture``)."""
    wires = _corpus()
    assert len(wires) > 100
    for wire in wires:
        ref = reference(wire)
        assert ref is not None
        assert fast(dnswire, wire) == ref, wire.hex()


def test_names_with_escapes_decode_like_dnspython(dnswire: ModuleType) -> None:
    name = dns.name.Name([b"we(ird", b"a.b", b"\x00\xff", b"Example", b""])
    q = dns.message.make_query(name, "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", "target.example."))
    wire = r.to_wire()
    assert fast(dnswire, wire) == reference(wire)


@SETTINGS
@given(st.from_regex(r"[A-Za-z0-9_*.-]{1,270}", fullmatch=True))
@example("a" * 63 + ".example")
@example("a" * 64 + ".example")
@example(".".join(["a" * 63] * 3 + ["b" * 61]))
@example(".".join(["a" * 63] * 3 + ["b" * 61]) + ".")
@example(".".join(["a" * 63] * 3 + ["b" * 62]))
@example("a..b")
@example(".")
def test_question_name_fast_path_agrees_with_dnspython(name: str) -> None:
    from scanner.gather.dnsreply import canonical_name
    from scanner.gather.resolve import _qname

    try:
        ref: str | None = canonical_name(dns.name.from_text(name))
    except Exception:
        ref = None
    try:
        got: str | None = _qname(name)
    except ValueError:
        got = None
    assert got == ref


odd_labels = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=12),  # any octet: escapes, dots, spaces, non-ASCII
        st.sampled_from([b"a.b", b"A\\B", b'"q"', b"x y", b"@", b"$ORIGIN", b"\xff\x00"]),
        label.map(str.encode),
    ),
    min_size=1,
    max_size=5,
)


@SETTINGS
@given(odd_labels, odd_labels)
def test_names_with_octets_that_need_escapes_read_as_dnspython_writes_them(
    dnswire: ModuleType, owner_labels: list[bytes], target_labels: list[bytes]
) -> None:
    """Owner and CNAME target names of any octets: the same text as dnspython's."""
    owner = dns.name.Name([*owner_labels, b""])
    target = dns.name.Name([*target_labels, b""])
    q = dns.message.make_query(owner, "A", want_dnssec=True)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_rdata(owner, 60, cname_rdata(target)))
    wire = r.to_wire()
    assert dnswire.decode_reply(wire) == reply_from_message(dns.message.from_wire(wire))


def cname_rdata(target: dns.name.Name) -> dns.rdata.Rdata:
    import dns.rdtypes.ANY.CNAME

    return dns.rdtypes.ANY.CNAME.CNAME(dns.rdataclass.IN, dns.rdatatype.CNAME, target)


def test_names_read_again_come_from_the_table_of_texts_and_only_when_they_match(
    dnswire: ModuleType,
) -> None:
    """``_read_name`` remembers the text of the names it read; a name whose labels
    joined by dots give the same octets as another's (``a.b`` as one label, against
    ``a`` and ``b``) is not taken for it, and a name with escapes reads the same twice."""
    dnswire._name_text.clear()
    for labels in ([b"mx", b"example"], [b"mx.example"], [b"W(eird", b"Example"]) * 2:
        name = dns.name.Name([*labels, b""])
        q = dns.message.make_query("q.example.", "MX")
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text("q.example.", 60, "IN", "MX", f"10 {name}"))
        wire = r.to_wire()
        assert dnswire.decode_reply(wire) == reply_from_message(dns.message.from_wire(wire))
    assert dnswire._name_text[b"mx.example"] == "mx.example"
    assert "w\\(eird.example" in dnswire._name_text.values()


def test_the_table_of_name_texts_is_bounded(dnswire: ModuleType) -> None:
    dnswire._name_text.clear()
    for i in range(dnswire._MAX_NAME_TEXTS + 1):
        dnswire._read_name(bytes([1, 97, 2]) + f"{i % 100:02d}".encode() + b"\x01x\x00", 0, 99)
        if i == 100:
            assert len(dnswire._name_text) == 100
    dnswire._name_text.clear()
    n = dnswire._MAX_NAME_TEXTS
    for i in range(n + 1):
        label = f"h{i}".encode()
        dnswire._read_name(bytes([len(label)]) + label + b"\x00", 0, 99)
    assert len(dnswire._name_text) == 1  # emptied when full, then the newest
