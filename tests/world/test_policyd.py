"""MTA-STS policy hosts and TLS-RPT records of the world, checked with independent clients.

Debian's ``curl`` (OpenSSL) fetches every policy by name, through the namespace's system
resolver (the world's Unbound), trusting only the world CA root; ``dig`` reads the TXT and
address records. The expectations come from each scenario's ``mta_sts`` / ``tlsrpt`` set-up
in the catalog, not from the server. The last tests drive ``policyd``'s answers directly.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dns.rcode
import pytest

from scanner.world import policyd
from scanner.world.catalog import Scenario, load_catalog
from scanner.world.info import HTTPS_PORT, POLICY_NET, WorldInfo
from scanner.world.ready import ask_header

CATALOG = load_catalog()
STS = [s for s in CATALOG.scenarios if s.mta_sts is not None]
PUBLISHING = [s for s in CATALOG.scenarios if s.mta_sts is not None or s.tlsrpt]
WELL_KNOWN = "/.well-known/mta-sts.txt"
RESOLVER = "127.53.0.53"


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class Fetch:
    rc: int  # curl's exit status
    status: int
    content_type: str
    location: str
    body: bytes
    stderr: str


def curl(world: WorldInfo, url: str, *opts: str) -> Fetch:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "body"
        res = subprocess.run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--max-time",
                "10",
                "--proto",
                "=https",
                "--cacert",
                world.ca_roots,
                "--output",
                str(out),
                "--write-out",
                "%{http_code}\t%{content_type}\t%{redirect_url}",
                *opts,
                url,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        body = out.read_bytes() if out.exists() else b""
    status, ctype, location = [*res.stdout.split("\t"), "", "", ""][:3]
    return Fetch(res.returncode, int(status or 0), ctype, location, body, res.stderr)


def policy_url(s: Scenario) -> str:
    return f"https://{s.policy_host}{WELL_KNOWN}"


def parse_policy(body: bytes) -> dict[str, list[str]] | None:
    """RFC 8461 §3.2, strictly: CRLF lines of ``key: value``, ``version: STSv1`` first."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text.endswith("\r\n"):
        return None
    fields: dict[str, list[str]] = {}
    for line in text[:-2].split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep or not key:
            return None
        fields.setdefault(key, []).append(value)
    if not text.startswith("version: STSv1\r\n") or fields.get("mode", [""])[0] == "":
        return None
    return fields


def assert_policy_of(s: Scenario, body: bytes) -> None:
    assert s.mta_sts is not None
    got = parse_policy(body)
    assert got is not None, body[:200]
    assert got["mode"] == [s.mta_sts.mode]
    assert got.get("mx", []) == list(s.mta_sts.mx)
    assert got["max_age"] == [str(s.mta_sts.max_age)]


