"""The world's MTA-STS policy server: HTTPS on one loopback address per policy domain.

Run as ``python -m scanner.world.policyd <dir>/policyd.json``. Each listener is
``mta-sts.<domain>`` on its own address (127.44.x.y, port 443) with its own
certificate from the world CA, and serves ``GET /.well-known/mta-sts.txt`` (RFC 8461
§3.3) as the catalog's ``serve`` says: the policy as ``text/plain`` ("ok"), a 404
("not-found"), a 301 to another URL that would serve the policy if a sender wrongly
followed it ("redirect"), the policy as ``text/html`` ("wrong-type"), a body without
the version line ("garbage"), the policy padded beyond 64 KiB ("huge"); "bad-cert"
and "self-signed" serve the policy behind the wrong certificate. Every other path is
a 404. One request per connection (HTTP/1.0 or 1.1, headers at most 8 KiB, 10 s),
then the connection is closed.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from scanner.world.serving import listener, run_daemon

WELL_KNOWN = "/.well-known/mta-sts.txt"
MOVED = "/moved/mta-sts.txt"  # where "redirect" points (and serves the policy)
REQUEST_MAX = 8192  # bytes of request line + headers
REQUEST_TIMEOUT = 10.0  # seconds for the handshake and the request
HUGE_BYTES = 80 * 1024  # RFC 8461 §3.3 suggests senders stop at 64 KiB
REASONS = {
    200: "OK",
    301: "Moved Permanently",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str = "text/plain"
    body: bytes = b""
    location: str = ""

    def encode(self, head_only: bool = False) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {REASONS[self.status]}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            "Cache-Control: no-store",
        ]
        if self.location:
            lines.append(f"Location: {self.location}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return head if head_only else head + self.body


def _error(status: int) -> Response:
    return Response(status, body=f"{status} {REASONS[status]}\r\n".encode())


def parse_request(head: bytes) -> tuple[str, str] | Response:
    """(method, path) of a request head, or the error response to send."""
    line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        return _error(400)
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        return _error(505)
    if method not in ("GET", "HEAD"):
        return _error(405)
    return method, target.split("?", 1)[0]


def respond(serve: str, host: str, policy: str, path: str) -> Response:
    """What a policy host with behaviour ``serve`` answers for ``path``."""
    body = policy.encode()
    if serve == "redirect":
        if path == WELL_KNOWN:
            return Response(301, body=b"moved\r\n", location=f"https://{host}{MOVED}")
        if path == MOVED:
            return Response(200, body=body)
    if path != WELL_KNOWN or serve in ("not-found", "redirect"):
        return _error(404)
    if serve == "wrong-type":
        return Response(200, "text/html", body)
    if serve == "garbage":
        lines = [ln for ln in policy.split("\r\n") if ln and not ln.startswith("version:")]
        return Response(200, body="".join(ln + "\r\n" for ln in lines).encode())
    if serve == "huge":
        pad = b"x-padding: " + b"x" * 1000 + b"\r\n"  # unknown keys: a parser skips them
        return Response(200, body=body + pad * (HUGE_BYTES // len(pad) + 1))
    return Response(200, body=body)  # ok, bad-cert, self-signed


async def _read_head(stream: trio.abc.Stream) -> bytes | Response:
    buf = b""
    while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
        if len(buf) > REQUEST_MAX:
            return _error(431)
        data = await stream.receive_some(4096)
        if not data:
            return _error(400)
        buf += data
    return buf


async def _drain(stream: trio.abc.Stream, idle: float = 0.2, limit: int = 1 << 20) -> None:
    """Read and drop what the client still sends, until it pauses or ``limit`` bytes."""
    total = 0
    while total < limit:
        data = b""
        with trio.move_on_after(idle):
            data = bytes(await stream.receive_some(65536))
        if not data:
            return
        total += len(data)


def _context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def handle(listener: dict[str, Any], ctx: ssl.SSLContext, stream: trio.SocketStream) -> None:
    tls = trio.SSLStream(stream, ctx, server_side=True)
    try:
        with trio.fail_after(REQUEST_TIMEOUT):
            await tls.do_handshake()
            head = await _read_head(tls)
        if isinstance(head, Response):
            await tls.send_all(head.encode())
            await _drain(tls)  # closing with unread input would reset the connection
            return
        req = parse_request(head)
        if isinstance(req, Response):
            await tls.send_all(req.encode())
            return
        method, path = req
        resp = respond(listener["serve"], listener["host"], listener["policy"], path)
        await tls.send_all(resp.encode(head_only=method == "HEAD"))
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, OSError):
        pass  # the client went away, talked too slowly, or failed the handshake
    finally:
        with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError, OSError):
            await tls.aclose()


async def serve(config: dict[str, Any]) -> None:
    port = int(config.get("port", 443))
    async with trio.open_nursery() as nursery:
        for lst in config["listeners"]:
            listening = await listener(lst["address"], port, backlog=1024)
            ctx = _context(lst["cert"], lst["key"])
            nursery.start_soon(trio.serve_listeners, partial(handle, lst, ctx), [listening])
        # Stay up without listeners too: `world status` counts a dead daemon as down.
        nursery.start_soon(trio.sleep_forever)
        print(f"policyd: {len(config['listeners'])} listeners up", flush=True)


def main(argv: list[str] | None = None) -> None:
    run_daemon(serve, argv)


if __name__ == "__main__":
    main()
