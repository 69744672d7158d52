"""CPU of the domain stage without its resolver: ``_gather_domains`` on replayed answers.

``bench_domain_stage.py`` measures the stage against the world's Unbound, so its figure
holds the resolver client (sockets, the question state machine, the codec) and moves
with the machine's load by ±10 %. This one asks the world once (a recording pass, not
timed) and then runs ``stages._gather_domains`` over the same names with a resolver
that answers each question from what was recorded: what remains is the stage's own
work per domain (``Gatherer.own_facts``'s logic, the bogus and host bookkeeping, the
facts JSON, the Parquet rows, the trio workers). Each run's rows are digested (without
``scanned_at``): with ``--answers FILE`` the recording is kept in FILE (pickle) and read
back by later invocations (no world needed then), so old and new code replay the same
answers and can be shown to write the same rows::

    danescan world exec -- env PYTHONPATH=.:bench .venv/bin/python \\
        bench/bench_domain_replay.py /tmp/d20k.txt --answers /tmp/d20k.answers
    env PYTHONPATH=/old/checkout:bench .venv/bin/python bench/bench_domain_replay.py \\
        /tmp/d20k.txt --answers /tmp/d20k.answers
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
import trio
from bench_domain_stage import _lines, _spec

from scanner.core.model import DnsLookup
from scanner.gather.resolve import Resolver
from scanner.runs import stages
from scanner.runs.stages import DOMAIN_SCHEMA, _gather_domains
from scanner.runs.wiring import GatherOptions, Seams
from scanner.store import dataset as ds
from scanner.store.inputs import InputLine
from scanner.store.objstore import open_store

Answers = dict[tuple[str, str], DnsLookup]


class _Recording(Resolver):
    """The real resolver, keeping every answer it gives."""

    answers: ClassVar[Answers] = {}

    async def lookup(self, name: str, rrtype: str) -> DnsLookup:
        got = await super().lookup(name, rrtype)
        self.answers[(name, rrtype)] = got
        return got

    async def lookup_many(self, questions: Sequence[tuple[str, str]]) -> list[DnsLookup]:
        got = await super().lookup_many(questions)
        self.answers.update(zip(questions, got, strict=True))
        return got


class _Replay:
    """A ``DnsClient`` answering from the recording (one checkpoint per batch, as the
    real one parks its caller once)."""

    answers: ClassVar[Answers] = {}
    servers: ClassVar[list[str]] = ["replay"]

    def __init__(self, config: object) -> None:
        self.sent = 0

    @property
    def queries_sent(self) -> int:
        return self.sent

    async def lookup(self, name: str, rrtype: str) -> DnsLookup:
        self.sent += 1
        await trio.lowlevel.checkpoint()
        return self.answers[(name, rrtype)]

    async def lookup_many(self, questions: Sequence[tuple[str, str]]) -> list[DnsLookup]:
        self.sent += len(questions)
        await trio.lowlevel.checkpoint()
        return [self.answers[q] for q in questions]

    async def lookup_at(self, server: int, name: str, rrtype: str) -> DnsLookup:
        return await self.lookup(name, rrtype)

    async def __aenter__(self) -> _Replay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _stage(spec: Any, lines: list[InputLine], seams: Seams) -> tuple[float, str]:
    store = open_store(spec.location)
    if hasattr(stages, "collector"):
        stages.collector.baseline()
    refs: set[str] = set()
    bogus: set[tuple[str, str]] = set()
    cpu = time.process_time()
    with ds.RowWriter(store, ds.domain_file(0), DOMAIN_SCHEMA) as out:
        await _gather_domains(spec, store, seams, lines, out, refs, bogus)
    cpu = time.process_time() - cpu
    table = pq.read_table(Path(spec.location) / ds.domain_file(0)).drop(["scanned_at"])
    rows = table.sort_by("line_no").to_pylist()
    digest = hashlib.sha256(repr((rows, sorted(refs), sorted(bogus))).encode()).hexdigest()
    return cpu, digest[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domains", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--resolver", default="127.53.0.53")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--label", default="")
    parser.add_argument("--answers", type=Path, help="keep the recording here / replay it")
    args = parser.parse_args()
    lines = _lines(args.domains, args.limit)
    options = GatherOptions(resolvers=((args.resolver, 53),), probe=False)
    if args.answers is not None and args.answers.exists():
        _Replay.answers = pickle.loads(args.answers.read_bytes())
    else:
        with tempfile.TemporaryDirectory(prefix="bench-domain-replay-") as tmp:
            spec = _spec(tmp, options, args.concurrency)
            trio.run(_stage, spec, lines, Seams(resolver=_Recording))
        _Replay.answers = _Recording.answers
        if args.answers is not None:
            args.answers.write_bytes(pickle.dumps(_Replay.answers))
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-domain-replay-") as tmp:
            spec = _spec(tmp, options, args.concurrency)
            runs.append(trio.run(_stage, spec, lines, Seams(resolver=_Replay)))
        print(f"# run {len(runs)}: cpu {runs[-1][0]:.3f} s", file=sys.stderr)
    cpu = statistics.median(r[0] for r in runs)
    print(
        json.dumps(
            {
                "label": args.label or str(Path(stages.__file__).parents[2]),
                "domains": len(lines),
                "runs": len(runs),
                "cpu_s": [round(r[0], 3) for r in runs],
                "cpu_us_per_domain": round(cpu / len(lines) * 1e6, 1),
                "rows_digest": sorted({r[1] for r in runs}),
            }
        )
    )


if __name__ == "__main__":
    main()
