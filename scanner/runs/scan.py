"""The scan: a domain list in, a Parquet dataset out, with bounded memory.

Shape (one nursery for the whole scan)::

    reader ──(bounded channel)──▶ N domain workers ──▶ rules ──▶ sink buffers
                                       │                            │
                          shared host / zone / probe work     checkpoint task
                          (once per scan, in the scan nursery)  (atomic parts)

Back-pressure: the reader blocks when the channel is full, so at most ``concurrency``
domains are in flight whatever the input size. Host facts, address probes and TLSA
rows are written with the first committed domain that uses them, so a checkpoint never
holds a host whose domain is not also in it or earlier, and ``--resume`` reloads them
instead of asking again.

A resolver that dies mid-scan must not turn into a burst of ``dns_error`` rows: domains
judged ``dns_error`` because of timeouts are held back until a resolver health check
vouches for them; if the check fails the scan stops, resumable, with those domains
still to do.
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import trio

from scanner import __version__
from scanner.core import factjson
from scanner.core.model import DomainFacts, DomainJudgement, HostDns, SmtpProbe
from scanner.core.rules import RULES_VERSION, judge_domain
from scanner.errors import DanescanError, ResolverFailed
from scanner.gather.domain import Gatherer, ProbeKey
from scanner.gather.resolve import self_check, trust_anchor
from scanner.gather.shared import SpillStore
from scanner.runs.wiring import (
    GatherOptions,
    Seams,
    gather_domain,
    load_blocklist,
    make_gatherer,
    policy_fetch_config,
    require_validating,
)
from scanner.store import rows
from scanner.store.inputs import InputLine, read_input
from scanner.store.schema import SCHEMA_VERSION
from scanner.store.sink import ScanSink, read_column_values, read_state, recover, write_state

log = logging.getLogger("danescan.scan")


class ScanError(DanescanError):
    """A scan that cannot start (bad input, output directory or resume); exit 2."""


SPILL_FILE = "_spill.sqlite"  # scratch: shared results evicted from memory (shared.py)


@dataclass
class ScanConfig:
    input: str  # a path, or "-" for standard input
    out: Path
    gather: GatherOptions  # what is gathered per domain: the same wiring as ``check``
    resume: bool = False
    concurrency: int = 256  # domains in flight
    checkpoint_domains: int = 5000
    checkpoint_seconds: float = 30.0
    resident: int = 50_000  # finished shared results per kind kept in memory; more spill


@dataclass
class ScanProgress:
    """Counters the progress display reads (updated in place)."""

    started: float = field(default_factory=time.monotonic)
    lines: int = 0
    done: int = 0
    skipped_resume: int = 0
    invalid: int = 0
    duplicates: int = 0
    in_flight: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    finished: bool = False

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


@dataclass
class _Pending:
    line: InputLine
    facts: DomainFacts
    judgement: DomainJudgement
    at: float


def new_scan_id(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def _timestamp(seconds: float | None) -> Any:
    import datetime as dt

    return None if seconds is None else dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


class Scan:
    """One run of ``danescan scan`` (fresh or resumed)."""

    def __init__(self, config: ScanConfig, seams: Seams | None = None) -> None:
        self.config = config
        self.options = config.gather
        self.seams = seams or Seams()
        self.progress = ScanProgress()
        self.resolver = self.seams.resolver(self.options.resolver_config())
        self._done: set[str] = set()
        self._seen: set[str] = set()
        self._invalid_done: set[int] = set()
        self._trust_anchor: str | None = None
        self._hosts_written: set[str] = set()
        self._probes_written: set[tuple[str, str]] = set()
        self._suspects: list[_Pending] = []
        self._health_lock = trio.Lock()
        self._checkpoint_lock = trio.Lock()
        self._since_checkpoint = 0
        self.status = "running"

    # ----------------------------------------------------------------- set-up

    def _open(self) -> None:
        out = self.config.out
        state = read_state(out)
        now = time.time()
        if self.config.resume:
            if state is None:
                raise ScanError(f"--resume: no scan to resume in {out}")
            if state.get("status") == "complete":
                raise ScanError(f"--resume: the scan in {out} is already complete")
            self.scan_id = str(state["scan_id"])
            self.started_at = float(state["started_at"])
            first_seq = recover(out) + 1
            self._load_previous()
        else:
            if state is not None or (out.exists() and any(out.iterdir())):
                raise ScanError(
                    f"{out} is not empty: pass --resume to continue that scan, "
                    "or choose a new --out directory"
                )
            self.scan_id = new_scan_id(now)
            self.started_at = now
            first_seq = 1
        if self.config.input != "-" and not Path(self.config.input).is_file():
            raise ScanError(f"cannot read input {self.config.input}: no such file")
        self.sink = ScanSink(out, self.scan_id, first_seq)
        self._save_state("running")

    def _load_previous(self) -> None:
        out = self.config.out
        table = read_column_values(out, "domains", ["domain"])
        self._done = set(table.column("domain").to_pylist())
        self._invalid_done = set(
            read_column_values(out, "invalid_inputs", ["line_no"]).column("line_no").to_pylist()
        )
        self._hosts_facts = read_column_values(out, "hosts", ["host", "facts"])
        self._probe_facts = read_column_values(out, "addresses", ["host", "facts"])
        log.info("resuming %s: %d domains already done", self.scan_id, len(self._done))

    def _preload(self, gatherer: Gatherer) -> None:
        """Seed the shared memos with what the interrupted run found (spilling as needed)."""
        if not self.config.resume:
            return
        for host, text in _pairs(self._hosts_facts):
            gatherer.hosts.preload(host, factjson.loads(HostDns, text))
            self._hosts_written.add(host)
        for host, text in _pairs(self._probe_facts):
            probe = factjson.loads(SmtpProbe, text)
            gatherer.probes.preload(ProbeKey(host, probe.address, probe.sni), probe)
            self._probes_written.add((host, probe.address))
        # The Arrow tables are no longer needed; let them go before the scan grows.
        self._hosts_facts = self._probe_facts = pa.table({"host": [], "facts": []})

    def _save_state(self, status: str) -> None:
        self.status = status
        c = self.config
        write_state(
            c.out,
            {
                "scan_id": self.scan_id,
                "started_at": self.started_at,
                "status": status,
                "input": c.input,
                "resolvers": [f"{h}:{p}" for h, p in c.gather.resolvers],
                "probe": c.gather.probe,
                "software_version": __version__,
                "rules_version": RULES_VERSION,
            },
        )

    def _scan_row(self, finished: float | None) -> dict[str, Any]:
        c = self.config
        return {
            "started_at": _timestamp(self.started_at),
            "finished_at": _timestamp(finished),
            "status": self.status,
            "resolvers": [f"{h}:{p}" for h, p in c.gather.resolvers],
            "trust_anchor": self._trust_anchor,
            "software_version": __version__,
            "rules_version": RULES_VERSION,
            "schema_version": SCHEMA_VERSION,
            "input": c.input,
            "probing": c.gather.probe,
            "ehlo_name": c.gather.ehlo_name,
            "domains_input": self.progress.lines,
            "domains_scanned": len(self._done),
            "domains_invalid": len(self._invalid_done),
            "hosts": len(self._hosts_written),
            "addresses": len(self._probes_written),
            "queries": self.resolver.queries_sent,
        }

    # ----------------------------------------------------------------- run

    async def run(self) -> ScanProgress:
        # Settings are checked before the output directory is touched: a typo must not
        # leave anything behind that blocks the corrected command.
        self._blocklist = load_blocklist(self.options.blocklist)
        self._policy_fetch = policy_fetch_config(self.options)
        self._open()
        try:
            async with self.resolver:
                await self._run()
        except BaseExceptionGroup as group:
            raise_scan_error(group)
            raise
        return self.progress

    async def _run(self) -> None:
        try:
            await require_validating(self.resolver, self.options)
        except DanescanError:
            self._save_state("resolver_refused")
            raise
        self._trust_anchor = await trust_anchor(self.resolver)
        spill = SpillStore(self.config.out / SPILL_FILE)
        try:
            async with trio.open_nursery() as scan_nursery:
                gatherer = make_gatherer(
                    scan_nursery,
                    self.resolver,
                    self.options,
                    self.seams,
                    blocklist=self._blocklist,
                    policy_fetch=self._policy_fetch,
                    spill_store=spill,
                    resident=self.config.resident,
                )
                self._preload(gatherer)
                await self._pipeline(gatherer)
                scan_nursery.cancel_scope.cancel()
        except BaseException:
            # Ctrl-C, a dead resolver or a bug: keep what is complete, stay resumable.
            with trio.CancelScope(shield=True):
                await self._checkpoint(final=True)
                failed = self.status == "resolver_failed"
                self._save_state("resolver_failed" if failed else "interrupted")
                self.sink.write_scan_row(self._scan_row(None))
            raise
        finally:
            spill.close()
        await self._checkpoint(final=True)
        self._save_state("complete")
        self.sink.write_scan_row(self._scan_row(time.time()))
        self.progress.finished = True

    async def _pipeline(self, gatherer: Gatherer) -> None:
        send, receive = trio.open_memory_channel[InputLine](self.config.concurrency)
        async with trio.open_nursery() as outer:
            outer.start_soon(self._checkpoint_timer)
            async with trio.open_nursery() as work, receive:
                work.start_soon(self._read, send)
                for _ in range(self.config.concurrency):
                    work.start_soon(self._worker, gatherer, receive.clone())
            await self._flush_suspects(force_check=True)
            outer.cancel_scope.cancel()

    async def _open_input(self) -> AsyncGenerator[InputLine, None]:
        if self.config.input == "-":
            async with aclosing(read_input(sys.stdin.buffer)) as lines:
                async for line in lines:
                    yield line
            return
        path = Path(self.config.input)
        try:
            f: IO[bytes] = await trio.to_thread.run_sync(path.open, "rb")
        except OSError as exc:
            raise ScanError(f"cannot read input {path}: {exc}") from exc
        with f:
            async with aclosing(read_input(f)) as lines:
                async for line in lines:
                    yield line

    async def _read(self, send: trio.MemorySendChannel[InputLine]) -> None:
        # aclosing: an interrupted scan closes the reader chain at once (trio warns,
        # and the file stays open until garbage collection, otherwise).
        async with send, aclosing(self._open_input()) as lines:
            async for line in lines:
                self.progress.lines += 1
                if line.domain is None:
                    self._record_invalid(line)
                    continue
                if line.domain in self._seen:
                    self.progress.duplicates += 1
                    self._record_invalid(
                        InputLine(line.line_no, line.raw, None, line.rank, "duplicate")
                    )
                    continue
                self._seen.add(line.domain)
                if line.domain in self._done:
                    self.progress.skipped_resume += 1
                    continue
                await send.send(line)

    def _record_invalid(self, line: InputLine) -> None:
        self.progress.invalid += 1
        if line.line_no not in self._invalid_done:
            self._invalid_done.add(line.line_no)
            self.sink.add("invalid_inputs", rows.invalid_row(line))

    async def _worker(
        self, gatherer: Gatherer, receive: trio.MemoryReceiveChannel[InputLine]
    ) -> None:
        async with receive:
            async for line in receive:
                assert line.domain is not None
                self.progress.in_flight += 1
                facts = await gather_domain(gatherer, line.domain, self.options)
                now = time.time()
                judgement = judge_domain(facts, now)
                self.progress.in_flight -= 1
                pending = _Pending(line, facts, judgement, now)
                # Any judgement resting on an unanswered question waits for a health check.
                if _timed_out(facts):
                    self._suspects.append(pending)
                    await self._flush_suspects(force_check=False)
                else:
                    self._commit(pending)
                if self._since_checkpoint >= self.config.checkpoint_domains:
                    await self._checkpoint()

    def _commit(self, p: _Pending) -> None:
        """Buffer the rows of one judged domain (and of hosts it is first to use)."""
        sink = self.sink
        for name, host in p.facts.hosts.items():
            if name not in self._hosts_written:
                self._hosts_written.add(name)
                sink.add("hosts", rows.host_row(host))
                sink.add_many("tlsa_records", rows.tlsa_rows(host))
            for probe in p.facts.probes.get(name, ()):
                if (name, probe.address) not in self._probes_written:
                    self._probes_written.add((name, probe.address))
                    sink.add("addresses", rows.address_row(name, probe))
        sink.add("domains", rows.domain_row(p.line, p.facts, p.judgement, p.at))
        sink.add_many("domain_mx", rows.domain_mx_rows(p.judgement))
        sink.add_many("findings", rows.finding_rows(p.judgement))
        self._done.add(p.facts.domain)
        self._since_checkpoint += 1
        self.progress.done += 1
        v = p.judgement.verdict.value
        self.progress.verdicts[v] = self.progress.verdicts.get(v, 0) + 1

    async def _flush_suspects(self, *, force_check: bool) -> None:
        """Commit held-back dns_error domains once a health check vouches for the resolver."""
        if not self._suspects or (not force_check and len(self._suspects) < 50):
            return
        async with self._health_lock:
            if not self._suspects:
                return
            check = await self_check(
                self.resolver, self.options.canary_secure, self.options.canary_bogus
            )
            if not check.ok:
                self.status = "resolver_failed"
                raise ResolverFailed(
                    f"the resolver stopped working mid-scan ({check.message}); "
                    f"{len(self._done)} domains are saved; fix the resolver and rerun "
                    "with --resume"
                )
            held, self._suspects = self._suspects, []
            for p in held:
                self._commit(p)

    async def _checkpoint_timer(self) -> None:
        while True:
            await trio.sleep(self.config.checkpoint_seconds)
            await self._checkpoint()

    async def _checkpoint(self, *, final: bool = False) -> None:
        async with self._checkpoint_lock:
            self._since_checkpoint = 0
            seq, batch = self.sink.take_batch()
            if batch:
                await trio.to_thread.run_sync(self.sink.write_batch, seq, batch)
            if final or batch:
                self.sink.write_scan_row(self._scan_row(None))


def _timed_out(facts: DomainFacts) -> bool:
    """Did our resolver leave a question unanswered (as opposed to answering SERVFAIL)?"""
    lookups = [facts.mx]
    for host in facts.hosts.values():
        lookups += [host.a, host.aaaa, *host.tlsa_lookups]
    # The CD retry counts too: a bogus answer whose CD retry found the resolver gone.
    silent = ("TIMEOUT", "NETWORK_ERROR")
    return any(lk.rcode in silent or lk.cd_rcode in silent for lk in lookups)


def raise_scan_error(group: BaseExceptionGroup[BaseException]) -> None:
    """Nurseries wrap what their tasks raised: surface a DanescanError or Ctrl-C as itself."""
    for exc in _leaves(group):
        if isinstance(exc, DanescanError | KeyboardInterrupt):
            raise exc from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found += _leaves(exc)
        else:
            found.append(exc)
    return found


def _pairs(table: pa.Table) -> Iterator[tuple[str, str]]:
    """(host, facts) rows, converted to Python a batch at a time."""
    for batch in table.to_batches(max_chunksize=10_000):
        yield from zip(
            batch.column("host").to_pylist(), batch.column("facts").to_pylist(), strict=True
        )
