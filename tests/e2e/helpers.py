"""Helpers for end-to-end tests: the real command line, pointed at the local world."""

from __future__ import annotations

import subprocess
import sys

from scanner.world.info import WorldInfo


def danescan(
    *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real command line (inside the namespace the tests run in)."""
    proc = subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"danescan {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def world_args(world: WorldInfo, anchor: bool = True) -> list[str]:
    """The resolver and canaries of the world; with ``anchor``, its private root as the
    trust anchor bogus answers are diagnosed from."""
    args = [
        "--resolver",
        world.resolver_spec,
        "--canary-secure",
        world.canary_secure,
        "--canary-bogus",
        world.canary_bogus,
    ]
    return [*args, "--trust-anchor", world.trust_anchor_file] if anchor else args
