"""The trio SMTP probe against scripted, in-process SMTP servers on loopback.

Each test runs a small server written for one behaviour (zgrab2's way of testing
its SMTP module) on 127.0.0.1 or ::1 with an ephemeral port, and checks the
recorded ``SmtpProbe``. Nothing leaves the machine. Tests whose deadlines are
long run on trio's MockClock with autojump, so a 30 s banner deadline takes
milliseconds; the autojump threshold is a few real milliseconds, so that loopback
I/O in flight is never mistaken for idleness.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.core.blocklist import Blocklist
from scanner.core.model import ProbeStatus, SmtpProbe
from scanner.gather.probe import (
    DestinationLimiter,
    ProbeConfig,
    backoff_advised,
    leaf_key_type,
    probe_address,
)
from scanner.gather.tlsio import presented_chain

HOST = "mx.example.test"
SNI = "mx.example.test"
CONFIG = ProbeConfig(ehlo_name="probe.danescan.test", key_variants=False)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """A test that asks for ``clock`` runs on it (pytest-trio): the autojump threshold
    is a few real milliseconds, so loopback I/O completes before time jumps."""
    return trio.testing.MockClock(autojump_threshold=0.02)


# --------------------------------------------------------------------------- certificates


class Pki:
    """A root, an intermediate, and leaves of both key types for HOST."""

    def __init__(self) -> None:
        self.root = trustme.CA()
        self.inter = self.root.create_child_ca()
        self.ecdsa = self.inter.issue_cert(HOST, key_type=trustme.KeyType.ECDSA)
        self.rsa = self.inter.issue_cert(HOST, key_type=trustme.KeyType.RSA)

    @staticmethod
    def der_chain(leaf: trustme.LeafCert) -> list[bytes]:
        return [
            x509.load_pem_x509_certificate(blob.bytes()).public_bytes(Encoding.DER)
            for blob in leaf.cert_chain_pems
        ]

    def server_context(self, *leaves: trustme.LeafCert, sni_seen: list[str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        for leaf in leaves:
            leaf.configure_cert(ctx)

        def on_sni(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            sni_seen.append(name or "")

        ctx.sni_callback = on_sni
        return ctx


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


# --------------------------------------------------------------------------- fake servers


class Peer:
    """The server's side of one connection: line reads and writes, then TLS."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.lines: list[bytes] = []

    async def line(self) -> bytes:
        while b"\n" not in self.buf:
            data = await self.stream.receive_some(4096)
            if not data:
                raise EOFError
            self.buf += data
        i = self.buf.index(b"\n")
        out = bytes(self.buf[: i + 1])
        del self.buf[: i + 1]
        self.lines.append(out)
        return out

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def expect_quiet(self, seconds: float) -> None:
        """Assert the client sends nothing for ``seconds`` (it must wait for us)."""
        with trio.move_on_after(seconds):
            data = await self.stream.receive_some(4096)
            raise AssertionError(f"client spoke early: {data!r}")

    async def starttls(self, ctx: ssl.SSLContext) -> None:
        assert not self.buf, "client pipelined data before TLS"
        tls = trio.SSLStream(self.stream, ctx, server_side=True)
        await tls.do_handshake()
        self.stream = tls


Handler = Callable[[Peer], Awaitable[None]]


async def run_probe(
    handler: Handler,
    config: ProbeConfig = CONFIG,
    *,
    address: str = "127.0.0.1",
    peers: list[Peer] | None = None,
) -> SmtpProbe:
    """Serve ``handler`` on an ephemeral port of ``address`` and probe it once."""

    async def serve_one(stream: trio.SocketStream) -> None:
        peer = Peer(stream)
        if peers is not None:
            peers.append(peer)
        # The client hanging up is its business, recorded on its side.
        with contextlib.suppress(EOFError, trio.BrokenResourceError):
            await handler(peer)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, serve_one, 0, host=address)
        )
        port = listeners[0].socket.getsockname()[1]
        probe = await probe_address(HOST, address, SNI, dataclasses.replace(config, port=port))
        nursery.cancel_scope.cancel()
    return probe


async def greet_and_ehlo(peer: Peer, *, starttls: bool = True) -> None:
    await peer.send(b"220 mx.example.test ESMTP fake\r\n")
    line = await peer.line()
    assert line == b"EHLO probe.danescan.test\r\n"
    ext = b"250-starttls\r\n" if starttls else b""  # lower case: keywords are case-blind
    await peer.send(b"250-mx.example.test\r\n250-PIPELINING\r\n" + ext + b"250 8BITMIME\r\n")


