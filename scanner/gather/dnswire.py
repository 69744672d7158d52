"""The two DNS codecs: dnspython's (the reference) and a hand-written one for the hot path.

``DnspythonCodec`` builds and parses with ``dns.message``; ``FastCodec`` is the
hand-written codec below (NOTES: dnspython costs ~230 µs/query).

The resolver needs little of a reply: the header (id, flags, RCODE), the question, the
answer section (owner, type, TTL, rdata of the few types the crawler asks for, RRSIGs),
the owners of SOA records in the authority section, and the EDNS OPT record (extended
RCODE, EDE options). This module reads exactly that from the wire and builds queries
from a fixed template, producing the same ``dnsreply.Reply`` as the dnspython codec.

Equivalence with dnspython (tested in ``tests/gather/test_resolve_wire.py`` on
hypothesis-generated and real messages): whenever dnspython parses a message, this
codec parses it too and gives an equal ``Reply``. The other way round it is more
lenient, on purpose, in three places:

- rdata in the authority and additional sections is only bounds-checked, not parsed
  (the resolver reads nothing there but SOA owner names);
- a TLSA record whose association data has the wrong length for its matching type is
  kept (dnspython 2.9 rejects the whole message; DESIGN §4 wants the record recorded
  and judged unusable by the rules);
- EDNS options other than EDE are skipped without looking inside.

Answer-section rdata of types other than A, AAAA, CNAME, MX, TLSA and RRSIG is handed to
dnspython one record at a time (``dns.rdata.from_wire``), so presentation stays
dnspython's. Names are decoded with dnspython's rules: compression pointers must point
backwards and not into the name itself, at most 16 hops, labels of at most 63 octets,
names of at most 255.

The module is also compiled by mypyc when the package is installed (setup.py; which build
runs: ``scanner.gather.codecs``). Its code is plain typed Python, and the codec tests run
on both builds: mypyc is not CPython everywhere (``decode_reply``'s one ``except``).
"""

from __future__ import annotations

import socket
import struct
from typing import Final

import dns.ipv6
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from scanner.core.model import Ede, Rrsig
from scanner.gather.dnsreply import (
    MAX_MESSAGE,
    AnswerRRset,
    MalformedReply,
    Reply,
    rdata_text,
    reply_from_message,
)

__all__ = ["DnspythonCodec", "FastCodec", "decode_reply", "encode_query"]

# Final: constants the mypyc build (setup.py) reads without a module-dict lookup.
_HEADER: Final = struct.Struct("!HHHHHH")
_RR: Final = struct.Struct("!HHIH")
_TYPE_CLASS_LEN: Final = struct.Struct("!HH4xH")  # a record's header without its TTL
_RRSIG: Final = struct.Struct("!HBBIIIH")
_OPTION: Final = struct.Struct("!HH")

T_A: Final = 1
T_NS: Final = 2
T_CNAME: Final = 5
T_SOA: Final = 6
T_PTR: Final = 12
T_MX: Final = 15
T_AAAA: Final = 28
T_SRV: Final = 33
T_DNAME: Final = 39
T_OPT: Final = 41
T_RRSIG: Final = 46
T_NSEC: Final = 47
T_TLSA: Final = 52
T_TSIG: Final = 250
C_IN: Final = 1
_SINGLETONS: Final = frozenset({T_SOA, 30, T_DNAME, T_NSEC, T_CNAME})  # dnspython's (30 = NXT)
_NAME_TYPES: Final = frozenset({T_CNAME, T_NS, T_PTR, T_DNAME, T_MX, T_SRV})
_EDE: Final = 15
_MAX_POINTER_HOPS: Final = 16

