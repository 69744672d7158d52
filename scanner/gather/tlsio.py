"""TLS over ``ssl.MemoryBIO`` on a trio stream, keeping the whole presented chain.

Why not ``trio.SSLStream``: DANE-TA (RFC 7671 §5.2) may match *any* certificate
the server presents, so the probe must keep the entire chain as sent, leaf first.
Python 3.11/3.12 expose it only through the private
``SSLObject._sslobj.get_unverified_chain()`` (``_ssl.Certificate`` objects); 3.13
made it public as ``SSLObject.get_unverified_chain()`` (DER bytes). trio's
``SSLStream`` forwards neither, so this module drives an ``ssl.SSLObject`` over a
pair of memory BIOs itself; :func:`presented_chain` is the one shim for the two
spellings.

No certificate verification happens here (``CERT_NONE``, no hostname check): the
server's certificates are facts, judged later by the pure rules against the TLSA
records. SNI is the TLSA base domain (RFC 7672 §8.1).

Variants. Servers often hold an RSA and an ECDSA certificate and pick one per
client; DESIGN §4 rule 5 wants both examined. ``default`` is our normal offer
(TLS 1.2–1.3). ``rsa`` and ``ecdsa`` are alternates that pin TLS 1.2 and offer
only ECDHE cipher suites authenticated by that key type. The restriction has to
be by TLS 1.2 cipher suite: in TLS 1.3 the certificate type follows the
signature_algorithms extension, which Python's ``ssl`` cannot set (no
``set_sigalgs`` before 3.13, and none at all in 3.11). A server that speaks
TLS 1.3 only therefore shows its other certificate to no alternate: recorded as a
failed alternate handshake, which is the honest answer.

Limits (NOTES.md): the handshake has its deadline in the caller; here at most
:data:`MAX_HANDSHAKE_BYTES` are read during the handshake (OpenSSL refuses a
certificate list over 100 KiB anyway) and at most :data:`MAX_CHAIN` certificates
are kept.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import trio

VARIANTS: Final = ("default", "rsa", "ecdsa")
MAX_CHAIN: Final = 20  # certificates kept from the presented chain
MAX_HANDSHAKE_BYTES: Final = 512 * 1024  # read during one handshake before giving up
_RECV: Final = 16384

# OpenSSL cipher strings of the TLS 1.2-only alternates; eNULL excluded explicitly
# because "ECDHE+aRSA" alone also matches ECDHE-RSA-NULL-SHA.
_ALTERNATE_CIPHERS: Final = {
    "rsa": "ECDHE+aRSA:!eNULL:!aNULL",
    "ecdsa": "ECDHE+aECDSA:!eNULL:!aNULL",
}


class TlsError(Exception):
    """The handshake failed for a reason that is not an ``ssl.SSLError`` (size cap)."""


@cache
def client_context(variant: str) -> ssl.SSLContext:
    """The (shared, read-only after creation) client context of one variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown TLS variant {variant!r}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if variant != "default":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(_ALTERNATE_CIPHERS[variant])
    return ctx


def presented_chain(obj: ssl.SSLObject) -> tuple[tuple[bytes, ...], int]:
    """Every certificate the peer sent, DER, leaf first (at most MAX_CHAIN), and their count.

    The shim for 3.13+ (public, DER bytes) and 3.11/3.12 (private, Certificate objects).
    """
    public = getattr(obj, "get_unverified_chain", None)
    if public is not None:  # Python >= 3.13
        raw: list[Any] = public() or []
        return tuple(bytes(c) for c in raw[:MAX_CHAIN]), len(raw)
    inner: Any = obj._sslobj  # type: ignore[attr-defined]
    certs: list[Any] = inner.get_unverified_chain() or []
    encoding: int = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]
    return tuple(bytes(c.public_bytes(encoding)) for c in certs[:MAX_CHAIN]), len(certs)


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What a completed handshake agreed on."""

    version: str
    cipher: str
    chain: tuple[bytes, ...]  # at most MAX_CHAIN certificates
    presented: int  # how many the server sent


class TlsClient:
    """An ``ssl.SSLObject`` over memory BIOs, pumped through a trio stream.

    ``initial`` is what the server sent after its 220 to STARTTLS and before our
    ClientHello (normally nothing): it belongs to the TLS byte stream.
    """

    def __init__(
        self, stream: trio.abc.Stream, sni: str, variant: str, *, initial: bytes = b""
    ) -> None:
        self._stream = stream
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        server_hostname = sni.rstrip(".") or None
        self.obj = client_context(variant).wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_hostname
        )
        if initial:
            self._incoming.write(initial)
        self._received = len(initial)

    def chain(self) -> tuple[bytes, ...]:
        """Certificates received so far (also after a failed handshake, when any came)."""
        try:
            return presented_chain(self.obj)[0]
        except (ssl.SSLError, ValueError):
            return ()

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self._stream.send_all(data)

    async def _pull(self) -> None:
        data = await self._stream.receive_some(_RECV)
        if not data:
            self._incoming.write_eof()
        else:
            self._incoming.write(data)

    async def handshake(self) -> Negotiated:
        """Run the handshake; raises ssl.SSLError, TlsError or transport errors."""
        while True:
            try:
                self.obj.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                if self._received > MAX_HANDSHAKE_BYTES:
                    raise TlsError(
                        f"server sent over {MAX_HANDSHAKE_BYTES} bytes without completing"
                    ) from None
                before = self._incoming.pending
                await self._pull()
                self._received += self._incoming.pending - before
                continue
            except ssl.SSLError:
                # Send the alert OpenSSL queued, if the peer still listens; the
                # handshake error is what gets recorded either way.
                with contextlib.suppress(trio.BrokenResourceError, OSError):
                    await self._flush()
                raise
            await self._flush()
            break
        cipher = self.obj.cipher()
        chain, presented = presented_chain(self.obj)
        return Negotiated(
            version=self.obj.version() or "",
            cipher=cipher[0] if cipher else "",
            chain=chain,
            presented=presented,
        )

    async def send_all(self, data: bytes) -> None:
        """Encrypt and send application data."""
        self.obj.write(data)
        await self._flush()

    async def receive_some(self, max_bytes: int = _RECV) -> bytes:
        """Decrypted application data; b"" when the peer closed (cleanly or not)."""
        while True:
            try:
                return self.obj.read(max_bytes)
            except ssl.SSLWantReadError:
                await self._flush()  # TLS 1.3 may need to answer key updates
                await self._pull()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    async def close_notify(self) -> None:
        """Send our close_notify alert, best effort (we do not wait for the peer's)."""
        with contextlib.suppress(ssl.SSLWantReadError):
            self.obj.unwrap()
        await self._flush()
