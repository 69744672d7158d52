"""Why is it bogus? The DNSSEC chain of trust, link by link, as DNSViz names it (pure; no I/O).

What must live here: the facts of one chain of trust (``ChainFacts``: the trust anchor;
for every zone cut from the anchor's zone down to the answer's, the parent's DS RRset or
its denial and the zone's DNSKEY RRset; the final answer or denial; every RRset with
its RRSIGs, in presentation form so the facts store as JSON through ``factjson``), the
parser of trust-anchor files, and ``diagnose_chain(facts, now)``: the first broken link
from the anchor down, with its zone, record type, key tag, algorithm, reason, finding
code (``findings.CATALOGUE``), RFC section and fix.

Why here and why like this: the validating resolver's SERVFAIL stays the verdict (DESIGN
§4); its Extended DNS Error is not a diagnosis, because Unbound reports different codes
for the same broken zone depending on its cache (NOTES). The chain itself, fetched with
CD set by ``scanner.gather.chainwalk``, is. The order of the checks is RFC 4035 §5: a
zone's DS RRset is authenticated by its parent's keys (or its absence by the parent's
NSEC/NSEC3, RFC 4035 §5.2 / RFC 5155 §8.6), the DS selects the zone's key-signing keys
by key tag, algorithm and digest (§5.2), those keys must sign the DNSKEY RRset, and the
DNSKEY RRset's zone keys sign everything else (§5.3); a negative answer needs its
NSEC (§5.4) or NSEC3 (RFC 5155 §8) proof. The cryptography is dnspython's
``dns.dnssec`` (cryptography backend); what is ours is which link to check in which
order, and what a failure means for the zone's owner.

The reference time ``now`` is an argument, like dnspython's ``now=`` and DNSViz's
reference time: the same facts always give the same diagnosis.

A scan's diagnose task checks hundreds of chains that share their upper links (the
root, a TLD, a broken provider zone): ``ChainMemo``, passed to ``diagnose_chain``, keeps
what those checks work out from the facts' text alone (parsed rdata and RRsets, DS
digests of keys, and whether a signature verifies cryptographically) so that each is
worked out once per task, not once per question. Nothing kept depends on ``now``: the
validity window of a signature is compared with it on every check, before the kept
cryptographic outcome is read (a verification that passed those dates depends on the
records, the signature and the keys alone).

Not covered (documented limits): the proof that no closer name matched a wildcard
expansion (RFC 4035 §5.3.4), DNAME synthesis beyond skipping the unsigned synthesised
CNAME, and NSEC3 iteration caps (RFC 9276).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zonefile
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS
from dns.rdtypes.ANY.NSEC import NSEC
from dns.rdtypes.ANY.NSEC3 import NSEC3
from dns.rdtypes.ANY.RRSIG import RRSIG

from scanner.core.dnssec import lookup_status
from scanner.core.findings import CATALOGUE
from scanner.core.model import DnsLookup, DnssecStatus, DomainFacts
from scanner.errors import DanescanError

# The algorithms a validator checks (RFC 8624 §3.1 MUST/RECOMMENDED for validation, as
# Unbound 1.17 on Debian 12 does); a DS naming only others leaves the zone insecure
# (RFC 4035 §5.2), so they are never a broken link.
VALIDATED_ALGORITHMS = frozenset({5, 7, 8, 10, 13, 14, 15, 16})
# DS digest types a validator computes (RFC 8624 §3.3): SHA-1, SHA-256, SHA-384; a DS with
# any other digest is ignored (RFC 6840 §5.2).
VALIDATED_DIGESTS = frozenset({1, 2, 4})
_POLICY = dns.dnssec.allow_all_policy  # the algorithm choice is VALIDATED_ALGORITHMS'
_ZONE_FLAG = 0x0100  # DNSKEY flags: Zone Key (RFC 4034 §2.1.1)
_NSEC3_SHA1 = 1  # RFC 5155 §11: the only NSEC3 hash algorithm
ROOT = "."

# Diagnosis codes (findings.CATALOGUE entries; their table is docs/findings.md).
RRSIG_EXPIRED = "dnssec_rrsig_expired"
RRSIG_NOT_YET_VALID = "dnssec_rrsig_not_yet_valid"
DS_DIGEST_MISMATCH = "dnssec_ds_digest_mismatch"
DS_ALGORITHM_MISSING = "dnssec_ds_algorithm_missing"
DNSKEY_NOT_SIGNED_BY_DS_KEY = "dnssec_dnskey_not_signed_by_ds_key"
RRSIG_KEY_MISSING = "dnssec_rrsig_key_missing"
RRSIG_INVALID = "dnssec_rrsig_invalid"
RRSIG_MISSING = "dnssec_rrsig_missing"
DENIAL_MISSING = "dnssec_denial_missing"
DENIAL_WRONG = "dnssec_denial_wrong"
ANCHOR_MISMATCH = "dnssec_anchor_mismatch"
CHAIN_UNREACHABLE = "dnssec_chain_unreachable"
NO_BROKEN_LINK = "dnssec_no_broken_link"
# Codes that name no broken link: the walk disagrees with the resolver, or could not look.
NOT_BROKEN = frozenset({NO_BROKEN_LINK, CHAIN_UNREACHABLE})
ANSWERED = frozenset({"NOERROR", "NXDOMAIN"})
_Ordered = TypeVar("_Ordered", dns.name.Name, bytes)
_T = TypeVar("_T")
MEMO_ENTRIES = 50_000  # values a ChainMemo keeps before it starts afresh


class TrustAnchorError(DanescanError):
    """A trust-anchor file that cannot be used (exit status 2)."""


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True)
class SignedRRset:
    """One RRset as a server sent it, with the RRSIGs over it (rdata in presentation form).

    ``name`` is the owner (lower case, no trailing dot; ``"."`` for the root); names
    inside rdata are absolute (``mx.example.com.``), as dnspython writes them.
    """

    name: str
    rrtype: str
    ttl: int
    records: tuple[str, ...]
    rrsigs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ZoneLink:
    """One zone cut: what the parent says about the zone, and the zone's own keys.

    ``ds`` is the parent's DS RRset (None when the parent answered without one: then
    ``ds_denial`` holds the parent's NSEC/NSEC3 RRsets of that answer). For the trust
    anchor's zone ``parent`` is "" and the DS fields are unused. ``*_rcode`` is the
    response code of the CD query, or ``TIMEOUT`` / ``FORMERR``-like failures.
    """

    zone: str
    parent: str
    ds: SignedRRset | None = None
    ds_rcode: str = "NOERROR"
    ds_denial: tuple[SignedRRset, ...] = ()
    dnskey: SignedRRset | None = None
    dnskey_rcode: str = "NOERROR"


@dataclass(frozen=True, slots=True)
class ChainAnswer:
    """The CD answer to the question: the answer RRsets (CNAMEs on the way, then the
    RRset itself) or, for NODATA / NXDOMAIN, the authority's NSEC/NSEC3 RRsets."""

    name: str
    rrtype: str
    rcode: str
    zone: str = ""  # the zone that answered (RRSIG signer or SOA owner), "" if unknown
    rrsets: tuple[SignedRRset, ...] = ()
    denial: tuple[SignedRRset, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """The configured trust anchor (RFC 4035 §4.4): DS and/or DNSKEY rdata of one zone."""

    zone: str
    ds: tuple[str, ...] = ()
    dnskey: tuple[str, ...] = ()
    source: str = ""  # where it was read from, for the scan's metadata

    def text(self) -> str:
        """The anchor as zone-file lines (what a scan records as ``trust_anchor``)."""
        owner = _fqdn(self.zone)
        return "\n".join(
            [f"{owner} IN DS {r}" for r in self.ds]
            + [f"{owner} IN DNSKEY {r}" for r in self.dnskey]
        )


@dataclass(frozen=True, slots=True)
class ChainFacts:
    """Everything the walk of one bogus question gathered (``scanner.gather.chainwalk``).

    ``links`` holds every zone cut the checks need, the anchor's zone included, parents
    before children. ``error`` says why the walk stopped early, if it did.
    """

    name: str
    rrtype: str
    anchor: TrustAnchor
    links: tuple[ZoneLink, ...]
    answer: ChainAnswer
    queries: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The first broken link of the chain of trust of one question (or why none was found).

    ``name``/``rrtype``: the question the resolver found bogus. ``zone``, ``record_type``,
    ``key_tag``, ``algorithm``: the link that breaks (the DS of a zone cut is reported
    under the child zone, whose owner must fix it at the parent). ``reason``: what is
    wrong, in a few words with the value (a date, a key tag); ``detail``: the evidence.
    ``rfc`` and ``fix`` come from the catalogue, ``rfc`` narrowed where the facts say
    more (an NSEC3 proof: RFC 5155 §8.x).
    """

    name: str
    rrtype: str
    code: str
    zone: str = ""
    record_type: str = ""
    key_tag: int | None = None
    algorithm: int | None = None
    reason: str = ""
    detail: str = ""
    rfc: str = ""
    fix: str = ""

    @property
    def broken(self) -> bool:
        """True when a broken link was named (not 'nothing found' / 'could not look')."""
        return self.code not in NOT_BROKEN


# --------------------------------------------------------------------------- questions


def bogus_questions(lookups: Iterable[DnsLookup]) -> list[tuple[str, str]]:
    """The (name, type) questions among ``lookups`` that validated bogus (DESIGN §4),
    once each, in order: what to diagnose."""
    found = (
        (lk.name.lower().rstrip(".") or ROOT, lk.rrtype.upper())
        for lk in lookups
        if lookup_status(lk) is DnssecStatus.BOGUS
    )
    return list(dict.fromkeys(found))


def domain_lookups(facts: DomainFacts) -> list[DnsLookup]:
    """Every lookup made for a domain: MX, each host's A/AAAA/TLSA, MTA-STS and TLS-RPT."""
    out = [facts.mx]
    for host in facts.hosts.values():
        out += [host.a, host.aaaa, *host.tlsa_lookups]
    sts = facts.mta_sts
    if sts is not None:
        out += [lk for lk in (sts.sts_txt, sts.tlsrpt_txt) if lk is not None]
    if facts.zone_keys is not None:
        out += [facts.zone_keys.dnskey, facts.zone_keys.ds]
    return out


# --------------------------------------------------------------------------- anchors


def parse_trust_anchor(text: str, source: str) -> TrustAnchor:
    """Read DS and/or DNSKEY records of one zone in zone-file syntax (comments,
    parentheses, missing TTL and class allowed; absolute owner names), e.g. Unbound's
    ``root.key`` or IANA's anchors written as DS lines. Raise ``TrustAnchorError``
    with the file's name for anything else."""
    try:
        rrsets = dns.zonefile.read_rrsets(
            text, origin=dns.name.root, relativize=False, default_ttl=0, rdclass=None
        )
    except (dns.exception.DNSException, ValueError) as exc:
        raise TrustAnchorError(
            f"trust anchor {source}: not DS/DNSKEY zone-file lines ({exc})"
        ) from None
    owners = sorted({_text(r.name) for r in rrsets})
    if not rrsets:
        raise TrustAnchorError(f"trust anchor {source}: no DS or DNSKEY record in it")
    if len(owners) > 1:
        raise TrustAnchorError(f"trust anchor {source}: records of several zones ({owners})")
    ds: list[str] = []
    keys: list[str] = []
    for rrset in rrsets:
        if rrset.rdtype == dns.rdatatype.DS:
            ds += [r.to_text() for r in rrset]
        elif rrset.rdtype == dns.rdatatype.DNSKEY:
            for key in rrset:
                if not key.flags & _ZONE_FLAG:
                    raise TrustAnchorError(
                        f"trust anchor {source}: DNSKEY {dns.dnssec.key_id(key)} is not a zone "
                        "key (flags bit 7 unset)"
                    )
                keys.append(key.to_text())
        else:
            raise TrustAnchorError(
                f"trust anchor {source}: {dns.rdatatype.to_text(rrset.rdtype)} records are "
                "not a trust anchor (DS or DNSKEY only)"
            )
    anchor = TrustAnchor(owners[0], tuple(ds), tuple(keys), source)
    if not any(_ds_usable(d) for d in _parse_ds(anchor.ds)) and not any(
        k.algorithm in VALIDATED_ALGORITHMS for k in _parse_keys(anchor.dnskey)
    ):
        raise TrustAnchorError(
            f"trust anchor {source}: no record with an algorithm and digest this scanner "
            f"validates (algorithms {sorted(VALIDATED_ALGORITHMS)}, digests "
            f"{sorted(VALIDATED_DIGESTS)})"
        )
    return anchor


# --------------------------------------------------------------------------- diagnosis


class _Found(Exception):
    """Internal: the first broken link, raised out of the recursive checks."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.code)
        self.diagnosis = diagnosis


@dataclass(frozen=True, slots=True)
class _Trust:
    """A zone's state once its link is checked: its trusted keys, or insecure (None)."""

    keys: dns.rdataset.Rdataset | None
    why_insecure: str = ""


class ChainMemo:
    """What checks of many chains work out from the facts' text alone (module docstring).

    Every value is a function of its key (the texts it was made from), so a value made
    for one question is right for any other. Values are immutable (dnspython rdata,
    tuples, strings) or never changed by their users (RRsets). Memory is bounded: past
    ``max_entries`` values, all are dropped (a task walking thousands of broken zones
    would otherwise keep every one's keys).
    """

    __slots__ = ("_values", "max_entries")

    def __init__(self, max_entries: int = MEMO_ENTRIES) -> None:
        self.max_entries = max_entries
        self._values: dict[Hashable, object] = {}

    def value(self, key: Hashable, make: Callable[[], _T]) -> _T:
        """The value kept under ``key``, made by ``make`` the first time (a ``make``
        that raises keeps nothing)."""
        try:
            return cast(_T, self._values[key])
        except KeyError:
            pass
        made = make()
        if len(self._values) >= self.max_entries:
            self._values.clear()
        self._values[key] = made
        return made

    def by_identity(self, tag: Hashable, objects: tuple[object, ...], make: Callable[[], _T]) -> _T:
        """``value`` under ``tag`` and the identities of ``objects``, for values of
        records this memo parsed (the same objects for every chain): no hashing of their
        contents. The entry holds the objects, so none of their identities can pass to
        another object while it is kept."""
        held = self.value((tag, *map(id, objects)), lambda: (objects, make()))
        return held[1]

    def key_tag(self, key: DNSKEY) -> int:
        """RFC 4034 Appendix B: the key tag of ``key``."""
        return self.by_identity("key_tag", (key,), lambda: dns.dnssec.key_id(key))

    def rdata(self, rrtype: str, text: str) -> dns.rdata.Rdata:
        """One record of type ``rrtype`` parsed from presentation form (absolute names)."""
        return self.value(("rdata", rrtype, text), lambda: _parse(rrtype, text))

    def rrsig(self, text: str) -> RRSIG:
        rdata = self.rdata("RRSIG", text)
        assert isinstance(rdata, RRSIG)
        return rdata

    def rrsig_text(self, sig: RRSIG) -> str:
        """``sig`` in presentation form, kept as what that text parses to: a walker that
        read the signature from the wire hands it over, parsed (the text would parse
        to an equal record)."""
        text = sig.to_text()
        self.value(("rdata", "RRSIG", text), lambda: sig)
        return text

    def keys(self, texts: tuple[str, ...]) -> tuple[DNSKEY, ...]:
        return tuple(k for k in (self.rdata("DNSKEY", t) for t in texts) if isinstance(k, DNSKEY))

    def ds(self, texts: tuple[str, ...]) -> tuple[DS, ...]:
        return tuple(d for d in (self.rdata("DS", t) for t in texts) if isinstance(d, DS))

    def rrset(self, rrset: SignedRRset) -> dns.rrset.RRset:
        """The records of ``rrset`` as a dnspython RRset (its signatures left out)."""
        key = ("rrset", rrset.name, rrset.rrtype, rrset.ttl, rrset.records)
        return self.value(key, lambda: _rrset(rrset))


def diagnose_chain(facts: ChainFacts, now: float, memo: ChainMemo | None = None) -> Diagnosis:
    """The first broken link of ``facts``'s chain at time ``now`` (POSIX seconds);
    ``memo`` shares the time-free work with other calls (a fresh one when None)."""
    return _Checker(facts, now, ChainMemo() if memo is None else memo).run()


class _Checker:
    def __init__(self, facts: ChainFacts, now: float, memo: ChainMemo) -> None:
        self.facts = facts
        self.now = now
        self.memo = memo
        self.links = {link.zone: link for link in facts.links}
        self.trust: dict[str, _Trust] = {}

    def found(
        self,
        code: str,
        zone: str,
        record_type: str,
        reason: str,
        detail: str = "",
        key_tag: int | None = None,
        algorithm: int | None = None,
        rfc: str = "",
    ) -> _Found:
        spec = CATALOGUE[code]
        return _Found(
            Diagnosis(
                self.facts.name,
                self.facts.rrtype,
                code,
                zone,
                record_type,
                None if key_tag is None else int(key_tag),
                None if algorithm is None else int(algorithm),
                reason,
                detail,
                rfc or spec.rfc,
                spec.fix,
            )
        )

    def run(self) -> Diagnosis:
        try:
            return self._check_answer()
        except _Found as found:
            return found.diagnosis

    # -- the answer

    def _check_answer(self) -> Diagnosis:
        answer = self.facts.answer
        if answer.rcode not in ANSWERED:
            if answer.zone:
                self._trusted(answer.zone)
            why = f"{answer.rcode} {answer.error}".strip()
            if answer.rcode == "MALFORMED":  # e.g. a TLSA digest dnspython will not parse
                reason = f"the answer could not be parsed to check it ({answer.error})"
            else:
                reason = f"no answer even with checking disabled ({why})"
            raise self.found(
                CHAIN_UNREACHABLE,
                answer.zone or answer.name,
                answer.rrtype,
                reason,
                self.facts.error,
            )
        insecure = ""
        final = _name(answer.name)
        dname = any(r.rrtype == "DNAME" for r in answer.rrsets)
        for rrset in answer.rrsets:
            zone = self._zone_of(rrset.name)
            trust = self._trusted(zone)
            if trust.keys is None:
                insecure = insecure or trust.why_insecure
            # A CNAME synthesised from a DNAME is unsigned by design (RFC 6672 §5.3.1).
            elif not (dname and rrset.rrtype == "CNAME" and not rrset.rrsigs):
                self._check_rrset(rrset, zone, trust.keys)
            if rrset.rrtype == "CNAME" and _name(rrset.name) == final:
                final = _parse_cname(rrset.records[0])
        if not any(_name(r.name) == final and r.rrtype == answer.rrtype for r in answer.rrsets):
            insecure = self._check_denial(answer, final) or insecure
        return self._nothing_broken(insecure)

    def _nothing_broken(self, insecure: str) -> Diagnosis:
        answer = self.facts.answer
        if insecure:
            reason = f"nothing broken found: the chain is insecure ({insecure})"
        else:
            reason = "nothing broken found: every link validates"
        detail = self.facts.error or (
            f"{answer.rcode}; {len(self.facts.links)} zone(s) from {self.facts.anchor.zone} "
            f"checked at {_iso(self.now)}"
        )
        raise self.found(NO_BROKEN_LINK, answer.zone or answer.name, answer.rrtype, reason, detail)

    def _zone_of(self, owner: str) -> str:
        """The deepest walked zone that holds ``owner`` (the anchor's zone at worst)."""
        name = _name(owner)
        best = self.facts.anchor.zone
        for zone in self.links:
            if name.is_subdomain(_name(zone)) and len(_name(zone)) > len(_name(best)):
                best = zone
        return best

    # -- zone cuts

    def _trusted(self, zone: str) -> _Trust:
        if zone not in self.trust:
            self.trust[zone] = self._check_link(zone)
        return self.trust[zone]

    def _check_link(self, zone: str) -> _Trust:
        link = self.links.get(zone)
        if link is None:
            raise self.found(
                CHAIN_UNREACHABLE, zone, "DS", "the walk did not reach this zone", self.facts.error
            )
        if zone == self.facts.anchor.zone:
            return self._check_keys(link, self.memo.ds(self.facts.anchor.ds), anchored=True)
        parent = link.parent
        if not parent or len(_name(parent)) >= len(_name(zone)):
            raise self.found(
                CHAIN_UNREACHABLE,
                zone,
                "DS",
                f"the walk found no parent zone above it ({link.ds_rcode})",
                self.facts.error,
            )
        above = self._trusted(parent)
        if above.keys is None:
            return above
        if link.ds is None:
            if link.ds_rcode not in ANSWERED:
                raise self.found(
                    CHAIN_UNREACHABLE,
                    zone,
                    "DS",
                    f"the parent {parent} gave no answer for the DS even with checking "
                    f"disabled ({link.ds_rcode})",
                )
            question = ChainAnswer(zone, "DS", link.ds_rcode, parent, denial=link.ds_denial)
            self._check_denial_records(question, parent, above.keys, _name(zone))
            return _Trust(None, f"{parent} proves that {zone} has no DS")
        self._check_rrset(link.ds, parent, above.keys, report_zone=zone)
        return self._check_keys(link, self.memo.ds(link.ds.records), anchored=False)

    def _check_keys(self, link: ZoneLink, ds_set: Sequence[DS], anchored: bool) -> _Trust:
        """The DS → DNSKEY link (RFC 4035 §5.2), or the configured anchor → DNSKEY one."""
        zone = link.zone
        usable = [d for d in ds_set if _ds_usable(d)]
        anchor_keys = self.memo.keys(self.facts.anchor.dnskey) if anchored else ()
        anchor_keys = tuple(k for k in anchor_keys if k.algorithm in VALIDATED_ALGORITHMS)
        if not usable and not anchor_keys:
            algorithms = sorted({int(d.algorithm) for d in ds_set})
            return _Trust(None, f"the DS of {zone} uses no algorithm validators check {algorithms}")
        if link.dnskey_rcode not in ANSWERED:
            raise self.found(
                CHAIN_UNREACHABLE,
                zone,
                "DNSKEY",
                f"no DNSKEY answer even with checking disabled ({link.dnskey_rcode})",
            )
        keys = self.memo.keys(link.dnskey.records) if link.dnskey else ()
        matched = [k for k in keys if self._key_matches(zone, k, usable) or k in anchor_keys]
        if not matched:
            raise self._no_matching_key(link, keys, usable, anchored)
        assert link.dnskey is not None  # matched keys come from it
        self._check_dnskey_signed(link.dnskey, zone, matched)
        return _Trust(_rdataset(keys))

    def _key_matches(self, zone: str, key: DNSKEY, ds_set: list[DS]) -> bool:
        """RFC 4035 §5.2: a DS authenticates a zone key by tag, algorithm and digest."""
        if not key.flags & _ZONE_FLAG or key.protocol != 3:
            return False
        tag = self.memo.key_tag(key)
        return any(
            ds.key_tag == tag
            and ds.algorithm == key.algorithm
            and self._digest(zone, key, ds) == ds.digest
            for ds in ds_set
        )

    def _digest(self, zone: str, key: DNSKEY, ds: DS) -> bytes:
        """The digest of ``key`` by ``ds``'s digest type: what a DS for it would hold."""
        made = self.memo.by_identity(
            ("ds", zone, ds.digest_type),
            (key,),
            lambda: dns.dnssec.make_ds(_name(zone), key, ds.digest_type, policy=_POLICY),
        )
        return made.digest

    def _no_matching_key(
        self, link: ZoneLink, keys: Sequence[DNSKEY], usable: list[DS], anchored: bool
    ) -> _Found:
        zone = link.zone
        have = ", ".join(f"{self.memo.key_tag(k)}/{k.algorithm}" for k in keys) or "none"
        detail = f"DNSKEYs (tag/algorithm) of {zone}: {have}"
        if anchored:
            wanted = [f"DS {d.key_tag}/{d.algorithm}" for d in usable]
            wanted += [
                f"DNSKEY {self.memo.key_tag(k)}/{k.algorithm}"
                for k in self.memo.keys(self.facts.anchor.dnskey)
            ]
            return self.found(
                ANCHOR_MISMATCH,
                zone,
                "DNSKEY",
                "the trust anchor matches no DNSKEY of the zone",
                f"anchor ({self.facts.anchor.source}): {', '.join(wanted)}; {detail}",
            )
        algorithms = {k.algorithm for k in keys}
        same = [d for d in usable if d.algorithm in algorithms]
        ds = same[0] if same else usable[0]
        ds_text = f"DS {ds.key_tag} {ds.algorithm} {ds.digest_type} {ds.digest.hex()}"
        if same:
            return self.found(
                DS_DIGEST_MISMATCH,
                zone,
                "DS",
                "the DS digest matches no DNSKEY",
                f"{ds_text} at the parent; {detail}",
                ds.key_tag,
                ds.algorithm,
            )
        return self.found(
            DS_ALGORITHM_MISSING,
            zone,
            "DS",
            f"no DNSKEY for the DS algorithm {ds.algorithm}",
            f"{ds_text} at the parent; {detail}",
            ds.key_tag,
            ds.algorithm,
        )

    def _check_dnskey_signed(self, dnskey: SignedRRset, zone: str, matched: list[DNSKEY]) -> None:
        tags = {(self.memo.key_tag(k), k.algorithm) for k in matched}
        by_them = tuple(
            text
            for text in dnskey.rrsigs
            if (self.memo.rrsig(text).key_tag, self.memo.rrsig(text).algorithm) in tags
        )
        if not by_them:
            key = matched[0]
            raise self.found(
                DNSKEY_NOT_SIGNED_BY_DS_KEY,
                zone,
                "DNSKEY",
                f"the DNSKEY RRset has no RRSIG by key {self.memo.key_tag(key)}, the one the "
                "DS points to",
                f"{len(dnskey.rrsigs)} RRSIG(s) over the DNSKEY RRset, by "
                + (", ".join(self._sig_tag(s) for s in dnskey.rrsigs) or "no key"),
                self.memo.key_tag(key),
                key.algorithm,
            )
        signed = SignedRRset(dnskey.name, dnskey.rrtype, dnskey.ttl, dnskey.records, by_them)
        self._check_rrset(signed, zone, _rdataset(matched))

    def _sig_tag(self, text: str) -> str:
        sig = self.memo.rrsig(text)
        return f"{sig.key_tag}/{sig.algorithm}"

    # -- signatures

    def _check_rrset(
        self,
        rrset: SignedRRset,
        zone: str,
        keys: dns.rdataset.Rdataset,
        report_zone: str = "",
    ) -> None:
        """RFC 4035 §5.3: one valid RRSIG by a key of ``keys`` makes the RRset secure;
        else report the most telling failure (a date, a bad signature, an unknown key)."""
        where = report_zone or zone
        sigs = [self.memo.rrsig(s) for s in rrset.rrsigs]
        usable = [s for s in sigs if s.algorithm in VALIDATED_ALGORITHMS]
        if not usable:
            why = "no RRSIG" if not sigs else "no RRSIG by an algorithm validators check"
            raise self.found(
                RRSIG_MISSING,
                where,
                rrset.rrtype,
                why,
                f"{_fqdn(rrset.name)} {rrset.rrtype} in signed zone {zone}",
            )
        data = self.memo.rrset(rrset)
        failures = []
        for sig in usable:
            failure = self._check_sig(data, sig, zone, keys, where, rrset)
            if failure is None:
                return
            failures.append(failure)
        raise min(failures, key=lambda f: _RANK[f.diagnosis.code])

    def _check_sig(
        self,
        data: dns.rrset.RRset,
        sig: RRSIG,
        zone: str,
        keys: dns.rdataset.Rdataset,
        where: str,
        rrset: SignedRRset,
    ) -> _Found | None:
        zname = _name(zone)
        tag, alg = sig.key_tag, sig.algorithm

        def what() -> str:  # the evidence, written only for a failure (most checks pass)
            return f"RRSIG over {_fqdn(rrset.name)} {rrset.rrtype} by {sig.signer} key {tag}/{alg}"

        def dated() -> str:
            return f"{what()}, valid {_iso(sig.inception)} to {_iso(sig.expiration)}"

        candidates = [
            k
            for k in keys
            if sig.signer == zname
            and k.algorithm == alg
            and self.memo.key_tag(k) == tag
            and k.flags & _ZONE_FLAG
            and k.protocol == 3
        ]
        if not candidates:
            if sig.signer != zname:
                reason = f"RRSIG by {sig.signer}, not by the zone {zone}"
            else:
                reason = f"RRSIG by key {tag}, which is missing from the DNSKEY set"
            have = ", ".join(f"{self.memo.key_tag(k)}/{k.algorithm}" for k in keys)
            return self.found(
                RRSIG_KEY_MISSING, where, rrset.rrtype, reason, f"{what()}; keys: {have}", tag, alg
            )
        if self.now > sig.expiration:
            return self.found(
                RRSIG_EXPIRED,
                where,
                rrset.rrtype,
                f"signature expired at {_iso(sig.expiration)}",
                dated(),
                tag,
                alg,
            )
        if self.now < sig.inception:
            return self.found(
                RRSIG_NOT_YET_VALID,
                where,
                rrset.rrtype,
                f"signature not yet valid until {_iso(sig.inception)}",
                dated(),
                tag,
                alg,
            )
        # Past the dates above, the outcome depends on the records, the signature and
        # the keys alone: it is kept for the next chain through the same link.
        failure = self.memo.by_identity(
            "verify",
            (data, sig, *candidates),
            lambda: _verify(data, sig, zname, candidates, self.now),
        )
        if failure is not None:
            return self.found(
                RRSIG_INVALID,
                where,
                rrset.rrtype,
                "signature does not verify",
                f"{what()}: {failure}",
                tag,
                alg,
            )
        return None

    # -- denial of existence

    def _check_denial(self, answer: ChainAnswer, final: dns.name.Name) -> str:
        """The denial of ``final``/``answer.rrtype``; "" when proven, the reason the chain is
        insecure when its zone is."""
        zone = self._zone_of(_text(final))
        trust = self._trusted(zone)
        if trust.keys is None:
            return trust.why_insecure
        self._check_denial_records(answer, zone, trust.keys, final)
        return ""

    def _check_denial_records(
        self, answer: ChainAnswer, zone: str, keys: dns.rdataset.Rdataset, qname: dns.name.Name
    ) -> None:
        records = [r for r in answer.denial if r.rrtype in ("NSEC", "NSEC3")]
        kind = "NXDOMAIN" if answer.rcode == "NXDOMAIN" else "NODATA"
        report = answer.name if answer.rrtype == "DS" else zone
        if not records:
            raise self.found(
                DENIAL_MISSING,
                report,
                answer.rrtype,
                f"{kind} without NSEC or NSEC3 records",
                f"{kind} for {_fqdn(_text(qname))} {answer.rrtype} from signed zone {zone}",
            )
        for rrset in records:
            self._check_rrset(rrset, zone, keys, report_zone=report)
        qtype = dns.rdatatype.from_text(answer.rrtype)
        nxdomain = answer.rcode == "NXDOMAIN"
        if any(r.rrtype == "NSEC3" for r in records):
            nsec3 = [
                (_name(r.name), _parse_n3(t))
                for r in records
                if r.rrtype == "NSEC3"
                for t in r.records
            ]
            problem = _nsec3_problem(qname, qtype, nxdomain, nsec3, _name(zone))
            rtype = "NSEC3"
        else:
            nsec = [(_name(r.name), _parse_nsec(t)) for r in records for t in r.records]
            problem = _nsec_problem(qname, qtype, nxdomain, nsec)
            rtype = "NSEC"
        if problem is not None:
            why, rfc = problem
            raise self.found(
                DENIAL_WRONG,
                report,
                rtype,
                f"{rtype} proof wrong: {why}",
                f"{kind} for {_fqdn(_text(qname))} {answer.rrtype}; "
                + "; ".join(f"{_fqdn(r.name)} {r.rrtype} {' | '.join(r.records)}" for r in records),
                rfc=rfc,
            )


# Which failure to name when no signature validates: a date or a bad signature over a
# published key says more than a signature by a key that is gone (often an old key's
# leftover beside the real failure, RFC 6840 §5.12).
_RANK = {RRSIG_EXPIRED: 0, RRSIG_NOT_YET_VALID: 0, RRSIG_INVALID: 1, RRSIG_KEY_MISSING: 2}


# --------------------------------------------------------------------------- NSEC / NSEC3


def _has_type(windows: tuple[tuple[int, bytes], ...], rdtype: int) -> bool:
    """Whether a type bitmap (RFC 4034 §4.1.2) lists ``rdtype``."""
    window, offset = divmod(rdtype, 256)
    for number, bitmap in windows:
        if number == window and offset // 8 < len(bitmap):
            return bool(bitmap[offset // 8] & (0x80 >> (offset % 8)))
    return False


def _between(low: _Ordered, high: _Ordered, value: _Ordered) -> bool:
    """Canonical-order 'covers' (RFC 4034 §6.1 for names, hash order for NSEC3), with the
    wrap-around of the last record of a chain (its next field is the first owner)."""
    if low < high:
        return bool(low < value < high)
    return bool(value > low or value < high)


def _type_text(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType(rdtype))


def _nsec_problem(
    qname: dns.name.Name, qtype: int, nxdomain: bool, nsecs: list[tuple[dns.name.Name, NSEC]]
) -> tuple[str, str] | None:
    """None when the NSEC records prove the denial (RFC 4035 §5.4), else (why, RFC)."""
    cname = dns.rdatatype.CNAME
    if not nxdomain:
        for owner, nsec in nsecs:
            if owner == qname:
                for t in (qtype, cname):
                    if _has_type(nsec.windows, t):
                        return f"the NSEC at {owner} lists {_type_text(t)}", "RFC 4035 §5.4"
                if qtype == dns.rdatatype.DS and _has_type(nsec.windows, dns.rdatatype.SOA):
                    return (
                        f"the NSEC at {owner} is the child's apex record, not the parent's",
                        "RFC 6840 §4.1",
                    )
                return None
        for owner, nsec in nsecs:  # an empty non-terminal: the next name lies below it
            if _between(owner, nsec.next, qname) and nsec.next.is_subdomain(qname):
                return None
        ce = _nsec_encloser(qname, nsecs)
        wildcard = dns.name.Name((b"*", *ce.labels))
        for owner, nsec in nsecs:
            if owner == wildcard and not any(_has_type(nsec.windows, t) for t in (qtype, cname)):
                return None
        return f"no NSEC matches {qname}", "RFC 4035 §5.4"
    if not any(_between(owner, nsec.next, qname) for owner, nsec in nsecs):
        return f"no NSEC covers {qname}", "RFC 4035 §5.4"
    ce = _nsec_encloser(qname, nsecs)
    wildcard = dns.name.Name((b"*", *ce.labels))
    if not any(_between(owner, nsec.next, wildcard) for owner, nsec in nsecs):
        return f"no NSEC proves that the wildcard {wildcard} does not exist", "RFC 4035 §5.4"
    return None


def _nsec_encloser(qname: dns.name.Name, nsecs: list[tuple[dns.name.Name, NSEC]]) -> dns.name.Name:
    """The closest encloser the NSEC records imply: the longest name that ``qname``
    shares with an NSEC owner or next name (RFC 4592 §4.5 in NSEC's terms)."""
    common = 1
    for owner, nsec in nsecs:
        for other in (owner, nsec.next):
            common = max(common, qname.fullcompare(other)[2])
    return qname.split(common)[1]


@dataclass(frozen=True, slots=True)
class _N3:
    owner: bytes  # the hash the owner name's first label carries
    rdata: NSEC3


def _parse_n3(text: str) -> NSEC3:
    rdata = _parse("NSEC3", text)
    assert isinstance(rdata, NSEC3)
    return rdata


def _nsec3_problem(
    qname: dns.name.Name,
    qtype: int,
    nxdomain: bool,
    records: list[tuple[dns.name.Name, NSEC3]],
    zone: dns.name.Name,
) -> tuple[str, str] | None:
    """None when the NSEC3 records prove the denial (RFC 5155 §8), else (why, RFC)."""
    chain = [
        _N3(base64.b32hexdecode(owner.labels[0].upper()), r)
        for owner, r in records
        if r.algorithm == _NSEC3_SHA1 and owner.parent() == zone
    ]
    if not chain:
        return "no NSEC3 record of the zone with hash algorithm 1 (SHA-1)", "RFC 5155 §8.1"
    salt, iterations = chain[0].rdata.salt, chain[0].rdata.iterations

    def digest(name: dns.name.Name) -> bytes:
        return base64.b32hexdecode(dns.dnssec.nsec3_hash(name, salt, iterations, _NSEC3_SHA1))

    def matching(name: dns.name.Name) -> NSEC3 | None:
        h = digest(name)
        return next((n.rdata for n in chain if n.owner == h), None)

    def covering(name: dns.name.Name) -> NSEC3 | None:
        h = digest(name)
        return next((n.rdata for n in chain if _between(n.owner, n.rdata.next, h)), None)

    def closest_encloser() -> tuple[dns.name.Name, dns.name.Name] | None:
        """RFC 5155 §8.3: the longest ancestor with a matching NSEC3 whose next closer
        name is covered."""
        for depth in range(len(qname) - 1, len(zone) - 1, -1):
            ce = qname.split(depth)[1]
            if matching(ce) is not None:
                next_closer = qname.split(depth + 1)[1]
                return (ce, next_closer) if covering(next_closer) is not None else None
        return None

    cname = dns.rdatatype.CNAME
    if not nxdomain:
        match = matching(qname)
        if match is not None:
            if _has_type(match.windows, qtype):
                return f"the NSEC3 matching {qname} lists {_type_text(qtype)}", "RFC 5155 §8.5"
            if _has_type(match.windows, cname):
                return f"the NSEC3 matching {qname} lists CNAME", "RFC 6840 §4.3"
            return None
        proof = closest_encloser()
        if proof is not None:
            ce, next_closer = proof
            opt_out = covering(next_closer)
            if qtype == dns.rdatatype.DS and opt_out is not None and opt_out.flags & 1:
                return None  # RFC 5155 §8.6 / RFC 6840 §4.4: an opt-out span, insecure
            wild = matching(dns.name.Name((b"*", *ce.labels)))
            if wild is not None and not any(_has_type(wild.windows, t) for t in (qtype, cname)):
                return None  # RFC 5155 §8.7: wildcard NODATA
        return f"no NSEC3 matches {qname}", "RFC 5155 §8.5"
    if matching(qname) is not None:
        return f"an NSEC3 matches {qname}, so the name exists", "RFC 5155 §8.4"
    proof = closest_encloser()
    if proof is None:
        return f"no closest-encloser proof for {qname}", "RFC 5155 §8.3"
    wildcard = dns.name.Name((b"*", *proof[0].labels))
    if covering(wildcard) is None:
        return f"no NSEC3 covers the wildcard {wildcard}", "RFC 5155 §8.4"
    return None


# --------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=1 << 14)
def _name(text: str) -> dns.name.Name:
    """A facts name parsed (kept: the same zone names come back in every chain)."""
    return dns.name.from_text(text, origin=dns.name.root)


def _text(name: dns.name.Name) -> str:
    """Presentation form of the facts: lower case, no trailing dot, the root as "."."""
    return ROOT if name == dns.name.root else name.to_text(omit_final_dot=True).lower()


def _fqdn(text: str) -> str:
    return ROOT if text in ("", ROOT) else text.rstrip(".") + "."


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(rrtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(
        dns.rdataclass.IN, rrtype, text, origin=dns.name.root, relativize=False
    )


def _parse_cname(text: str) -> dns.name.Name:
    rdata = _parse("CNAME", text)
    assert isinstance(rdata, CNAME)
    return rdata.target


def _parse_nsec(text: str) -> NSEC:
    rdata = _parse("NSEC", text)
    assert isinstance(rdata, NSEC)
    return rdata


def _parse_ds(texts: tuple[str, ...]) -> list[DS]:
    out = [_parse("DS", t) for t in texts]
    return [d for d in out if isinstance(d, DS)]


def _parse_keys(texts: tuple[str, ...]) -> list[DNSKEY]:
    out = [_parse("DNSKEY", t) for t in texts]
    return [k for k in out if isinstance(k, DNSKEY)]


def _rdataset(rdatas: Sequence[DNSKEY]) -> dns.rdataset.Rdataset:
    return dns.rdataset.from_rdata_list(0, rdatas)


def _rrset(rrset: SignedRRset) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(
        _name(rrset.name), rrset.ttl, dns.rdataclass.IN, rrset.rrtype, list(rrset.records)
    )


def _ds_usable(ds: DS) -> bool:
    return ds.algorithm in VALIDATED_ALGORITHMS and ds.digest_type in VALIDATED_DIGESTS


def _verify(
    data: dns.rrset.RRset, sig: RRSIG, zone: dns.name.Name, keys: list[DNSKEY], now: float
) -> str | None:
    """None when ``sig`` by one of ``keys`` verifies over ``data``, else why not (``now``
    only passes dnspython's own date check, which the caller has already made)."""
    try:
        dns.dnssec.validate_rrsig(data, sig, {zone: _rdataset(keys)}, now=now, policy=_POLICY)
    except (dns.exception.ValidationFailure, dns.exception.UnsupportedAlgorithm) as exc:
        return str(exc)
    return None