# Octets dnspython writes literally in a label; everything else is escaped.
_LITERAL: Final = bytes(c for c in range(0x21, 0x7F) if c not in b'"().;\\@$')
_LITERAL_OR_DOT: Final = _LITERAL + b"."
# The same without capitals: a name made of these only is its own canonical text.
_LOWER_LITERAL_OR_DOT: Final = bytes(c for c in _LITERAL_OR_DOT if not 0x41 <= c <= 0x5A)
# The length octet of a label, by length (labels are 1-63 octets: RFC 1035 §2.3.4).
_LENGTH: Final = tuple(bytes((n,)) for n in range(64))
_rcode_text: dict[int, str] = {}
_type_text: dict[int, str] = {}


def _rcode_name(value: int) -> str:
    text = _rcode_text.get(value)
    if text is None:
        text = _rcode_text[value] = dns.rcode.to_text(dns.rcode.Rcode.make(value))
    return text


def _type_name(value: int) -> str:
    text = _type_text.get(value)
    if text is None:
        text = _type_text[value] = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(value))
    return text


class _Bad(Exception):
    """Internal: the message is malformed (turned into ``MalformedReply``)."""


def _read_name(wire: bytes, pos: int, end: int, decompress: bool = True) -> tuple[str, int]:
    """Decode the (possibly compressed) name at ``pos``; return (canonical text, next pos).

    ``end`` bounds the first segment (the rdata or the message); after a pointer the
    segment may not reach the start of the previous one (dnspython's ``restrict_end``).
    """
    labels: list[bytes] = []
    after: int | None = None  # where parsing resumes after the first pointer
    biggest = pos
    limit = end
    hops = 0
    length = 1
    start = pos
    while True:
        if pos >= limit:
            raise _Bad("name runs past its end")
        count = wire[pos]
        pos += 1
        if count == 0:
            break
        if count < 64:
            if pos + count > limit:
                raise _Bad("label runs past its end")
            labels.append(wire[pos : pos + count])
            pos += count
            length += count + 1
            if length > 255:
                raise _Bad("name longer than 255 octets")
        elif count >= 192:
            if not decompress:
                raise _Bad("compressed name where compression is forbidden")
            if pos >= limit:
                raise _Bad("compression pointer runs past its end")
            target = ((count & 0x3F) << 8) | wire[pos]
            pos += 1
            if target >= biggest:
                raise _Bad("compression pointer does not point backwards")
            biggest = target
            hops += 1
            if hops > _MAX_POINTER_HOPS:
                raise _Bad("compression pointer chain too long")
            if after is None:
                after = pos
            limit = start
            pos = start = target
        else:
            raise _Bad("bad label type")
    if not labels:
        return ".", pos if after is None else after
    raw = b".".join(labels)
    if raw.count(46) != len(labels) - 1:  # a dot inside a label: dnspython escapes it
        text = dns.name.Name([*labels, b""]).to_text().lower()
        return text[:-1], pos if after is None else after
    # The dots are the separators, so ``raw`` names these labels and no others: its
    # text is the one read before, if any (replies repeat a few names: MX hosts,
    # signers, zones), which spares looking at each octet and lowering the text.
    known = _name_text.get(raw)
    if known is None:
        known = _text_of(raw, labels)
    return known, pos if after is None else after


# The text of the names read (``_read_name``), by their labels joined with dots; bounded,
# emptied when full (a scan reads names of many domains, most only once or twice).
_name_text: dict[bytes, str] = {}
_MAX_NAME_TEXTS = 4096


def _text_of(raw: bytes, labels: list[bytes]) -> str:
    """The canonical text of ``labels`` (``raw``: them joined by dots, no dot inside one),
    remembered in ``_name_text``."""
    if raw.translate(None, _LITERAL_OR_DOT):  # an octet dnspython escapes
        text = dns.name.Name([*labels, b""]).to_text().lower()[:-1]
    else:
        text = raw.decode("ascii").lower()
    if len(_name_text) >= _MAX_NAME_TEXTS:
        _name_text.clear()
    _name_text[raw] = text
    return text


