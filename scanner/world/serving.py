"""What the world's trio daemons (``smtpd``, ``policyd``) share: listeners and start-up.

Each daemon is one process serving many loopback addresses, started as
``python -m scanner.world.<daemon> <config.json>`` by ``scanner.world.daemons``.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio


async def listener(address: str, port: int, backlog: int) -> trio.SocketListener:
    """A TCP listener on ``address`` (IPv4 or IPv6) and ``port``."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    await sock.bind((address, port))
    sock.listen(backlog)
    return trio.SocketListener(sock)


def run_daemon(
    serve: Callable[[dict[str, Any]], Awaitable[None]], argv: list[str] | None = None
) -> None:
    """Read the JSON config named by the first argument and serve it until killed.

    The descriptor limit is raised to its hard maximum first: a daemon holds every
    listener plus thousands of client connections (tests open them concurrently).
    """
    args = argv if argv is not None else sys.argv[1:]
    config = json.loads(Path(args[0]).read_text())
    config["_config_path"] = str(Path(args[0]).absolute())
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    trio.run(serve, config)
