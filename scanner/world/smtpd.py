"""The world's SMTP server: one trio process serving every MX address of the world.

Run as ``python -m scanner.world.smtpd <dir>/smtpd.json``. Each listener (one
address on port 25) has a behaviour from the catalog: a normal STARTTLS server
with its own certificate chain (two chains, RSA and ECDSA, for "dual" hosts: the
TLS library picks by what the client offers), or a misbehaving one (no STARTTLS,
``454``, garbage instead of TLS, tarpit, a giant banner, endless EHLO lines, a
slow multi-line banner that drops early talkers, a chain well over 100 KiB, a
``554`` greeting). It never accepts mail: ``MAIL`` gets ``554``.
"""

from __future__ import annotations

import json
import ssl
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import trio

from scanner.world.serving import listener, run_daemon

LINE_MAX = 4096
IDLE = 120.0  # seconds a client may stay silent
TARPIT = 900.0  # the tarpit holds a connection this long at most
GIANT_BANNER_BYTES = 2 * 1024 * 1024
ENDLESS_EHLO_BYTES = 64 * 1024 * 1024
SLOW_BANNER_PAUSE = 1.0


class Conn:
    """Line-oriented SMTP I/O over a trio stream (plain or TLS)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buf = b""

    async def send(self, text: str) -> None:
        await self.stream.send_all(text.encode())

    async def readline(self) -> bytes | None:
        """One line without CRLF, or None on EOF/idle timeout/oversized line."""
        while b"\n" not in self.buf:
            if len(self.buf) > LINE_MAX:
                return None
            data = b""
            with trio.move_on_after(IDLE):
                data = bytes(await self.stream.receive_some(65536))
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")


def _context(certs: list[list[str]]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for crt, key in certs:  # RSA and ECDSA chains side by side: OpenSSL picks per client
        ctx.load_cert_chain(crt, key)
    return ctx


async def _drain_until_close(stream: trio.abc.Stream, limit: float) -> None:
    with trio.move_on_after(limit):
        while await stream.receive_some(65536):
            pass


async def _early_talker(stream: trio.abc.Stream, flag: list[bool]) -> None:
    data = await stream.receive_some(1)
    if data:
        flag.append(True)


# Connections accepted per listener address, for tests that check that a scan connects
# to each address only as often as one probe does (written to smtpd-connections.json).
CONNECTIONS: Counter[str] = Counter()
COUNTS_FILE = "smtpd-connections.json"


async def _write_counts(path: Path) -> None:
    """Every half second, the connection counts (when they changed), written atomically."""
    written: dict[str, int] = {}
    while True:
        await trio.sleep(0.5)
        if dict(CONNECTIONS) != written:
            written = dict(CONNECTIONS)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(written, sort_keys=True))
            tmp.replace(path)


async def handle(
    listener: dict[str, Any], ctx: ssl.SSLContext | None, stream: trio.SocketStream
) -> None:
    CONNECTIONS[listener["address"]] += 1
    try:
        await _dialogue(listener, ctx, stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError):
        pass
    finally:
        with trio.move_on_after(1):
            await stream.aclose()


async def _dialogue(
    listener: dict[str, Any], ctx: ssl.SSLContext | None, stream: trio.SocketStream
) -> None:
    behaviour = listener["behaviour"]
    host = listener["host"]
    if behaviour == "tarpit":
        await _drain_until_close(stream, TARPIT)
        return
    if behaviour == "banner-554":
        await stream.send_all(f"554 5.3.2 {host} service refused\r\n".encode())
        await _drain_until_close(stream, 10)
        return
    if behaviour == "giant-banner":
        line = f"220-{host} " + "x" * 70 + "\r\n"
        count = GIANT_BANNER_BYTES // len(line)
        for _ in range(count // 100):
            await stream.send_all(line.encode() * 100)
    elif behaviour == "slow-banner":
        early: list[bool] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_early_talker, stream, early)
            for i in range(2):
                await stream.send_all(f"220-{host} greeting part {i + 1}, please wait\r\n".encode())
                await trio.sleep(SLOW_BANNER_PAUSE)
                if early:
                    break
            nursery.cancel_scope.cancel()
        if early:
            await stream.send_all(b"521 5.5.1 Protocol error: talked before the greeting\r\n")
            await _drain_until_close(stream, 1.0)  # read what it said: close with FIN, not RST
            return
    await stream.send_all(f"220 {host} ESMTP danescan world\r\n".encode())
    conn = Conn(stream)
    tls = False
    while True:
        raw = await conn.readline()
        if raw is None:
            return
        verb = raw.split(b" ", 1)[0].upper()
        if verb == b"EHLO":
            if behaviour == "endless-ehlo":
                chunk = (f"250-{host} " + "y" * 60 + "\r\n").encode() * 200
                for _ in range(ENDLESS_EHLO_BYTES // len(chunk)):
                    await stream.send_all(chunk)
                return
            offer = not tls and behaviour != "no-starttls"
            caps = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
            if offer:
                caps.insert(2, "STARTTLS")
            lines = [f"250-{host}"] + [f"250-{c}" for c in caps[:-1]] + [f"250 {caps[-1]}"]
            await conn.send("\r\n".join(lines) + "\r\n")
        elif verb == b"HELO":
            await conn.send(f"250 {host}\r\n")
        elif verb == b"STARTTLS" and not tls and behaviour != "no-starttls":
            if behaviour == "starttls-454":
                await conn.send("454 4.7.0 TLS not available due to local problem\r\n")
                continue
            await conn.send("220 2.0.0 Ready to start TLS\r\n")
            if behaviour == "tls-fail" or ctx is None:
                await stream.send_all(b"this is not a TLS ServerHello\r\n" * 4)
                return
            tls_stream = trio.SSLStream(stream, ctx, server_side=True)
            with trio.fail_after(30):
                await tls_stream.do_handshake()
            conn = Conn(tls_stream)
            tls = True
        elif verb == b"MAIL":
            await conn.send("554 5.7.1 This world accepts no mail\r\n")
        elif verb in (b"RCPT", b"DATA"):
            await conn.send("503 5.5.1 Bad sequence of commands\r\n")
        elif verb in (b"NOOP", b"RSET"):
            await conn.send("250 2.0.0 OK\r\n")
        elif verb == b"QUIT":
            await conn.send("221 2.0.0 Bye\r\n")
            return
        else:
            await conn.send("500 5.5.2 Command unrecognized\r\n")


async def serve(config: dict[str, Any]) -> None:
    port = int(config.get("port", 25))
    contexts: dict[str, ssl.SSLContext] = {}
    async with trio.open_nursery() as nursery:
        if "_config_path" in config:
            counts = Path(config["_config_path"]).with_name(COUNTS_FILE)
            nursery.start_soon(_write_counts, counts)
        for lst in config["listeners"]:
            ctx = None
            if lst["certs"]:
                key = json.dumps(lst["certs"])
                if key not in contexts:
                    contexts[key] = _context(lst["certs"])
                ctx = contexts[key]
            listening = await listener(lst["address"], port, backlog=4096)
            nursery.start_soon(trio.serve_listeners, partial(handle, lst, ctx), [listening])
        print(f"smtpd: {len(config['listeners'])} listeners up", flush=True)


def main(argv: list[str] | None = None) -> None:
    run_daemon(serve, argv)


if __name__ == "__main__":
    main()
