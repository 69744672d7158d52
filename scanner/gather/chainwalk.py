"""Fetch the chain of trust of a bogus answer with CD-set queries (trio), for ``core.chain``.

What must live here: the trust anchor's loading (``load_trust_anchor``: the bundled IANA
root anchor by default, or ``--trust-anchor FILE``), the walk that turns one bogus
question into ``ChainFacts`` (``ChainWalker.walk``), and ``diagnose``, which runs the
pure ``scanner.core.chain.diagnose_chain`` over them. The judgement is the core's; this
module only asks questions.

Theory of operation. The validating resolver already said "bogus" (SERVFAIL, and an
answer with CD set). The walk asks the *same* resolver, with CD (checking disabled, RFC
4035 §3.2.2) and DO set, for exactly what validation needed:

1. the question itself: the answer RRsets (CNAMEs on the way included) with their
   RRSIGs, or the denial (SOA, NSEC/NSEC3) of a NODATA / NXDOMAIN. The RRSIG signer
   names (or the SOA owner of a denial) say which zones signed what, so no label-by-label
   probing for zone cuts is needed (an unsigned answer costs one SOA question to find
   its zone);
2. for each such zone, bottom-up: its DS RRset at the parent (the DS's RRSIG signer, or
   the SOA owner of the parent's NODATA, *is* the parent: the next zone up), and its
   DNSKEY RRset, skipped when the parent proves there is no DS (nothing to check below
   an insecure delegation);
3. for the trust anchor's zone, its DNSKEY RRset.

Zone cuts are cached for the walker's life (a scan): the root, each TLD and a broken
provider zone are fetched once however many names below them are diagnosed, and a
zone being fetched is awaited, not fetched twice. A diagnosis is cached per question.
So a bogus name costs one query, plus two for each zone cut not seen before (NOTES:
"cost a few queries per broken zone"). The checks of those shared cuts are not redone
either: the walker's ``ChainMemo`` keeps their parsed records and signature outcomes
for every diagnosis it makes, and the RRSIGs the walk reads for their signers are
parsed there once for the checks too.

Why not ``scanner.gather.resolve``: its client is built for throughput and keeps only
what the rules need (no RRSIG bodies, no authority section). Diagnoses are rare, so
plain dnspython queries (``dns.asyncquery.udp_with_fallback`` on the trio backend:
UDP, TCP when truncated) are simple and fast enough. Limits of our own: a deadline per
query attempt and per walk, a query budget per walk, and a cap on zone-cut depth.
Failures are values (STYLE §3): an unanswered query becomes an rcode such as
``TIMEOUT`` in the facts, which ``diagnose_chain`` reports as an unreachable link.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import trio

from scanner.core.chain import (
    ANSWERED,
    ROOT,
    ChainAnswer,
    ChainFacts,
    ChainMemo,
    Diagnosis,
    SignedRRset,
    TrustAnchor,
    TrustAnchorError,
    ZoneLink,
    bogus_questions,
    diagnose_chain,
    parse_trust_anchor,
)
from scanner.core.model import DnsLookup

BUNDLED_ANCHOR = "root-anchors.txt"  # scanner/core/data/: IANA's root KSK-2017 and KSK-2024
_MAX_ANCHOR_BYTES = 1 << 20


def load_trust_anchor(path: Path | None = None) -> TrustAnchor:
    """The anchor in ``path`` (DS or DNSKEY zone-file lines), or IANA's root anchor
    bundled with the package. A file that cannot be read or used raises
    ``TrustAnchorError`` (exit status 2)."""
    if path is None:
        data = resources.files("scanner.core").joinpath("data", BUNDLED_ANCHOR)
        return parse_trust_anchor(data.read_text(encoding="utf-8"), "IANA root anchors (bundled)")
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_ANCHOR_BYTES + 1)
    except OSError as exc:
        raise TrustAnchorError(f"trust anchor {path}: cannot read it ({exc.strerror})") from None
    if len(raw) > _MAX_ANCHOR_BYTES:
        raise TrustAnchorError(f"trust anchor {path}: larger than 1 MiB, not an anchor file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustAnchorError(f"trust anchor {path}: not UTF-8 text") from None
    return parse_trust_anchor(text, str(path))


@dataclass(frozen=True, slots=True)
class WalkConfig:
    """Where to ask and the walk's own limits."""

    server: tuple[str, int]  # the validating resolver (address, port)
    query_timeout: float = 3.0  # one attempt
    attempts: int = 2
    walk_timeout: float = 30.0  # one question's whole walk
    max_queries: int = 40  # per walk (zone cuts already cached cost nothing)
    max_depth: int = 16  # zone cuts above the answer
    payload: int = 1232  # EDNS UDP size (DNS flag day 2020); TCP when truncated


