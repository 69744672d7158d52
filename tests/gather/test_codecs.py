"""Which build of the DNS codec runs (scanner.gather.codecs): the compiled one only while
it was built from the dnswire.py beside it; the scanner runs it here."""

from __future__ import annotations

import hashlib
import importlib.machinery
import os
import subprocess
import sys
from types import ModuleType

import pytest

from scanner.gather import codecs, dnswire
from scanner.gather.resolve import Resolver, ResolverConfig

SOURCE = b"# dnswire.py as installed\n"
SO = importlib.machinery.EXTENSION_SUFFIXES[0]


def _build(file: str, digest: str | None) -> ModuleType:
    module = ModuleType(codecs.NATIVE_MODULE)
    module.__file__ = file
    if digest is not None:
        module.SOURCE_DIGEST = digest  # type: ignore[attr-defined]
    return module


def test_the_compiled_build_is_used_only_when_built_from_this_source() -> None:
    current = hashlib.sha256(SOURCE).hexdigest()
    compiled = _build(f"/x/_dnswire_native{SO}", current)
    assert codecs.choose(compiled, SOURCE) == (compiled, "compiled")
    assert codecs.choose(None, SOURCE)[0] is None
    stale = _build(f"/x/_dnswire_native{SO}", hashlib.sha256(b"older").hexdigest())
    module, why = codecs.choose(stale, SOURCE)
    assert module is None and why.startswith("stale")
    unstamped = _build(f"/x/_dnswire_native{SO}", None)
    assert codecs.choose(unstamped, SOURCE)[0] is None
    # The generated copy of the source, importable where the compile failed: not compiled.
    assert codecs.choose(_build("/x/_dnswire_native.py", current), SOURCE)[0] is None


@pytest.mark.skipif(os.environ.get("DANESCAN_PURE") == "1", reason="DANESCAN_PURE=1")
def test_the_scanner_runs_the_compiled_codec() -> None:
    """scripts/setup builds it (setup.py, mypyc); a failed or stale build fails here
    instead of making every scan slower unnoticed."""
    assert codecs.NATIVE_STATUS == "compiled"
    (pure, native) = codecs.IMPLEMENTATIONS
    assert pure is dnswire and native.__name__ == codecs.NATIVE_MODULE
    resolver = Resolver(ResolverConfig(servers=[("127.0.0.1", 53)], fast_codec=True))
    assert type(resolver.codec) is native.FastCodec


def test_danescan_pure_runs_the_module_as_written() -> None:
    code = "from scanner.gather import codecs; print(codecs.FastCodec.__module__)"
    env = {**os.environ, "DANESCAN_PURE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "scanner.gather.dnswire"
