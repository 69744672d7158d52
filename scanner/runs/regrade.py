"""Re-judge a stored scan with the current rules, without touching the network.

What must live here: turning a stored scan into the inputs of the staged pipeline's
domain, host and probe stages (its ``facts`` columns, spooled by partition), so that
the judge stage — the same code a scan runs — re-judges it. The result is a *new*
scan (new id, ``parent_scan_id`` = the stored scan's, the current rules version), so
``danescan diff OLD NEW`` and the report show what a rule change alters.

The stored scan is only read: a scan that is still running (or was interrupted) is
refused, and nothing in its location is written. Stored facts that cannot be read
back end in ``RegradeError`` and the new scan's location is removed: nothing half
written stays behind.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow.parquet as pq

from scanner.core.blocklist import canonical_address
from scanner.errors import DanescanError
from scanner.runs.engine import Engine
from scanner.runs.scan import Scan, ScanConfig, ScanProgress, new_scan_id
from scanner.runs.stages import (
    IMPORT_DOMAIN_SCHEMA,
    IMPORT_HOST_SCHEMA,
    IMPORT_PROBE_SCHEMA,
    StoredFactsError,
)
from scanner.runs.wiring import GatherOptions
from scanner.store import dataset as ds
from scanner.store.objstore import Store, open_store
from scanner.store.schema import TABLES

SPOOL_ROWS = 50_000


class RegradeError(DanescanError):
    """The scan cannot be regraded (not a scan, not complete, unreadable facts, --out used)."""


def _source_state(store: Store) -> dict[str, Any]:
    try:
        state = store.read_json(ds.STATE)
    except ValueError as exc:
        raise RegradeError(f"{store.describe(ds.STATE)} is not readable: {exc}") from None
    if not isinstance(state, dict) or not ds.scan_table_files(store, "domains"):
        raise RegradeError(f"{store.describe()} is not a scan directory (no domains table)")
    status = state.get("status")
    if status != "complete":
        raise RegradeError(
            f"the scan in {store.describe()} is {status}, not complete: finish it (--resume) "
            "before regrading it"
        )
    return state


class Regrade(Scan):
    """A scan whose domain, host and probe stages read a stored scan's facts."""

    def __init__(
        self, source: str, out: str, engine: Engine | None = None, partitions: int | None = None
    ) -> None:
        self.source = open_store(source)
        self.source_state = _source_state(self.source)
        settings = self.source_state.get("settings", {})
        probing = bool(self.source_state.get("probe", settings.get("probe", True)))
        options = GatherOptions(resolvers=(("127.0.0.1", 53),), probe=probing)
        config = ScanConfig(input=str(source), out=out, gather=options, partitions=partitions)
        super().__init__(config, engine=engine)

    def _check_input(self) -> None:
        pass

    def _check_trust_anchor(self) -> None:
        pass  # nothing is walked: the stored diagnoses are copied

    async def _preflight(self) -> str:  # no resolver: the facts are stored
        return str(self.source_state.get("trust_anchor") or "")

    def _estimate(self) -> int:
        files = ds.scan_table_files(self.source, "domains")
        return sum(ds.row_count(self.source, f) for f in files)

    def _run_owned(self, store: Store, ownership: Any, state: dict[str, Any] | None) -> None:
        if state is not None:
            raise RegradeError(f"{store.describe()} is not empty")
        super()._run_owned(store, ownership, None)

    def _shard_scan_id(self, plan: Any, now: float) -> str:
        return new_scan_id(now)

    def run(self) -> ScanProgress:
        try:
            return super().run()
        except StoredFactsError as exc:
            self._abandon()  # the new scan's location, as a refused fresh scan's
            raise RegradeError(f"cannot regrade {self.source.describe()}: {exc}") from None
        except DanescanError as exc:
            if isinstance(exc, RegradeError):
                raise
            raise RegradeError(str(exc)) from None

    def _partition_input(self, fresh: bool) -> None:
        """Spool the stored scan's facts by partition (the regrade's "input")."""
        if self.store.exists(ds.input_done("")):
            return
        self.state["mode"] = "regrade"
        self.state["parent_scan_id"] = str(self.source_state.get("scan_id", ""))
        plan = self.plan
        src = self.source
        counts: Counter[str] = Counter()
        self._spool_table(
            "domains",
            ["domain", "input_name", "rank", "scanned_at", "facts"],
            IMPORT_DOMAIN_SCHEMA,
            lambda r: ds.partition_of(r["domain"], plan.domain_parts),
            counts,
        )
        self._spool_table(
            "hosts",
            ["host", "facts"],
            IMPORT_HOST_SCHEMA,
            None,
            counts,
            key_of=lambda r: ds.hash_key(r["host"]),
            optional=["observed_at"],  # schema 3 on
        )
        if self.options.probe:
            self._spool_table(
                "addresses",
                ["host", "address", "facts"],
                IMPORT_PROBE_SCHEMA,
                None,
                counts,
                key_of=lambda r: ds.hash_key(_canonical_or_raw(r["address"])),
                drop=["address"],
            )
        # Observations the judge does not recompute are copied under the new scan id.
        diagnoses = [
            {**r, "scan_id": self.scan_id}
            for r in ds.read_rows(src, ds.scan_table_files(src, "dnssec_diagnoses"))
        ]
        if diagnoses:
            ds.write_rows(
                self.store,
                ds.work_final("dnssec_diagnoses", "copied"),
                TABLES["dnssec_diagnoses"],
                diagnoses,
            )
        invalid = ds.scan_table_files(src, "invalid_inputs")
        rows_in = [
            {**r, "scan_id": self.scan_id, "observed_at": r.get("observed_at")}
            for r in ds.read_rows(src, invalid, ["line_no", "raw", "reason"])
        ]
        ds.write_rows(
            self.store,
            ds.work_final("invalid_inputs", "in-000001"),
            TABLES["invalid_inputs"],
            rows_in,
        )
        self.progress.lines = counts["domains"] + len(rows_in)
        self.progress.invalid = len(rows_in)
        self.store.write_json(
            {"lines": self.progress.lines, "invalid": len(rows_in), "valid": counts["domains"]},
            ds.input_done(""),
        )
        self._save_state("running")

    def _spool_table(
        self,
        table: str,
        columns: list[str],
        schema: Any,
        part_of: Any,
        counts: Counter[str],
        optional: list[str] | None = None,
        drop: list[str] | None = None,
        key_of: Any = None,
    ) -> None:
        """Spool a stored table: into domain partitions by ``part_of``; or, with
        ``key_of``, into chunks sorted by the hash key the host and probe tasks read
        their ranges of (their count is only known once the domains are imported)."""
        src = self.source
        files = ds.scan_table_files(src, table)
        present: set[str] = set()
        if files:
            with src.fs.open_input_file(files[0]) as f:
                present = set(pq.ParquetFile(f).schema_arrow.names)
        wanted = columns + [c for c in (optional or []) if c in present]
        buffers: dict[int, list[dict[str, Any]]] = {}
        chunk = 0

        def flush() -> None:
            nonlocal chunk
            chunk += 1
            for part, rows_ in buffers.items():
                path = ds.import_file(table, part, chunk)
                if key_of is None:
                    ds.write_rows(self.store, path, schema, rows_)
                else:
                    ds.write_sorted(self.store, path, schema, rows_, "key")
            buffers.clear()

        buffered = 0
        for r in ds.read_rows(src, files, wanted):
            if key_of is None:
                part = part_of(r)
            else:
                part = 0
                r["key"] = key_of(r)
            for name in drop or []:
                r.pop(name)
            buffers.setdefault(part, []).append(r)
            counts[table] += 1
            buffered += 1
            if buffered >= SPOOL_ROWS:
                flush()
                buffered = 0
        flush()


def regrade(scan: str, out: str, engine: Engine | None = None) -> tuple[str, int]:
    """Regrade the scan at ``scan`` into a new scan at ``out``; (new scan id, domains)."""
    job = Regrade(scan, out, engine)
    progress = job.run()
    return job.scan_id, progress.done


def _canonical_or_raw(address: str) -> str:
    try:
        return canonical_address(address)
    except ValueError:
        return address  # a malformed stored address matches no probe due; it is reported there
