"""Sans-IO SMTP client dialogue for the STARTTLS probe (DESIGN §4 rule 4).

Theory of operation, in the manner of h11: this module never touches a socket, a
clock or the event loop. The I/O layer (``scanner.gather.probe``) feeds it the bytes the
server sent (``receive_data`` / ``receive_eof``), pulls events out of it
(``next_event`` returns a :class:`Reply`, :data:`NEED_DATA` or :data:`CLOSED`), and
asks :meth:`ClientDialogue.handle_reply` what to do next: send these bytes, start
TLS now, or stop with this :class:`~scanner.core.model.ProbeStatus`.

Replies (RFC 5321 §4.2): every line is a three-digit code followed by ``-`` (more
lines follow), a space or nothing (the last line). Real servers end lines with
CRLF; some with a bare LF, which we accept (Postfix's client does too). A bare CR
is text. The reply's code is the code of its *last* line: RFC 5321 requires every
line to carry the same code, and a server that does not is recorded (the whole
transcript is kept) rather than refused, because this is a measurement, not a
mail transfer.

Limits (NOTES.md, "Hostile peers"): a line over 4 KiB, a reply over 64 KiB or over
1,000 lines is a :class:`ProtocolError`; the parser detects an oversized line
before its end arrives, so a server dripping an endless line cannot make us buffer
it. ``ProtocolError`` is the only exception this module raises for anything a
server sends; once raised, the parser stays failed.

The dialogue is banner → EHLO → STARTTLS → (TLS, driven by the I/O layer) → QUIT.
It never sends ``MAIL FROM``: no mail is ever sent. The greeting is awaited in
full (the *final* ``220 `` line) before anything is written, because Postfix's
postscreen and similar pre-greeting tests drop clients that talk early.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from scanner.core.model import ProbeStatus

MAX_LINE: Final = 4096  # bytes in one reply line, terminator excluded
MAX_REPLY: Final = 65536  # bytes in one reply, terminators included
MAX_LINES: Final = 1000  # lines in one reply


class ProtocolError(Exception):
    """The server sent something that is not an acceptable SMTP reply.

    ``reason`` is a short text for the person reading the probe's ``error``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"
    CLOSED = "CLOSED"


NEED_DATA: Final = _Sentinel.NEED_DATA  # more bytes needed to complete a reply
CLOSED: Final = _Sentinel.CLOSED  # the server closed cleanly between replies


@dataclass(frozen=True, slots=True)
class Reply:
    """One complete SMTP reply: its code and every line as received (code included)."""

    code: int
    lines: tuple[str, ...]

    @property
    def texts(self) -> tuple[str, ...]:
        """The text of each line, without the code and separator."""
        return tuple(line[4:] for line in self.lines)

    @property
    def text(self) -> str:
        """The whole reply on one line, for error details."""
        return " / ".join(self.lines)

    @property
    def klass(self) -> int:
        """The first digit: 2 success, 3 intermediate, 4 transient, 5 permanent."""
        return self.code // 100


Event = Reply | _Sentinel


def _decode(raw: bytes) -> str:
    # Servers send 8-bit junk in greetings now and then; keep it visible, never fail on it.
    return raw.decode("utf-8", errors="replace")


class ReplyParser:
    """Incremental SMTP reply parser: ``feed`` bytes, pull ``next_event`` until NEED_DATA."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._lines: list[str] = []
        self._reply_bytes = 0
        self._eof = False
        self._error: ProtocolError | None = None

    # ---------------------------------------------------------------- input

    def feed(self, data: bytes | bytearray) -> None:
        """Add bytes received from the server (an empty ``data`` is a no-op)."""
        if self._eof and data:
            raise RuntimeError("data fed after EOF")  # our bug, not the server's
        self._buf += data

    def feed_eof(self) -> None:
        """The server closed its side of the connection."""
        self._eof = True

    def take_leftover(self) -> bytes:
        """Bytes received after the last complete reply (handed to TLS after STARTTLS)."""
        if self._lines:
            raise RuntimeError("take_leftover in the middle of a reply")
        out = bytes(self._buf)
        self._buf.clear()
        return out

    # ---------------------------------------------------------------- output

    def next_event(self) -> Event:
        """The next complete reply, NEED_DATA, or CLOSED; raises ProtocolError."""
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except ProtocolError as exc:
            self._error = exc
            raise

    def events(self, data: bytes) -> list[Reply]:
        """Convenience: feed ``data`` and return every reply it completes."""
        self.feed(data)
        out: list[Reply] = []
        while isinstance(ev := self.next_event(), Reply):
            out.append(ev)
        return out

    def _next_event(self) -> Event:
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                # + 1: the CR of a CRLF may wait for its LF.
                if len(self._buf) > MAX_LINE + 1:
                    raise ProtocolError(f"reply line longer than {MAX_LINE} bytes")
                if self._eof:
                    if self._buf or self._lines:
                        raise ProtocolError("connection closed in the middle of a reply")
                    return CLOSED
                return NEED_DATA
            raw = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            self._reply_bytes += nl + 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > MAX_LINE:
                raise ProtocolError(f"reply line longer than {MAX_LINE} bytes")
            if self._reply_bytes > MAX_REPLY:
                raise ProtocolError(f"reply longer than {MAX_REPLY} bytes")
            if len(self._lines) >= MAX_LINES:
                raise ProtocolError(f"reply of more than {MAX_LINES} lines")
            final = self._check_line(raw)
            self._lines.append(_decode(raw))
            if final:
                lines = tuple(self._lines)
                self._lines.clear()
                self._reply_bytes = 0
                return Reply(int(lines[-1][:3]), lines)

    @staticmethod
    def _check_line(raw: bytes) -> bool:
        """Validate one line's code and separator; True when it ends the reply."""
        if not (
            len(raw) >= 3
            and raw[0:1] in (b"2", b"3", b"4", b"5")
            and raw[1:2].isdigit()
            and raw[2:3].isdigit()
        ):
            shown = _decode(raw[:40])
            raise ProtocolError(f"not an SMTP reply line: {shown!r}")
        sep = raw[3:4]
        if sep == b"-":
            return False
        if sep in (b" ", b""):
            return True
        raise ProtocolError(f"bad separator after reply code: {_decode(raw[:40])!r}")


