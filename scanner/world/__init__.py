"""The local world: a private DNSSEC internet with SMTP servers, on loopback (DESIGN §6).

Public API::

    from scanner.world import build, up, down, status, world_info, load_catalog
    info = up()            # builds if needed, starts NSD, Unbound, smtpd in netns "danescan"
    info.resolver          # "127.53.0.53"
    load_catalog()         # the scenarios of data/scenarios.toml
    down()                 # stops everything, deletes the namespace

The command-line face is the click group ``scanner.world.cli.world``.
"""

from __future__ import annotations

from scanner.world.build import build
from scanner.world.catalog import Catalog, HostSpec, Scenario, load_catalog
from scanner.world.control import Status, down, status, up, world_info
from scanner.world.info import (
    AUTH_ADDRESS,
    NETNS,
    RESOLVER_ADDRESS,
    HostInfo,
    WorldError,
    WorldInfo,
    world_dir,
)

__all__ = [
    "AUTH_ADDRESS",
    "NETNS",
    "RESOLVER_ADDRESS",
    "Catalog",
    "HostInfo",
    "HostSpec",
    "Scenario",
    "Status",
    "WorldError",
    "WorldInfo",
    "build",
    "down",
    "load_catalog",
    "status",
    "up",
    "world_dir",
    "world_info",
]
