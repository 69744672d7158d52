"""``WorldInfo``: what a built world is (addresses, trust anchor, names), as ``world.json``.

Tests and the crawler's end-to-end checks read this instead of hard-coding paths
and addresses. The fixed addresses live here too.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The namespace's name; another name (DANESCAN_NETNS) runs a second, independent world
# next to the first (same addresses, other namespace): the lifecycle test does.
NETNS = os.environ.get("DANESCAN_NETNS", "danescan")
AUTH_ADDRESS = "127.53.0.1"  # NSD: the root, every TLD, every zone
AUTH_ADDRESS6 = "fd53::1"
LAME_ADDRESS = "127.53.0.99"  # a second NSD serving no zone: REFUSED to everything
RESOLVER_ADDRESS = "127.53.0.53"  # Unbound, validating with the private root's anchor
RESOLVER_ADDRESS6 = "fd53::53"
DNS_PORT = 53
SMTP_PORT = 25
POLICY_NET = "127.44"  # MTA-STS policy hosts (policyd, HTTPS): 127.44.x.y port 443
HTTPS_PORT = 443


def repo_root() -> Path:
    """The directory holding the ``scanner`` package (a checkout's root, or site-packages)."""
    return Path(__file__).resolve().parents[2]


def source_checkout() -> Path | None:
    """The source checkout this code runs from; None when it is an installed package."""
    root = repo_root()
    return root if (root / "pyproject.toml").is_file() else None


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/danescan/world``, by default ``~/.local/share/danescan/world``.

    The XDG Base Directory specification: a relative ``XDG_DATA_HOME`` is invalid and ignored.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "danescan" / "world"


class WorldError(RuntimeError):
    """The world could not be built or brought up (a one-line reason)."""


def world_dir() -> Path:
    """State directory: ``$DANESCAN_WORLD_DIR``; else ``<checkout>/work/world`` when running
    from a source checkout (the tests and scripts expect it there), else the user data
    directory (an installed package must not write into site-packages)."""
    env = os.environ.get("DANESCAN_WORLD_DIR")
    if env:
        return Path(env).resolve()
    checkout = source_checkout()
    return checkout / "work" / "world" if checkout is not None else user_data_dir()


def ca_roots_path(directory: Path) -> Path:
    """The PEM file of the trust roots of PKIX clients inside the world (the world CA root).

    ``world exec`` exports it as ``SSL_CERT_FILE`` (honoured by OpenSSL's default verify
    paths, so by Python's ``ssl.create_default_context()``).
    """
    return directory / "ca" / "roots.pem"


def trust_anchor_path(directory: Path) -> Path:
    """The root DS of the world (zone-file syntax): Unbound's ``trust-anchor-file``, and
    the anchor ``world exec`` hands to danescan (``DANESCAN_TRUST_ANCHOR``)."""
    return directory / "root.key"


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
    ca_roots: str = ""  # PKIX trust roots inside the world (SSL_CERT_FILE under world exec)
    # MTA-STS policy hosts with an address record: {"mta-sts.<domain>": ipv4}
    policy_hosts: dict[str, str] = field(default_factory=dict)
    policy_listeners: int = 0  # HTTPS listeners of policyd
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