def starttls_server(ctx: ssl.SSLContext) -> Handler:
    async def handler(peer: Peer) -> None:
        await greet_and_ehlo(peer)
        assert await peer.line() == b"STARTTLS\r\n"
        await peer.send(b"220 2.0.0 Ready to start TLS\r\n")
        await peer.starttls(ctx)
        assert await peer.line() == b"QUIT\r\n"
        await peer.send(b"221 2.0.0 Bye\r\n")

    return handler


# --------------------------------------------------------------------------- tests


async def test_starttls_captures_whole_chain_leaf_first(pki: Pki) -> None:
    sni_seen: list[str] = []
    ctx = pki.server_context(pki.ecdsa, sni_seen=sni_seen)
    peers: list[Peer] = []
    probe = await run_probe(starttls_server(ctx), peers=peers)
    assert probe.status is ProbeStatus.OK, probe.error
    assert probe.error == ""
    assert probe.banner == "220 mx.example.test ESMTP fake"
    assert probe.ehlo[0] == "250-mx.example.test"
    assert probe.starttls_offered
    assert probe.starttls_reply.startswith("220 ")
    assert len(probe.handshakes) == 1
    hs = probe.handshakes[0]
    assert hs.ok and hs.variant == "default" and hs.error == ""
    assert hs.version == "TLSv1.3"
    assert list(hs.chain) == pki.der_chain(pki.ecdsa)  # leaf, then the intermediate
    assert len(hs.chain) == 2
    assert sni_seen == [SNI]
    # The QUIT went over TLS, after which the server answered 221.
    assert peers[0].lines[-1] == b"QUIT\r\n"
    assert not any(line.startswith(b"MAIL") for line in peers[0].lines)
    assert probe.started_at > 1e9 and probe.elapsed >= 0


async def test_starttls_not_offered(pki: Pki) -> None:
    peers: list[Peer] = []

    async def handler(peer: Peer) -> None:
        await greet_and_ehlo(peer, starttls=False)
        assert await peer.line() == b"QUIT\r\n"
        await peer.send(b"221 bye\r\n")

    probe = await run_probe(handler, peers=peers)
    assert probe.status is ProbeStatus.STARTTLS_MISSING
    assert not probe.starttls_offered
    assert probe.handshakes == ()
    assert peers[0].lines[-1] == b"QUIT\r\n"


async def test_starttls_454_is_rejected_and_kept() -> None:
    async def handler(peer: Peer) -> None:
        await greet_and_ehlo(peer)
        assert await peer.line() == b"STARTTLS\r\n"
        await peer.send(b"454 4.7.0 TLS not available due to local problem\r\n")
        assert await peer.line() == b"QUIT\r\n"

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.STARTTLS_REJECTED
    assert probe.starttls_reply == "454 4.7.0 TLS not available due to local problem"
    assert backoff_advised(probe)
    assert probe.error.startswith("4xx starttls: 454")


async def test_garbage_after_go_ahead_is_tls_failure() -> None:
    async def handler(peer: Peer) -> None:
        await greet_and_ehlo(peer)
        await peer.line()
        await peer.send(b"220 go ahead\r\n")
        await peer.stream.receive_some(4096)  # the ClientHello
        await peer.send(b"this is not a TLS record at all\r\n" * 4)
        await trio.sleep_forever()

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.TLS_FAILED
    assert probe.error.startswith("tls: ")
    assert probe.handshakes[0].ok is False
    assert probe.handshakes[0].error == probe.error


async def test_tls_handshake_deadline(clock: trio.testing.MockClock) -> None:
    async def handler(peer: Peer) -> None:
        await greet_and_ehlo(peer)
        await peer.line()
        await peer.send(b"220 go ahead\r\n")
        await trio.sleep_forever()  # swallow the ClientHello, never answer

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.TLS_FAILED
    assert probe.error == "tls: timeout (20 s)"
    assert 20 <= probe.elapsed < 21


async def test_tarpit_hits_banner_deadline(clock: trio.testing.MockClock) -> None:
    async def handler(peer: Peer) -> None:
        await trio.sleep_forever()

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.BANNER_TIMEOUT
    assert probe.error == "banner: timeout (30 s)"
    assert 30 <= probe.elapsed < 31


async def test_one_byte_drip_cannot_stretch_banner_deadline(clock: trio.testing.MockClock) -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"220-")
        while True:  # an idle timer of 30 s would never fire
            await trio.sleep(1)
            await peer.send(b"x")

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.BANNER_TIMEOUT
    assert 30 <= probe.elapsed < 31


async def test_giant_banner_line_is_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"220 " + b"A" * 100_000 + b"\r\n")
        await trio.sleep_forever()

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.PROTOCOL_ERROR
    assert "longer than 4096" in probe.error
    assert probe.error.startswith("banner: ")