# ------------------------------------------------------------------------ EHLO


def ehlo_keywords(reply: Reply) -> frozenset[str]:
    """The upper-cased extension keywords of a 250 EHLO reply (RFC 5321 §4.1.1.1).

    The first line is the server's greeting (its name), not an extension.
    """
    out: set[str] = set()
    for text in reply.texts[1:]:
        words = text.split()
        if words:
            out.add(words[0].upper())
    return frozenset(out)


def offers_starttls(reply: Reply) -> bool:
    """True when the EHLO reply advertises STARTTLS (keywords are case-insensitive)."""
    return reply.code == 250 and "STARTTLS" in ehlo_keywords(reply)


# ------------------------------------------------------------------------ dialogue


class Stage(enum.Enum):
    """Where the dialogue is: what the client is waiting for."""

    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    TLS = "tls"  # the I/O layer runs the handshake
    QUIT = "quit"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` to the server, then wait for the next reply."""

    data: bytes


@dataclass(frozen=True, slots=True)
class StartTls:
    """The server said 220 to STARTTLS: run the TLS handshake now."""


@dataclass(frozen=True, slots=True)
class Finish:
    """Stop the dialogue with ``status``; send ``quit`` (if not None) first, best effort."""

    status: ProbeStatus
    error: str
    quit: bytes | None
    transient: bool = False  # a 4xx reply: the server asks us to come back later


Action = Send | StartTls | Finish

QUIT: Final = b"QUIT\r\n"


def _clip(text: str, limit: int = 512) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class ClientDialogue:
    """The probe's side of banner → EHLO → STARTTLS → TLS → QUIT, with its transcript.

    The transcript attributes (``banner``, ``ehlo``, ``starttls_offered``,
    ``starttls_reply``) are filled in as replies arrive and map one to one onto
    :class:`~scanner.core.model.SmtpProbe`.
    """

    def __init__(self, ehlo_name: str) -> None:
        if not ehlo_name or any(c.isspace() for c in ehlo_name) or not ehlo_name.isascii():
            raise ValueError(f"EHLO name must be one ASCII word, got {ehlo_name!r}")
        self.ehlo_name = ehlo_name
        self.stage = Stage.BANNER
        self.parser = ReplyParser()
        self.banner = ""
        self.ehlo: tuple[str, ...] = ()
        self.starttls_offered = False
        self.starttls_reply = ""

    def receive_data(self, data: bytes | bytearray) -> None:
        self.parser.feed(data)

    def receive_eof(self) -> None:
        self.parser.feed_eof()

    def next_event(self) -> Event:
        return self.parser.next_event()

    def handle_reply(self, reply: Reply) -> Action:
        """Record ``reply`` and say what to do next."""
        stage = self.stage
        if stage is Stage.BANNER:
            self.banner = "\n".join(reply.lines)
            if reply.code == 220:
                return self._send(Stage.EHLO, f"EHLO {self.ehlo_name}\r\n".encode("ascii"))
            if reply.klass in (4, 5):
                return self._finish(ProbeStatus.BANNER_REJECTED, "banner", reply)
            return self._finish(ProbeStatus.PROTOCOL_ERROR, "banner: unexpected code", reply)
        if stage is Stage.EHLO:
            self.ehlo = reply.lines
            if reply.code == 250:
                self.starttls_offered = offers_starttls(reply)
                if self.starttls_offered:
                    return self._send(Stage.STARTTLS, b"STARTTLS\r\n")
                self.stage = Stage.QUIT
                return Finish(ProbeStatus.STARTTLS_MISSING, "ehlo: STARTTLS not advertised", QUIT)
            return self._finish(ProbeStatus.EHLO_FAILED, "ehlo", reply)
        if stage is Stage.STARTTLS:
            self.starttls_reply = "\n".join(reply.lines)
            if reply.code == 220:
                self.stage = Stage.TLS
                return StartTls()
            return self._finish(ProbeStatus.STARTTLS_REJECTED, "starttls", reply)
        raise RuntimeError(f"no reply expected in stage {stage.value}")

    def tls_established(self) -> bytes:
        """After a successful handshake: the (to be encrypted) QUIT to send.

        RFC 3207 §4.2: everything learnt before TLS is forgotten; the parser starts afresh.
        """
        if self.stage is not Stage.TLS:
            raise RuntimeError("tls_established outside the TLS stage")
        self.parser = ReplyParser()
        self.stage = Stage.QUIT
        return QUIT

    def _send(self, stage: Stage, data: bytes) -> Send:
        self.stage = stage
        return Send(data)

    def _finish(self, status: ProbeStatus, what: str, reply: Reply) -> Finish:
        self.stage = Stage.QUIT
        transient = reply.klass == 4
        # "4xx" leads the detail so that both people and the crawler see a back-off request.
        prefix = "4xx " if transient else ""
        return Finish(status, f"{prefix}{what}: {_clip(reply.text)}", QUIT, transient)