def _skip_name(wire: bytes, pos: int, end: int) -> int:
    """Bounds-check a name and return the position after it (no pointer validation)."""
    while True:
        if pos >= end:
            raise _Bad("name runs past its end")
        count = wire[pos]
        if count == 0:
            return pos + 1
        if count >= 192:
            if pos + 2 > end:
                raise _Bad("compression pointer runs past its end")
            return pos + 2
        if count >= 64:
            raise _Bad("bad label type")
        pos += 1 + count


def _rdata(wire: bytes, rdtype: int, rdclass: int, pos: int, rdlen: int) -> str:
    """Presentation form of one answer rdata (``dnsreply.rdata_text``'s conventions)."""
    end = pos + rdlen
    if rdclass == C_IN:
        if rdtype == T_A:
            if rdlen != 4:
                raise _Bad("A record of the wrong length")
            return socket.inet_ntoa(wire[pos:end])
        if rdtype == T_AAAA:
            if rdlen != 16:
                raise _Bad("AAAA record of the wrong length")
            return dns.ipv6.inet_ntoa(wire[pos:end])
    if rdtype == T_CNAME:
        name, after = _read_name(wire, pos, end)
        if after != end:
            raise _Bad("CNAME rdata longer than its name")
        return name + "." if name != "." else "."
    if rdtype == T_MX:
        if rdlen < 3:
            raise _Bad("MX rdata too short")
        name, after = _read_name(wire, pos + 2, end)
        if after != end:
            raise _Bad("MX rdata longer than its name")
        pref = (wire[pos] << 8) | wire[pos + 1]
        return f"{pref} {name}." if name != "." else f"{pref} ."
    if rdtype == T_TLSA:
        if rdlen < 3:
            raise _Bad("TLSA rdata too short")
        data = wire[pos + 3 : end].hex()
        return f"{wire[pos]} {wire[pos + 1]} {wire[pos + 2]} {data}"
    try:
        rd = dns.rdata.from_wire(
            dns.rdataclass.RdataClass.make(rdclass),
            dns.rdatatype.RdataType.make(rdtype),
            wire,
            pos,
            rdlen,
        )
    except Exception as exc:  # dnspython raises many types on hostile input
        raise _Bad(f"bad {_type_name(rdtype)} rdata: {exc}") from exc
    return rdata_text(rd)


def _rrsig(wire: bytes, pos: int, rdlen: int) -> tuple[Rrsig, int]:
    """One RRSIG's facts, and where its signer's name ends (its signature begins)."""
    end = pos + rdlen
    if rdlen < _RRSIG.size + 1:
        raise _Bad("RRSIG rdata too short")
    covered, alg, _labels, _ttl, expiration, inception, _tag = _RRSIG.unpack_from(wire, pos)
    signer, after = _read_name(wire, pos + _RRSIG.size, end, decompress=False)
    sig = Rrsig(
        covered=_type_name(covered),
        algorithm=alg,
        signer=signer,
        expiration=expiration,
        inception=inception,
    )
    return sig, after


# What a literal question name (``_literal``) at octet 12 of a message reads as: its
# text (lower case, no final dot) and the octet after its root label. It stands for the
# name's suffixes too: in a name without escapes, the label that starts ``k`` octets
# into the wire form starts ``k`` characters into the text (each length octet stands
# where the dot before the label stands), so the suffix a compression pointer names is a
# slice, worked out only when an owner points there (``_suffix``; no table, no object
# per name: a plain tuple, which is also ``FastCodec``'s entry for a name it asked).
_Asked = tuple[str, int]


def _suffix(known: _Asked, pointer: int) -> str | None:
    """The suffix of ``known`` that starts at message offset ``pointer``, or None when no
    label of the name starts there."""
    text = known[0]
    at = pointer - 12
    if 0 <= at < len(text) and (at == 0 or text[at - 1] == "."):
        return text[at:]
    return None


