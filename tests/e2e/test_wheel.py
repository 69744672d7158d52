"""The built wheel, installed into a fresh venv outside the checkout, runs the whole tool.

Issue 12: ``pip install`` of the wheel must give a ``danescan`` that builds and runs its
own local world, scans, checks and reports; not only the checkout's editable install.
The wheel is built from a copy of the working tree (``pip wheel --no-deps
--no-build-isolation``: offline, and no stale ``build/`` of the checkout leaks in) and
installed with ``--no-deps`` into a venv made here, in a temporary directory. Its
dependencies come from the project venv's site-packages, put on the path by a ``.pth``
file (a plain path entry: that directory's own ``.pth`` files, such as the editable
install's finder, are not run), so no download and a few seconds instead of a minute;
``danescan`` itself is imported from the wheel only (asserted).

The world it runs is its own: another namespace (``DANESCAN_NETNS``) and, with no
``DANESCAN_WORLD_DIR``, the state directory an installation defaults to:
``$XDG_DATA_HOME/danescan/world``, with ``XDG_DATA_HOME`` a temporary directory. The
session's world is not touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import scanner
from scanner.core.model import MailOutcome, Verdict
from scanner.world import netns
from scanner.world.catalog import load_catalog
from scanner.world.info import WorldInfo

ROOT = Path(__file__).resolve().parents[2]
NAME = "danescan-wheel"
# What the wheel is built from: the project's metadata, its build hook (the compiled DNS
# codec) and its two packages (data/ for the catalog the package's symlink points at).
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "scanner", "analysis", "data")
# Files of the packages that are for developers, not for an installation.
NOT_SHIPPED = {"ruff.toml", "README.md"}
CATALOG = "scanner/world/data/scenarios.toml"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site: Path  # the venv's site-packages

    @property
    def danescan(self) -> str:
        return str(self.venv / "bin" / "danescan")


def _run(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, (
            f"{argv} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    junk = shutil.ignore_patterns("__pycache__", ".ruff_cache", ".mypy_cache", "scans", "*.so")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, symlinks=True, ignore=junk)
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(src)])
    (wheel,) = tmp.glob("danescan-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = str(venv / "bin" / "python")
    _run([*pip, "--python", python, "install", "-q", "--no-deps", str(wheel)])
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    (site / "_danescan_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return Installed(wheel, venv, site)


def _env(tmp: Path) -> dict[str, str]:
    """The environment of a user of the installation: nothing pointing into the checkout."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "DANESCAN_WORLD_DIR", "SSL_CERT_FILE", "CURL_CA_BUNDLE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["DANESCAN_NETNS"] = NAME
    env["XDG_DATA_HOME"] = str(tmp / "xdg")
    return env