def dig_short(name: str, rrtype: str) -> list[str]:
    res = subprocess.run(
        ["dig", f"@{RESOLVER}", "+short", "+tries=1", "+time=5", name, rrtype],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [ln for ln in res.stdout.splitlines() if ln]


# --------------------------------------------------------------------------- the world


def test_the_catalog_covers_every_way_to_serve_a_policy() -> None:
    from scanner.world.catalog import MTA_STS_MODES, MTA_STS_SERVE

    assert {s.mta_sts.serve for s in STS if s.mta_sts} == MTA_STS_SERVE
    assert {s.mta_sts.mode for s in STS if s.mta_sts} == MTA_STS_MODES
    assert any(s.mta_sts and not s.mta_sts.txt for s in STS)
    assert any(s.mta_sts and not s.signed for s in STS)
    assert any(s.tlsrpt and s.mta_sts is None for s in CATALOG.scenarios)


@pytest.mark.world
@pytest.mark.parametrize("s", STS, ids=lambda s: s.domain)
def test_every_policy_host_serves_as_the_catalog_says(world: WorldInfo, s: Scenario) -> None:
    sts = s.mta_sts
    assert sts is not None
    got = curl(world, policy_url(s))
    if sts.serve == "no-host":
        assert got.rc == 6, got  # could not resolve host
        return
    if sts.serve == "refused":
        assert got.rc == 7, got  # could not connect
        return
    if sts.serve in ("bad-cert", "self-signed"):
        assert got.rc == 60, got  # PKIX verification failed
        if sts.serve == "bad-cert":
            assert "no alternative certificate subject name" in got.stderr
            # The certificate is a good world-CA one, only for another name.
            other = f"www.{s.domain}"
            got = curl(
                world,
                f"https://{other}{WELL_KNOWN}",
                "--connect-to",
                f"{other}:443:{s.policy_host}:443",
            )
        else:
            assert "self-signed certificate" in got.stderr
            got = curl(world, policy_url(s), "--insecure")
        assert (got.rc, got.status) == (0, 200), got
        assert_policy_of(s, got.body)
        return
    assert got.rc == 0, got
    if sts.serve == "not-found":
        assert got.status == 404
    elif sts.serve == "redirect":
        assert got.status == 301
        assert got.location == f"https://{s.policy_host}/moved/mta-sts.txt"
        # A sender that wrongly followed it would find a policy there.
        followed = curl(world, policy_url(s), "--location")
        assert (followed.status, followed.content_type) == (200, "text/plain")
        assert_policy_of(s, followed.body)
    elif sts.serve == "wrong-type":
        assert (got.status, got.content_type) == (200, "text/html")
        assert_policy_of(s, got.body)
    elif sts.serve == "garbage":
        assert (got.status, got.content_type) == (200, "text/plain")
        assert b"mode: " in got.body and parse_policy(got.body) is None
    elif sts.serve == "huge":
        assert (got.status, got.content_type) == (200, "text/plain")
        assert len(got.body) > 64 * 1024
        assert got.body.startswith(sts.policy_text().encode())
    else:
        assert sts.serve == "ok"
        assert (got.status, got.content_type) == (200, "text/plain")
        assert_policy_of(s, got.body)


@pytest.mark.world
def test_txt_and_address_records_are_published_as_the_catalog_says(world: WorldInfo) -> None:
    wrong = []
    for s in PUBLISHING:
        sts = s.mta_sts
        want_sts = [f'"{sts.txt}"'] if sts is not None and sts.txt else []
        got = dig_short(f"_mta-sts.{s.domain}", "TXT")
        if got != want_sts:
            wrong.append(f"_mta-sts.{s.domain} TXT: {got} != {want_sts}")
        want_rpt = [f'"v=TLSRPTv1; rua={s.tlsrpt}"'] if s.tlsrpt else []
        got = dig_short(f"_smtp._tls.{s.domain}", "TXT")
        if got != want_rpt:
            wrong.append(f"_smtp._tls.{s.domain} TXT: {got} != {want_rpt}")
        address = world.policy_hosts.get(s.policy_host)
        want_a = [address] if address else []
        if (sts is not None and sts.has_address) != bool(address):
            wrong.append(f"{s.policy_host}: world.json says {address!r}")
        got = dig_short(s.policy_host, "A")
        if got != want_a:
            wrong.append(f"{s.policy_host} A: {got} != {want_a}")
        for name in (f"_mta-sts.{s.domain}", f"_smtp._tls.{s.domain}", s.policy_host):
            rcode, ad = ask_header(name, "TXT" if name.startswith("_") else "A")
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or ad != s.signed:
                wrong.append(f"{name}: rcode {rcode}, AD {ad}, signed zone {s.signed}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.world
def test_policy_hosts_stay_on_their_own_addresses(world: WorldInfo) -> None:
    assert world.policy_listeners == sum(1 for s in STS if s.mta_sts and s.mta_sts.listens)
    addresses = list(world.policy_hosts.values())
    assert len(set(addresses)) == len(addresses)
    assert all(a.startswith(POLICY_NET + ".") for a in addresses)
    smtp = {a for h in world.hosts.values() for a in h.ipv4}
    assert not smtp & set(addresses)


@pytest.mark.world
def test_world_exec_makes_the_world_ca_the_pkix_trust_root(world: WorldInfo) -> None:
    assert os.environ.get("SSL_CERT_FILE") == world.ca_roots, "run under `danescan world exec`"
    assert Path(world.ca_roots).read_bytes() == Path(world.ca_root).read_bytes()
    s = CATALOG.scenario("sts-enforce.com")
    ctx = ssl.create_default_context()  # honours SSL_CERT_FILE
    raw = _request(ctx, s.policy_host, b"GET " + WELL_KNOWN.encode() + b" HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Type: text/plain\r\n" in raw
    assert raw.endswith(s.mta_sts.policy_text().encode() if s.mta_sts else b"?")
    bad = CATALOG.scenario("sts-self-signed.org")
    with pytest.raises(ssl.SSLCertVerificationError):
        _request(ctx, bad.policy_host, b"GET / HTTP/1.0\r\n\r\n")
    # curl reads its own variable; without --cacert it trusts the world root too.
    assert os.environ.get("CURL_CA_BUNDLE") == world.ca_roots
    plain = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"https://{s.policy_host}/"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert (plain.returncode, plain.stdout) == (0, "404"), plain.stderr


def _request(ctx: ssl.SSLContext, host: str, request: bytes) -> bytes:
    """Send one request; read until the server closes (it must, after one response)."""
    with (
        socket.create_connection((host, HTTPS_PORT), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(request)
        out = b""
        while chunk := tls.recv(65536):
            out += chunk
    return out


@pytest.mark.world
def test_requests_are_limited_and_answered_once(world: WorldInfo) -> None:
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(world.ca_roots)
    host = CATALOG.scenario("sts-enforce.com").policy_host
    cases = [
        (b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 404 "),
        (b"GET " + WELL_KNOWN.encode() + b"?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 "),
        (b"POST " + WELL_KNOWN.encode() + b" HTTP/1.1\r\n\r\n", b"HTTP/1.1 405 "),
        (b"GET " + WELL_KNOWN.encode() + b" HTTP/2.0\r\n\r\n", b"HTTP/1.1 505 "),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", b"HTTP/1.1 431 "),
        (b"nonsense\r\n\r\n", b"HTTP/1.1 400 "),
    ]
    for request, want in cases:
        assert _request(ctx, host, request).startswith(want), request[:40]
    head = _request(ctx, host, b"HEAD " + WELL_KNOWN.encode() + b" HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
    # Two pipelined requests get one answer: the connection closes after it.
    two = b"GET " + WELL_KNOWN.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _request(ctx, host, two * 2).count(b"HTTP/1.1 200 ") == 1


# --------------------------------------------------------------------------- policyd itself


def test_respond_per_behaviour() -> None:
    policy = "version: STSv1\r\nmode: enforce\r\nmx: a.example.net\r\nmax_age: 86400\r\n"
    host = "mta-sts.example.com"
    ok = policyd.respond("ok", host, policy, WELL_KNOWN)
    assert (ok.status, ok.content_type, ok.body) == (200, "text/plain", policy.encode())
    assert policyd.respond("ok", host, policy, "/").status == 404
    assert policyd.respond("not-found", host, policy, WELL_KNOWN).status == 404
    moved = policyd.respond("redirect", host, policy, WELL_KNOWN)
    assert (moved.status, moved.location) == (301, f"https://{host}{policyd.MOVED}")
    assert policyd.respond("redirect", host, policy, policyd.MOVED).body == policy.encode()
    assert policyd.respond("ok", host, policy, policyd.MOVED).status == 404
    assert policyd.respond("wrong-type", host, policy, WELL_KNOWN).content_type == "text/html"
    garbage = policyd.respond("garbage", host, policy, WELL_KNOWN).body
    assert b"version" not in garbage and garbage.startswith(b"mode: enforce\r\n")
    huge = policyd.respond("huge", host, policy, WELL_KNOWN).body
    assert len(huge) > 64 * 1024 and huge.startswith(policy.encode())
    encoded = ok.encode()
    assert encoded.startswith(b"HTTP/1.1 200 OK\r\n") and encoded.endswith(policy.encode())
    assert f"Content-Length: {len(policy)}\r\n".encode() in encoded
    assert ok.encode(head_only=True).endswith(b"\r\n\r\n")


def test_parse_request() -> None:
    assert policyd.parse_request(b"GET /a?b HTTP/1.0\r\n\r\n") == ("GET", "/a")
    assert policyd.parse_request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n") == ("HEAD", "/")
    for head, status in (
        (b"GET / HTTP/3\r\n\r\n", 505),
        (b"PUT / HTTP/1.1\r\n\r\n", 405),
        (b"GET\r\n\r\n", 400),
        (b"GET x HTTP/1.1\r\n\r\n", 400),
    ):
        got = policyd.parse_request(head)
        assert isinstance(got, policyd.Response) and got.status == status