def _literal(qname: str) -> bool:
    """Is ``qname`` lower case, without escapes, and not the root (the text a suffix
    slice of ``_suffix`` is right for)?"""
    raw = qname.encode("ascii", "replace")
    return qname != "." and not raw.translate(None, _LITERAL_OR_DOT) and raw == raw.lower()


def asked_name(qname: str, name_wire: bytes) -> _Asked | None:
    """The ``_Asked`` entry of a name this client encoded (``FastCodec``), or None when
    its text is not what ``_read_name`` would give for these octets (capitals, escapes)."""
    # A literal name's wire form is one octet longer than its text at each end.
    if len(name_wire) != len(qname) + 2 or qname.endswith(".") or not _literal(qname):
        return None
    return qname, 12 + len(name_wire)


def decode_reply(wire: bytes, asked: dict[bytes, _Asked] | None = None) -> Reply:
    """Parse a response into a ``Reply``; raise ``MalformedReply`` if it is not one.

    ``asked`` maps the wire form of question names this client sent to their text
    (``asked_name``): a reply whose question name is one of them is not decoded again
    (the same ``Reply``, cheaper).
    """
    try:
        return _decode(wire, asked)
    # One clause, told apart by isinstance: the mypyc build (setup.py) let an IndexError
    # into a separate ``except _Bad`` clause (tests/gather/test_resolve_wire.py).
    except (_Bad, struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        why = str(exc) if isinstance(exc, _Bad) else f"{type(exc).__name__}: {exc}"
        raise MalformedReply(f"unparseable reply: {why}") from None


def _question_suffixes(wire: bytes, qname: str, end: int) -> _Asked | None:
    """The suffixes of a pointer-free question name, whose text is ``qname``.

    Answer owners and SOA owners are nearly always a compression pointer to the question
    name or to one of its suffixes; ``_owner`` reads those from here. None when the
    question name uses a pointer itself or needed escapes (the general path then).
    """
    if end - 12 != len(qname) + 2 or not _literal(qname):
        return None
    pos = 12
    for label in qname.split("."):
        if wire[pos] != len(label):
            return None
        pos += len(label) + 1
    return (qname, end) if wire[pos] == 0 else None


def _owner(wire: bytes, pos: int, size: int, known: _Asked | None) -> tuple[str, int]:
    """``_read_name`` at ``pos``, without decoding again a name that is just a pointer to
    a question suffix lying wholly before ``pos`` (what ``_read_name`` would accept)."""
    if known is not None and wire[pos] >= 192 and pos + 1 < size and known[1] <= pos:
        hit = _suffix(known, ((wire[pos] & 0x3F) << 8) | wire[pos + 1])
        if hit is not None:
            return hit, pos + 2
    return _read_name(wire, pos, size)


def _decode(wire: bytes, asked: dict[bytes, _Asked] | None) -> Reply:
    size = len(wire)
    if size > MAX_MESSAGE:
        raise _Bad(f"message of {size} bytes exceeds {MAX_MESSAGE}")
    if size < 12:
        raise _Bad("shorter than a DNS header")
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire, 0)
    if (flags >> 11) & 0xF:
        raise _Bad("not a QUERY message")
    pos = 12
    qname: str | None = None
    qtype: int | None = None
    known: _Asked | None = None
    if asked and qdcount:
        # The octets up to the first zero are exactly a name we asked: it reads as that.
        zero = wire.find(0, 12)
        hit = asked.get(wire[12 : zero + 1]) if zero > 0 else None
        if hit is not None and zero + 5 <= size:
            qname = hit[0]
            known = hit
            qtype = (wire[zero + 1] << 8) | wire[zero + 2]
            pos = zero + 5
            qdcount -= 1
    for i in range(qdcount):
        name, pos = _read_name(wire, pos, size)
        if pos + 4 > size:
            raise _Bad("question runs past the end")
        if i == 0 and qname is None:
            qname = name
            qtype = (wire[pos] << 8) | wire[pos + 1]
            if ancount or nscount:
                known = _question_suffixes(wire, name, pos)
        pos += 4

    answer: tuple[AnswerRRset, ...] = ()
    rrsigs: tuple[tuple[str, Rrsig], ...] = ()
    if ancount:  # none in most replies of a scan (NXDOMAIN, NODATA): no tables to build
        answer, rrsigs, pos = _answer(wire, pos, size, ancount, known)

    # The authority section: only the owners of SOA RRsets are read (one entry per
    # owner and class, as dnspython groups them; a dict made at the first SOA).
    soa: dict[tuple[str, int], str] | None = None
    for _ in range(nscount):
        start = pos
        if pos < size and wire[pos] >= 192:
            pos += 2  # a compression pointer: checked when it is an SOA's owner
        else:
            pos = _skip_name(wire, pos, size)
        if pos + 10 > size:
            raise _Bad("record header runs past the end")
        rdtype, rdclass, rdlen = _TYPE_CLASS_LEN.unpack_from(wire, pos)
        if rdtype == T_SOA:
            owner, _ = _owner(wire, start, size, known)
            if soa is None:
                soa = {(owner, rdclass): owner}
            else:
                soa.setdefault((owner, rdclass), owner)
        elif rdtype in (T_OPT, T_TSIG):
            raise _Bad(f"{_type_name(rdtype)} record in the authority section")
        pos += 10 + rdlen
        if pos > size:
            raise _Bad("rdata runs past the end")

    ext_rcode = 0
    ede: tuple[Ede, ...] = ()
    seen_opt = False
    for _ in range(arcount):
        start = pos
        pos = _skip_name(wire, pos, size)
        if pos + 10 > size:
            raise _Bad("record header runs past the end")
        rdtype, _rdclass, ttl, rdlen = _RR.unpack_from(wire, pos)
        pos += 10
        if pos + rdlen > size:
            raise _Bad("rdata runs past the end")
        if rdtype == T_TSIG:
            raise _Bad("TSIG-signed reply (no key)")
        if rdtype == T_OPT:
            if seen_opt or wire[start] != 0:
                raise _Bad("a second OPT record, or one not owned by the root")
            seen_opt = True
            ext_rcode = ttl >> 24
            if rdlen:
                ede = _options(wire, pos, pos + rdlen)
        pos += rdlen
    if pos != size:
        raise _Bad("trailing octets after the message")
    rcode = (flags & 0xF) | (ext_rcode << 4)
    return Reply(
        qid,
        bool(flags & 0x8000),
        _rcode_text.get(rcode) or _rcode_name(rcode),
        bool(flags & 0x0020),
        bool(flags & 0x0200),
        qname,
        qtype,
        answer,
        rrsigs,
        tuple(soa.values()) if soa else (),
        ede,
    )


