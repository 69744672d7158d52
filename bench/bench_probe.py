"""Benchmark: full STARTTLS probes per second against an in-process server on loopback.

    .venv/bin/python bench/bench_probe.py [--probes N] [--concurrency C] [--variants]

One trio process runs both a scripted STARTTLS server (ECDSA P-256 leaf plus an
intermediate, trustme) and the probes, so the figures are an upper bound of the
client's cost *plus* the server's: the probe alone is cheaper. Reported: wall time,
probes per second, process CPU per probe, and the status counts (all ``ok``).
"""

from __future__ import annotations

import argparse
import functools
import ssl
import time
from collections import Counter

import trio
import trustme

from scanner.gather.probe import ProbeConfig, probe_address


async def handler(ctx: ssl.SSLContext, stream: trio.SocketStream) -> None:
    buf = bytearray()

    async def line(s: trio.abc.Stream) -> bytes:
        while b"\n" not in buf:
            data = await s.receive_some(4096)
            if not data:
                raise EOFError
            buf.extend(data)
        i = buf.index(b"\n")
        out = bytes(buf[: i + 1])
        del buf[: i + 1]
        return out

    try:
        await stream.send_all(b"220 bench ESMTP\r\n")
        await line(stream)
        await stream.send_all(b"250-bench\r\n250-RSA\r\n250 STARTTLS\r\n")
        await line(stream)
        await stream.send_all(b"220 go ahead\r\n")
        tls = trio.SSLStream(stream, ctx, server_side=True)
        await tls.do_handshake()
        await line(tls)
        await tls.send_all(b"221 bye\r\n")
    except (EOFError, trio.BrokenResourceError):
        pass


async def main(probes: int, concurrency: int, variants: bool) -> None:
    ca = trustme.CA()
    leaf = ca.create_child_ca().issue_cert("mx.bench.test")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    if variants:
        ca.create_child_ca().issue_cert(
            "mx.bench.test", key_type=trustme.KeyType.RSA
        ).configure_cert(ctx)
    statuses: Counter[str] = Counter()
    limit = trio.CapacityLimiter(concurrency)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, functools.partial(handler, ctx), 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        config = ProbeConfig(port=port, ehlo_name="bench.danescan.test", key_variants=variants)

        async def one() -> None:
            async with limit:
                probe = await probe_address("mx.bench.test", "127.0.0.1", "mx.bench.test", config)
                statuses[probe.status.value] += 1

        wall0, cpu0 = time.perf_counter(), time.process_time()
        async with trio.open_nursery() as probes_nursery:
            for _ in range(probes):
                probes_nursery.start_soon(one)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        nursery.cancel_scope.cancel()
    print(
        f"{probes} probes, concurrency {concurrency}, key_variants={variants}: "
        f"{wall:.2f} s wall, {probes / wall:.0f} probes/s, "
        f"{1000 * cpu / probes:.2f} ms CPU/probe (client + server), statuses {dict(statuses)}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--probes", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--variants", action="store_true")
    args = ap.parse_args()
    trio.run(main, args.probes, args.concurrency, args.variants)
