"""Domain-name hygiene for scan input and MX targets (pure; no I/O).

dnspython happily builds names such as ``xn--zz.com``, ``-lead.example`` or
``\\x00.com``; a measurement must not count those as domains. ``normalize_domain``
turns one line of input into the canonical form every other module uses (lower-case
A-labels, no trailing dot) or raises ``InvalidName`` with a short, stable reason code
that the crawler stores and counts.

The rules, with their sources:

* LDH labels: letters, digits and hyphens, no hyphen first or last (RFC 1123 §2.1,
  RFC 5890 §2.3.1). Underscore labels (``_dmarc``, ``_25._tcp``) are service labels,
  never mail domains, so they are rejected in input.
* Labels with ``--`` in the third and fourth positions are reserved (RFC 5891
  §4.2.3.1); only ``xn--`` is defined, and an ``xn--`` label must decode to a valid
  IDNA 2008 U-label that encodes back to the very same A-label (RFC 5891 §5.4).
* Non-ASCII input is mapped with UTS 46 (non-transitional, STD3 rules: what browsers
  and mail clients do with user input) and each U-label is converted with IDNA 2008.
* At most 63 octets a label and 253 for the name without its trailing dot
  (RFC 1035 §2.3.4: 255 octets on the wire).
* At least two labels (a mail domain below a TLD), and a TLD that is not all-numeric
  (RFC 3696 §2; this also rejects dotted-quad IPv4 addresses).
"""

from __future__ import annotations

import re

import idna

MAX_NAME = 253
MAX_LABEL = 63

_LDH = re.compile(r"[a-z0-9-]+\Z")
# The common case in one match (an input list is millions of plain names): lower-case
# LDH labels of 1 to 63 characters, no hyphen first or last, no "--" in the third and
# fourth places (so no A-label to decode), at least two labels, a last one not all
# digits. A name it matches passes every rule below; one it does not match is judged by
# them, which give the reason.
_LABEL = r"(?![a-z0-9-]{2}--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN = re.compile(rf"(?:{_LABEL}\.)+(?![0-9]+\Z){_LABEL}\Z")

REASONS = (
    "empty",
    "empty_label",
    "single_label",
    "too_long",
    "label_too_long",
    "bad_character",
    "bad_hyphen",
    "bad_a_label",
    "bad_u_label",
    "numeric_tld",
)


class InvalidName(ValueError):
    """A name that is not a valid mail domain; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, name: str = "") -> None:
        super().__init__(f"{reason}: {name!r}" if name else reason)
        self.reason = reason
        self.name = name


def _check_a_label(label: str, raw: str) -> None:
    """An ``xn--`` label must decode under IDNA 2008 and round-trip exactly."""
    try:
        ulabel = idna.ulabel(label)
        back = idna.alabel(ulabel).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidName("bad_a_label", raw) from exc
    if back != label:
        raise InvalidName("bad_a_label", raw)


def _check_ascii_label(label: str, raw: str) -> None:
    if not label:
        raise InvalidName("empty_label", raw)
    if len(label) > MAX_LABEL:
        raise InvalidName("label_too_long", raw)
    if not _LDH.match(label):
        raise InvalidName("bad_character", raw)
    if label[0] == "-" or label[-1] == "-":
        raise InvalidName("bad_hyphen", raw)
    if label[2:4] == "--":
        if label[:4] != "xn--":
            raise InvalidName("bad_hyphen", raw)
        _check_a_label(label, raw)


def _to_ascii(raw: str, text: str) -> str:
    """UTS 46 mapping, then IDNA 2008 for every non-ASCII label."""
    try:
        mapped = idna.uts46_remap(text, std3_rules=True, transitional=False)
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidName("bad_u_label", raw) from exc
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(idna.alabel(label).decode("ascii"))
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidName("bad_u_label", raw) from exc
    return ".".join(labels)


def normalize_domain(raw: str) -> str:
    """The canonical form of an input domain: lower-case A-labels, no trailing dot.

    Raises ``InvalidName`` (a ``ValueError``) with a stable ``reason`` code.
    """
    text = raw.strip()
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise InvalidName("empty", raw)
    if text.isascii():
        name = text.lower()
        if len(name) <= MAX_NAME and _PLAIN.match(name):
            return name
    else:
        name = _to_ascii(raw, text)
    labels = name.split(".")
    for label in labels:
        _check_ascii_label(label, raw)
    if len(name) > MAX_NAME:
        raise InvalidName("too_long", raw)
    if len(labels) < 2:
        raise InvalidName("single_label", raw)
    if labels[-1].isdigit():
        raise InvalidName("numeric_tld", raw)
    return name


def is_hostname(name: str) -> bool:
    """Whether an MX target (as DNS returned it: ASCII, maybe a trailing dot) is a
    valid host name under the same rules as input domains."""
    if not name.isascii():
        return False
    try:
        normalize_domain(name)
    except InvalidName:
        return False
    return True
