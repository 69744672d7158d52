"""Fetching an MTA-STS policy over HTTPS from one address (RFC 8461 §3.3), on trio.

One GET of ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` sent to an address
the gatherer resolved through the validating resolver (never the system's stub):
SNI and the certificate check use the policy host name, the certificate must chain
to a trusted root (PKIX, unlike DANE), redirects are not followed, the body is read
up to 64 KiB and the whole exchange runs under one deadline (an idle timer would let
a dripping server hold us). Transport failures come back as an error text; what the
answer means is :func:`scanner.core.mtasts.read_response`'s business. HTTP/1.1 framing
(content length, chunked bodies, header limits) is h11's, the sans-IO parser.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Final

import h11
import trio

from scanner.core.mtasts import MAX_POLICY_BYTES, WELL_KNOWN_PATH

USER_AGENT: Final = "danescan (MTA-STS policy check; RFC 8461)"
_RECV: Final = 16384


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyFetchConfig:
    """Knobs of a policy fetch; ``context`` holds the trusted roots (PKIX)."""

    context: ssl.SSLContext
    timeout: float = 20.0  # the whole exchange; RFC 8461 suggests senders allow 60 s
    port: int = 443


@dataclass(frozen=True, slots=True)
class PolicyResponse:
    """What the policy server answered, or ``error`` when no HTTP answer came."""

    address: str
    status: int = 0
    content_type: str = ""
    location: str = ""
    body: bytes = b""
    error: str = ""


def trust_context(cafile: str | None = None) -> ssl.SSLContext:
    """A verifying client context: ``cafile``'s roots, else the system's (SSL_CERT_FILE)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _describe(exc: BaseException) -> str:
    """The error's name and the most telling detail down its chain (trio wraps the
    ``ssl`` error underneath in a ``BrokenResourceError`` without a message)."""
    detail, link, hops = str(exc), exc.__cause__ or exc.__context__, 0
    while link is not None and hops < 8:
        if isinstance(link, ssl.SSLError | OSError) and str(link):
            detail = str(link)
            break
        link, hops = link.__cause__ or link.__context__, hops + 1
    return f"{type(exc).__name__}: {detail or 'no detail'}"[:240]


async def fetch_policy(host: str, address: str, config: PolicyFetchConfig) -> PolicyResponse:
    """GET the policy of ``host`` (``mta-sts.<domain>``) from ``address``."""
    with trio.move_on_after(config.timeout) as scope:
        try:
            return await _exchange(host, address, config)
        except (OSError, ssl.SSLError, trio.BrokenResourceError, h11.ProtocolError) as exc:
            return PolicyResponse(address=address, error=_describe(exc))
    assert scope.cancelled_caught
    return PolicyResponse(address=address, error=f"no answer within {config.timeout:g} s")


async def _exchange(host: str, address: str, config: PolicyFetchConfig) -> PolicyResponse:
    tcp = await trio.open_tcp_stream(address, config.port)
    stream = trio.SSLStream(tcp, config.context, server_hostname=host, https_compatible=True)
    async with stream:
        await stream.do_handshake()
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="GET",
            target=WELL_KNOWN_PATH,
            headers=[
                ("Host", host),
                ("Accept", "text/plain"),
                ("User-Agent", USER_AGENT),
                ("Connection", "close"),
            ],
        )
        await stream.send_all((conn.send(request) or b"") + (conn.send(h11.EndOfMessage()) or b""))
        response: h11.Response | None = None
        body = bytearray()
        while len(body) <= MAX_POLICY_BYTES:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(_RECV)))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if response is None:
            return PolicyResponse(address=address, error="closed before an HTTP response")
        head = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
        return PolicyResponse(
            address=address,
            status=response.status_code,
            content_type=head.get("content-type", ""),
            location=head.get("location", ""),
            body=bytes(body[: MAX_POLICY_BYTES + 1]),
        )
