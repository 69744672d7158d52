"""Benchmark of scanner.gather.resolve: client CPU µs per query and queries/s.

Targets:
- a fast fake DNS server on 127.0.0.1 (a separate process, so that the client's CPU
  time, read with ``time.process_time``, is the client's alone): it answers every query
  with one A record by patching the query into a canned reply;
- the local world's Unbound (127.53.0.53) when reachable (run inside the namespace:
  ``danescan world exec -- .venv/bin/python bench/bench_resolve.py``), warm cache.

Baselines measured in the same run against the same server: a raw blocking socket
send/recv loop (one query in flight) and a raw trio loop (one socket, id demultiplexing,
the same concurrency as the resolver, prebuilt query bytes, no parsing): the floor any
client pays in Python for the socket calls alone.

Each figure is the median of 3 runs. ``--capture DIR`` instead stores raw replies of
the world's resolver for the codec cross-check test.

    .venv/bin/python bench/bench_resolve.py [--queries 20000] [--concurrency 256]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import multiprocessing.connection
import os
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.gather.dnswire import DnspythonCodec
from scanner.gather.resolve import Resolver, ResolverConfig

WORLD = ("127.53.0.53", 53)


# ----------------------------------------------------------------------------- fake server


def _fake_server(port_out: multiprocessing.connection.Connection) -> None:
    """Answer every query: QR, RA, AD; the question echoed; one A; the OPT echoed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    port_out.send(sock.getsockname()[1])
    answer = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 300, 4, bytes([192, 0, 2, 1]))
    opt = b"\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00"
    while True:
        data, addr = sock.recvfrom(4096)
        if len(data) < 12 + 5 + 11:
            continue
        question = data[12 : len(data) - 11]  # our queries: question, then an 11-byte OPT
        reply = data[:2] + b"\x81\xa0\x00\x01\x00\x01\x00\x00\x00\x01" + question + answer + opt
        sock.sendto(reply, addr)


def start_fake() -> tuple[multiprocessing.Process, int]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_fake_server, args=(child,), daemon=True)
    proc.start()
    port = int(parent.recv())
    return proc, port


# ----------------------------------------------------------------------------- measurements


def names(n: int) -> list[str]:
    return [f"host{i}.bench{i % 97}.example" for i in range(n)]


def measure(fn: Callable[[], int | None], queries: int) -> tuple[float, float, int]:
    """(client CPU µs per query, queries per second, queries) of one run; ``fn`` returns
    the queries it sent when that differs from ``queries`` (retries, CD queries)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sent = fn() or queries
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / sent * 1e6, sent / wall, sent


def raw_blocking(server: tuple[str, int], queries: int) -> None:
    codec = DnspythonCodec()
    wire = bytearray(codec.encode_query("host1.bench1.example", 1, 0, False, 1232))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.connect(server)
    with sock:
        for i in range(queries):
            wire[0:2] = (i & 0xFFFF).to_bytes(2, "big")
            sock.send(wire)
            while sock.recv(65535)[:2] != wire[0:2]:
                pass


def raw_trio(server: tuple[str, int], queries: int, concurrency: int) -> None:
    """One trio socket, a reader task, id demultiplexing: the resolver's skeleton."""
    codec = DnspythonCodec()
    template = codec.encode_query("host1.bench1.example", 1, 0, False, 1232)

    async def main() -> None:
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # as the resolver
        await sock.connect(server)
        waiting: dict[int, trio.Event] = {}
        per_task = queries // concurrency

        async def reader() -> None:
            while True:
                data = await sock.recv(65535)
                ev = waiting.pop(int.from_bytes(data[:2], "big"), None)
                if ev is not None:
                    ev.set()

        async def worker(k: int) -> None:
            for j in range(per_task):
                qid = (k * per_task + j) & 0xFFFF
                while qid in waiting:
                    qid = (qid + 1) & 0xFFFF
                ev = waiting[qid] = trio.Event()
                await sock.send(qid.to_bytes(2, "big") + template[2:])
                with trio.move_on_after(2):
                    await ev.wait()
                waiting.pop(qid, None)

        with sock:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                async with trio.open_nursery() as workers:
                    for k in range(concurrency):
                        workers.start_soon(worker, k)
                nursery.cancel_scope.cancel()

    trio.run(main)


