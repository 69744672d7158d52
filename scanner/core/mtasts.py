"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) texts: the TXT records and the policy body.

Pure parsing, no I/O: the gatherer fetches, these functions read what was fetched.
Every parser returns a value or a short error text (an observation for the scan's
``policy_error``), never raises on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from scanner.core.certs import name_matches

MAX_POLICY_BYTES: Final = 64 * 1024  # RFC 8461 §3.3: senders may limit the body to 64 KiB
MAX_AGE_LIMIT: Final = 31_557_600  # RFC 8461 §3.2: at most one year
MODES: Final = frozenset({"enforce", "testing", "none"})
WELL_KNOWN_PATH: Final = "/.well-known/mta-sts.txt"

_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_DIGITS = re.compile(r"[0-9]{1,10}")


def txt_text(record: str) -> str:
    """One TXT record in presentation form (``"a" "b"``) as its joined text."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', record)
    return "".join(parts) if parts else record


@dataclass(frozen=True, slots=True)
class StsRecord:
    """The ``_mta-sts`` TXT record (RFC 8461 §3.1)."""

    id: str


def sts_record(records: Sequence[str]) -> StsRecord | str | None:
    """The domain's one MTA-STS record, an error text, or None when none is published.

    RFC 8461 §3.1: records that do not begin with ``v=STSv1;`` are discarded; if the
    number left is not one, or that one is invalid, the domain has no usable policy
    (returned as an error text, since the owner meant to publish one).
    """
    texts = [txt_text(r) for r in records]
    candidates = [t for t in texts if t.startswith("v=STSv1;") or t == "v=STSv1"]
    if not candidates:
        return None
    if len(candidates) > 1:
        return f"{len(candidates)} v=STSv1 TXT records (exactly one allowed)"
    fields: dict[str, str] = {}
    for part in candidates[0].split(";"):
        key, sep, value = part.strip().partition("=")
        if not part.strip():
            continue
        if not sep:
            return f"malformed TXT field {part.strip()!r}"
        fields.setdefault(key.strip(), value.strip())
    policy_id = fields.get("id")
    if policy_id is None or not _ID.fullmatch(policy_id):
        return "TXT record without a valid id (1-32 letters and digits)"
    return StsRecord(id=policy_id)


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy body (RFC 8461 §3.2)."""

    mode: str
    max_age: int
    mx: tuple[str, ...]


def parse_policy(body: bytes) -> Policy | str:
    """The policy in ``body``, or why it is not one.

    Lines may end in CRLF or a bare LF (the RFC's ABNF allows both; errata 6253).
    Unknown keys are ignored; for a key given twice (other than ``mx``) the first
    counts, as in RFC 8461's reference implementations. ``mx`` may be absent only in
    mode ``none``, which tells senders to drop the policy anyway.
    """
    if len(body) > MAX_POLICY_BYTES:
        return f"policy body over {MAX_POLICY_BYTES} bytes"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "policy body is not UTF-8 text"
    fields: dict[str, str] = {}
    mx: list[str] = []
    for raw in text.split("\n"):
        line = raw.rstrip("\r").strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            return f"malformed policy line {line[:60]!r}"
        key, value = key.strip(), value.strip()
        if key == "mx":
            mx.append(value.lower().rstrip("."))
        else:
            fields.setdefault(key, value)
    if fields.get("version") != "STSv1":
        return "policy without 'version: STSv1'"
    mode = fields.get("mode")
    if mode not in MODES:
        return f"policy mode {mode!r} is not enforce, testing or none"
    max_age_text = fields.get("max_age", "")
    if not _DIGITS.fullmatch(max_age_text) or int(max_age_text) > MAX_AGE_LIMIT:
        return f"policy max_age {max_age_text!r} is not 0..{MAX_AGE_LIMIT}"
    if not mx and mode != "none":
        return "policy without mx patterns"
    return Policy(mode=mode, max_age=int(max_age_text), mx=tuple(mx))


def mx_covered(patterns: Sequence[str], host: str) -> bool:
    """RFC 8461 §4.1: an ``mx`` pattern equals the host, or ``*.`` stands for one label."""
    return any(name_matches(p, host) for p in patterns)


def tlsrpt_rua(records: Sequence[str]) -> str:
    """The ``rua`` of the one ``v=TLSRPTv1`` record (RFC 8460 §3), else ""."""
    texts = [txt_text(r) for r in records]
    reports = [t for t in texts if t.startswith("v=TLSRPTv1")]
    if len(reports) != 1:
        return ""
    for part in reports[0].split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip() == "rua":
            return value.strip()
    return ""


def has_tlsrpt(records: Sequence[str]) -> bool:
    """Whether exactly one ``v=TLSRPTv1`` record with a ``rua`` is published."""
    return bool(tlsrpt_rua(records))


def read_response(status: int, content_type: str, body: bytes, location: str = "") -> Policy | str:
    """What an HTTPS response to the policy URL amounts to (RFC 8461 §3.3).

    Only ``200`` counts: a redirect is not followed (§3.3 forbids it) and is reported
    with its target. The media type must be ``text/plain`` (parameters such as a
    charset allowed), as the RFC requires of the policy resource and as common
    sender implementations check.
    """
    if 300 <= status < 400:
        return f"HTTP {status} redirect to {location[:120]!r} (not followed: RFC 8461 §3.3)"
    if status != 200:
        return f"HTTP {status}"
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "text/plain":
        return f"media type {media or 'missing'!r}, not text/plain"
    return parse_policy(body)
