"""``WorldInfo``: what a built world is (addresses, trust anchor, names), as ``world.json``.

Tests and the crawler's end-to-end checks read this instead of hard-coding paths
and addresses. The fixed addresses live here too.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

NETNS = "danescan"
AUTH_ADDRESS = "127.53.0.1"  # NSD: the root, every TLD, every zone
AUTH_ADDRESS6 = "fd53::1"
LAME_ADDRESS = "127.53.0.99"  # a second NSD serving no zone: REFUSED to everything
RESOLVER_ADDRESS = "127.53.0.53"  # Unbound, validating with the private root's anchor
RESOLVER_ADDRESS6 = "fd53::53"
DNS_PORT = 53
SMTP_PORT = 25


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def world_dir() -> Path:
    """State directory: ``$DANESCAN_WORLD_DIR`` or ``<repo>/work/world``."""
    env = os.environ.get("DANESCAN_WORLD_DIR")
    return Path(env).resolve() if env else repo_root() / "work" / "world"


@dataclass(frozen=True)
class HostInfo:
    """Addresses and SMTP behaviour of one MX host of the world."""

    ipv4: list[str]
    ipv6: list[str]
    smtp: str
    zone: str


@dataclass(frozen=True)
class WorldInfo:
    """The contents of ``world.json``."""

    dir: str
    netns: str
    resolver: str
    resolver6: str
    resolver_port: int
    auth: str
    trust_anchor: str  # the root DS, zone-file syntax
    trust_anchor_file: str
    root_hints_file: str
    canary_secure: str
    canary_bogus: str
    catalog: str
    built_at: float
    domains: list[str]
    hosts: dict[str, HostInfo]
    unbound_log: str
    postfix_config_dir: str  # a main.cf for posttls-finger (MAIL_CONFIG)
    ca_root: str  # PEM of the world CA root (DANE-TA scenarios)
    bench_domains: str | None = None
    bench_count: int = 0
    smtp_listeners: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def resolver_spec(self) -> str:
        return f"{self.resolver}:{self.resolver_port}"

    def dump(self, path: Path) -> None:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> WorldInfo:
        raw = json.loads(path.read_text())
        raw["hosts"] = {k: HostInfo(**v) for k, v in raw["hosts"].items()}
        return cls(**raw)
