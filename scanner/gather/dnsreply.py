"""A DNS reply as the resolver client sees it, whatever codec parsed it.

What must live here: ``Reply`` and ``AnswerRRset`` (the parts of a response the resolver
uses), the ``Codec`` protocol both codecs implement (``scanner.gather.dnswire``), the
presentation rules of ``DnsLookup.records`` (``rdata_text``, ``canonical_name``) and
the ``Reply`` view of a dnspython message. It imports neither codec nor the resolver,
so the resolver and the codecs depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG

from scanner.core.model import Ede, Rrsig

MAX_MESSAGE = 65535  # RFC 1035 §4.2.2: a TCP length prefix is 16 bits; UDP cannot exceed it


class MalformedReply(Exception):
    """A datagram or TCP message that is not a parseable DNS response."""


@dataclass(slots=True)
class AnswerRRset:
    """One RRset of an answer section: owner (canonical), type code, TTL, presentation.

    Not frozen, like ``Reply``: a frozen dataclass's ``__init__`` costs ~7× a plain one
    (``object.__setattr__`` per field), and a scan builds a few of these per query.
    Nothing changes them after decoding."""

    owner: str
    rdtype: int
    ttl: int
    records: tuple[str, ...]


@dataclass(slots=True)
class Reply:
    """The parts of a DNS response the resolver client uses, independent of the codec.

    Names are canonical (``canonical_name``). ``rrsigs`` pairs each RRSIG of the answer
    section with its owner; ``soa_owners`` are the owners of SOA RRsets in the
    authority section (a negative answer's proof of where the denial comes from).
    """

    id: int
    qr: bool
    rcode: str
    ad: bool
    tc: bool
    qname: str | None
    qtype: int | None
    answer: tuple[AnswerRRset, ...] = ()
    rrsigs: tuple[tuple[str, Rrsig], ...] = ()
    soa_owners: tuple[str, ...] = ()
    ede: tuple[Ede, ...] = ()


class Codec(Protocol):
    """Builds queries and parses replies; dnspython's is the reference."""

    def encode_query(self, qname: str, rdtype: int, qid: int, cd: bool, payload: int) -> bytes:
        """A query with RD and, in an EDNS0 OPT record, DO set; CD as asked."""
        ...

    def decode_reply(self, wire: bytes) -> Reply:
        """Parse a response; raise ``MalformedReply`` for anything unparseable."""
        ...


def canonical_name(name: str | dns.name.Name) -> str:
    """Lower-case presentation form without the trailing dot (the root stays ``"."``)."""
    text = name.to_text() if isinstance(name, dns.name.Name) else name
    text = text.lower()
    # An escaped final dot ("a\\.") is part of a label, not the root label.
    escaped = text.endswith("\\.") and not text.endswith("\\\\.")
    if text != "." and text.endswith(".") and not escaped:
        text = text[:-1]
    return text


_NAME_RDATA_TYPES = frozenset(
    {
        dns.rdatatype.CNAME,
        dns.rdatatype.NS,
        dns.rdatatype.PTR,
        dns.rdatatype.DNAME,
        dns.rdatatype.MX,
        dns.rdatatype.SRV,
    }
)


def rdata_text(rdata: dns.rdata.Rdata) -> str:
    """Presentation form of one record as ``DnsLookup.records`` carries it (module doc)."""
    rdtype = rdata.rdtype
    if rdtype == dns.rdatatype.TLSA:
        cert: bytes = rdata.cert  # type: ignore[attr-defined]
        return f"{rdata.usage} {rdata.selector} {rdata.mtype} {cert.hex()}"  # type: ignore[attr-defined]
    text = rdata.to_text()
    if rdtype in _NAME_RDATA_TYPES:
        text = text.lower()
    return text


def rrsig_fact(rdata: dns.rdtypes.ANY.RRSIG.RRSIG) -> Rrsig:
    """The ``model.Rrsig`` of one RRSIG record."""
    return Rrsig(
        covered=dns.rdatatype.to_text(rdata.type_covered),
        algorithm=int(rdata.algorithm),
        signer=canonical_name(rdata.signer),
        expiration=int(rdata.expiration),
        inception=int(rdata.inception),
    )


def reply_from_message(msg: dns.message.Message) -> Reply:
    """The ``Reply`` view of a parsed dnspython message."""
    qname: str | None = None
    qtype: int | None = None
    if msg.question:
        qname = canonical_name(msg.question[0].name)
        qtype = int(msg.question[0].rdtype)
    answer: list[AnswerRRset] = []
    rrsigs: list[tuple[str, Rrsig]] = []
    for rrset in msg.answer:
        if rrset.rdclass != dns.rdataclass.IN:
            continue
        owner = canonical_name(rrset.name)
        if rrset.rdtype == dns.rdatatype.RRSIG:
            for rd in rrset:
                assert isinstance(rd, dns.rdtypes.ANY.RRSIG.RRSIG)
                rrsigs.append((owner, rrsig_fact(rd)))
            continue
        answer.append(
            AnswerRRset(
                owner=owner,
                rdtype=int(rrset.rdtype),
                ttl=int(rrset.ttl),
                records=tuple(rdata_text(rd) for rd in rrset),
            )
        )
    soa_owners = tuple(
        canonical_name(rrset.name) for rrset in msg.authority if rrset.rdtype == dns.rdatatype.SOA
    )
    ede = tuple(Ede(code=int(opt.code), text=opt.text or "") for opt in msg.extended_errors())
    return Reply(
        id=msg.id,
        qr=bool(msg.flags & dns.flags.QR),
        rcode=dns.rcode.to_text(msg.rcode()),
        ad=bool(msg.flags & dns.flags.AD),
        tc=bool(msg.flags & dns.flags.TC),
        qname=qname,
        qtype=qtype,
        answer=tuple(answer),
        rrsigs=tuple(rrsigs),
        soa_owners=soa_owners,
        ede=ede,
    )
