"""The scan's driver: a domain list in, a Parquet dataset out, as stages on an engine.

What must live here: everything about one run of ``danescan scan`` that is not a
stage's work — refusing bad settings before anything is written, owning the output
location, the resolver self-check, checking that ``--resume`` continues the *same*
scan, partitioning the input, running the stages in order on the engine (or this
shard's share of them), compaction, the scan's metadata, and what state a failure
leaves behind. The stages themselves are ``scanner.runs.stages``.

Guarantees (DESIGN §3, §5; issues 13 and 14):

* Memory is bounded by a partition: the input is spooled to partition files as it is
  read (``spool_rows`` rows buffered at most); deduplication happens per partition.
* Each MX host is looked up and each address probed once per scan, whatever the number
  of workers or machines: a host belongs to exactly one host task's key range, an
  address to exactly one probe task's, and each range to one task.
* ``--resume`` continues only the same scan: the input (path, size, SHA-256 of the bytes
  read) and every setting that changes results must be those recorded; otherwise it
  refuses and says what differs. Committed partitions are skipped; the rest rerun.
* A fresh scan that is refused (bad option, unusable resolver, an input without one
  valid name) leaves nothing behind that would block the corrected command.
* ``--shard K/N``: any batch system can run N copies; each does the partitions p with
  p % N == K of every stage, waits for the others between stages, and shard 0
  compacts. All shards of one scan must be given the same input, options and N; the
  scan id is then derived from them and the date, so the shards agree on it without
  talking to each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import hashlib
import json
import logging
import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import trio

from scanner import __version__
from scanner.core.rules import RULES_VERSION
from scanner.errors import DanescanError, ResolverFailed
from scanner.gather import codecs
from scanner.gather.resolve import trust_anchor
from scanner.runs import stages
from scanner.runs.engine import DaskEngine, Engine, InProcess
from scanner.runs.stages import Plan, TaskResult, TaskSpec, make_plan
from scanner.runs.wiring import (
    GatherOptions,
    Seams,
    load_blocklist,
    policy_fetch_config,
    require_validating,
)
from scanner.store import dataset as ds
from scanner.store import rows
from scanner.store.inputs import InputError, LineSplitter, iter_input, refuse_encoding
from scanner.store.objstore import Store, StoreError, open_store
from scanner.store.ownership import Ownership, own, publish_owner
from scanner.store.psl import psl_version
from scanner.store.schema import SCHEMA_VERSION, TABLES, file_metadata

log = logging.getLogger("danescan.scan")

SHARD_POLL = 5.0  # seconds between looks at other shards' progress
# The stages that send DNS queries (each task's ``counts["queries"]``).
DNS_STAGES = ("domain", "host", "diagnose")
# From this many domains on, the in-process engine runs the judge, compaction (and,
# with real seams, diagnose) tasks partly in a worker process beside this one
# (``_offload_cpu_stages``): 100k domains' judge stage takes 4 s of one core; the
# worker's start costs 0.3 s of CPU once.
CPU_WORKERS_FROM = 50_000


class ScanError(DanescanError):
    """A scan that cannot start or continue (input, output location, resume); exit 2."""


@dataclass
class ScanConfig:
    input: str  # a path, or "-" for standard input
    out: str  # a directory or an object-store URL
    gather: GatherOptions  # what is gathered per domain: the same wiring as ``check``
    resume: bool = False
    concurrency: int = 256  # domains (hosts, probes) in flight per task
    partitions: int | None = None  # domain partitions; None: from the input's size
    workers: int = 0  # 0: in-process; N: a LocalCluster of N worker processes
    scheduler: str | None = None  # an existing Dask scheduler
    shard: tuple[int, int] | None = None  # (K, N)
    spool_rows: int = 50_000  # input rows buffered before partition files are written


@dataclass
class ScanProgress:
    """Counters the progress display reads (updated in place by the driver)."""

    started: float = field(default_factory=time.monotonic)
    stage: str = "starting"
    parts_done: int = 0
    parts_total: int = 0
    lines: int = 0
    invalid: int = 0
    done: int = 0  # domains judged
    skipped_resume: int = 0  # domains judged by an earlier run of this scan
    verdicts: dict[str, int] = field(default_factory=dict)
    finished: bool = False

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


def new_scan_id(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def _ts(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _file_sha256(path: str | None) -> str:
    if not path:
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_options(config: ScanConfig) -> dict[str, Any]:
    """What the report's methods section states about how the scan was made, beyond the
    settings that change results (those are ``settings_of``)."""
    o = config.gather
    return {
        "canary_secure": o.canary_secure,
        "canary_bogus": o.canary_bogus,
        "blocklist": str(o.blocklist) if o.blocklist else "",
        "trust_anchor_file": str(o.trust_anchor) if o.trust_anchor else "bundled IANA root anchor",
        "per_destination": o.per_destination,
        "probe_limit": o.probe_limit,
        "qps": o.qps,
        "concurrency": config.concurrency,
    }


def settings_of(config: ScanConfig, plan: Plan) -> dict[str, Any]:
    """Every setting that changes a scan's results; ``--resume`` must match them all."""
    o = config.gather
    return {
        "probe": o.probe,
        "mta_sts": o.mta_sts,
        "ehlo_name": o.ehlo_name,
        "smtp_port": o.smtp_port,
        "domain_timeout": o.domain_timeout,
        "blocklist_sha256": _file_sha256(str(o.blocklist) if o.blocklist else None),
        "mta_sts_ca_sha256": _file_sha256(o.mta_sts_cafile),
        "trust_anchor_sha256": _file_sha256(str(o.trust_anchor) if o.trust_anchor else None),
        "partitions": [plan.domain_parts],
        "shards": config.shard[1] if config.shard else 1,
    }