def _answer(
    wire: bytes, pos: int, size: int, count: int, known: _Asked | None
) -> tuple[tuple[AnswerRRset, ...], tuple[tuple[str, Rrsig], ...], int]:
    """The answer section's ``count`` records from ``pos``: its RRsets, its RRSIGs with
    their owners, and where the section ends.

    Grouped into RRsets as dnspython does (same owner, class, type, covered type), in
    order of first appearance, TTL the minimum, equal records once. Records of the name
    types are lower-case already, so "equal" is plain string equality.
    """
    groups: dict[tuple[str, int, int, int], tuple[list[str], list[int], dict[bytes, Rrsig]]] = {}
    for _ in range(count):
        owner, pos = _owner(wire, pos, size, known)
        if pos + 10 > size:
            raise _Bad("record header runs past the end")
        rdtype, rdclass, ttl, rdlen = _RR.unpack_from(wire, pos)
        pos += 10
        if pos + rdlen > size:
            raise _Bad("rdata runs past the end")
        if ttl > 0x7FFFFFFF:
            ttl = 0
        if rdtype == T_RRSIG:
            sig, signer_end = _rrsig(wire, pos, rdlen)
            key = (owner, rdclass, rdtype, (wire[pos] << 8) | wire[pos + 1])
            # dnspython's equality: the fixed fields, the signer (case-insensitively)
            # and the signature.
            sig_key = b"|".join(
                (
                    wire[pos : pos + _RRSIG.size],
                    sig.signer.encode(),
                    wire[signer_end : pos + rdlen],
                )
            )
            pos += rdlen
            group = groups.get(key)
            if group is None:
                groups[key] = ([], [ttl], {sig_key: sig})
                continue
            if ttl < group[1][0]:
                group[1][0] = ttl
            group[2].setdefault(sig_key, sig)
            continue
        if rdtype in (T_OPT, T_TSIG):
            raise _Bad(f"{_type_name(rdtype)} record in the answer section")
        text = _rdata(wire, rdtype, rdclass, pos, rdlen)
        pos += rdlen
        key = (owner, rdclass, rdtype, 0)
        group = groups.get(key)
        if group is None:
            groups[key] = ([text], [ttl], {})
            continue
        if ttl < group[1][0]:
            group[1][0] = ttl
        texts = group[0]
        if rdtype in _SINGLETONS:
            texts.clear()
        if text not in texts:
            texts.append(text)

    answer: list[AnswerRRset] = []
    rrsigs: list[tuple[str, Rrsig]] = []
    for key, (texts, ttl_box, sigs) in groups.items():
        owner, rdclass, rdtype, _covers = key
        if rdclass != C_IN:
            continue
        if rdtype == T_RRSIG:
            for sig in sigs.values():
                rrsigs.append((owner, sig))
        else:
            answer.append(AnswerRRset(owner, rdtype, ttl_box[0], tuple(texts)))
    return tuple(answer), tuple(rrsigs), pos