@dataclass(slots=True)
class _Reply:
    rcode: str  # NOERROR, NXDOMAIN, SERVFAIL, ... or TIMEOUT / NETWORK_ERROR / MALFORMED
    message: dns.message.Message | None = None
    error: str = ""


@dataclass(slots=True)
class _Budget:
    left: int
    spent: int = 0


class _OutOfBudget(Exception):
    """Internal: the walk spent its query budget."""


@dataclass(slots=True)
class ChainWalker:
    """Walks chains of trust through one resolver, caching zone cuts and diagnoses.

    One per scan (or per ``check`` run): shared by every diagnosis, so a zone cut is
    fetched once. Not tied to a nursery: each call runs in its caller's task.
    """

    config: WalkConfig
    anchor: TrustAnchor
    queries: int = 0  # every query sent, for the scan's statistics
    _links: dict[str, ZoneLink] = field(default_factory=dict)
    _order: dict[str, int] = field(default_factory=dict)  # each cut's place in _links
    _pending: dict[str, trio.Event] = field(default_factory=dict)
    _done: dict[tuple[str, str], tuple[Diagnosis, ChainFacts]] = field(default_factory=dict)
    _memo: ChainMemo = field(default_factory=ChainMemo)

    async def walk(self, name: str, rrtype: str) -> ChainFacts:
        """The facts of ``name``/``rrtype``'s chain (never raises for network trouble)."""
        budget = _Budget(self.config.max_queries)
        answer = ChainAnswer(name, rrtype, "TIMEOUT", error="walk deadline")
        error = ""
        with trio.move_on_after(self.config.walk_timeout) as scope:
            try:
                answer = await self._answer(name, rrtype, budget)
                zones = self._zones_of(answer)
                if not zones and answer.rrsets:  # unsigned answer: which zone holds it?
                    zones = [await self._zone_holding(answer.rrsets[0].name, budget)]
                for zone in zones:
                    await self._link(zone, budget, self.config.max_depth)
            except _OutOfBudget:
                error = f"query budget of {self.config.max_queries} spent"
        if scope.cancelled_caught:
            error = f"walk deadline of {self.config.walk_timeout:g} s passed"
        return ChainFacts(
            name,
            rrtype,
            self.anchor,
            self._chain_links(answer),
            answer,
            budget.spent,
            error,
        )

    async def diagnose_with_facts(
        self, name: str, rrtype: str, now: float | None = None
    ) -> tuple[Diagnosis, ChainFacts]:
        """Walk (once per question for the walker's life) and diagnose at ``now``."""
        key = (_normal(name), rrtype.upper())
        if key not in self._done:
            facts = await self.walk(*key)
            at = time.time() if now is None else now
            self._done[key] = (diagnose_chain(facts, at, self._memo), facts)
        return self._done[key]

    # -- the question

    async def _answer(self, name: str, rrtype: str, budget: _Budget) -> ChainAnswer:
        reply = await self._query(name, rrtype, budget)
        msg = reply.message
        if msg is None or reply.rcode not in ANSWERED:
            zone = ""
            if reply.rcode in _FAILED:
                zone = await self._failing_zone(name, budget)
            elif reply.rcode == "MALFORMED":  # answered, but dnspython will not parse it
                zone = await self._zone_holding(name, budget)
            return ChainAnswer(name, rrtype, reply.rcode, zone, error=reply.error)
        rrsets = tuple(_signed(msg.answer, self._memo))
        authority = _signed(msg.authority, self._memo)
        denial = tuple(r for r in authority if r.rrtype in ("NSEC", "NSEC3"))
        zone = next((s for r in rrsets[::-1] for s in self._signers(r)), "")
        zone = zone or next((r.name for r in authority if r.rrtype == "SOA"), "")
        zone = zone or next((s for r in denial for s in self._signers(r)), "")
        return ChainAnswer(name, rrtype, reply.rcode, zone, rrsets, denial)

    async def _failing_zone(self, name: str, budget: _Budget) -> str:
        """The zone whose servers fail, for a question that fails even with CD: the child,
        on the way to ``name``, of the deepest ancestor whose DS question its parent
        answers (for a lame delegation ``lame.se``: ``se`` answers, so ``lame.se``)."""
        qname = dns.name.from_text(name)
        for depth in range(len(qname), 1, -1):
            candidate = _text(qname.split(depth)[1])
            reply = await self._query(candidate, "DS", budget)
            if reply.message is not None and reply.rcode in ANSWERED:
                await self._store_link(candidate, reply, budget, self.config.max_depth)
                return candidate
        return ""

    async def _zone_holding(self, owner: str, budget: _Budget) -> str:
        """The apex of the zone holding ``owner``: the SOA of a CD SOA question answers
        it (the owner's own, or the enclosing zone's in the authority section)."""
        reply = await self._query(owner, "SOA", budget)
        if reply.message is not None:
            for section in (reply.message.answer, reply.message.authority):
                for rrset in section:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        return _text(rrset.name)
        return self.anchor.zone

    # -- zone cuts

    async def _link(self, zone: str, budget: _Budget, depth: int) -> None:
        """Fetch ``zone``'s cut and every cut above it up to the anchor (cached)."""
        while zone not in self._links:
            pending = self._pending.get(zone)
            if pending is None:
                break
            await pending.wait()  # another diagnosis is fetching it; it may have failed
        if zone in self._links:
            link = self._links[zone]
        else:
            self._pending[zone] = trio.Event()
            try:
                link = await self._fetch_link(zone, budget)
                self._keep(zone, link)
            finally:
                self._pending.pop(zone).set()
        if link.parent and depth > 0:
            await self._link(link.parent, budget, depth - 1)

    async def _fetch_link(self, zone: str, budget: _Budget) -> ZoneLink:
        if zone == self.anchor.zone:
            keys = await self._query(zone, "DNSKEY", budget)
            return ZoneLink(
                zone,
                "",
                dnskey=_rrset_at(keys, zone, "DNSKEY", self._memo),
                dnskey_rcode=keys.rcode,
            )
        reply = await self._query(zone, "DS", budget)
        return await self._link_from_ds(zone, reply, budget)

    async def _store_link(self, zone: str, reply: _Reply, budget: _Budget, depth: int) -> None:
        if zone not in self._links:
            self._keep(zone, await self._link_from_ds(zone, reply, budget))
        parent = self._links[zone].parent
        if parent:
            await self._link(parent, budget, depth - 1)

    async def _link_from_ds(self, zone: str, reply: _Reply, budget: _Budget) -> ZoneLink:
        msg = reply.message
        if msg is None or reply.rcode not in ANSWERED:
            return ZoneLink(zone, "", ds_rcode=reply.rcode)
        ds = _rrset_at(reply, zone, "DS", self._memo)
        authority = _signed(msg.authority, self._memo)
        parent = next(iter(self._signers(ds)), "") if ds is not None else ""
        parent = parent or next((r.name for r in authority if r.rrtype == "SOA"), "")
        if not _is_proper_ancestor(parent, zone):
            parent = ""  # the core reports a chain it cannot place
        if ds is None:
            denial = tuple(r for r in authority if r.rrtype in ("NSEC", "NSEC3"))
            return ZoneLink(zone, parent, None, reply.rcode, denial)
        keys = await self._query(zone, "DNSKEY", budget)
        return ZoneLink(
            zone,
            parent,
            ds,
            reply.rcode,
            dnskey=_rrset_at(keys, zone, "DNSKEY", self._memo),
            dnskey_rcode=keys.rcode,
        )

    def _keep(self, zone: str, link: ZoneLink) -> None:
        self._order.setdefault(zone, len(self._order))
        self._links[zone] = link

    def _chain_links(self, answer: ChainAnswer) -> tuple[ZoneLink, ...]:
        """The cached cuts this question's checks need: from each of its zones up to
        the anchor, parents first."""
        wanted: dict[str, ZoneLink] = {}
        for zone in [*self._zones_of(answer), *self._cached_above(answer)]:
            if zone not in self._links or not _holds(zone, answer):
                continue
            while zone in self._links and zone not in wanted:
                wanted[zone] = self._links[zone]
                zone = self._links[zone].parent
        if self.anchor.zone in self._links:
            wanted.setdefault(self.anchor.zone, self._links[self.anchor.zone])
        return tuple(sorted(wanted.values(), key=lambda link: _depth(link.zone)))

    def _cached_above(self, answer: ChainAnswer) -> list[str]:
        """The cached cuts that hold an owner of ``answer`` (or its question), in the
        order they were cached: each owner's ancestors looked up, rather than every
        cut of the scan tested against every question."""
        owners = {answer.name, answer.zone, *(r.name for r in answer.rrsets)} - {""}
        found = {zone for owner in owners for zone in _ancestors(owner) if zone in self._links}
        return sorted(found, key=self._order.__getitem__)

    def _signers(self, rrset: SignedRRset | None) -> list[str]:
        if rrset is None:
            return []
        return [_text(self._memo.rrsig(text).signer) for text in rrset.rrsigs]

    def _zones_of(self, answer: ChainAnswer) -> list[str]:
        """The zones whose links the checks of ``answer`` need (signers and the answering
        zone), deepest last."""
        zones = [s for r in (*answer.rrsets, *answer.denial) for s in self._signers(r)]
        if answer.zone:
            zones.append(answer.zone)
        return list(dict.fromkeys(zones))

    # -- queries

    async def _query(self, name: str, rrtype: str, budget: _Budget) -> _Reply:
        if budget.left <= 0:
            raise _OutOfBudget
        budget.left -= 1
        budget.spent += 1
        self.queries += 1
        q = dns.message.make_query(
            dns.name.from_text(name),
            dns.rdatatype.from_text(rrtype),
            want_dnssec=True,
            payload=self.config.payload,
        )
        q.flags |= dns.flags.CD
        host, port = self.config.server
        reply = _Reply("TIMEOUT", error=f"no answer from {host} in {self.config.attempts} tries")
        for _ in range(self.config.attempts):
            with trio.move_on_after(self.config.query_timeout):
                try:
                    msg, _tcp = await dns.asyncquery.udp_with_fallback(
                        q, host, timeout=self.config.query_timeout, port=port, backend=_BACKEND
                    )
                except dns.exception.Timeout:
                    continue
                except OSError as exc:
                    reply = _Reply("NETWORK_ERROR", error=f"{host}: {exc}")
                    continue
                except dns.exception.DNSException as exc:
                    return _Reply("MALFORMED", error=f"{name} {rrtype}: {exc}")
                return _Reply(dns.rcode.to_text(msg.rcode()), msg)
        return reply


