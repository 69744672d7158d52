"""The SMTP STARTTLS probe of one address of one MX host (DESIGN §4 rule 4), on trio.

One probe is: TCP connect → wait for the *final* ``220 `` greeting line → ``EHLO``
→ ``STARTTLS`` if advertised → TLS handshake with SNI = the TLSA base domain,
keeping every certificate presented → ``QUIT`` → close. No mail is ever sent.

Every stage runs under its own deadline (a cancel scope), capped by the probe's
total deadline, so a partial result says which stage ran out; a deadline is for
the whole stage, never an idle timer, so a server dripping one byte at a time
cannot stretch it (NOTES.md, "Hostile peers"). The dialogue itself is the sans-IO
``scanner.core.smtp``; TLS is ``scanner.gather.tlsio``.

Expected failures are values: whatever a server does (refuse, stall, reset,
babble, reject, fail TLS) ends as an :class:`~scanner.core.model.SmtpProbe` with a
:class:`~scanner.core.model.ProbeStatus` and an ``error`` detail. :func:`_classify` is
the one place where low-level exceptions become that taxonomy; anything it does
not know (a ``KeyError``, a ``TypeError``: our bugs) propagates.

When the default handshake succeeds and ``ProbeConfig.key_variants`` is on, one
more connection asks for the certificate of the *other* key type (RSA leaf →
``ecdsa`` alternate, ECDSA leaf → ``rsa``; another key type → no alternate), so a
TLSA set matching only one of a server's two certificates is found (DESIGN §4
rule 5). Its handshake is appended to ``SmtpProbe.handshakes``; its failure does
not change the probe's status.

Timeout taxonomy (``ProbeStatus`` has no EHLO/STARTTLS timeout members): connect
→ ``connect_timeout``; greeting → ``banner_timeout``; EHLO reply → ``ehlo_failed``;
STARTTLS reply or handshake → ``tls_failed``; the ``error`` text names the stage.
A 4xx reply (greeting, EHLO, STARTTLS) is a request to come back later: its
``error`` starts with ``"4xx "`` and :func:`backoff_advised` says so to the crawler.

Good-citizen helpers shared by the crawler: :class:`DestinationLimiter` (at most
one or two connections at a time per IP) and ``scanner.core.blocklist.Blocklist``.
"""

from __future__ import annotations

import errno
import ipaddress
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import trio
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scanner.core.blocklist import Blocklist, canonical_address
from scanner.core.model import ProbeStatus, SmtpProbe, TlsHandshake
from scanner.core.smtp import (
    CLOSED,
    ClientDialogue,
    Finish,
    ProtocolError,
    Reply,
    Send,
    StartTls,
)
from scanner.gather.tlsio import TlsClient, TlsError

