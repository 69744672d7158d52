"""The issue-10 baseline: a straightforward asyncio + dnspython client asking a domain's questions.

Per domain, one after the other (the way one writes it first): MX, ``_mta-sts.<domain>``
TXT, ``_smtp._tls.<domain>`` TXT, then for each MX host A, AAAA and ``_25._tcp.<host>``
TLSA. Every query has DO set (``want_dnssec``), as the scanner's; a truncated answer is
asked again over TCP, a timeout is tried up to three times. ``--concurrency`` domains
are in progress at once. Prints domains/s, client CPU per domain and per query
(``time.process_time``: this process only); ``--json`` prints one JSON line instead,
for ``bench/bench_domains.py``, which runs the same questions through
``Resolver.lookup_many``.

Run inside the world's namespace (the resolver is the world's Unbound)::

    ip netns exec danescan .venv/bin/python bench/baseline_asyncio.py --domains 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rdatatype

ROOT = Path(__file__).resolve().parents[1]


class Client:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.queries = 0
        self.failures = 0

    async def ask(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.message.Message | None:
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        for _ in range(3):
            self.queries += 1
            try:
                reply = await dns.asyncquery.udp(
                    query, self.host, timeout=self.timeout, port=self.port
                )
                if reply.flags & dns.flags.TC:
                    self.queries += 1
                    reply = await dns.asyncquery.tcp(
                        query, self.host, timeout=self.timeout, port=self.port
                    )
                return reply
            except dns.exception.Timeout:
                continue
        self.failures += 1
        return None

    async def domain(self, domain: str) -> None:
        mx = await self.ask(domain, dns.rdatatype.MX)
        await self.ask(f"_mta-sts.{domain}", dns.rdatatype.TXT)
        await self.ask(f"_smtp._tls.{domain}", dns.rdatatype.TXT)
        hosts = []
        if mx is not None:
            for rrset in mx.answer:
                if rrset.rdtype == dns.rdatatype.MX:
                    hosts += [rd.exchange.to_text() for rd in rrset]
        for host in hosts:
            if host == ".":
                continue  # null MX
            await self.ask(host, dns.rdatatype.A)
            await self.ask(host, dns.rdatatype.AAAA)
            await self.ask(f"_25._tcp.{host}", dns.rdatatype.TLSA)


async def run(domains: list[str], client: Client, concurrency: int) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for d in domains:
        queue.put_nowait(d)

    async def worker() -> None:
        while not queue.empty():
            await client.domain(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=2000)
    ap.add_argument("--skip", type=int, default=0, help="start this far into the list")
    ap.add_argument("--file", type=Path, default=ROOT / "work/world/bench-domains.txt")
    ap.add_argument("--resolver", default="127.53.0.53:53")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    names = args.file.read_text().split()[args.skip : args.skip + args.domains]
    host, _, port = args.resolver.rpartition(":")
    client = Client(host, int(port), args.timeout)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(run(names, client, args.concurrency))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    result = {
        "client": "asyncio + dnspython",
        "domains": len(names),
        "queries": client.queries,
        "failures": client.failures,
        "wall_s": wall,
        "domains_per_s": len(names) / wall,
        "cpu_us_per_domain": cpu / len(names) * 1e6,
        "cpu_us_per_query": cpu / client.queries * 1e6,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['client']}: {len(names)} domains, {client.queries} queries "
            f"({client.failures} unanswered) in {wall:.1f} s: {result['domains_per_s']:,.0f} "
            f"domains/s, {result['cpu_us_per_domain']:,.0f} µs CPU/domain, "
            f"{result['cpu_us_per_query']:,.0f} µs CPU/query"
        )


if __name__ == "__main__":
    main()