def _options(wire: bytes, opos: int, oend: int) -> tuple[Ede, ...]:
    """The EDE options of an OPT record's rdata (the others are skipped)."""
    ede: list[Ede] = []
    while opos < oend:
        if opos + 4 > oend:
            raise _Bad("EDNS option header runs past its end")
        code, olen = _OPTION.unpack_from(wire, opos)
        opos += 4
        if opos + olen > oend:
            raise _Bad("EDNS option runs past its end")
        if code == _EDE:
            if olen < 2:
                raise _Bad("EDE option too short")
            info = (wire[opos] << 8) | wire[opos + 1]
            raw = wire[opos + 2 : opos + olen]
            if raw and raw[-1] == 0:  # the text MAY be NUL-terminated
                raw = raw[:-1]
            ede.append(Ede(code=info, text=raw.decode("utf-8")))
        opos += olen
    return tuple(ede)


_qname_cache: dict[str, bytes] = {}


def _encode_name(qname: str) -> bytes | None:
    """Wire form of a canonical name, or None when it needs dnspython (escapes)."""
    cached = _qname_cache.get(qname)
    if cached is not None:
        return cached
    if "\\" in qname:
        return None
    if qname == ".":
        return b"\x00"
    out = bytearray()
    for label in qname.split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            return None
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > 255:
        return None
    wire = bytes(out)
    if len(_qname_cache) < 65536:
        _qname_cache[qname] = wire
    return wire


def encode_query(qname: str, rdtype: int, qid: int, cd: bool, payload: int) -> bytes | None:
    """A query identical to ``DnspythonCodec.encode_query``'s, or None for odd names.

    Header: RD (and CD) set, one question, one additional record; the OPT record: root
    owner, the payload as class, extended RCODE 0, version 0, DO set, no options.
    """
    name = _encode_name(qname)
    if name is None:
        return None
    return _query(name, rdtype, qid, cd, payload)


