"""The scan's stages: independent, idempotent tasks over partitions (DESIGN §3).

What must live here: one function per stage that turns committed inputs of one
partition into committed outputs, and the description of a task (``TaskSpec``) that
any executor (in-process, a Dask worker on another machine, a batch job) can run.

The stages, and why they are split where they are::

    domain  (partition: hash of the domain)   MX, zone keys, MTA-STS/TLS-RPT of each domain;
            emits the MX host names each partition needs, by host key
    host    (a range of host hash keys)       A, AAAA and the TLSA walk of each distinct host,
            once per scan; routes host facts to the domain partitions that use them
            and emits the probes due, by address key
    diagnose (a range of registered-domain keys)  why each bogus answer is bogus:
            the chain of trust walked from the anchor (issue 11); questions under one
            registered domain meet in one task, whose walker fetches a zone cut once
    probe   (a range of address hash keys)    one SMTP STARTTLS probe per (host, address, SNI),
            once per scan; every connection to an address is made by one task, so the
            per-destination cap holds across workers and machines
    judge   (partition: hash of the domain)   the rules over the joined facts (also what
            ``regrade`` runs over a stored scan)
    compact (per output file)                 the final tables' parts merged into few files

The domain partitions are fixed when the scan starts; the host, diagnose and probe
stages are cut into as many key ranges as the hosts, bogus answers and probes found
need (``Plan.with_hosts``, ``Plan.with_zones``, ``Plan.with_probes``), so that no
task's memory grows with the input.

A task reads only committed files (upstream stages are finished before it starts),
writes outputs whose names depend only on (stage, partition), and commits by writing
its ``done`` marker last, after checking that its run still owns the scan. A retried
task therefore replaces its outputs, never adds to them; a task of a dead run cannot
commit. Memory is bounded by a partition, never by the input.

A resolver that dies mid-task must not become a burst of ``dns_error`` rows: a task
that saw unanswered questions asks the resolver's self-check before committing, and
fails (``ResolverFailed``: the scan stops, resumable) if the resolver is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import trio

from scanner import __version__
from scanner.core import factjson
from scanner.core.assemble import ProbeKey, assemble, probe_keys
from scanner.core.blocklist import canonical_address
from scanner.core.chain import bogus_questions, domain_lookups
from scanner.core.memo import JudgeMemo
from scanner.core.model import (
    DnsLookup,
    DomainFacts,
    HostDns,
    MtaSts,
    SmtpProbe,
    Verdict,
    ZoneKeys,
)
from scanner.core.profiles import PkixTrust, judge_senders
from scanner.core.rules import RULES_VERSION, assess_domain
from scanner.errors import DanescanError, ResolverFailed
from scanner.gather.domain import Gatherer
from scanner.gather.resolve import DnsClient, self_check
from scanner.runs import collector
from scanner.runs.wiring import (
    GatherOptions,
    Seams,
    load_blocklist,
    make_gatherer,
    pkix_trust,
    policy_fetch_config,
)
from scanner.store import dataset as ds
from scanner.store import rows
from scanner.store.inputs import InputLine
from scanner.store.objstore import Store, open_store
from scanner.store.ownership import check_owner
from scanner.store.psl import registered_domain
from scanner.store.schema import TABLES, file_metadata

STAGES = ("domain", "host", "diagnose", "probe", "judge")
# The stages whose tasks only compute (no network, no trio of their own): an executor
# may run them in other processes, and in-process they run in a thread.
CPU_STAGES = frozenset({"judge", "compact"})

# -- work-file schemas (internal; facts are factjson text, like the final tables) ------

INPUT_SCHEMA = pa.schema(
    [("line_no", pa.int64()), ("raw", pa.string()), ("domain", pa.string()), ("rank", pa.int64())]
)
DOMAIN_SCHEMA = pa.schema(
    [
        ("domain", pa.string()),
        ("line_no", pa.int64()),
        ("rank", pa.int64()),
        ("raw", pa.string()),
        ("scanned_at", pa.float64()),
        ("hosts", pa.list_(pa.string())),
        ("facts", pa.string()),  # DomainFacts without hosts and probes
    ]
)
HOSTREF_SCHEMA = pa.schema([("key", pa.int64()), ("host", pa.string())])
BOGUS_SCHEMA = pa.schema([("key", pa.int64()), ("name", pa.string()), ("rrtype", pa.string())])
HOSTDNS_SCHEMA = pa.schema([("dp", pa.int64()), ("host", pa.string()), ("facts", pa.string())])
PROBEJOB_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("host", pa.string()),
        ("address", pa.string()),
        ("sni", pa.string()),
        ("dps", pa.list_(pa.int64())),
    ]
)
PROBE_SCHEMA = pa.schema(
    [
        ("dp", pa.int64()),
        ("host", pa.string()),
        ("address", pa.string()),
        ("sni", pa.string()),
        ("facts", pa.string()),
    ]
)
# Stored facts spooled for a regrade.
IMPORT_DOMAIN_SCHEMA = pa.schema(
    [
        ("domain", pa.string()),
        ("input_name", pa.string()),
        ("rank", pa.int64()),
        ("scanned_at", pa.timestamp("ms", tz="UTC")),
        ("facts", pa.string()),
    ]
)
IMPORT_HOST_SCHEMA = pa.schema(
    [
        ("key", pa.int64()),
        ("host", pa.string()),
        ("facts", pa.string()),
        ("observed_at", pa.timestamp("ms", tz="UTC")),
    ]
)
IMPORT_PROBE_SCHEMA = pa.schema(
    [("key", pa.int64()), ("host", pa.string()), ("facts", pa.string())]
)


class StoredFactsError(DanescanError):
    """A stored fact of the scan being regraded cannot be read back."""


# What one host or probe task holds at most (their memory is bounded by these, not by
# the input): the number of those tasks is decided from the counts the stage before
# found (``with_hosts``, ``with_probes``).
HOSTS_PER_TASK = 10_000
PROBES_PER_TASK = 10_000
QUESTIONS_PER_TASK = 500  # a bogus answer's chain walk keeps its zones' keys and proofs
DOMAINS_PER_PART = 25_000


@dataclass(frozen=True)
class Plan:
    """How many tasks each stage has. The domain partitions are fixed when the scan
    starts; the host, diagnose and probe tasks are counted once the stages before them
    have committed (0 until then), from what they found."""

    domain_parts: int
    min_tasks: int = 1  # the execution slots when the scan started (every shard uses it)
    host_tasks: int = 0
    zone_tasks: int = 0
    probe_tasks: int = 0

    def parts(self, stage: str) -> int:
        if stage == "diagnose":
            return self.zone_tasks
        if stage == "host":
            return self.host_tasks
        if stage == "probe":
            return self.probe_tasks
        return self.domain_parts

    def with_hosts(self, hosts: int) -> Plan:
        """Enough host tasks for ``hosts`` (an upper bound: the domain partitions'
        distinct names summed) to hold at most ``HOSTS_PER_TASK`` each."""
        return dataclasses.replace(self, host_tasks=self._tasks_for(hosts, HOSTS_PER_TASK))

    def with_zones(self, questions: int) -> Plan:
        """Enough diagnose tasks for ``questions`` bogus answers, at most
        ``QUESTIONS_PER_TASK`` each (questions under one registered domain stay together)."""
        return dataclasses.replace(self, zone_tasks=self._tasks_for(questions, QUESTIONS_PER_TASK))

    def with_probes(self, probes: int) -> Plan:
        return dataclasses.replace(self, probe_tasks=self._tasks_for(probes, PROBES_PER_TASK))

    def _tasks_for(self, items: int, per_task: int) -> int:
        # At least one per execution slot, so no slot idles while a big task runs alone.
        return min(max(self.min_tasks, -(-items // per_task)), 65_536)


def make_plan(domains_estimate: int, slots: int, explicit: int | None = None) -> Plan:
    """About ``DOMAINS_PER_PART`` domains per domain partition, at least two per
    execution slot (so that a slow partition does not leave the other slots idle).
    """
    if explicit is not None:
        domain_parts = max(1, explicit)
    else:
        domain_parts = max(2 * slots, -(-domains_estimate // DOMAINS_PER_PART))
    domain_parts = min(domain_parts, 65_536)
    return Plan(domain_parts, min_tasks=max(1, slots))


@dataclass(frozen=True)
class TaskSpec:
    """Everything a task needs, picklable, so that any executor can run it anywhere."""

    stage: str
    part: int
    location: str  # the scan's store (absolute path or URL)
    scan_id: str
    scan_date: str
    plan: Plan
    options: GatherOptions
    owner_path: str
    owner_token: str
    concurrency: int = 256  # domains / hosts / probes in flight in this task
    mode: str = "scan"  # scan | regrade (facts read from the stored scan, not gathered)
    # compact tasks: the final table, the work files merged into output ``part``
    table: str = ""
    files: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"danescan-{self.scan_id}-{self.stage}{self.table}-{self.part:05d}"

    @property
    def marker(self) -> str:
        return ds.done_marker(f"{self.stage}{'-' + self.table if self.table else ''}", self.part)


@dataclass
class TaskResult:
    stage: str
    part: int
    counts: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_kib: int = 0


def is_done(store: Store, stage: str, part: int) -> bool:
    return store.exists(ds.done_marker(stage, part))


def read_done(store: Store, stage: str, part: int) -> dict[str, Any] | None:
    got = store.read_json(ds.done_marker(stage, part))
    return got if isinstance(got, dict) else None


def _commit(store: Store, spec: TaskSpec, result: TaskResult) -> None:
    check_owner(store, spec.owner_path, spec.owner_token)
    store.write_json(
        {
            "counts": result.counts,
            "verdicts": result.verdicts,
            "seconds": result.seconds,
            "cpu_seconds": result.cpu_seconds,
            "peak_rss_kib": result.peak_rss_kib,
            "pid": os.getpid(),
        },
        spec.marker,
    )


def _meta(spec: TaskSpec, table: str) -> dict[bytes, bytes]:
    return file_metadata(table, spec.scan_id, __version__, RULES_VERSION)


T = TypeVar("T")


async def each_concurrently(
    items: Iterable[T],
    fn: Callable[[T], Awaitable[None]],
    limit: int,
    *,
    item_seconds: float | None = None,
    late: Callable[[T, float], None] | None = None,
) -> None:
    """``fn`` over ``items`` with at most ``limit`` in flight.

    A fixed set of ``limit`` workers pull from one iterator (trio runs one task at a
    time, so ``next`` never interleaves): no task, channel message or scheduling round
    per item, and nothing waits in memory. With ``item_seconds``, each ``fn(item)`` has that
    many seconds; one that overruns is cancelled and ``late(item, when it started on
    trio's clock)`` called instead. The
    deadline costs no cancel scope per item: each worker keeps one scope for as long as
    none of its items overruns, notes when its item started, and a single watchdog
    (sleeping until the earliest deadline) cancels the scope of a worker past it.
    """
    source = iter(items)
    workers = [_Worker() for _ in range(max(1, limit))]

    async def worker(me: _Worker) -> None:
        while True:
            item: T | None = None
            busy = False
            began = _NEVER
            with trio.CancelScope() as scope:
                me.scope = scope
                for item in source:
                    busy = True
                    me.since = began = trio.current_time()
                    await fn(item)
                    me.since = _NEVER
                    busy = False
                    if scope.cancel_called:
                        break  # the watchdog came late, after the item had finished
                else:
                    return
            me.since = _NEVER
            if busy and scope.cancelled_caught:
                assert late is not None
                late(cast(T, item), began)

    async def watchdog(span: float) -> None:
        while True:
            now = trio.current_time()
            earliest = now
            for me in workers:
                if me.since + span <= now:
                    me.since = _NEVER
                    me.scope.cancel()
                elif me.since < earliest:
                    earliest = me.since
            # An item started from now on ends at now + span or later.
            await trio.sleep_until(earliest + span)

    async with trio.open_nursery() as outer:
        if item_seconds is not None:
            outer.start_soon(watchdog, item_seconds)
        async with trio.open_nursery() as nursery:
            for me in workers:
                nursery.start_soon(worker, me)
        outer.cancel_scope.cancel()


_NEVER = float("inf")


class _Worker:
    """One worker of ``each_concurrently``: its cancel scope, when its item started."""

    __slots__ = ("scope", "since")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.since = _NEVER


def _silent(lookups: Iterable[DnsLookup]) -> bool:
    """Did our resolver leave a question unanswered (rather than answer SERVFAIL)?
    The CD retry counts too: a bogus answer whose CD retry found the resolver gone."""
    # A loop, not any() over a generator: this runs once per domain and per host.
    for lk in lookups:  # noqa: SIM110 - faster than any() over a generator
        if lk.rcode in _QUIET or lk.cd_rcode in _QUIET:
            return True
    return False


_QUIET = ("TIMEOUT", "NETWORK_ERROR")


async def _vouch(resolver: DnsClient, options: GatherOptions, silent: int) -> None:
    """Before committing results that rest on unanswered questions, make sure the
    resolver still answers; otherwise the task fails and the scan stays resumable."""
    if not silent:
        return
    check = await self_check(resolver, options.canary_secure, options.canary_bogus)
    if not check.ok:
        raise ResolverFailed(
            f"the resolver stopped working mid-scan ({check.message}); fix it and rerun "
            "with --resume"
        )


# -- the domain stage --------------------------------------------------------------------


def _own_facts_json(facts: DomainFacts) -> str:
    return factjson.dumps(facts)


def _load(tp: type[T], text: str, what: str, of: str | None = None) -> T:
    """``text`` read back as a ``tp``: the stored ``what`` (``of`` a name: the message is
    made only on failure, the judge stage loads a domain's facts per domain)."""
    try:
        return factjson.loads(tp, text)
    except Exception as exc:
        where = f"{what} of {of!r}" if of is not None else what
        raise StoredFactsError(
            f"stored {where} cannot be read back: {type(exc).__name__}: {exc}"
        ) from None


def _input_lines(store: Store, spec: TaskSpec, now: float) -> tuple[list[InputLine], int]:
    """The partition's input lines, first occurrence of each domain kept; the others are
    written to ``invalid_inputs`` as duplicates as they are met. The chunk files are in
    input order (the driver spools them in order), so no sort is needed and memory is
    bounded by the partition's distinct domains, not by its duplicate lines."""
    seen: set[str] = set()
    keep: list[InputLine] = []
    files = store.list_files(ds.input_dir(spec.part), suffix=".parquet")
    with ds.RowWriter(
        store,
        ds.work_final("invalid_inputs", f"dup-{spec.part:05d}"),
        TABLES["invalid_inputs"],
        _meta(spec, "invalid_inputs"),
    ) as dups:
        for r in ds.read_rows(store, files):
            line = InputLine(r["line_no"], r["raw"], r["domain"], r["rank"])
            assert line.domain is not None
            if line.domain in seen:
                dup = InputLine(line.line_no, line.raw, None, line.rank, "duplicate")
                dups.add({**rows.invalid_row(dup, now), "scan_id": spec.scan_id})
            else:
                seen.add(line.domain)
                keep.append(line)
        return keep, dups.count


async def _domain_stage(spec: TaskSpec, store: Store, seams: Seams) -> TaskResult:
    result = TaskResult("domain", spec.part)
    refs: set[str] = set()
    bogus: set[tuple[str, str]] = set()
    now = time.time()
    with ds.RowWriter(store, ds.domain_file(spec.part), DOMAIN_SCHEMA) as out:
        if spec.mode == "regrade":
            count = _import_domains(spec, store, out, refs)
            result.counts["domains"] = count
        else:
            lines, duplicates = _input_lines(store, spec, now)
            result.counts["duplicates"] = duplicates
            result.counts["domains"] = len(lines)
            result.counts["queries"] = await _gather_domains(
                spec, store, seams, lines, out, refs, bogus
            )
    # The host stage's task count comes from these counts (an upper bound of the
    # distinct hosts: a provider's host is counted once per domain partition).
    result.counts["hosts"] = len(refs)
    ds.write_sorted(
        store,
        ds.hostrefs_file(spec.part),
        HOSTREF_SCHEMA,
        [{"key": ds.hash_key(n), "host": n} for n in refs],
        "key",
    )
    _write_bogus(spec, store, bogus, f"d-{spec.part:05d}", result)
    return result


def _write_bogus(
    spec: TaskSpec, store: Store, bogus: set[tuple[str, str]], who: str, result: TaskResult
) -> None:
    """The task's bogus questions, sorted by the hash key of their registered domain (a
    diagnose task reads one range of keys, so one registered domain's questions meet
    in one task and its zones are walked once)."""
    if spec.mode == "regrade":
        return  # a regrade walks nothing: the stored diagnoses are copied
    result.counts["bogus"] = len(bogus)
    ds.write_sorted(
        store,
        ds.bogus_file(who),
        BOGUS_SCHEMA,
        [{"key": ds.hash_key(registered_domain(n) or n), "name": n, "rrtype": r} for n, r in bogus],
        "key",
    )


async def _gather_domains(
    spec: TaskSpec,
    store: Store,
    seams: Seams,
    lines: Sequence[InputLine],
    out: ds.RowWriter,
    refs: set[str],
    bogus: set[tuple[str, str]],
) -> int:
    options = spec.options
    batch = _DomainRows(out)

    def record(
        line: InputLine, scanned_at: float, own: DomainFacts, names: Sequence[str]
    ) -> list[DnsLookup]:
        lookups = domain_lookups(own)
        for lk in lookups:
            if lk.rcode == "SERVFAIL":  # only a SERVFAIL can be bogus
                bogus.update(bogus_questions(lookups))
                break
        refs.update(names)
        batch.add(line, scanned_at, names, _own_facts_json(own))
        return _own_lookups(own)

    async def one(gatherer: Gatherer, line: InputLine) -> list[DnsLookup]:
        assert line.domain is not None
        scanned_at = time.time()
        own, names = await gatherer.own_facts(line.domain)
        return record(line, scanned_at, own, names)

    def late(line: InputLine, scanned_at: float) -> list[DnsLookup]:
        assert line.domain is not None
        own = DomainFacts(
            line.domain,
            DnsLookup(line.domain, "MX", "TIMEOUT", error="domain deadline exceeded"),
            probing_enabled=options.probe,
        )
        return record(line, scanned_at, own, ())

    queries = await _gather_each(
        spec,
        seams,
        lines,
        one,
        spec.concurrency,
        item_seconds=options.domain_timeout,
        late=late,
    )
    batch.flush()
    return queries


class _DomainRows:
    """The domain stage's rows, gathered column by column and handed to the writer as
    one record batch per ``ds.ROW_GROUP`` rows (no dict per row, no row-wise
    conversion)."""

    def __init__(self, out: ds.RowWriter) -> None:
        self._out = out
        self._clear()

    def _clear(self) -> None:
        self.domain: list[str | None] = []
        self.line_no: list[int] = []
        self.rank: list[int | None] = []
        self.raw: list[str] = []
        self.scanned_at: list[float] = []
        self.hosts: list[Sequence[str]] = []
        self.facts: list[str] = []

    def add(self, line: InputLine, scanned_at: float, hosts: Sequence[str], facts: str) -> None:
        self.domain.append(line.domain)
        self.line_no.append(line.line_no)
        self.rank.append(line.rank)
        self.raw.append(line.raw)
        self.scanned_at.append(scanned_at)
        self.hosts.append(hosts)
        self.facts.append(facts)
        if len(self.facts) >= ds.ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if not self.facts:
            return
        columns = (
            self.domain,
            self.line_no,
            self.rank,
            self.raw,
            self.scanned_at,
            self.hosts,
            self.facts,
        )
        self._out.add_columns(columns)
        self._clear()


async def _gather_each(
    spec: TaskSpec,
    seams: Seams,
    items: Sequence[T],
    one: Callable[[Gatherer, T], Awaitable[Sequence[DnsLookup]]],
    limit: int,
    *,
    item_seconds: float | None = None,
    late: Callable[[T, float], Sequence[DnsLookup]] | None = None,
) -> int:
    """``one`` over ``items`` with this task's resolver and gatherer, ``limit`` at a
    time; with ``item_seconds``, an item that overruns it is given up and ``late(item, wall
    clock time when it started)`` stands for it. Before returning, the resolver is
    vouched for if any lookup went unanswered. Returns the queries sent."""
    silent = 0
    # Young-generation passes walk the questions in flight: fewer of them.
    with collector.relaxed():
        async with (
            seams.resolver(spec.options.resolver_config(bulk=True)) as resolver,
            trio.open_nursery() as nursery,
        ):
            gatherer = _gatherer(spec, nursery, resolver, seams)

            async def each(item: T) -> None:
                nonlocal silent
                silent += _silent(await one(gatherer, item))

            def overran(item: T, began: float) -> None:
                nonlocal silent
                assert late is not None
                # The wall clock when the item started, from trio's (monotonic) clock.
                wall = time.time() - (trio.current_time() - began)
                silent += _silent(late(item, wall))

            await each_concurrently(items, each, limit, item_seconds=item_seconds, late=overran)
            await _vouch(resolver, spec.options, silent)
            nursery.cancel_scope.cancel()
    return resolver.queries_sent


def _own_lookups(facts: DomainFacts) -> list[DnsLookup]:
    found = [facts.mx]
    sts = facts.mta_sts
    if sts is not None:
        if sts.sts_txt:
            found.append(sts.sts_txt)
        if sts.tlsrpt_txt:
            found.append(sts.tlsrpt_txt)
    return found


def _gatherer(spec: TaskSpec, nursery: trio.Nursery, resolver: DnsClient, seams: Seams) -> Gatherer:
    options = spec.options
    return make_gatherer(
        nursery,
        resolver,
        options,
        seams,
        blocklist=load_blocklist(options.blocklist),
        # Policies are fetched only when servers may be contacted (``Gatherer``); the
        # trust store costs 20 ms a task to load (the driver has vouched for the file).
        policy_fetch=policy_fetch_config(options) if options.probe else None,
    )


def _import_domains(spec: TaskSpec, store: Store, out: ds.RowWriter, refs: set[str]) -> int:
    """Regrade: a partition of the stored scan's domains, as the domain stage's output."""
    files = store.list_files(ds.import_dir("domains", spec.part), suffix=".parquet")
    count = 0
    for r in ds.read_rows(store, files):
        try:
            stored = json.loads(r["facts"])
            names = [str(n) for n in stored.get("hosts", [])]
            own = _rebuild_own(r["domain"], stored)
        except StoredFactsError:
            raise
        except Exception as exc:
            raise StoredFactsError(
                f"stored facts of {r['domain']!r} cannot be read back: {type(exc).__name__}: {exc}"
            ) from None
        refs.update(names)
        out.add(
            {
                "domain": r["domain"],
                "line_no": 0,
                "rank": r["rank"],
                "raw": r["input_name"],
                "scanned_at": r["scanned_at"].timestamp(),
                "hosts": names,
                "facts": _own_facts_json(own),
            }
        )
        count += 1
    return count


def _rebuild_own(domain: str, stored: dict[str, Any]) -> DomainFacts:
    """A domain's own facts from a ``domains.facts`` JSON object (see ``rows.domain_row``)."""
    zone = stored.get("zone_keys")
    sts = stored.get("mta_sts")
    return DomainFacts(
        domain=domain,
        mx=factjson.from_plain(DnsLookup, stored["mx"]),
        implicit_mx=bool(stored.get("implicit_mx", False)),
        zone_keys=factjson.from_plain(ZoneKeys, zone) if zone else None,
        mta_sts=factjson.from_plain(MtaSts, sts) if sts else None,
        probing_enabled=bool(stored.get("probing_enabled", True)),
    )


# -- the host stage ----------------------------------------------------------------------


def _host_refs(store: Store, spec: TaskSpec) -> dict[str, list[int]]:
    """Host name → the domain partitions that need it (sorted), for this task's keys."""
    lo, hi = ds.key_range(spec.part, spec.plan.host_tasks)
    needed: dict[str, set[int]] = defaultdict(set)
    for path in store.list_files(ds.hostrefs_dir(), suffix=".parquet"):
        domain_part = int(path.rsplit("dp=", 1)[1].split(".")[0])
        for r in ds.read_key_range(store, [path], "key", lo, hi):
            needed[r["host"]].add(domain_part)
    return {host: sorted(parts) for host, parts in sorted(needed.items())}


async def _host_stage(spec: TaskSpec, store: Store, seams: Seams) -> TaskResult:
    result = TaskResult("host", spec.part)
    needed = _host_refs(store, spec)
    found: dict[str, tuple[HostDns, float]] = {}
    if spec.mode == "regrade":
        found = _import_hosts(spec, store, set(needed))
    else:
        result.counts["queries"] = await _gather_hosts(spec, seams, list(needed), found)
    result.counts["hosts"] = len(found)
    bogus: set[tuple[str, str]] = set()
    for host, _ in found.values():
        bogus.update(bogus_questions([host.a, host.aaaa, *host.tlsa_lookups]))
    _write_bogus(spec, store, bogus, f"h-{spec.part:05d}", result)
    meta = {t: _meta(spec, t) for t in ("hosts", "tlsa_records")}
    who = f"h-{spec.part:05d}"
    with (
        ds.RowWriter(
            store, ds.work_final("hosts", who), TABLES["hosts"], meta["hosts"]
        ) as hosts_out,
        ds.RowWriter(
            store, ds.work_final("tlsa_records", who), TABLES["tlsa_records"], meta["tlsa_records"]
        ) as tlsa_out,
    ):
        for name in needed:
            host, at = found[name]
            hosts_out.add({**rows.host_row(host, at), "scan_id": spec.scan_id})
            tlsa_out.add_many({**r, "scan_id": spec.scan_id} for r in rows.tlsa_rows(host, at))
    routed: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    for name, parts in needed.items():
        host, _ = found[name]
        text = factjson.dumps(host)
        routed.extend({"dp": dp, "host": name, "facts": text} for dp in parts)
        if spec.options.probe:
            for h, address, sni in probe_keys(host):
                key = ds.hash_key(canonical_address(address))
                jobs.append({"key": key, "host": h, "address": address, "sni": sni, "dps": parts})
    # One file per output, sorted by where its rows go; a retry overwrites both.
    ds.write_sorted(store, ds.hostdns_file(spec.part), HOSTDNS_SCHEMA, routed, "dp")
    if spec.options.probe:
        ds.write_sorted(store, ds.probejobs_file(spec.part), PROBEJOB_SCHEMA, jobs, "key")
        result.counts["probe_jobs"] = len(jobs)
    return result


async def _gather_hosts(
    spec: TaskSpec, seams: Seams, names: list[str], found: dict[str, tuple[HostDns, float]]
) -> int:
    async def one(gatherer: Gatherer, name: str) -> list[DnsLookup]:
        at = time.time()
        host = await gatherer.host(name)
        found[name] = (host, at)
        return [host.a, host.aaaa, *host.tlsa_lookups]

    return await _gather_each(spec, seams, names, one, spec.concurrency)


def _import_hosts(
    spec: TaskSpec, store: Store, needed: set[str]
) -> dict[str, tuple[HostDns, float]]:
    found: dict[str, tuple[HostDns, float]] = {}
    lo, hi = ds.key_range(spec.part, spec.plan.host_tasks)
    files = store.list_files(ds.import_dir("hosts", 0), suffix=".parquet")
    for r in ds.read_key_range(store, files, "key", lo, hi):
        if r["host"] in needed:
            host = _load(HostDns, r["facts"], "facts of host", r["host"])
            for address in (*host.a.records, *host.aaaa.records):
                # A resolver only hands over addresses; stored facts may say anything.
                try:
                    canonical_address(address)
                except ValueError:
                    raise StoredFactsError(
                        f"stored facts of host {r['host']!r}: {address!r} is not an address"
                    ) from None
            found[r["host"]] = (host, r["observed_at"].timestamp() if r.get("observed_at") else 0.0)
    missing = needed - set(found)
    if missing:
        raise StoredFactsError(
            f"the stored scan has no host facts for {sorted(missing)[:3]} "
            f"({len(missing)} hosts its domains use)"
        )
    return found


# -- the diagnose stage ------------------------------------------------------------------


async def _diagnose_stage(spec: TaskSpec, store: Store, seams: Seams) -> TaskResult:
    result = TaskResult("diagnose", spec.part)
    files = store.list_files(ds.bogus_dir(), suffix=".parquet")
    lo, hi = ds.key_range(spec.part, spec.plan.zone_tasks)
    questions = sorted(
        {(r["name"], r["rrtype"]) for r in ds.read_key_range(store, files, "key", lo, hi)}
    )
    walker = seams.walker(spec.options) if questions and spec.mode == "scan" else None
    # Rows go to the file as they come, in small row groups: one registered domain's
    # questions all meet in one task, and a zone with thousands of broken names must not
    # make that task hold every chain it walked.
    with ds.RowWriter(
        store,
        ds.work_final("dnssec_diagnoses", f"z-{spec.part:05d}"),
        TABLES["dnssec_diagnoses"],
        _meta(spec, "dnssec_diagnoses"),
        row_group=ds.SHUFFLE_ROW_GROUP,
    ) as out:
        if walker is not None:

            async def one(question: tuple[str, str]) -> None:
                at = time.time()
                diagnosis, facts = await walker.diagnose_with_facts(*question, now=at)
                out.add({**rows.diagnosis_row(diagnosis, facts, at), "scan_id": spec.scan_id})

            await each_concurrently(questions, one, 32)
            result.counts["queries"] = walker.queries
        result.counts["diagnoses"] = out.count
    return result


# -- the probe stage ---------------------------------------------------------------------


def _probe_jobs(store: Store, spec: TaskSpec) -> dict[ProbeKey, set[int]]:
    lo, hi = ds.key_range(spec.part, spec.plan.probe_tasks)
    jobs: dict[ProbeKey, set[int]] = defaultdict(set)
    files = store.list_files(ds.probejobs_dir(), suffix=".parquet")
    for r in ds.read_key_range(store, files, "key", lo, hi):
        jobs[(r["host"], r["address"], r["sni"])].update(r["dps"])
    return dict(sorted(jobs.items()))


async def _probe_stage(spec: TaskSpec, store: Store, seams: Seams) -> TaskResult:
    result = TaskResult("probe", spec.part)
    jobs = _probe_jobs(store, spec)
    done: dict[ProbeKey, SmtpProbe] = {}
    if spec.mode == "regrade":
        done = _import_probes(spec, store, set(jobs))
    else:
        await _run_probes(spec, seams, list(jobs), done)
    result.counts["addresses"] = len(done)
    routed: list[dict[str, Any]] = []
    with ds.RowWriter(
        store,
        ds.work_final("addresses", f"a-{spec.part:05d}"),
        TABLES["addresses"],
        _meta(spec, "addresses"),
    ) as out:
        for key, parts in jobs.items():
            probe = done[key]
            out.add({**rows.address_row(key[0], probe), "scan_id": spec.scan_id})
            text = factjson.dumps(probe)
            routed.extend(
                {"dp": dp, "host": key[0], "address": key[1], "sni": key[2], "facts": text}
                for dp in parts
            )
    ds.write_sorted(store, ds.probes_file(spec.part), PROBE_SCHEMA, routed, "dp")
    return result


async def _run_probes(
    spec: TaskSpec, seams: Seams, keys: list[ProbeKey], done: dict[ProbeKey, SmtpProbe]
) -> None:
    async def one(gatherer: Gatherer, key: ProbeKey) -> list[DnsLookup]:
        done[key] = await gatherer.probe(key)
        return []

    # The probe limiter and the per-destination cap live in the gatherer; the channel
    # only keeps the number of waiting tasks bounded.
    await _gather_each(spec, seams, keys, one, max(spec.concurrency, spec.options.probe_limit))


def _import_probes(spec: TaskSpec, store: Store, keys: set[ProbeKey]) -> dict[ProbeKey, SmtpProbe]:
    found: dict[ProbeKey, SmtpProbe] = {}
    lo, hi = ds.key_range(spec.part, spec.plan.probe_tasks)
    files = store.list_files(ds.import_dir("addresses", 0), suffix=".parquet")
    for r in ds.read_key_range(store, files, "key", lo, hi):
        probe = _load(SmtpProbe, r["facts"], "probe facts", r["host"])
        key = (r["host"], probe.address, probe.sni)
        if key in keys:
            found[key] = probe
    missing = keys - set(found)
    if missing:
        raise StoredFactsError(
            f"the stored scan has no probe for {sorted(missing)[:2]} ({len(missing)} probes due)"
        )
    return found


# -- the judge stage ---------------------------------------------------------------------


def _routed_hosts(store: Store, part: int) -> dict[str, HostDns]:
    files = store.list_files(ds.hostdns_dir(), suffix=".parquet")
    return {
        r["host"]: _load(HostDns, r["facts"], "host facts")
        for r in ds.read_key_range(store, files, "dp", part, part + 1)
    }


def _routed_probes(store: Store, part: int) -> dict[ProbeKey, SmtpProbe]:
    files = store.list_files(ds.probes_dir(), suffix=".parquet")
    return {
        (r["host"], r["address"], r["sni"]): _load(SmtpProbe, r["facts"], "probe facts")
        for r in ds.read_key_range(store, files, "dp", part, part + 1)
    }


JUDGED = ("domains", "domain_mx", "findings", "sender_outcomes")


def _judge_stage(spec: TaskSpec, store: Store) -> TaskResult:
    """The rules over one domain partition. A provider's hosts serve many of its
    domains: one ``JudgeMemo`` per task assesses each host once and shares what depends
    on the hosts alone (``scanner.core.memo``); rows go to the writers as tuples of values
    and parts shared by many domains (``ds.ColumnWriter``, ``ds.PartWriter``);
    the cyclic garbage collector rests meanwhile (``collector.paused``)."""
    with collector.paused():
        return _judge(spec, store)


def _judge(spec: TaskSpec, store: Store) -> TaskResult:
    result = TaskResult("judge", spec.part)
    hosts = _routed_hosts(store, spec.part)
    probes = _routed_probes(store, spec.part) if spec.options.probe else None
    verdicts: Counter[Verdict] = Counter()
    who = f"d-{spec.part:05d}"
    trust = _sender_trust(spec.options)
    memo = JudgeMemo()
    constants = {"scan_id": spec.scan_id}

    def columns(table: str) -> ds.ColumnWriter:
        path = ds.work_final(table, who)
        return ds.ColumnWriter(store, path, TABLES[table], _meta(spec, table), constants)

    def parts(table: str, make: Callable[[Any], Sequence[Sequence[Any]]]) -> ds.PartWriter:
        path = ds.work_final(table, who)
        return ds.PartWriter(store, path, TABLES[table], make, _meta(spec, table), constants)

    with (
        columns("domains") as domains,
        parts("domain_mx", rows.domain_mx_columns) as domain_mx,
        columns("findings") as findings,
        # Memo-made host judgements and sender outcomes are shared objects.
        parts("sender_outcomes", rows.sender_columns) as senders,
    ):
        for r in _domain_work_rows(store, spec.part):
            domain, rank, raw, scanned_at, names, text = r
            facts, stored = _judged_facts(domain, text, names, hosts, probes)
            at = float(scanned_at)
            judgement, assessments = assess_domain(facts, at, memo)
            outcomes = judge_senders(facts, judgement, at, trust, assessments, memo)
            at_ms = rows.ts_ms(at)
            domains.append(rows.domain_values(raw, rank, facts, judgement, at_ms, stored))
            name = judgement.domain
            domain_mx.add(name, judgement.hosts, at_ms)
            for f in judgement.findings:
                findings.append(rows.finding_values(name, f, at_ms))
            senders.add(name, outcomes, at_ms)
            verdicts[judgement.verdict] += 1
    result.verdicts = {str(v): n for v, n in verdicts.items()}
    result.counts["judged"] = sum(verdicts.values())
    return result


def _judged_facts(
    domain: str,
    text: str,
    names: Sequence[str],
    hosts: dict[str, HostDns],
    probes: dict[ProbeKey, SmtpProbe] | None,
) -> tuple[DomainFacts, str | bytes]:
    """A domain's facts as the rules judge them, from the domain stage's ``text`` of
    its own facts and its MX host ``names``, and the text of its ``domains.facts``
    (``rows.OwnText``: parts copied, not encoded again)."""
    try:
        own = rows.read_own(text)
        facts = own.facts(names, hosts, probes)
    except (msgspec.DecodeError, UnicodeEncodeError):
        # What msgspec does not read and json might (see factjson.loads), or facts
        # that do not fit: the plain way, which raises the stored facts' error.
        facts = assemble(_load(DomainFacts, text, "facts", domain), names, hosts, probes)
        return facts, rows.stored_facts(facts)
    return facts, own.stored(facts)


_DOMAIN_WORK = ["domain", "rank", "raw", "scanned_at", "hosts", "facts"]
# Rows made into Python objects at a time: a row group's (10,000 domains' facts, some
# 10 MB) made at once is fresh memory each time (page faults, a dear system call in a
# VM) and out of the CPU's caches by the time its rows are judged.
_WORK_BATCH = 1_000


def _domain_work_rows(store: Store, part: int) -> Iterator[tuple[Any, ...]]:
    """The domain stage's rows of a partition as tuples in ``_DOMAIN_WORK`` order, read
    in this thread (Arrow's thread pool costs more CPU than it saves on one file),
    ``_WORK_BATCH`` rows at a time."""
    with store.fs.open_input_file(store.path(ds.domain_file(part))) as f:
        batches = pq.ParquetFile(f).iter_batches(
            columns=_DOMAIN_WORK, batch_size=_WORK_BATCH, use_threads=False
        )
        for batch in batches:
            yield from zip(*(batch.column(n).to_pylist() for n in _DOMAIN_WORK), strict=True)


def _sender_trust(options: GatherOptions) -> PkixTrust | None:
    """The roots the MTA-STS sender profile trusts (as ``check`` loads them); None when
    they cannot be read here, which makes that profile's enforce outcomes ``unknown``."""
    try:
        return pkix_trust(options.mta_sts_cafile)
    except DanescanError:
        return None


# -- compaction ------------------------------------------------------------------------

TARGET_ROWS = 2_000_000  # rows per final file (a few hundred MB with facts)


def compaction_groups(store: Store, table: str) -> list[tuple[str, ...]]:
    """The work parts of a final table, grouped in order into output files of about
    ``TARGET_ROWS`` rows (the grouping depends only on the committed parts, so a
    rerun after a crash writes the same files)."""
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    rows_in = 0
    for path in store.list_files(ds.work_final_dir(table), suffix=".parquet"):
        count = ds.row_count(store, path)
        if count == 0:
            continue
        if current and rows_in + count > TARGET_ROWS:
            groups.append(tuple(current))
            current, rows_in = [], 0
        current.append(path)
        rows_in += count
    if current:
        groups.append(tuple(current))
    return groups


def final_file(table: str, scan_date: str, scan_id: str, part: int) -> str:
    return f"{ds.final_dir(table, scan_date, scan_id)}/part-{part:05d}.parquet"


def _compact(spec: TaskSpec, store: Store) -> TaskResult:
    result = TaskResult("compact", spec.part)
    target = final_file(spec.table, spec.scan_date, spec.scan_id, spec.part)
    with ds.RowWriter(store, target, TABLES[spec.table], _meta(spec, spec.table)) as out:
        for path in spec.files:
            with store.fs.open_input_file(path) as f:
                for batch in pq.ParquetFile(f).iter_batches(batch_size=ds.ROW_GROUP):
                    out.add_batch(batch)
        result.counts["rows"] = out.count
    return result


# -- running one task ------------------------------------------------------------------


async def run_task_async(spec: TaskSpec, seams: Seams | None = None) -> TaskResult:
    """Run one task and commit it; the executors call this (in-process) or ``run_task``."""
    seams = seams or Seams()
    store = open_store(spec.location)
    collector.baseline()
    _reset_peak_rss()
    started = time.monotonic()
    cpu = time.process_time()
    if spec.stage == "domain":
        result = await _domain_stage(spec, store, seams)
    elif spec.stage == "host":
        result = await _host_stage(spec, store, seams)
    elif spec.stage == "probe":
        result = await _probe_stage(spec, store, seams)
    elif spec.stage == "diagnose":
        result = await _diagnose_stage(spec, store, seams)
    elif spec.stage == "judge":
        result = await trio.to_thread.run_sync(_judge_stage, spec, store)
    elif spec.stage == "compact":
        result = await trio.to_thread.run_sync(_compact, spec, store)
    else:
        raise ValueError(f"unknown stage {spec.stage!r}")
    result.seconds = time.monotonic() - started
    result.cpu_seconds = time.process_time() - cpu
    # The peak of the process during this task (under Dask a worker process runs one
    # task at a time; in-process, the tasks running at once share it).
    result.peak_rss_kib = _peak_rss_kib()
    _commit(store, spec, result)
    return result


def _reset_peak_rss() -> None:
    """Start the process's peak-RSS mark afresh (Linux: ``clear_refs``), so that a task
    reports its own peak, not that of an earlier task in the same worker process."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss_kib() -> int:
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_task(spec: TaskSpec) -> TaskResult:
    """The entry point on a Dask worker (or any process): one task, in its own trio run."""
    try:
        return trio.run(run_task_async, spec)
    finally:
        collector.give_back()