async def diagnose(
    walker: ChainWalker, name: str, rrtype: str, now: float | None = None
) -> Diagnosis:
    """Why ``name``/``rrtype`` is bogus: the first broken link of its chain of trust,
    walked through ``walker``'s resolver (facts cached per question and per zone cut)."""
    diagnosis, _facts = await walker.diagnose_with_facts(name, rrtype, now)
    return diagnosis


async def diagnose_lookups(
    walker: ChainWalker, lookups: Iterable[DnsLookup], now: float | None = None
) -> list[tuple[Diagnosis, ChainFacts]]:
    """Diagnose every bogus question among ``lookups`` (``core.chain.bogus_questions``),
    concurrently; no query at all when none is bogus."""
    questions = bogus_questions(lookups)
    found: dict[int, tuple[Diagnosis, ChainFacts]] = {}

    async def one(i: int, name: str, rrtype: str) -> None:
        found[i] = await walker.diagnose_with_facts(name, rrtype, now)

    async with trio.open_nursery() as nursery:
        for i, (name, rrtype) in enumerate(questions):
            nursery.start_soon(one, i, name, rrtype)
    return [found[i] for i in range(len(questions))]


# --------------------------------------------------------------------------- helpers

_BACKEND = dns.asyncbackend.get_backend("trio")
_FAILED = frozenset({"SERVFAIL", "TIMEOUT", "REFUSED", "NETWORK_ERROR"})