_RECV: Final = 16384


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeConfig:
    """Knobs of one probe; all times in seconds (defaults: NOTES.md, "Hostile peers")."""

    port: int = 25
    # A scan should set a name with forward-confirmed reverse DNS for its source address.
    ehlo_name: str = "danescan.invalid"
    connect_timeout: float = 10.0
    banner_timeout: float = 30.0  # for the whole greeting, up to its final "220 " line
    ehlo_timeout: float = 30.0
    starttls_timeout: float = 30.0
    tls_timeout: float = 20.0
    quit_timeout: float = 5.0  # best effort, after the outcome is known
    total_timeout: float = 90.0  # the whole probe, alternate handshake included
    key_variants: bool = True  # one more connection for the other key type's certificate

    def __post_init__(self) -> None:
        name = self.ehlo_name
        if not name or not name.isascii() or any(c.isspace() for c in name):
            raise ValueError(f"ehlo_name must be one ASCII word, got {name!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"bad port {self.port}")


# --------------------------------------------------------------------------- failures


class _StageTimeout(Exception):
    def __init__(self, stage: str, seconds: float, total: bool) -> None:
        super().__init__(stage)
        self.stage = stage
        self.seconds = seconds
        self.total = total


class _Closed(Exception):
    """The server closed the connection where a reply was due."""


# The exceptions a server can cause; everything else is a bug and propagates.
_SERVER_TROUBLE: Final = (
    _StageTimeout,
    _Closed,
    ProtocolError,
    TlsError,
    ssl.SSLError,
    OSError,
    trio.BrokenResourceError,
)

_TIMEOUT_STATUS: Final = {
    "connect": ProbeStatus.CONNECT_TIMEOUT,
    "banner": ProbeStatus.BANNER_TIMEOUT,
    "ehlo": ProbeStatus.EHLO_FAILED,
    "starttls": ProbeStatus.TLS_FAILED,
    "tls": ProbeStatus.TLS_FAILED,
}


def _os_detail(exc: BaseException) -> str:
    while isinstance(exc, trio.BrokenResourceError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        return f"{name} {exc.strerror or ''}".strip()
    return str(exc) or type(exc).__name__


def _classify(stage: str, exc: BaseException) -> tuple[ProbeStatus, str]:
    """Map a low-level exception in ``stage`` to the probe taxonomy (the one place)."""
    if isinstance(exc, _StageTimeout):
        limit = "the total probe deadline" if exc.total else f"{exc.seconds:g} s"
        return _TIMEOUT_STATUS[exc.stage], f"{exc.stage}: timeout ({limit})"
    if isinstance(exc, ProtocolError):
        return ProbeStatus.PROTOCOL_ERROR, f"{stage}: {exc.reason}"
    if stage == "tls":
        if isinstance(exc, ssl.SSLError):
            return ProbeStatus.TLS_FAILED, f"tls: {exc.reason or exc}"
        if isinstance(exc, _Closed):
            return ProbeStatus.TLS_FAILED, "tls: connection closed during the handshake"
        return ProbeStatus.TLS_FAILED, f"tls: {_os_detail(exc)}"
    if isinstance(exc, _Closed):
        return ProbeStatus.PROTOCOL_ERROR, f"{stage}: connection closed by the server"
    if stage == "connect":
        if isinstance(exc, ConnectionRefusedError):
            return ProbeStatus.CONNECT_REFUSED, f"connect: {_os_detail(exc)}"
        return ProbeStatus.CONNECT_ERROR, f"connect: {_os_detail(exc)}"
    if isinstance(exc, OSError | trio.BrokenResourceError):
        return ProbeStatus.CONNECT_ERROR, f"{stage}: {_os_detail(exc)}"
    raise TypeError(f"unclassified exception {exc!r}")  # pragma: no cover


@contextmanager
def _stage(name: str, seconds: float, total_deadline: float) -> Iterator[None]:
    """Run the body under min(now + seconds, total deadline); raise _StageTimeout."""
    own = trio.current_time() + seconds
    deadline = min(own, total_deadline)
    with trio.CancelScope(deadline=deadline) as scope:
        yield
    if scope.cancelled_caught:
        raise _StageTimeout(name, seconds, total=total_deadline < own)


# --------------------------------------------------------------------------- sessions


@dataclass(slots=True)
class _Session:
    """One connection's outcome: the dialogue's transcript plus what TLS gave."""

    dialogue: ClientDialogue
    status: ProbeStatus = ProbeStatus.OK
    error: str = ""
    handshake: TlsHandshake | None = None


async def _connect(address: str, port: int) -> trio.SocketStream:
    ip = ipaddress.ip_address(address)  # ValueError: the caller passed a non-address
    family = trio.socket.AF_INET6 if ip.version == 6 else trio.socket.AF_INET
    sock = trio.socket.socket(family, trio.socket.SOCK_STREAM)
    try:
        await sock.connect((str(ip), port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


async def _read_reply(stream: trio.abc.Stream | TlsClient, dialogue: ClientDialogue) -> Reply:
    while True:
        event = dialogue.next_event()
        if isinstance(event, Reply):
            return event
        if event is CLOSED:
            raise _Closed
        data = await stream.receive_some(_RECV)
        if data:
            dialogue.receive_data(data)
        else:
            dialogue.receive_eof()


async def _quit(
    stream: trio.abc.Stream | TlsClient, dialogue: ClientDialogue, seconds: float
) -> None:
    """Say QUIT and wait briefly for the 221; nothing that happens here matters."""
    with trio.move_on_after(seconds):
        try:
            await stream.send_all(b"QUIT\r\n")
            await _read_reply(stream, dialogue)
        except _SERVER_TROUBLE:
            pass


async def _session(
    address: str, sni: str, variant: str, config: ProbeConfig, total_deadline: float
) -> _Session:
    session = _Session(ClientDialogue(config.ehlo_name))
    dialogue = session.dialogue
    stream: trio.SocketStream | None = None
    where = "connect"
    try:
        with _stage("connect", config.connect_timeout, total_deadline):
            stream = await _connect(address, config.port)
        # The greeting: nothing is sent before its final line (postscreen).
        where = "banner"
        with _stage("banner", config.banner_timeout, total_deadline):
            reply = await _read_reply(stream, dialogue)
        action = dialogue.handle_reply(reply)
        while isinstance(action, Send):
            where = dialogue.stage.value
            timeout = config.ehlo_timeout if where == "ehlo" else config.starttls_timeout
            with _stage(where, timeout, total_deadline):
                await stream.send_all(action.data)
                reply = await _read_reply(stream, dialogue)
            action = dialogue.handle_reply(reply)
        if isinstance(action, Finish):
            session.status, session.error = action.status, action.error
            await _quit(stream, dialogue, min(config.quit_timeout, _left(total_deadline)))
            return session
        assert isinstance(action, StartTls)
        where = "tls"
        tls = TlsClient(stream, sni, variant, initial=dialogue.parser.take_leftover())
        try:
            with _stage("tls", config.tls_timeout, total_deadline):
                negotiated = await tls.handshake()
        except _SERVER_TROUBLE as exc:
            status, error = _classify(where, exc)
            session.status, session.error = status, error
            session.handshake = TlsHandshake(variant, ok=False, chain=tls.chain(), error=error)
            return session
        session.handshake = TlsHandshake(
            variant,
            ok=True,
            version=negotiated.version,
            cipher=negotiated.cipher,
            chain=negotiated.chain,
            error=(
                f"chain of {negotiated.presented} certificates, first {len(negotiated.chain)} kept"
                if negotiated.presented > len(negotiated.chain)
                else ""
            ),
        )
        dialogue.tls_established()
        with trio.move_on_after(min(config.quit_timeout, _left(total_deadline))):
            await _quit(tls, dialogue, config.quit_timeout)
            with suppress(*_SERVER_TROUBLE):
                await tls.close_notify()
        return session
    except _SERVER_TROUBLE as exc:
        session.status, session.error = _classify(where, exc)
        return session
    finally:
        if stream is not None:
            await trio.aclose_forcefully(stream)


def _left(deadline: float) -> float:
    return max(0.0, deadline - trio.current_time())


def leaf_key_type(chain: tuple[bytes, ...]) -> str | None:
    """Key type of the leaf: "rsa", "ecdsa", or None (other key types, garbage)."""
    if not chain:
        return None
    try:
        key = x509.load_der_x509_certificate(chain[0]).public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa"
    return None


_OTHER: Final = {"rsa": "ecdsa", "ecdsa": "rsa"}


# --------------------------------------------------------------------------- probe


async def probe_address(
    host: str,
    address: str,
    sni: str,
    config: ProbeConfig,
    *,
    limiter: DestinationLimiter | None = None,
    blocklist: Blocklist | None = None,
    now: Callable[[], float] = time.time,
) -> SmtpProbe:
    """Probe one address of MX ``host`` (IPv4 or IPv6 literal); never raises for the server.

    ``sni`` is the TLSA base domain sent as SNI (empty: no SNI). ``limiter`` caps
    connections per address (waiting for a slot happens before the deadlines
    start). ``blocklist`` turns a blocked address or host name into ``skipped``
    without contact. ``now`` is the wall clock stamped as ``started_at``.
    """
    if blocklist is not None and (
        blocklist.blocks_address(address) or blocklist.blocks_domain(host)
    ):
        return SmtpProbe(
            host, address, sni, ProbeStatus.SKIPPED, error="blocklisted", started_at=now()
        )
    if limiter is None:
        return await _probe(host, address, sni, config, now)
    async with limiter.slot(address):
        return await _probe(host, address, sni, config, now)


async def _probe(
    host: str, address: str, sni: str, config: ProbeConfig, now: Callable[[], float]
) -> SmtpProbe:
    started_at = now()
    t0 = trio.current_time()
    total_deadline = t0 + config.total_timeout
    first = await _session(address, sni, "default", config, total_deadline)
    d = first.dialogue
    handshakes: list[TlsHandshake] = [first.handshake] if first.handshake else []
    if first.status is ProbeStatus.OK and first.handshake and config.key_variants:
        kind = leaf_key_type(first.handshake.chain)
        if kind is not None:
            variant = _OTHER[kind]
            alt = await _session(address, sni, variant, config, total_deadline)
            if alt.handshake is not None:
                handshakes.append(alt.handshake)
            else:
                handshakes.append(
                    TlsHandshake(variant, ok=False, error=f"{alt.status.value}: {alt.error}")
                )
    return SmtpProbe(
        host=host,
        address=address,
        sni=sni,
        status=first.status,
        banner=d.banner,
        ehlo=d.ehlo,
        starttls_offered=d.starttls_offered,
        starttls_reply=d.starttls_reply,
        handshakes=tuple(handshakes),
        error=first.error,
        started_at=started_at,
        elapsed=trio.current_time() - t0,
    )


def backoff_advised(probe: SmtpProbe) -> bool:
    """True when the server answered 4xx (greeting, EHLO or STARTTLS): try later."""
    return probe.error.startswith("4xx ")


# --------------------------------------------------------------------------- limits


class DestinationLimiter:
    """At most ``per_destination`` concurrent probes per IP address, shared by a scan.

    ``async with limiter.slot(address): ...``. Entries are removed when their last
    user leaves, so memory follows the number of addresses in use, not seen.
    """

    def __init__(self, per_destination: int = 1) -> None:
        if per_destination < 1:
            raise ValueError("per_destination must be at least 1")
        self.per_destination = per_destination
        self._entries: dict[str, _Entry] = {}

    def slot(self, address: str) -> _Slot:
        return _Slot(self, canonical_address(address))

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class _Entry:
    semaphore: trio.Semaphore
    users: int = 0


class _Slot:
    def __init__(self, limiter: DestinationLimiter, key: str) -> None:
        self._limiter = limiter
        self._key = key

    async def __aenter__(self) -> None:
        entries = self._limiter._entries
        entry = entries.get(self._key)
        if entry is None:
            entry = entries[self._key] = _Entry(trio.Semaphore(self._limiter.per_destination))
        entry.users += 1
        try:
            await entry.semaphore.acquire()
        except BaseException:
            self._leave(entry)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry = self._limiter._entries[self._key]
        entry.semaphore.release()
        self._leave(entry)

    def _leave(self, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._limiter._entries[self._key]


__all__ = [
    "DestinationLimiter",
    "ProbeConfig",
    "backoff_advised",
    "leaf_key_type",
    "probe_address",
]