@pytest.mark.slow
def test_wheel_ships_what_an_installation_needs(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        # Every non-Python file of the packages (queries, catalog, anchors, markers).
        tracked = subprocess.run(
            ["git", "ls-files", "scanner", "analysis"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        wanted = {f for f in tracked if not f.endswith(".py") and Path(f).name not in NOT_SHIPPED}
        assert {
            "scanner/py.typed",
            "analysis/py.typed",
            "scanner/world/data/scenarios.toml",
        } <= wanted
        assert wanted <= names
        assert not any(n.startswith(("data/", "tests/", "work/")) for n in names)
        # The catalog is the file, not the checkout's symlink to it.
        catalog = whl.read("scanner/world/data/scenarios.toml")
        assert catalog.startswith(b"# danescan scenario catalog")
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = whl.read(meta_name).decode()
    headers = [line.split(": ", 1) for line in meta.split("\n\n", 1)[0].splitlines()]
    fields: dict[str, list[str]] = {}
    for key, value in headers:
        fields.setdefault(key, []).append(value)
    assert fields["Version"] == [scanner.__version__]  # the one version source
    assert fields["License-Expression"] == ["MIT"]
    assert fields["License-File"] == ["LICENSE"]
    assert any(r.startswith("msgspec") for r in fields["Requires-Dist"])
    # The installed command is the wheel's, and says the same version.
    out = _run([installed.danescan, "--version"], _env(installed.venv), installed.venv)
    assert out.stdout.strip() == f"danescan, version {scanner.__version__}"
    # The DNS codec is compiled into the wheel (setup.py), and the installation runs it.
    assert any(n.startswith("scanner/gather/_dnswire_native.") for n in names)
    codec = "from scanner.gather import codecs; print(codecs.NATIVE_STATUS)"
    python = str(installed.venv / "bin" / "python")
    out = _run([python, "-c", codec], _env(installed.venv), installed.venv)
    assert out.stdout.strip() == "compiled"


@pytest.fixture
def wheel_world(installed: Installed, tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """The installation's own world, brought down again whatever happens."""
    env = _env(tmp_path)
    assert not netns.exists(NAME)
    try:
        yield env, tmp_path
    finally:
        down = _run([installed.danescan, "world", "down"], env, tmp_path, check=False)
    assert down.returncode == 0, down.stderr
    assert not netns.exists(NAME)


@pytest.mark.world
@pytest.mark.slow
def test_installed_wheel_builds_and_runs_its_world_scans_checks_and_reports(
    world: WorldInfo, installed: Installed, wheel_world: tuple[dict[str, str], Path]
) -> None:
    env, tmp = wheel_world  # tmp: the working directory, outside the checkout

    def danescan(*args: str) -> subprocess.CompletedProcess[str]:
        return _run([installed.danescan, *args], env, tmp)

    def inside(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [installed.danescan, "world", "exec", "--", installed.danescan, *args]
        return _run(argv, env, tmp, check=check)

    danescan("world", "build", "--bench", "0")
    state = tmp / "xdg" / "danescan" / "world"  # the user data directory, not site-packages
    info = WorldInfo.load(state / "world.json")
    assert Path(info.catalog).resolve() == (installed.site / CATALOG).resolve()
    python = str(installed.venv / "bin" / "python")
    imported = _run([python, "-c", "import scanner; print(scanner.__file__)"], env, tmp)
    assert Path(imported.stdout.strip()).is_relative_to(installed.site)

    danescan("world", "up")
    status = json.loads(danescan("world", "status", "--json").stdout)
    assert status["up"] and status["info"]["dir"] == str(state) and status["info"]["netns"] == NAME

    (tmp / "domains.txt").write_text("\n".join(info.domains) + "\n")
    resolver = [
        "--resolver",
        info.resolver_spec,
        "--canary-secure",
        info.canary_secure,
        "--canary-bogus",
        info.canary_bogus,
    ]
    inside("scan", "domains.txt", "--out", "scan", "--no-progress", *resolver)
    rows = danescan("sql", "-f", "json", "-q", "select domain, verdict from domains", "scan").stdout
    verdicts = {r["domain"]: r["verdict"] for r in map(json.loads, rows.splitlines())}
    assert set(verdicts) == set(info.domains)
    catalog = load_catalog(info.catalog)  # the installed copy
    valid = [s.domain for s in catalog.scenarios if s.verdict is Verdict.DANE_VALID]
    assert valid and all(verdicts[d] == Verdict.DANE_VALID.value for d in valid)

    # check: 0 for a domain that gets mail from DANE senders, 1 for one that would not.
    assert inside("check", valid[0], *resolver).returncode == 0
    bounce = next(
        s.domain for s in catalog.scenarios if s.mail_outcome is MailOutcome.DEFER_OR_BOUNCE
    )
    refused = inside("check", bounce, *resolver, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr

    (scan_id,) = danescan(
        "sql", "-f", "csv", "-q", "select scan_id from scans", "scan"
    ).stdout.split()[1:]
    danescan("report", "scan", "-o", "report/report.html")
    assert scan_id in (tmp / "report" / "report.html").read_text()
    assert scan_id in (tmp / "report" / "report.md").read_text()
