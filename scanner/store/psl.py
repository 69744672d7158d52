"""The Public Suffix List snapshot that turns MX host names into mail providers.

What must live here: the project's one Public Suffix List rule — the snapshot bundled
with ``publicsuffixlist`` (never fetched), its ICANN section only — and that
snapshot's version. A provider is only meaningful together with the list it was
computed from, so the scan records :func:`psl_version` in its metadata and the
report prints it; both sides need it and neither may import the other (the scan
must not import ``analysis``), so it lives here, in the data contract, below both.

Why the ICANN section only: the private section lists names under which a
platform's *customers* get their own names (``github.io``, ``herokuapp.com``,
``azurewebsites.net``). With it, ``mx.foo.github.io`` counts as the provider
``foo.github.io`` — one "provider" per customer — although one operator,
``github.io``, runs the mail; a provider table would split every such platform
into its customers. Names under a TLD the list does not know (the local world's
``.test`` and ``.example``) count as registered one label below it, the list's
default ``*`` rule.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import publicsuffixlist
from publicsuffixlist import PublicSuffixList

__all__ = ["PSL_RULE", "psl_version", "registered_domain"]

PSL_RULE = "ICANN section only (private suffixes such as github.io ignored)"
"""How providers are derived from the list, in words for the scan metadata and report."""

_HEADER = re.compile(rb"^//\s*(VERSION|COMMIT):\s*(\S+)\s*$", re.MULTILINE)


@functools.cache
def _list() -> PublicSuffixList:
    # The bundled snapshot (no network); built once, it takes ~50 ms.
    return PublicSuffixList(only_icann=True, accept_unknown=True)


@functools.cache
def psl_version() -> str:
    """The snapshot in use, e.g. ``2026-10-22_08-36-41_UTC commit 8437e5262f13
    (publicsuffixlist 1.1.2.20261023)``.

    The list's own ``// VERSION:`` and ``// COMMIT:`` header lines name the
    publicsuffix.org release; the package version names what shipped it. A list
    without those header lines is named by the first 12 hex digits of its SHA-256.
    """
    data = Path(publicsuffixlist.PSLFILE).read_bytes()
    found = {m.group(1).decode(): m.group(2).decode() for m in _HEADER.finditer(data[:4096])}
    package = f"publicsuffixlist {publicsuffixlist.__version__}"
    if "VERSION" in found:
        commit = f" commit {found['COMMIT'][:12]}" if "COMMIT" in found else ""
        return f"{found['VERSION']}{commit} ({package})"
    return f"sha256 {hashlib.sha256(data).hexdigest()[:12]} ({package})"


@functools.lru_cache(maxsize=1 << 16)
def registered_domain(host: str | None) -> str | None:
    """The registered domain of a host name under the ICANN rule: ``mx1.mail.example.co.uk``
    → ``example.co.uk``, ``mx.foo.github.io`` → ``github.io``.

    Case and a trailing dot are ignored; a name that is itself a public suffix is its
    own registered domain; None and empty names give None.
    """
    if host is None:
        return None
    name = host.strip().rstrip(".").lower()
    if not name:
        return None
    registered = _list().privatesuffix(name)
    return registered if registered is not None else name
