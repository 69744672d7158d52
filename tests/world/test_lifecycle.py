"""`world build | up | status | down` of a second, throw-away world: down leaves nothing behind.

Runs next to the session's world: same addresses, its own namespace (DANESCAN_NETNS) and
state directory (DANESCAN_WORLD_DIR), so the world the other tests use is not touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.world import netns
from scanner.world.info import WorldInfo

pytestmark = pytest.mark.world

NAME = "danescan-lifecycle"


def _world(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", "world", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_status_down_leaves_no_process_or_namespace(world: WorldInfo, tmp_path: Path) -> None:
    env = {**os.environ, "DANESCAN_NETNS": NAME, "DANESCAN_WORLD_DIR": str(tmp_path / "w")}
    assert not netns.exists(NAME)
    pids: list[int] = []
    try:
        assert _world(env, "build", "--bench", "0").returncode == 0
        started = time.monotonic()
        up = _world(env, "up")
        assert up.returncode == 0, up.stderr
        assert time.monotonic() - started < 60  # issue 2: up in under 60 s
        st = _world(env, "status", "--json")
        assert st.returncode == 0, st.stdout
        report = json.loads(st.stdout)
        assert report["up"] and report["namespace"]
        pids = [p["pid"] for p in report["processes"]]
        names = {p["name"] for p in report["processes"] if p["alive"]}
        assert {"nsd", "unbound", "smtpd", "policyd"} <= names
        assert all(_alive(pid) for pid in pids)
        assert netns.exists(NAME)
        # A second world (another checkout) on the same namespace name must not start
        # its daemons on these addresses, nor delete the namespace under them.
        other = {**env, "DANESCAN_WORLD_DIR": str(tmp_path / "other")}
        assert _world(other, "build", "--bench", "0").returncode == 0
        refused = _world(other, "up")
        assert refused.returncode != 0 and "in use by another world" in refused.stderr
        assert str(tmp_path / "w") in refused.stderr  # it says which world
        assert _world(other, "down").returncode == 0
        assert netns.exists(NAME) and all(_alive(pid) for pid in pids)
    finally:
        down = _world(env, "down")
    assert down.returncode == 0, down.stderr
    assert not netns.exists(NAME)
    assert not any(_alive(pid) for pid in pids)
    after = _world(env, "status", "--json")
    assert after.returncode == 1 and not json.loads(after.stdout)["up"]
    # the session's own world is still there
    assert netns.exists() and world.resolver
