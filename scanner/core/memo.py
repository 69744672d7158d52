"""What the rules work out once for many domains: a memo of pure functions (no I/O).

What must live here: ``JudgeMemo``, which a caller that judges many domains against the
same host facts (the scan's judge stage: a provider's MX hosts serve thousands of the
domains of one partition) passes to ``rules.assess_domain`` and
``profiles.judge_senders``. Without it they compute everything per domain; with it:

* ``parse_mx`` is made once per distinct MX RRset (``MxSet`` is a value of the records);
* a host is assessed once per (name, preference, host facts, probes): ``assess`` gives
  back the same ``HostAssessment`` object when the ``HostDns`` and every probe are the
  very objects it was made from (identity, not equality: cheap, and never wrong); a
  host is kept from its second sight on (a host of one domain only costs a set entry);
* what depends only on the assessments of a domain's hosts (host judgements, verdict,
  mail outcome, error code and fix, the host part of the findings, the sender profiles)
  is kept under ``derived`` keys made of the identities of those assessments (``ids``).

Soundness: ``assess_host`` reads the recipient domain and the time only where a probed
address's certificate chain is checked against the TLSA records (DANE-TA name checks,
validity dates); an assessment that did so (an address with ``evidence``) is handed
back but never kept, so everything kept is a function of the host's facts, its probes
and its preference alone, and everything derived from kept assessments is keyed by
every other value it reads (the callers' keys). Ids stay unique while the memo lives:
every kept object is referenced by ``_kept`` until ``clear`` drops it, and a key of
``ids`` carries the memo's generation, which ``clear`` advances, so a key made before a
clear never meets one made after it. Memory is bounded: past ``max_entries`` kept and
derived values, all are dropped (a partition of mostly self-hosted domains would
otherwise keep one entry per domain).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from scanner.core.hosts import HostAssessment, assess_host
from scanner.core.model import HostDns, MxHost, SmtpProbe
from scanner.core.mxset import MxSet, parse_mx

T = TypeVar("T")

MAX_ENTRIES = 50_000


def _same_probes(a: Sequence[SmtpProbe] | None, b: Sequence[SmtpProbe] | None) -> bool:
    if a is b:
        return True
    if a is None or b is None or len(a) != len(b):
        return False
    return all(x is y for x, y in zip(a, b, strict=True))


class JudgeMemo:
    """Results of the pure rules shared by many domains (see the module docstring)."""

    __slots__ = (
        "_derived",
        "_generation",
        "_hosts",
        "_kept",
        "_last",
        "_mx",
        "_seen",
        "max_entries",
    )

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._mx: dict[tuple[str, ...], MxSet] = {}
        self._hosts: dict[
            tuple[str, int], tuple[HostDns | None, Sequence[SmtpProbe] | None, HostAssessment]
        ] = {}
        self._seen: set[tuple[str, int]] = set()
        self._kept: dict[int, object] = {}
        self._derived: dict[Hashable, object] = {}
        self._generation = 0
        # The last ``ids`` asked and its answer: a domain's hosts are asked about by the
        # rules, the findings and the sender profiles in turn (the same tuple).
        self._last: tuple[Sequence[object], tuple[int, ...] | None] = ((), None)

    def clear(self) -> None:
        self._generation += 1
        self._last = ((), None)
        self._mx.clear()
        self._hosts.clear()
        self._seen.clear()
        self._kept.clear()
        self._derived.clear()

    def _full(self) -> bool:
        return len(self._seen) + len(self._kept) + len(self._derived) >= self.max_entries

    def _room(self) -> None:
        if self._full():
            self.clear()

    def parse_mx(self, records: Sequence[str]) -> MxSet:
        """``mxset.parse_mx(records)``."""
        key = tuple(records)
        found = self._mx.get(key)
        if found is None:
            self._room()
            found = self._mx[key] = parse_mx(key)
            self._kept[id(found)] = found
        return found

    def assess(
        self,
        mx: MxHost,
        dns: HostDns | None,
        probes: Sequence[SmtpProbe] | None,
        domain: str,
        now: float,
    ) -> HostAssessment:
        """``hosts.assess_host(mx, dns, probes, domain, now)``."""
        key = (mx.host, mx.preference)
        hit = self._hosts.get(key)
        if hit is not None and hit[0] is dns and _same_probes(hit[1], probes):
            return hit[2]
        found = assess_host(mx, dns, probes, domain, now)
        if key not in self._seen:
            # Kept from the second sight on: a host of one domain only (most of them,
            # outside the providers) costs a set entry, and nothing is derived from it.
            self._room()
            self._seen.add(key)
        elif all(r.evidence is None for r in found.addresses):
            # Neither the domain nor the time was read (see the module docstring).
            self._room()
            self._hosts[key] = (dns, probes, found)
            self._kept[id(found)] = found
        return found

    def ids(self, objects: Sequence[object]) -> tuple[int, ...] | None:
        """A key standing for these objects (made by this memo), None if one was not kept."""
        last, key = self._last
        if objects is last:
            return key
        kept = self._kept
        key = (self._generation, *map(id, objects))
        for obj in objects:
            if kept.get(id(obj)) is not obj:
                key = None
                break
        if type(objects) is tuple:  # immutable: the same tuple is the same objects
            self._last = (objects, key)
        return key

    def key_of(self, obj: object) -> tuple[int, int] | None:
        """``ids((obj,))``, without displacing the remembered last ``ids``."""
        return (self._generation, id(obj)) if self._kept.get(id(obj)) is obj else None

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, made once per ``key`` (which must name everything it reads, the
        objects it reads by an ``ids`` key)."""
        try:
            return self._derived[key]  # type: ignore[return-value]
        except KeyError:
            pass
        found = make()
        if self._full():
            self.clear()  # the objects of ``key`` are no longer kept: not stored
        else:
            self._derived[key] = found
        return found
