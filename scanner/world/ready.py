"""Readiness check of a running world, run inside the namespace.

The world is ready when the resolver answers the secure canary's MX with AD, the
bogus canary with SERVFAIL, the first SMTP listener greets and the first HTTPS
(MTA-STS policy) listener accepts connections. Run as
``python -m scanner.world.ready <dir> [timeout]`` (exit 0 when ready) when the
caller is outside the namespace.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode

from scanner.world.info import DNS_PORT, HTTPS_PORT, RESOLVER_ADDRESS


def ask(name: str, rrtype: str, cd: bool = False, timeout: float = 2.0) -> dns.message.Message:
    """One query with DO (and CD if asked) to the world's resolver."""
    q = dns.message.make_query(name, rrtype, want_dnssec=True)
    if cd:
        q.flags |= dns.flags.CD
    return dns.query.udp(q, RESOLVER_ADDRESS, port=DNS_PORT, timeout=timeout)


def ask_header(name: str, rrtype: str, cd: bool = False, timeout: float = 3.0) -> tuple[int, bool]:
    """(rcode, AD) of one DO query, from the header only.

    dnspython refuses to parse some deliberately malformed answers of the world (a TLSA
    digest of the wrong length), so this reads just the header.
    """
    q = dns.message.make_query(name, rrtype, want_dnssec=True)
    if cd:
        q.flags |= dns.flags.CD
    wire = q.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (RESOLVER_ADDRESS, DNS_PORT))
        while True:
            data, _ = s.recvfrom(65535)
            if data[:2] == wire[:2]:
                break
    flags = int.from_bytes(data[2:4], "big")
    return flags & 0xF, bool(flags & dns.flags.AD)


def _dns_ready(secure: str, bogus: str) -> str:
    try:
        r = ask(secure, "MX")
        if not (r.flags & dns.flags.AD) or r.rcode() != dns.rcode.NOERROR:
            return f"{secure} MX: no AD ({dns.rcode.to_text(r.rcode())})"
        r = ask(bogus, "MX")
        if r.rcode() != dns.rcode.SERVFAIL:
            return f"{bogus} MX: {dns.rcode.to_text(r.rcode())}, want SERVFAIL"
    except (OSError, dns.exception.DNSException) as exc:
        return f"resolver: {exc!r}"
    return ""


def _smtp_ready(address: str) -> str:
    try:
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect((address, 25))
            banner = s.recv(512)
            s.sendall(b"QUIT\r\n")
        return "" if banner.startswith(b"220") else f"smtp {address}: {banner!r}"
    except OSError as exc:
        return f"smtp {address}: {exc}"


def _https_ready(address: str) -> str:
    try:
        with socket.create_connection((address, HTTPS_PORT), timeout=2):
            return ""
    except OSError as exc:
        return f"https {address}: {exc}"


def wait_ready(directory: Path, timeout: float = 30.0) -> str:
    """Poll until ready; return "" on success or the last problem seen."""
    info = json.loads((directory / "world.json").read_text())
    smtp = json.loads((directory / "smtpd.json").read_text())["listeners"]
    first = next((lst["address"] for lst in smtp if lst["behaviour"] == "starttls"), "")
    https = json.loads((directory / "policyd.json").read_text())["listeners"]
    first_https = https[0]["address"] if https else ""
    deadline = time.monotonic() + timeout
    problem = "not checked"
    while time.monotonic() < deadline:
        problem = _dns_ready(info["canary_secure"], info["canary_bogus"])
        if not problem and first:
            problem = _smtp_ready(first)
        if not problem and first_https:
            problem = _https_ready(first_https)
        if not problem:
            return ""
        time.sleep(0.2)
    return problem


def main() -> None:
    directory = Path(sys.argv[1])
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    problem = wait_ready(directory, timeout)
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
