"""The MTA-STS policy fetch against a real TLS server on loopback (trustme certificates)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import trio
import trustme

from scanner.core.mtasts import MAX_POLICY_BYTES, Policy, read_response
from scanner.gather.policyfetch import PolicyFetchConfig, fetch_policy

HOST = "mta-sts.example.com"
POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n"

Handler = Callable[[bytes], bytes | None]  # request head -> raw response (None: stall)


def _response(status: str, body: bytes, ctype: str = "text/plain", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    return (head + extra + "Connection: close\r\n\r\n").encode() + body


@asynccontextmanager
async def server(ca: trustme.CA, names: list[str], handler: Handler) -> AsyncIterator[int]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    seen: list[bytes] = []

    async def serve(tcp: trio.SocketStream) -> None:
        stream = trio.SSLStream(tcp, ctx, server_side=True)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                data = await stream.receive_some(4096)
                if not data:
                    return
                head += data
            seen.append(head)
            answer = handler(head)
            if answer is None:
                await trio.sleep_forever()
            await stream.send_all(answer)
            await stream.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


def _config(ca: trustme.CA, port: int, timeout: float = 5.0) -> PolicyFetchConfig:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return PolicyFetchConfig(context=ctx, port=port, timeout=timeout)


async def test_fetches_policy_with_host_header_and_sni() -> None:
    ca = trustme.CA()
    heads: list[bytes] = []

    def handler(head: bytes) -> bytes:
        heads.append(head)
        return _response("200 OK", POLICY, "text/plain; charset=utf-8")

    async with server(ca, [HOST], handler) as port:
        got = await fetch_policy(HOST, "127.0.0.1", _config(ca, port))
    assert got.error == "" and got.status == 200
    assert read_response(got.status, got.content_type, got.body) == Policy(
        "enforce", 86400, ("mx.example.com",)
    )
    assert heads[0].startswith(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n")
    assert f"host: {HOST}".encode() in heads[0].lower()


async def test_untrusted_and_misnamed_certificates_are_errors() -> None:
    ca, other = trustme.CA(), trustme.CA()
    ok = lambda head: _response("200 OK", POLICY)  # noqa: E731
    async with server(other, [HOST], ok) as port:
        got = await fetch_policy(HOST, "127.0.0.1", _config(ca, port))
    assert got.status == 0 and "CERTIFICATE_VERIFY_FAILED" in got.error
    async with server(ca, ["mta-sts.other.example"], ok) as port:
        got = await fetch_policy(HOST, "127.0.0.1", _config(ca, port))
    assert got.status == 0 and "CERTIFICATE_VERIFY_FAILED" in got.error


async def test_redirect_is_not_followed_and_404_is_reported() -> None:
    ca = trustme.CA()
    moved = _response("301 Moved", b"", extra="Location: https://elsewhere.example/p\r\n")
    async with server(ca, [HOST], lambda head: moved) as port:
        got = await fetch_policy(HOST, "127.0.0.1", _config(ca, port))
    assert (got.status, got.location) == (301, "https://elsewhere.example/p")
    missing = _response("404 Not Found", b"no", "text/html")
    async with server(ca, [HOST], lambda head: missing) as port:
        got = await fetch_policy(HOST, "127.0.0.1", _config(ca, port))
    assert read_response(got.status, got.content_type, got.body) == "HTTP 404"


async def test_huge_body_is_cut_at_the_limit() -> None:
    ca = trustme.CA()
    huge = _response("200 OK", b"x" * (4 * MAX_POLICY_BYTES))
    async with server(ca, [HOST], lambda head: huge) as port:
        got = await fetch_policy(HOST, "127.0.0.1", _config(ca, port))
    assert len(got.body) == MAX_POLICY_BYTES + 1
    assert read_response(got.status, got.content_type, got.body) == (
        f"policy body over {MAX_POLICY_BYTES} bytes"
    )


async def test_stalling_server_ends_at_the_deadline() -> None:
    ca = trustme.CA()
    async with server(ca, [HOST], lambda head: None) as port:
        with trio.fail_after(5):
            got = await fetch_policy(HOST, "127.0.0.1", _config(ca, port, timeout=0.5))
    assert got.status == 0 and got.error


async def test_refused_connection_is_an_error() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        got = await fetch_policy(HOST, "127.0.0.1", _config(trustme.CA(), port))
    assert got.status == 0 and "connect" in got.error
