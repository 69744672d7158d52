"""A domain's DNS questions through ``Resolver.lookup_many`` against the issue-10 baseline.

The questions are ``bench/baseline_asyncio.py``'s (MX, ``_mta-sts`` TXT, ``_smtp._tls``
TXT, then each MX host's A, AAAA and ``_25._tcp`` TLSA), asked of the world's Unbound:

- ``batched``: the scanner's way, two batches per domain (``lookup_many`` of the three
  domain questions, then of every host question at once), one wake-up each;
- ``one by one``: the same questions with ``Resolver.lookup``, one after the other, as
  the baseline asks them;
- the baseline itself (asyncio + dnspython), run as a child process.

Each client gets the same domains; one untimed pass first warms the resolver's cache so
that every timed run sees the same (warm) resolver. Client CPU is each process's own
(``time.process_time``); medians of ``--runs``.

    ip netns exec danescan .venv/bin/python bench/bench_domains.py --domains 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.core.model import DnsLookup
from scanner.gather.resolve import Resolver, ResolverConfig

ROOT = Path(__file__).resolve().parents[1]


def _hosts(mx: DnsLookup) -> list[str]:
    hosts = []
    for record in mx.records:
        _, _, host = record.partition(" ")
        if host and host != ".":
            hosts.append(host.rstrip("."))
    return hosts


def host_questions(hosts: list[str]) -> list[tuple[str, str]]:
    return [q for h in hosts for q in ((h, "A"), (h, "AAAA"), (f"_25._tcp.{h}", "TLSA"))]


async def batched(resolver: Resolver, domain: str) -> None:
    mx, _, _ = await resolver.lookup_many(
        [(domain, "MX"), (f"_mta-sts.{domain}", "TXT"), (f"_smtp._tls.{domain}", "TXT")]
    )
    await resolver.lookup_many(host_questions(_hosts(mx)))


async def one_by_one(resolver: Resolver, domain: str) -> None:
    mx = await resolver.lookup(domain, "MX")
    await resolver.lookup(f"_mta-sts.{domain}", "TXT")
    await resolver.lookup(f"_smtp._tls.{domain}", "TXT")
    for name, rrtype in host_questions(_hosts(mx)):
        await resolver.lookup(name, rrtype)


Way = Callable[[Resolver, str], object]


def run_resolver(
    names: list[str], server: tuple[str, int], concurrency: int, way: Way, max_in_flight: int
) -> dict[str, float]:
    sent = {"n": 0}

    async def main() -> None:
        # The scanner's default in-flight cap (256): with more, bursts of batched
        # questions overflow the world Unbound's default 208 KiB receive buffer.
        config = ResolverConfig(servers=[server], fast_codec=True, max_in_flight=max_in_flight)
        async with Resolver(config) as resolver:
            it = iter(names)

            async def worker() -> None:
                for domain in it:
                    await way(resolver, domain)  # type: ignore[misc]

            async with trio.open_nursery() as nursery:
                for _ in range(concurrency):
                    nursery.start_soon(worker)
            sent["n"] = resolver.queries_sent

    cpu0, wall0 = time.process_time(), time.perf_counter()
    trio.run(main)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "domains": len(names),
        "queries": sent["n"],
        "wall_s": wall,
        "domains_per_s": len(names) / wall,
        "cpu_us_per_domain": cpu / len(names) * 1e6,
        "cpu_us_per_query": cpu / sent["n"] * 1e6,
    }


def run_baseline(args: argparse.Namespace) -> dict[str, float]:
    argv = [
        sys.executable,
        str(ROOT / "bench/baseline_asyncio.py"),
        "--json",
        "--domains",
        str(args.domains),
        "--skip",
        str(args.skip),
        "--resolver",
        args.resolver,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=2000)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=100, help="domains in progress")
    ap.add_argument("--resolver", default="127.53.0.53:53")
    ap.add_argument("--max-in-flight", type=int, default=256, help="the resolver's cap")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    names = (ROOT / "work/world/bench-domains.txt").read_text().split()
    names = names[args.skip : args.skip + args.domains]
    host, _, port = args.resolver.rpartition(":")
    server = (host, int(port))
    run_resolver(
        names, server, args.concurrency, batched, args.max_in_flight
    )  # warm the resolver's cache
    clients: list[tuple[str, Callable[[], dict[str, float]]]] = [
        (
            "Resolver.lookup_many (2 batches/domain)",
            lambda: run_resolver(names, server, args.concurrency, batched, args.max_in_flight),
        ),
        (
            "Resolver.lookup, one by one",
            lambda: run_resolver(names, server, args.concurrency, one_by_one, args.max_in_flight),
        ),
    ]
    if not args.no_baseline:
        clients.append(("asyncio + dnspython (baseline)", lambda: run_baseline(args)))
    command = " ".join(["bench/bench_domains.py", *sys.argv[1:]])
    print(
        f"`ip netns exec danescan .venv/bin/python {command}`, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"warm world Unbound, {args.concurrency} domains in progress, resolver cap "
        f"{args.max_in_flight} in flight, median of {args.runs} runs\n"
    )
    print("| client | domains | queries | domains/s | client CPU µs/domain | µs/query |")
    print("|---|---|---|---|---|---|")
    rates: dict[str, float] = {}
    for label, fn in clients:
        runs = [fn() for _ in range(args.runs)]
        med = {k: statistics.median(float(r[k]) for r in runs) for k in runs[0] if k != "client"}
        rates[label] = med["domains_per_s"]
        print(
            f"| {label} | {med['domains']:.0f} | {med['queries']:.0f} | "
            f"{med['domains_per_s']:,.0f} | {med['cpu_us_per_domain']:,.0f} | "
            f"{med['cpu_us_per_query']:.1f} |",
            flush=True,
        )
    if not args.no_baseline:
        first, base = clients[0][0], clients[-1][0]
        print(f"\nlookup_many's domain rate / the baseline's: {rates[first] / rates[base]:.1f}×")


if __name__ == "__main__":
    main()