def resolver_run(
    server: tuple[str, int],
    qnames: list[str],
    concurrency: int,
    fast: bool,
    rrtype: str = "A",
    batch: int = 0,
) -> dict[str, int]:
    """Look every name up with ``concurrency`` lookups in flight: ``lookup`` one at a time
    per worker, or (``batch`` > 0) ``lookup_many`` of ``batch`` names per call."""
    outcome: dict[str, int] = {}

    async def main() -> None:
        cfg = ResolverConfig(servers=[server], max_in_flight=concurrency, fast_codec=fast)
        async with Resolver(cfg) as resolver:
            it = iter(qnames)

            async def worker() -> None:
                for name in it:
                    lk = await resolver.lookup(name, rrtype)
                    outcome[lk.rcode] = outcome.get(lk.rcode, 0) + 1

            async def batch_worker() -> None:
                while chunk := [(name, rrtype) for name in itertools.islice(it, batch)]:
                    for lk in await resolver.lookup_many(chunk):
                        outcome[lk.rcode] = outcome.get(lk.rcode, 0) + 1

            async with trio.open_nursery() as nursery:
                if batch:
                    for _ in range(max(1, concurrency // batch)):
                        nursery.start_soon(batch_worker)
                else:
                    for _ in range(concurrency):
                        nursery.start_soon(worker)
            outcome["_sent"] = resolver.queries_sent

    trio.run(main)
    return outcome


def sent_by(
    qnames: list[str], concurrency: int, fast: bool, rrtype: str, batch: int = 0
) -> Callable[[], int]:
    """A world run of ``resolver_run`` that returns the queries it sent."""
    return lambda: resolver_run(WORLD, qnames, concurrency, fast, rrtype, batch)["_sent"]


def median3(label: str, fn: Callable[[], int | None], queries: int, rows: list[str]) -> None:
    runs = [measure(fn, queries) for _ in range(3)]
    cpu = statistics.median(r[0] for r in runs)
    qps = statistics.median(r[1] for r in runs)
    sent = statistics.median(r[2] for r in runs)
    line = f"| {label} | {sent:.0f} | {cpu:.1f} | {qps:,.0f} |"
    rows.append(line)
    print(line, flush=True)


def world_reachable() -> bool:
    codec = DnspythonCodec()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1)
    try:
        sock.connect(WORLD)
        sock.send(codec.encode_query("isc.org", 6, 4242, False, 1232))
        return len(sock.recv(65535)) > 12
    except OSError:
        return False
    finally:
        sock.close()


def world_names() -> list[str]:
    """Every scenario domain and MX host of the running world (from world.json)."""
    try:
        from scanner.world.info import WorldInfo, world_dir

        info = WorldInfo.load(world_dir() / "world.json")
        return sorted(set(info.domains) | set(info.hosts))
    except Exception:
        return ["isc.org"]


def capture(out: Path) -> None:
    """Store raw world replies (MX/A/AAAA/TLSA, CD clear and set), length-prefixed."""
    import dns.message

    codec = DnspythonCodec()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    sock.connect(WORLD)
    blobs: list[bytes] = []
    for i, name in enumerate(world_names()):
        for rrtype, qname in ((15, name), (1, name), (28, name), (52, f"_25._tcp.{name}")):
            for cd in (False, True):
                sock.send(codec.encode_query(qname, rrtype, i, cd, 1232))
                reply = sock.recv(65535)
                try:
                    dns.message.from_wire(reply)
                except Exception:
                    continue  # the cross-check corpus holds what dnspython parses
                blobs.append(reply)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(len(b).to_bytes(2, "big") + b for b in blobs))
    print(f"captured {len(blobs)} replies into {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--capture", type=Path, help="store raw world replies here and exit")
    ap.add_argument("--section", default="resolve", help="RESULTS.md section to write")
    ap.add_argument("--no-save", action="store_true", help="print only, leave RESULTS.md")
    args = ap.parse_args()
    if args.capture:
        capture(args.capture)
        return
    n, c = args.queries, args.concurrency
    rows = [
        f"`{' '.join(['.venv/bin/python', *sys.argv])}`, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, median of 3 runs, "
        f"{c} lookups in flight",
        "",
        "| target / client | queries | client CPU µs/query | queries/s |",
        "|---|---|---|---|",
    ]
    print("\n".join(rows), flush=True)
    proc, port = start_fake()
    fake = ("127.0.0.1", port)
    qnames = names(n)
    try:
        median3(
            "fake: raw blocking socket, 1 in flight (baseline)",
            lambda: raw_blocking(fake, n),
            n,
            rows,
        )
        median3(
            "fake: raw trio socket + id demux (baseline)", lambda: raw_trio(fake, n, c), n, rows
        )
        for fast in (False, True):
            codec = "dnswire" if fast else "dnspython"
            result: dict[str, int] = {}

            def run(fast: bool = fast, result: dict[str, int] = result) -> None:
                result.clear()
                result.update(resolver_run(fake, qnames, c, fast))

            median3(f"fake: Resolver.lookup, {codec} codec", run, n, rows)
            assert result.get("NOERROR") == n, result
        for batch in (3, 6):
            result = {}

            def run_many(batch: int = batch, result: dict[str, int] = result) -> None:
                result.clear()
                result.update(resolver_run(fake, qnames, c, True, batch=batch))

            median3(
                f"fake: Resolver.lookup_many, {batch} per call, dnswire codec", run_many, n, rows
            )
            assert result.get("NOERROR") == n, result
    finally:
        proc.terminate()
        proc.join()
    if world_reachable():
        wnames = world_names()
        reps = max(1, n // (4 * len(wnames)))
        wq = [name for _ in range(reps) for name in wnames]
        for rrtype in ("MX",):
            resolver_run(WORLD, wq[: len(wnames)], c, False, rrtype)  # warm the cache
            for fast in (False, True):
                codec = "dnswire" if fast else "dnspython"
                median3(
                    f"world Unbound (warm cache), {rrtype}: Resolver.lookup, {codec} codec",
                    sent_by(wq, c, fast, rrtype),
                    len(wq),
                    rows,
                )
            median3(
                f"world Unbound (warm cache), {rrtype}: Resolver.lookup_many, 3 per call, dnswire",
                sent_by(wq, c, True, rrtype, batch=3),
                len(wq),
                rows,
            )
        median3(
            "world Unbound: raw trio socket + id demux (baseline)",
            lambda: raw_trio(WORLD, len(wq), c),
            len(wq),
            rows,
        )
        mix = resolver_run(WORLD, wq, c, True, "MX")
        sent = mix.pop("_sent")
        rows.append("")
        rows.append(
            f"World MX lookups: {len(wq)} lookups of {len(wnames)} names (scenario domains and "
            f"MX hosts, repeated) sent {sent} queries ({sent / len(wq):.2f} per lookup: "
            "SERVFAIL answers are retried and asked again with CD); "
            f"rcodes {dict(sorted(mix.items()))}. "
            "The resolver rows count the queries sent (CPU per query sent)."
        )
        print("\n".join(rows[-2:]), flush=True)
    else:
        rows.append("")
        rows.append("World resolver 127.53.0.53 not reachable from here: world rows skipped.")
        print(rows[-1])
    rows.append("")
    rows.append(
        "The fake server answers NOERROR to everything (one query per lookup). A lookup "
        "that SERVFAILs costs 3 tries + 1 CD query, a TC answer one more (TCP)."
    )
    if not args.no_save:
        save_section(Path(__file__).with_name("RESULTS.md"), args.section, rows)


def save_section(path: Path, heading: str, rows: list[str]) -> None:
    """Replace (or append) the ``## heading`` section of RESULTS.md; others stay as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"## {heading}"), None)
    section = [f"## {heading}", "", *rows, ""]
    if start is None:
        lines = [*lines, "", *section] if lines and lines[-1] != "" else [*lines, *section]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines = [*lines[:start], *section, *lines[end:]]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