async def test_endless_ehlo_continuation_is_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"220 hi\r\n")
        await peer.line()
        while True:
            await peer.send(b"250-X\r\n" * 100)

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.PROTOCOL_ERROR
    assert probe.error == "ehlo: reply of more than 1000 lines"


async def test_multiline_banner_waits_for_final_line(clock: trio.testing.MockClock) -> None:
    peers: list[Peer] = []

    async def handler(peer: Peer) -> None:
        await peer.send(b"220-mx.example.test ESMTP\r\n")
        await peer.expect_quiet(6)
        await peer.send(b"220-still greeting\r\n")
        await peer.expect_quiet(6)
        await peer.send(b"220 ready\r\n")
        assert (await peer.line()).startswith(b"EHLO ")
        await peer.send(b"250 mx.example.test\r\n")
        assert await peer.line() == b"QUIT\r\n"

    probe = await run_probe(handler, peers=peers)
    assert probe.status is ProbeStatus.STARTTLS_MISSING
    assert probe.banner == "220-mx.example.test ESMTP\n220-still greeting\n220 ready"
    assert probe.elapsed >= 12


async def test_connection_refused() -> None:
    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    probe = await probe_address(HOST, "127.0.0.1", SNI, dataclasses.replace(CONFIG, port=port))
    assert probe.status is ProbeStatus.CONNECT_REFUSED
    assert probe.error.startswith("connect: ECONNREFUSED")


async def test_banner_4xx_is_rejected_with_backoff() -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"421-4.3.2 busy\r\n421 4.3.2 come back later\r\n")
        assert await peer.line() == b"QUIT\r\n"

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.BANNER_REJECTED
    assert backoff_advised(probe)
    assert probe.banner == "421-4.3.2 busy\n421 4.3.2 come back later"


async def test_banner_554_is_rejected_without_backoff() -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"554 no service\r\n")

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.BANNER_REJECTED
    assert not backoff_advised(probe)


async def test_ehlo_rejected() -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"220 hi\r\n")
        await peer.line()
        await peer.send(b"550 5.7.1 go away\r\n")

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.EHLO_FAILED
    assert probe.ehlo == ("550 5.7.1 go away",)
    assert probe.error == "ehlo: 550 5.7.1 go away"


async def test_close_after_banner_is_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.send(b"220 hi\r\n")
        await peer.line()
        await peer.stream.aclose()

    probe = await run_probe(handler)
    assert probe.status is ProbeStatus.PROTOCOL_ERROR
    assert probe.error == "ehlo: connection closed by the server"


async def test_total_deadline_caps_the_stages(clock: trio.testing.MockClock) -> None:
    async def handler(peer: Peer) -> None:
        await trio.sleep(25)
        await peer.send(b"220 slow\r\n")
        await trio.sleep_forever()

    config = dataclasses.replace(CONFIG, total_timeout=40)
    probe = await run_probe(handler, config)
    assert probe.status is ProbeStatus.EHLO_FAILED
    assert probe.error == "ehlo: timeout (the total probe deadline)"
    assert 40 <= probe.elapsed < 41


async def test_dual_certificate_server_gives_both_key_types(pki: Pki) -> None:
    sni_seen: list[str] = []
    ctx = pki.server_context(pki.rsa, pki.ecdsa, sni_seen=sni_seen)
    config = dataclasses.replace(CONFIG, key_variants=True)
    probe = await run_probe(starttls_server(ctx), config)
    assert probe.status is ProbeStatus.OK
    assert len(probe.handshakes) == 2
    default, alternate = probe.handshakes
    assert default.ok and alternate.ok, alternate.error
    kinds = {leaf_key_type(default.chain), leaf_key_type(alternate.chain)}
    assert kinds == {"rsa", "ecdsa"}
    assert alternate.variant == leaf_key_type(alternate.chain)
    assert alternate.version == "TLSv1.2"
    assert sni_seen == [SNI, SNI]
    expected = pki.rsa if alternate.variant == "rsa" else pki.ecdsa
    assert list(alternate.chain) == pki.der_chain(expected)


async def test_single_certificate_server_records_failed_alternate(pki: Pki) -> None:
    ctx = pki.server_context(pki.ecdsa, sni_seen=[])
    config = dataclasses.replace(CONFIG, key_variants=True)
    probe = await run_probe(starttls_server(ctx), config)
    assert probe.status is ProbeStatus.OK
    default, alternate = probe.handshakes
    assert default.ok and leaf_key_type(default.chain) == "ecdsa"
    assert alternate.variant == "rsa" and not alternate.ok
    assert alternate.error.startswith("tls: ")


