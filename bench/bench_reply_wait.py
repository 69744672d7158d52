"""The resolver client's CPU per query on a cold resolver, with and without ``reply_wait``.

A scan's DNS readers rest ``ResolverConfig.reply_wait`` seconds after a drain that found
few datagrams (``scanner.gather.resolve``, "reader"). This measures what that does to the
client alone: ``Resolver.lookup_many`` of each domain's MX and two TXT questions (a scan's
domain stage without its bookkeeping), 256 domains in flight, on slices of the world's
bench domains that its Unbound has not answered yet since it started (a cold cache:
Unbound recurses for every answer and keeps the two cores busy, as in a scan). Runs
alternate between the waits given; each run takes the next slice of the list. Printed
per wait, medians over the runs: the client's CPU per query (user + system, from
``getrusage``), the times the process went to sleep (voluntary context switches) and the
reader's drains per query, and the wall time; the rates show that the rest costs no
throughput.

    danescan world down && danescan world up     # an empty cache
    danescan world exec -- .venv/bin/python bench/bench_reply_wait.py --runs 4

The default slice (2,000 domains) fits the default world's 20,000 bench domains; the
figures in RESULTS.md are of ``--domains 20000`` on a world built with ``--bench 1000000``.

Inside the world's namespace (``world exec``): it talks to 127.53.0.53 only.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import medians

from scanner.gather.resolve import Resolver, ResolverConfig
from scanner.world.info import WorldInfo, world_dir

IN_FLIGHT_DOMAINS = 256


async def one_run(names: list[str], resolver: tuple[str, int], wait: float) -> dict[str, float]:
    config = ResolverConfig(servers=[resolver], fast_codec=True, reply_wait=wait)
    async with Resolver(config) as client:
        todo = iter(names)

        async def worker() -> None:
            for d in todo:
                await client.lookup_many(
                    [(d, "MX"), (f"_mta-sts.{d}", "TXT"), (f"_smtp._tls.{d}", "TXT")]
                )

        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(IN_FLIGHT_DOMAINS):
                nursery.start_soon(worker)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    queries = client.queries_sent
    return {
        "cpu_us_per_query": cpu / queries * 1e6,
        "sleeps_per_query": (after.ru_nvcsw - before.ru_nvcsw) / queries,
        "drains_per_query": client.stats.drains / queries,
        "wall_s": wall,
        "timeouts": client.stats.udp_timeouts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=2_000, help="per run")
    parser.add_argument("--runs", type=int, default=4, help="per wait")
    parser.add_argument("--skip", type=int, default=0, help="start this far into the list")
    parser.add_argument("--waits", type=float, nargs="+", default=[0.0, 0.002])
    args = parser.parse_args()
    world = WorldInfo.load(world_dir() / "world.json")
    if not world.bench_domains:
        parser.error("the world has no bench domains: danescan world build --bench N")
    names = Path(world.bench_domains).read_text().split()
    need = args.skip + args.domains * args.runs * len(args.waits)
    if len(names) < need:
        parser.error(f"the world has {len(names)} bench domains, {need} needed")
    results: dict[float, list[dict[str, float]]] = {w: [] for w in args.waits}
    start = args.skip
    for run in range(args.runs):
        for wait in args.waits:
            chunk = names[start : start + args.domains]
            start += args.domains
            got = trio.run(one_run, chunk, (world.resolver, world.resolver_port), wait)
            results[wait].append(got)
            shown = ", ".join(f"{k} {v:.3g}" for k, v in got.items())
            print(f"run {run} wait {wait * 1000:g} ms: {shown}", flush=True)
    print(
        f"\n{args.domains:,} cold bench domains per run (MX + 2 TXT each, "
        f"{IN_FLIGHT_DOMAINS} in flight), medians of {args.runs}"
    )
    print(
        f"{'reply_wait':>10} {'CPU µs/query':>13} {'sleeps/query':>13} {'drains/query':>13} "
        f"{'wall s':>7}"
    )
    for wait, runs in results.items():
        m = medians(runs)
        print(
            f"{wait * 1000:>7g} ms {m['cpu_us_per_query']:>13.1f} {m['sleeps_per_query']:>13.3f} "
            f"{m['drains_per_query']:>13.3f} {m['wall_s']:>7.1f}"
        )


if __name__ == "__main__":
    main()