def _text(name: dns.name.Name) -> str:
    return ROOT if name == dns.name.root else name.to_text(omit_final_dot=True).lower()


@functools.lru_cache(maxsize=1 << 14)
def _dname(text: str) -> dns.name.Name:
    """A name parsed (kept: every diagnosis tests the walked zones' names again)."""
    return dns.name.from_text(text)


@functools.lru_cache(maxsize=1 << 12)
def _ancestors(owner: str) -> tuple[str, ...]:
    """``owner`` and every name above it up to the root, as zones are keyed."""
    name, found = _dname(owner), []
    while name != dns.name.root:
        found.append(_text(name))
        name = name.parent()
    return (*found, ROOT)


def _normal(name: str) -> str:
    return _text(_dname(name))


def _depth(zone: str) -> int:
    return len(_dname(zone))


def _is_proper_ancestor(parent: str, zone: str) -> bool:
    if not parent:
        return False
    p, z = _dname(parent), _dname(zone)
    return z.is_subdomain(p) and p != z


def _holds(zone: str, answer: ChainAnswer) -> bool:
    """Whether ``zone`` is on the way to some owner of the answer (or its question)."""
    z = _dname(zone)
    owners = [answer.name, answer.zone, *(r.name for r in answer.rrsets)]
    return any(o and _dname(o).is_subdomain(z) for o in owners)


def _signed(section: list[dns.rrset.RRset], memo: ChainMemo) -> list[SignedRRset]:
    """A message section as RRsets with their RRSIGs (the RRSIGs attached, not listed;
    ``memo`` keeps them parsed for the signers and the checks)."""
    sigs: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
    for rrset in section:
        if rrset.rdtype == dns.rdatatype.RRSIG:
            sigs[(rrset.name, rrset.covers)] = rrset
    out = []
    for rrset in section:
        if rrset.rdtype == dns.rdatatype.RRSIG:
            continue
        sig = sigs.get((rrset.name, rrset.rdtype))
        out.append(
            SignedRRset(
                _text(rrset.name),
                dns.rdatatype.to_text(rrset.rdtype),
                rrset.ttl,
                tuple(r.to_text() for r in rrset),
                tuple(memo.rrsig_text(r) for r in sig) if sig is not None else (),
            )
        )
    return out


def _rrset_at(reply: _Reply, owner: str, rrtype: str, memo: ChainMemo) -> SignedRRset | None:
    if reply.message is None:
        return None
    for rrset in _signed(reply.message.answer, memo):
        if rrset.name == owner and rrset.rrtype == rrtype:
            return rrset
    return None
