"""Which build of the hand-written DNS codec runs: ``dnswire`` compiled, or as written.

Must live here: the choice between ``scanner.gather._dnswire_native`` (``dnswire.py``
compiled by mypyc at install time, setup.py) and ``dnswire`` itself, and the reason for
it (``NATIVE_STATUS``). The compiled module decodes a reply in about half the CPU
(bench/RESULTS.md); it is the same code, so the codec tests run on both builds.

It is used only while it was built from the ``dnswire.py`` that is installed beside it
(setup.py stamps it with the source's SHA-256): after an edit of dnswire.py, an old build
never runs in its place; ``scripts/setup`` builds it again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import os
from pathlib import Path
from types import ModuleType

from scanner.gather import dnswire

__all__ = ["IMPLEMENTATIONS", "NATIVE_STATUS", "FastCodec", "build_name", "choose"]

NATIVE_MODULE = "scanner.gather._dnswire_native"


def choose(native: ModuleType | None, source: bytes) -> tuple[ModuleType | None, str]:
    """The compiled module to use, or None; and why (``"compiled"`` when it is used).

    ``native`` is the imported ``_dnswire_native`` (None when it is not built) and
    ``source`` the octets of the ``dnswire.py`` it must have been built from.
    """
    if native is None:
        return None, "not built (pure Python)"
    if not str(getattr(native, "__file__", "")).endswith(
        tuple(importlib.machinery.EXTENSION_SUFFIXES)
    ):
        return None, "not compiled (pure Python)"
    if getattr(native, "SOURCE_DIGEST", None) != hashlib.sha256(source).hexdigest():
        return None, "stale: dnswire.py changed since the build (pure Python; run scripts/setup)"
    return native, "compiled"


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("DANESCAN_PURE") == "1":
        return None, "DANESCAN_PURE=1 (pure Python)"
    try:
        native: ModuleType | None = importlib.import_module(NATIVE_MODULE)
    except ImportError:
        native = None
    return choose(native, Path(dnswire.__file__).read_bytes())


_native, NATIVE_STATUS = _load()
# The builds the codec tests hold to dnspython: the one as written, and the compiled one.
IMPLEMENTATIONS: tuple[ModuleType, ...] = (dnswire,) if _native is None else (dnswire, _native)
FastCodec: type[dnswire.FastCodec] = dnswire.FastCodec if _native is None else _native.FastCodec


def build_name(module: ModuleType) -> str:
    """``"compiled"`` or ``"pure"``: which of ``IMPLEMENTATIONS`` ``module`` is."""
    return "compiled" if module.__name__ == NATIVE_MODULE else "pure"