def _differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    return [
        f"{key}: was {recorded.get(key)!r}, now {now.get(key)!r}"
        for key in sorted(set(recorded) | set(now))
        if recorded.get(key) != now.get(key)
    ]


# One partition's buffered input lines, in the columns of ``stages.INPUT_SCHEMA``.
_InputColumns = tuple[list[Any], ...]


class Scan:
    """One run of ``danescan scan`` (fresh or resumed, whole or one shard)."""

    def __init__(
        self, config: ScanConfig, seams: Seams | None = None, engine: Engine | None = None
    ) -> None:
        self.config = config
        self.options = config.gather
        self.seams = seams or Seams()
        self._real_seams = seams is None  # nothing of this run's is faked (tests' seams)
        self._engine = engine
        self.progress = ScanProgress()
        self.scan_id = ""
        self.status = "starting"

    # ----------------------------------------------------------------- set-up

    def _check_trust_anchor(self) -> None:
        """A bad ``--trust-anchor`` refuses the scan before anything is written."""
        self.seams.walker(self.options)

    def _check_input(self) -> None:
        name = self.config.input
        if name == "-":
            return
        path = Path(name)
        if path.is_dir():
            raise ScanError(f"input {name} is a directory, not a list of domains")
        if not path.is_file():
            raise ScanError(f"cannot read input {name}: no such file")
        try:
            with path.open("rb") as f:
                refuse_encoding(f.read(4096))  # UTF-16/32 or binary: refused up front
        except OSError as exc:
            raise ScanError(f"cannot read input {name}: {exc.strerror}") from None
        except InputError as exc:
            raise ScanError(f"input {name}: {exc}") from None

    def _open_input(self) -> IO[bytes]:
        if self.config.input == "-":
            return sys.stdin.buffer
        return open(self.config.input, "rb")

    def _estimate(self) -> int:
        if self.config.input == "-":
            return 0
        return Path(self.config.input).stat().st_size // 20  # ~20 bytes per list line

    def _input_identity(self, splitter: LineSplitter) -> dict[str, Any]:
        where = "-" if self.config.input == "-" else str(Path(self.config.input).absolute())
        return {"path": where, "size": splitter.bytes_read, "sha256": splitter.sha256.hexdigest()}

    def _shard_mine(self, part: int) -> bool:
        shard = self.config.shard
        return shard is None or part % shard[1] == shard[0]

    def _engine_for_run(self) -> Engine:
        if self._engine is not None:
            return self._engine
        if self.config.scheduler or self.config.workers > 0:
            self._engine = DaskEngine(self.config.workers, self.config.scheduler)
        else:
            self._engine = InProcess(2, self.seams)
        return self._engine

    def _slots(self) -> int:
        if self._engine is not None:
            return self._engine.slots
        return max(1, self.config.workers) if not self.config.scheduler else 4

    async def _preflight(self) -> str:
        async with self.seams.resolver(self.options.resolver_config()) as resolver:
            await require_validating(resolver, self.options)
            return await trust_anchor(resolver)

    def _existing_files(self, store: Store) -> list[str]:
        return [
            p
            for p in store.list_files()
            if not p.rsplit("/", 1)[-1].startswith((".lock", "_lease"))
        ]

    # ----------------------------------------------------------------- run

    def run(self) -> ScanProgress:
        load_blocklist(self.options.blocklist)  # refuse bad settings before anything else
        policy_fetch_config(self.options)
        self._check_trust_anchor()
        self._check_input()
        store = open_store(self.config.out)
        state = self._read_state(store)
        if self.config.resume and state is None:
            raise ScanError(f"--resume: no scan to resume in {store.describe()}")
        if not self.config.resume and self.config.shard is None and state is not None:
            raise ScanError(
                f"{store.describe()} already holds scan {state.get('scan_id')}: pass "
                "--resume to continue it, or choose a new --out"
            )
        if state is not None and state.get("status") == "complete":
            raise ScanError(f"the scan in {store.describe()} is already complete")
        existing = self._existing_files(store)
        if self.config.shard is not None:
            # Another shard of this scan may have started first: its state, scan row and
            # stage work are not a reason to refuse (``_run_owned`` adopts its state).
            ours = ("/_work/", "/scans/", f"/{ds.STATE}")
            existing = [p for p in existing if not any(mark in p for mark in ours)]
        if state is None and existing:
            raise ScanError(
                f"{store.describe()} is not empty: choose a new --out (or --resume a scan)"
            )
        created = store.local and not Path(store.root).exists()
        if created:
            # Can the location be written at all? Asked before the resolver is, so that
            # a typo in --out costs no query and names the real problem.
            try:
                store.makedirs()
            except OSError as exc:
                raise StoreError(
                    f"cannot write to {store.describe()}: {exc.strerror or exc}"
                ) from None
        owns_engine = self._engine is None
        try:
            self.trust_anchor = trio.run(self._preflight)
            engine = self._engine_for_run()
            try:
                with own(store, self.config.shard) as ownership:
                    self._run_owned(store, ownership, state)
            finally:
                if owns_engine:
                    engine.close()
        except DanescanError as exc:
            if (
                created
                and state is None
                and (
                    not isinstance(exc, ScanError)
                    or isinstance(exc, StoredInputError)
                    or not store.exists(ds.STATE)
                )
            ):
                # Nothing of a refused fresh scan stays behind, not even the lock.
                _remove_fresh(Path(store.root))
            raise
        return self.progress

    def _read_state(self, store: Store) -> dict[str, Any] | None:
        try:
            state = store.read_json(ds.STATE)
        except (ValueError, StoreError) as exc:
            raise ScanError(
                f"{store.describe(ds.STATE)} is not a readable scan state: {exc}"
            ) from None
        return state if isinstance(state, dict) else None

    def _run_owned(self, store: Store, ownership: Ownership, state: dict[str, Any] | None) -> None:
        fresh = state is None
        now = time.time()
        if state is None:
            plan = make_plan(self._estimate(), self._slots(), self.config.partitions)
            self.scan_id = self._shard_scan_id(plan, now) if self.config.shard else new_scan_id(now)
            state = {
                "scan_id": self.scan_id,
                "scan_date": time.strftime("%Y-%m-%d", time.gmtime(now)),
                "started_at": now,
                "status": "running",
                "input": self.config.input,
                "plan": dataclasses.asdict(plan),
                "settings": settings_of(self.config, plan),
                "resolvers": [f"{h}:{p}" for h, p in self.options.resolvers],
                "software_version": __version__,
                "rules_version": RULES_VERSION,
                "schema_version": SCHEMA_VERSION,
                # The build of the DNS codec the scanning process runs (the same facts
                # either way; a figure of CPU per query depends on it).
                "dns_codec": codecs.NATIVE_STATUS,
            }
            other = self._read_state(store)  # a shard that started first wrote it
            if other is not None:
                state = other
        try:
            plan = Plan(**state["plan"])
        except TypeError:
            raise ScanError(
                f"the scan in {store.describe()} was started by another danescan version "
                f"({state.get('software_version', 'unknown')}); finish it with that version "
                "or start a new scan elsewhere"
            ) from None
        recorded = state.get("settings", {})
        differs = _differences(recorded, settings_of(self.config, plan))
        if differs:
            raise ScanError(
                f"--resume would change the scan in {store.describe()}: " + "; ".join(differs)
            )
        self.scan_id = str(state["scan_id"])
        self.state = state
        self.plan = plan
        self.store = store
        self.ownership = ownership
        publish_owner(store, ownership)
        self._save_state("running")
        try:
            with self._clocked("partition"):
                self._partition_input(fresh)
            for stage in stages.STAGES:
                if stage == "probe" and not self.options.probe:
                    continue
                if stage == "host":
                    self._offload_cpu_stages()
                self._size_stage(stage)
                with self._clocked(stage):
                    self._run_stage(stage)
            if self.config.shard is None or self.config.shard[0] == 0:
                self._finish()
            else:
                self._save_state("running")
        except KeyboardInterrupt:
            self._stopped("interrupted")
            raise
        except ResolverFailed:
            self._stopped("resolver_failed")
            raise
        except StoredInputError:
            if fresh:
                self._abandon()
            raise
        except OSError as exc:
            # The storage failed (a full disk, a lost mount): an error of the
            # environment, not of the scan; what is committed stays resumable.
            self._stopped("interrupted")
            what = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise ScanError(
                f"{what} while writing {store.describe()}; fix it, then rerun with "
                f"--resume --out {self.config.out}"
            ) from None
        except BaseException:
            self._stopped("interrupted")
            raise

    def _shard_scan_id(self, plan: Plan, now: float) -> str:
        identity = json.dumps(
            [
                str(Path(self.config.input).absolute()) if self.config.input != "-" else "-",
                self._estimate(),
                settings_of(self.config, plan),
            ],
            sort_keys=True,
        )
        stamp = time.strftime("%Y%m%d", time.gmtime(now))
        return f"{stamp}-{hashlib.sha256(identity.encode()).hexdigest()[:6]}"

    def _save_state(self, status: str) -> None:
        self.status = status
        self.state["status"] = status
        self.state["updated_at"] = time.time()
        if self.config.shard is None or self.config.shard[0] == 0:
            self.store.write_json(self.state, ds.STATE)
        self._write_scan_row(None)

    def _stopped(self, status: str) -> None:
        try:
            self._save_state(status)
        except Exception as exc:
            log.warning("could not record the scan's state: %s", exc)

    def _abandon(self) -> None:
        """A fresh scan refused before any stage ran: leave nothing behind."""
        for name in self.store.list_dirs():
            self.store.delete_dir(name)
        for path in self._existing_files(self.store):
            self.store.fs.delete_file(path)

    # ----------------------------------------------------------------- input

    def _partition_input(self, fresh: bool) -> None:
        store = self.store
        suffix = (
            ""
            if self.config.shard is None
            else f"-{self.config.shard[0]}-of-{self.config.shard[1]}"
        )
        done = store.read_json(ds.input_done(suffix))
        if isinstance(done, dict):
            self._verify_input(done)
            self.progress.lines = int(done["lines"])
            self.progress.invalid = int(done["invalid"])
            return
        self.progress.stage = "reading input"
        for part in range(self.plan.domain_parts):
            if self._shard_mine(part):
                store.delete_dir(ds.input_dir(part))
        writes_invalid = self.config.shard is None or self.config.shard[0] == 0
        if writes_invalid:
            for path in store.list_files(ds.work_final_dir("invalid_inputs"), suffix=".parquet"):
                if path.rsplit("/", 1)[-1].startswith("in-"):
                    store.fs.delete_file(path)
        splitter = LineSplitter()
        try:
            counts = self._spool(splitter, writes_invalid)
        except InputError as exc:  # standard input, which could not be looked at first
            raise StoredInputError(f"input {self.config.input}: {exc}") from None
        identity = self._input_identity(splitter)
        if counts["valid"] == 0:
            first = counts.get("first_problem") or "it is empty"
            raise StoredInputError(
                f"{self.config.input}: no valid domain name in {counts['lines']} lines ({first})"
            )
        recorded = self.state.get("input_identity")
        if recorded and recorded != identity:
            raise ScanError(self._identity_message(recorded, identity))
        self.state["input_identity"] = identity
        self.progress.lines = counts["lines"]
        self.progress.invalid = counts["invalid"]
        store.write_json({**counts, "identity": identity}, ds.input_done(suffix))
        self._save_state("running")

    def _identity_message(self, recorded: dict[str, Any], now: dict[str, Any]) -> str:
        what = _differences(recorded, now)
        return (
            f"--resume: the input is not the one this scan read ({'; '.join(what)}); "
            "resume with the same input, or start a new scan"
        )

    def _verify_input(self, done: dict[str, Any]) -> None:
        recorded = done.get("identity", {})
        splitter = LineSplitter()
        with self._open_input() as f:
            while chunk := f.read(1 << 20):
                splitter.sha256.update(chunk)
                splitter.bytes_read += len(chunk)
        identity = self._input_identity(splitter)
        if recorded != identity:
            raise ScanError(self._identity_message(recorded, identity))

    def _spool(self, splitter: LineSplitter, writes_invalid: bool) -> dict[str, Any]:
        """Read the input once, writing each partition's lines to its own files.

        A partition's lines are buffered as columns (line number, raw text, domain,
        rank), not as a dict per line: the driver reads every line of the input.
        """
        store, parts = self.store, self.plan.domain_parts
        buffers: dict[int, _InputColumns] = {}
        chunks: Counter[int] = Counter()
        invalid: list[dict[str, Any]] = []
        invalid_chunks = 0
        buffered = 0
        counts: dict[str, Any] = {"lines": 0, "valid": 0, "invalid": 0}
        meta = file_metadata("invalid_inputs", self.scan_id, __version__, RULES_VERSION)

        def flush_invalid() -> None:
            nonlocal invalid, invalid_chunks
            if invalid:
                invalid_chunks += 1
                path = ds.work_final("invalid_inputs", f"in-{invalid_chunks:06d}")
                ds.write_rows(store, path, TABLES["invalid_inputs"], invalid, meta)
                invalid = []

        def flush() -> None:
            nonlocal buffered
            for part, columns in buffers.items():
                chunks[part] += 1
                with ds.RowWriter(
                    store, ds.input_chunk(part, chunks[part]), stages.INPUT_SCHEMA
                ) as out:
                    out.add_columns(columns)
            buffers.clear()
            buffered = 0

        now = time.time()
        with self._open_input() as f:
            for line in iter_input(f, splitter):
                counts["lines"] += 1
                self.progress.lines = counts["lines"]
                if line.domain is None:
                    counts["invalid"] += 1
                    counts.setdefault("first_problem", f"line {line.line_no}: {line.reason}")
                    if writes_invalid:
                        invalid.append({**rows.invalid_row(line, now), "scan_id": self.scan_id})
                        if len(invalid) >= ds.ROW_GROUP:
                            flush_invalid()
                    continue
                counts["valid"] += 1
                part = ds.partition_of(line.domain, parts)
                if not self._shard_mine(part):
                    continue
                columns = buffers.get(part)
                if columns is None:
                    columns = buffers[part] = ([], [], [], [])
                line_nos, raws, domains, ranks = columns
                line_nos.append(line.line_no)
                raws.append(line.raw[:512])
                domains.append(line.domain)
                ranks.append(line.rank)
                buffered += 1
                if buffered >= self.config.spool_rows:
                    flush()
        flush()
        if writes_invalid:
            flush_invalid()
        return counts

    # ----------------------------------------------------------------- stages

    def _spec(self, stage: str, part: int, slots: int, **extra: Any) -> TaskSpec:
        o = self.options
        # Politeness holds globally: the rate and in-flight caps are shared among the
        # tasks that run at once.
        share = dataclasses.replace(
            o,
            qps=o.qps / slots if o.qps else None,
            dns_in_flight=max(1, o.dns_in_flight // slots),
            probe_limit=max(1, o.probe_limit // slots),
        )
        return TaskSpec(
            stage=stage,
            part=part,
            location=self.store.location if not self.store.local else self.store.root,
            scan_id=self.scan_id,
            scan_date=str(self.state["scan_date"]),
            plan=self.plan,
            options=share,
            owner_path=self.ownership.owner_path,
            owner_token=self.ownership.token,
            concurrency=self.config.concurrency,
            mode=str(self.state.get("mode", "scan")),
            **extra,
        )

    def _size_stage(self, stage: str) -> None:
        """Count the host, diagnose or probe tasks from what the stages before found (once: the
        count is kept in the state, and is the same on every shard, because it depends
        only on committed markers)."""
        plan = self.plan
        if stage == "host" and not plan.host_tasks:
            found = self._committed_count("domain", plan.domain_parts, "hosts")
            self.plan = plan.with_hosts(found)
        elif stage == "diagnose" and not plan.zone_tasks:
            found = self._committed_count("domain", plan.domain_parts, "bogus")
            found += self._committed_count("host", plan.host_tasks, "bogus")
            self.plan = plan.with_zones(found)
        elif stage == "probe" and not plan.probe_tasks:
            found = self._committed_count("host", plan.host_tasks, "probe_jobs")
            self.plan = plan.with_probes(found)
        else:
            return
        self.state["plan"] = dataclasses.asdict(self.plan)
        self._save_state("running")

    def _offload_cpu_stages(self) -> None:
        """Give a big scan's judge, compaction and diagnosis a worker process beside this
        one (this process's own slot takes the rest): started now, once the domains are
        counted, so that its start-up overlaps the host stage."""
        engine = self._engine_for_run()
        if not isinstance(engine, InProcess):
            return  # a cluster's tasks run in its workers anyway
        domains = self._committed_count("domain", self.plan.domain_parts, "domains")
        if domains >= CPU_WORKERS_FROM:
            # The chain walks of the diagnose stage too (1M domains: 9 s on one core),
            # unless this run's seams are faked: a worker has only the real ones.
            more = {"diagnose"} if self._real_seams else set()
            engine.use_processes(engine.slots - 1, stages.CPU_STAGES | more)

    def _committed_count(self, stage: str, parts: int, what: str) -> int:
        total = 0
        for part in range(parts):
            marker = stages.read_done(self.store, stage, part)
            if marker is None:  # cannot happen after the stage ran (a shard waits)
                raise ScanError(f"{stage} partition {part} has not committed")
            total += int(marker.get("counts", {}).get(what, 0))
        return total

    @contextlib.contextmanager
    def _clocked(self, step: str) -> Iterator[None]:
        """Add a step's wall time and this process's CPU to the scan's ``clock`` (summed
        over the runs of a resumed scan), with when it last started and ended (POSIX
        seconds: to line a step up with a resolver's or a machine's own monitoring).

        The tasks' own figures (``stats``) cannot say this in-process: each task counts
        the process's CPU while it ran, so tasks that ran at once count it twice; nor
        does any task see the time a stage spends waiting for its slowest partition.
        """
        wall, cpu, started = time.monotonic(), time.process_time(), time.time()
        try:
            yield
        finally:
            clock = self.state.setdefault("clock", {}).setdefault(
                step, {"wall_seconds": 0.0, "driver_cpu_seconds": 0.0}
            )
            clock["started_at"], clock["ended_at"] = started, time.time()
            clock["wall_seconds"] = round(clock["wall_seconds"] + time.monotonic() - wall, 3)
            clock["driver_cpu_seconds"] = round(
                clock["driver_cpu_seconds"] + time.process_time() - cpu, 3
            )

    def _run_stage(self, stage: str) -> None:
        engine = self._engine_for_run()
        total = self.plan.parts(stage)
        pending = [
            p
            for p in range(total)
            if self._shard_mine(p) and not stages.is_done(self.store, stage, p)
        ]
        already = total - len(pending)
        self.progress.stage = stage
        self.progress.parts_total = total
        self.progress.parts_done = already
        if stage == "judge":
            for p in range(total):
                if p not in pending:
                    marker = stages.read_done(self.store, "judge", p) or {}
                    self._count_verdicts(marker.get("verdicts", {}), resumed=True)
        specs = [self._spec(stage, p, engine.slots) for p in pending]
        engine.run(specs, self._on_done)
        if self.config.shard is not None:
            self._wait_for_others(stage, total)

    def _on_done(self, result: TaskResult) -> None:
        self.progress.parts_done += 1
        if result.stage == "judge":
            self._count_verdicts(result.verdicts, resumed=False)

    def _count_verdicts(self, verdicts: dict[str, int], resumed: bool) -> None:
        for verdict, n in verdicts.items():
            self.progress.verdicts[verdict] = self.progress.verdicts.get(verdict, 0) + n
            if resumed:
                self.progress.skipped_resume += n
            else:
                self.progress.done += n

    def _wait_for_others(self, stage: str, total: int) -> None:
        while True:
            missing = [p for p in range(total) if not stages.is_done(self.store, stage, p)]
            if not missing:
                return
            state = self._read_state(self.store) or {}
            if state.get("status") == "complete":
                return  # shard 0 finished the scan (and removed the stage markers)
            self.progress.stage = f"{stage}: waiting for {len(missing)} partitions of other shards"
            time.sleep(SHARD_POLL)

    # ----------------------------------------------------------------- the end

    def _totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        stats: dict[str, dict[str, Any]] = {}
        for stage in stages.STAGES:
            cpu = seconds = 0.0
            tasks = 0
            rss: dict[str, int] = {}
            for p in range(self.plan.parts(stage)):
                marker = stages.read_done(self.store, stage, p)
                if marker:
                    tasks += 1
                    cpu += float(marker.get("cpu_seconds", 0.0))
                    seconds += float(marker.get("seconds", 0.0))
                    pid = str(marker.get("pid", ""))
                    rss[pid] = max(rss.get(pid, 0), int(marker.get("peak_rss_kib", 0)))
                    for key, value in marker.get("counts", {}).items():
                        totals[f"{stage}.{key}"] += int(value)
            if tasks:
                stats[stage] = {
                    "tasks": tasks,
                    "task_seconds": round(seconds, 3),
                    "cpu_seconds": round(cpu, 3),
                    "peak_rss_mib_per_process": {k: v // 1024 for k, v in rss.items()},
                }
        # What the benchmarks read (bench/bench_scale.py): per stage, the tasks' CPU
        # time and the peak memory of each process that ran them.
        self.state["stats"] = stats
        return dict(totals)

    def _finish(self) -> None:
        store = self.store
        engine = self._engine_for_run()
        self.progress.stage = "compacting"
        specs: list[TaskSpec] = []
        for table in TABLES:
            if table == "scans":
                continue
            for index, files in enumerate(stages.compaction_groups(store, table)):
                specs.append(self._spec("compact", index, engine.slots, table=table, files=files))
        self._totals_cache = self._totals()
        with self._clocked("compact"):
            engine.run(specs, lambda result: None)
        manifest: dict[str, Any] = {"scan_id": self.scan_id, "tables": {}}
        listed: list[str]
        for table in TABLES:
            folder = ds.final_dir(table, str(self.state["scan_date"]), self.scan_id)
            listed = [p[len(store.root) + 1 :] for p in store.list_files(folder, suffix=".parquet")]
            manifest["tables"][table] = listed
        self.state["finished_at"] = time.time()
        self.status = "complete"
        self.state["status"] = "complete"
        self._write_scan_row(self.state["finished_at"])
        folder = ds.final_dir("scans", str(self.state["scan_date"]), self.scan_id)
        manifest["tables"]["scans"] = [f"{folder}/part-00000.parquet"]
        store.write_json(manifest, ds.MANIFEST)
        store.write_json(self.state, ds.STATE)
        store.delete_dir(ds.WORK)
        self.progress.finished = True

    def _write_scan_row(self, finished: float | None) -> None:
        if self.config.shard is not None and self.config.shard[0] != 0:
            return
        totals = getattr(self, "_totals_cache", None) or self._totals()
        o = self.options
        identity = self.state.get("input_identity") or {}
        engine = self._engine.description if self._engine is not None else "in-process"
        if self.config.shard:
            engine = f"shard {self.config.shard[0]}/{self.config.shard[1]}"
        row = {
            "scan_id": self.scan_id,
            "started_at": _ts(float(self.state["started_at"])),
            "finished_at": _ts(finished),
            "status": self.status,
            "resolvers": [f"{h}:{p}" for h, p in o.resolvers],
            "trust_anchor": getattr(self, "trust_anchor", None),
            "software_version": __version__,
            "rules_version": RULES_VERSION,
            "schema_version": SCHEMA_VERSION,
            "input": self.config.input,
            "probing": o.probe,
            "ehlo_name": o.ehlo_name,
            "domains_input": self.progress.lines,
            "domains_scanned": totals.get("judge.judged", 0),
            "domains_invalid": self.progress.invalid + totals.get("domain.duplicates", 0),
            "hosts": totals.get("host.hosts", 0),
            "addresses": totals.get("probe.addresses", 0),
            # Every DNS query the scan sent: the chain walks of the diagnose stage too.
            "queries": sum(totals.get(f"{stage}.queries", 0) for stage in DNS_STAGES),
            "parent_scan_id": self.state.get("parent_scan_id"),
            "input_sha256": identity.get("sha256"),
            "partitions": self.plan.domain_parts,
            "engine": engine,
            "psl_version": psl_version(),
            "options": json.dumps(
                {**recorded_options(self.config), **self.state.get("settings", {})},
                sort_keys=True,
            ),
        }
        folder = ds.final_dir("scans", str(self.state["scan_date"]), self.scan_id)
        ds.write_rows(
            self.store,
            f"{folder}/part-00000.parquet",
            TABLES["scans"],
            [row],
            file_metadata("scans", self.scan_id, __version__, RULES_VERSION),
        )


class StoredInputError(ScanError):
    """The input yields nothing to scan."""


def _remove_fresh(root: Path) -> None:
    """Remove the directory a refused fresh scan created, when nothing but its lock and
    abandoned work is in it."""
    for leftover in root.glob(".lock*"):
        leftover.unlink()
    with contextlib.suppress(OSError):
        root.rmdir()
