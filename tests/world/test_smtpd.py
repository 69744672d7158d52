"""The world's SMTP server behaves as the catalog says, per host, and takes many connections."""

from __future__ import annotations

import re
import resource
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from scanner.world.info import WorldInfo

pytestmark = pytest.mark.world


def addr(world: WorldInfo, host: str, v6: bool = False) -> str:
    h = world.hosts[host]
    return (h.ipv6 if v6 else h.ipv4)[0]


@contextmanager
def connect(address: str, timeout: float = 5.0) -> Iterator[socket.socket]:
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.create_connection((address, 25), timeout=timeout) as s:
        assert s.family == fam
        yield s


def read_reply(s: socket.socket, limit: int = 1 << 22) -> str:
    """Read one whole (multi-line) reply."""
    buf = b""
    while len(buf) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        lines = buf.split(b"\r\n")
        if len(lines) > 1 and any(len(ln) >= 4 and ln[3:4] == b" " for ln in lines[:-1]):
            break
    return buf.decode(errors="replace")


def command(s: socket.socket, line: str) -> str:
    s.sendall(line.encode() + b"\r\n")
    return read_reply(s)


def starttls(
    world: WorldInfo, host: str, ctx: ssl.SSLContext | None = None, v6: bool = False
) -> bytes:
    """EHLO, STARTTLS, handshake; return the leaf certificate (DER)."""
    if ctx is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with connect(addr(world, host, v6)) as s:
        assert read_reply(s).startswith("220 ")
        assert "STARTTLS" in command(s, "EHLO probe.test")
        assert command(s, "STARTTLS").startswith("220 ")
        with ctx.wrap_socket(s, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            tls.sendall(b"EHLO probe.test\r\n")
            assert "STARTTLS" not in read_reply(tls)
            tls.sendall(b"MAIL FROM:<a@b.test>\r\n")
            assert read_reply(tls).startswith("554")
            return der


def leaf(world: WorldInfo, host: str, kind: str) -> bytes:
    pem = (Path(world.dir) / "certs" / f"{host}.{kind}.crt").read_bytes()
    return x509.load_pem_x509_certificates(pem)[0].public_bytes(serialization.Encoding.DER)


def test_normal_starttls_presents_the_hosts_certificate_v4_and_v6(world: WorldInfo) -> None:
    assert starttls(world, "mx.ee-311.com") == leaf(world, "mx.ee-311.com", "ecdsa")
    assert starttls(world, "mx.ee-311.com", v6=True) == leaf(world, "mx.ee-311.com", "ecdsa")


def test_dual_certificates_are_chosen_by_the_client_offer(world: WorldInfo) -> None:
    host = "mx.dual-both.com"
    for kind, suite in (
        ("ecdsa", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        ("rsa", "ECDHE-RSA-AES128-GCM-SHA256"),
    ):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(suite)
        assert starttls(world, host, ctx) == leaf(world, host, kind)
    # a default (TLS 1.3) client gets the ECDSA one
    assert starttls(world, host) == leaf(world, host, "ecdsa")


def test_no_starttls_and_454(world: WorldInfo) -> None:
    with connect(addr(world, "mx.no-starttls.com")) as s:
        read_reply(s)
        assert "STARTTLS" not in command(s, "EHLO probe.test")
        assert command(s, "STARTTLS").startswith("500")
    with connect(addr(world, "mx.starttls-454.net")) as s:
        read_reply(s)
        assert "STARTTLS" in command(s, "EHLO probe.test")
        assert command(s, "STARTTLS").startswith("454")


def test_tls_failure_and_huge_chain_break_the_handshake(world: WorldInfo) -> None:
    for host in ("mx.tls-fail.org", "mx.huge-chain.com"):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            starttls(world, host)


def test_refused_tarpit_and_554(world: WorldInfo) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((addr(world, "mx.refused.se"), 25), timeout=2)
    with connect(addr(world, "mx.tarpit.nl"), timeout=1.0) as s, pytest.raises(TimeoutError):
        s.recv(1)
    with connect(addr(world, "mx.banner-554.net")) as s:
        assert read_reply(s).startswith("554 ")


def test_giant_banner_and_endless_ehlo(world: WorldInfo) -> None:
    with connect(addr(world, "mx2.hostile-banner.se")) as s:
        banner = read_reply(s, limit=4 << 20)
        assert len(banner) > 1 << 20 and banner.splitlines()[-1].startswith("220 ")
    with connect(addr(world, "mx2.hostile-ehlo.nl")) as s:
        read_reply(s)
        s.sendall(b"EHLO probe.test\r\n")
        got = 0
        while got < 2 << 20:
            chunk = s.recv(65536)
            assert chunk and b"\r\n250 " not in chunk
            got += len(chunk)


def test_slow_banner_drops_early_talkers(world: WorldInfo) -> None:
    address = addr(world, "mx.slow-banner.org")
    with connect(address) as s:
        s.sendall(b"EHLO too.early\r\n")
        time.sleep(0.2)
        reply = b""
        while not re.search(rb"(^|\r\n)521 [^\r]*\r\n", reply):
            chunk = s.recv(4096)
            assert chunk, reply
            reply += chunk
        assert b"521 " in reply and b"\r\n220 " not in reply
    started = time.monotonic()
    with connect(address) as s:
        banner = read_reply(s)
        assert banner.startswith("220-") and "\r\n220 " in banner
        assert time.monotonic() - started > 1.5
        assert "STARTTLS" in command(s, "EHLO patient.test")


async def test_thousands_of_concurrent_connections(world: WorldInfo) -> None:
    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n + 100:
        pytest.skip(f"file descriptor limit {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    address = addr(world, "mx1.dane-mail.net")
    greeted = 0

    async def one() -> None:
        nonlocal greeted
        stream = await trio.open_tcp_stream(address, 25)
        async with stream:
            data = b""
            while not data.endswith(b"\r\n"):
                data += await stream.receive_some(512)
            if data.startswith(b"220 "):
                greeted += 1
            await trio.sleep(1)  # hold them all open at once

    async def main() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(one)

    try:
        await main()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert greeted == n
