"""Where a world's state lives: the override, a source checkout, an installed package.

An installed package must not write into site-packages: its default is the user data
directory of the XDG Base Directory specification, ``$XDG_DATA_HOME/danescan/world``
(``~/.local/share`` when the variable is unset, empty or relative). A checkout keeps
``work/world``, where the tests and scripts look.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.world import info
from scanner.world.catalog import default_catalog_path, load_catalog

ROOT = Path(__file__).resolve().parents[2]


def test_state_directory_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DANESCAN_WORLD_DIR", str(tmp_path / "w"))
    assert info.world_dir() == tmp_path / "w"


def test_checkout_keeps_work_world(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DANESCAN_WORLD_DIR", raising=False)
    assert info.source_checkout() == ROOT
    assert info.world_dir() == ROOT / "work" / "world"


def test_installed_package_uses_the_user_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site-packages"  # no pyproject.toml beside the package
    site.mkdir()
    monkeypatch.setattr(info, "repo_root", lambda: site)
    monkeypatch.delenv("DANESCAN_WORLD_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert info.source_checkout() is None
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert info.world_dir() == tmp_path / "xdg" / "danescan" / "world"
    for unusable in ("", "relative/dir"):
        monkeypatch.setenv("XDG_DATA_HOME", unusable)
        assert info.world_dir() == tmp_path / "home" / ".local" / "share" / "danescan" / "world"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert info.world_dir() == tmp_path / "home" / ".local" / "share" / "danescan" / "world"


def test_catalog_is_package_data_and_the_checkout_file() -> None:
    path = default_catalog_path()
    assert path == ROOT / "scanner" / "world" / "data" / "scenarios.toml"
    # In the checkout the package's copy is data/scenarios.toml itself, not a copy of it.
    assert path.resolve() == (ROOT / "data" / "scenarios.toml").resolve()
    assert load_catalog().path == path