def _literal_wire(qname: str) -> bytes | None:
    """The wire form of a name ``asked_name`` accepts (lower case, no escapes, labels of
    1-63 octets, no final dot), in one pass over its text; None for any other name.

    ``FastCodec`` asks mostly names never asked before, so a cache of wire forms
    (``_encode_name``'s) seldom hits there, and this builds the form and vouches for the
    entry of the names asked at once instead of looking at the text twice.
    """
    if not qname.isascii():
        return None
    raw = qname.encode()
    if raw.translate(None, _LOWER_LITERAL_OR_DOT) or len(raw) > 253:
        return None
    labels = raw.split(b".")
    if b"" in labels:  # the root, a final dot, or an empty label
        return None
    try:
        return b"".join([_LENGTH[len(label)] + label for label in labels]) + b"\x00"
    except IndexError:  # a label longer than 63 octets
        return None


_TAIL = struct.Struct("!HHBHHIH")
_tails: dict[tuple[int, int], bytes] = {}


def _query(name: bytes, rdtype: int, qid: int, cd: bool, payload: int) -> bytes:
    tail = _tails.get((rdtype, payload))
    if tail is None:
        tail = _tails[(rdtype, payload)] = _TAIL.pack(rdtype, C_IN, 0, T_OPT, payload, 0x8000, 0)
    return _HEADER.pack(qid, 0x0110 if cd else 0x0100, 1, 0, 0, 1) + name + tail


class DnspythonCodec:
    """The reference codec: ``dns.message`` builds and parses everything."""

    def encode_query(self, qname: str, rdtype: int, qid: int, cd: bool, payload: int) -> bytes:
        q = dns.message.make_query(
            qname,
            dns.rdatatype.RdataType.make(rdtype),
            use_edns=0,
            want_dnssec=True,
            payload=payload,
        )
        q.id = qid
        if cd:
            q.flags |= dns.flags.CD
        return q.to_wire()

    def decode_reply(self, wire: bytes) -> Reply:
        if len(wire) > MAX_MESSAGE:
            raise MalformedReply(f"message of {len(wire)} bytes exceeds {MAX_MESSAGE}")
        if len(wire) >= 4 and (wire[2] >> 3) & 0xF:
            raise MalformedReply("unparseable reply: not a QUERY message (opcode)")
        try:
            msg = dns.message.from_wire(wire)
        except Exception as exc:  # dnspython raises many types on hostile input
            # dnspython refuses whole messages for things DESIGN wants recorded, such as
            # a TLSA record whose data length does not fit its matching type. The
            # hand-written decoder is lenient exactly there (module docstring).
            try:
                return decode_reply(wire)
            except MalformedReply:
                pass
            raise MalformedReply(f"unparseable reply: {type(exc).__name__}: {exc}") from exc
        return reply_from_message(msg)


class FastCodec:
    """The hand-written codec, falling back to dnspython for names it does not handle.

    It remembers the question names it encoded (a bounded table, emptied when full), so
    that a reply's question name and the owner names pointing into it are read by one
    lookup instead of label by label.
    """

    MAX_ASKED = 8192

    def __init__(self) -> None:
        self._fallback = DnspythonCodec()
        self._asked: dict[bytes, _Asked] = {}

    def encode_query(self, qname: str, rdtype: int, qid: int, cd: bool, payload: int) -> bytes:
        asked = self._asked
        name = _literal_wire(qname)
        if name is not None:
            if name not in asked:
                if len(asked) >= self.MAX_ASKED:
                    asked.clear()
                asked[name] = (qname, 12 + len(name))  # what asked_name gives
            return _query(name, rdtype, qid, cd, payload)
        name = _encode_name(qname)
        if name is None:
            return self._fallback.encode_query(qname, rdtype, qid, cd, payload)
        if name not in asked:
            entry = asked_name(qname, name)
            if entry is not None:
                if len(asked) >= self.MAX_ASKED:
                    asked.clear()
                asked[name] = entry
        return _query(name, rdtype, qid, cd, payload)

    def decode_reply(self, wire: bytes) -> Reply:
        return decode_reply(wire, self._asked)