async def test_ipv6_loopback(pki: Pki) -> None:
    ctx = pki.server_context(pki.rsa, sni_seen=[])
    probe = await run_probe(starttls_server(ctx), address="::1")
    assert probe.status is ProbeStatus.OK, probe.error
    assert probe.address == "::1"
    assert leaf_key_type(probe.handshakes[0].chain) == "rsa"


async def test_blocklisted_address_is_never_contacted() -> None:
    blocklist = Blocklist.from_lines(["127.0.0.0/8"])
    probe = await probe_address(HOST, "127.0.0.1", SNI, CONFIG, blocklist=blocklist)
    assert probe.status is ProbeStatus.SKIPPED


async def test_bugs_still_raise() -> None:
    with pytest.raises(ValueError):
        await probe_address(HOST, "not-an-address", SNI, CONFIG)


async def test_destination_limiter_caps_concurrency_and_cleans_up(
    clock: trio.testing.MockClock,
) -> None:
    limiter = DestinationLimiter(per_destination=2)
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def use(address: str) -> None:
        key = ipaddress.ip_address(address).compressed
        async with limiter.slot(address):
            active[key] = active.get(key, 0) + 1
            peak[key] = max(peak.get(key, 0), active[key])
            await trio.sleep(1)
            active[key] -= 1

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(use, "192.0.2.1")
            nursery.start_soon(use, "2001:db8::1")
            nursery.start_soon(use, "2001:DB8:0::1")  # the same address, spelt differently
    assert peak == {"192.0.2.1": 2, "2001:db8::1": 2}
    assert trio.current_time() >= 6  # 12 users of the IPv6 address, two at a time
    assert max(active.values()) == 0
    assert len(limiter) == 0


async def test_long_chain_is_capped_at_twenty_certificates() -> None:
    root = trustme.CA(path_length=40)
    ca = root
    for _ in range(24):
        ca = ca.create_child_ca()
    leaf = ca.issue_cert(HOST)
    assert len(leaf.cert_chain_pems) == 25
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    probe = await run_probe(starttls_server(ctx))
    assert probe.status is ProbeStatus.OK, probe.error
    chain = probe.handshakes[0].chain
    assert list(chain) == Pki.der_chain(leaf)[:20]
    assert probe.handshakes[0].error == "chain of 25 certificates, first 20 kept"


async def test_oversized_certificate_list_fails_tls() -> None:
    # ~3,000 names of 40 bytes: a certificate over OpenSSL's 100 KiB certificate-list limit.
    names = [f"host-{i:05d}-{'x' * 24}.example.test" for i in range(3000)]
    leaf = trustme.CA().issue_cert(HOST, *names)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    probe = await run_probe(starttls_server(ctx))
    assert probe.status is ProbeStatus.TLS_FAILED
    assert "EXCESSIVE_MESSAGE_SIZE" in probe.error.upper()


hostile_chunk = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [b"220 hi\r\n", b"220-", b"250-STARTTLS\r\n", b"250 ok\r\n", b"220 go\r\n", b"\x16\x03\x03"]
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    # pytest-trio runs each example in a fresh trio.run on this (autojumping) clock.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(hostile_chunk, max_size=6), st.booleans())
async def test_any_server_bytes_end_as_a_recorded_status(
    clock: trio.testing.MockClock, chunks: list[bytes], hang: bool
) -> None:
    async def handler(peer: Peer) -> None:
        for chunk in chunks:
            await peer.send(chunk)
            await trio.sleep(0.5)
        if hang:
            await trio.sleep_forever()

    probe = await run_probe(handler)
    assert isinstance(probe.status, ProbeStatus)
    assert probe.elapsed <= CONFIG.total_timeout + 1
    if probe.status is not ProbeStatus.OK:
        assert probe.error


def test_chain_shim_uses_public_api_on_313_and_caps() -> None:
    """Python 3.13+ spelling: SSLObject.get_unverified_chain() returning DER bytes."""

    class Public313:
        def get_unverified_chain(self) -> list[bytes]:
            return [bytes([i]) for i in range(30)]

    chain, presented = presented_chain(Public313())  # type: ignore[arg-type]
    assert presented == 30
    assert chain == tuple(bytes([i]) for i in range(20))


async def test_mapped_and_plain_ipv4_share_one_destination_slot() -> None:
    limiter = DestinationLimiter(per_destination=1)
    async with limiter.slot("127.66.0.7"):
        with trio.move_on_after(0.05) as scope:
            async with limiter.slot("::ffff:127.66.0.7"):
                pass
        assert scope.cancelled_caught  # the same server: the second waits
    assert len(limiter) == 0
