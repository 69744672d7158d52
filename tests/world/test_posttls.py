"""Cross-check of the catalog with Postfix: ``posttls-finger -l dane`` over every scenario.

posttls-finger runs inside the namespace, so it resolves through the world's Unbound
(``/etc/netns/danescan/resolv.conf``, with ``trust-ad``), and reads the world's
``main.cf`` (``MAIL_CONFIG``). Its report is reduced to one category (see ``categorize``);
the catalog's expectation is its ``posttls`` field, or else the category that its
``mail_outcome`` implies. Every legitimate difference carries a ``posttls_exception``.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from scanner.world.catalog import load_catalog
from scanner.world.info import WorldInfo

pytestmark = pytest.mark.world


def categorize(out: str) -> str:
    """What the Postfix smtp client at level ``dane`` would make of this session.

    posttls-finger only probes; it completes a session even after a DANE authentication
    failure (counted "fail": the smtp client defers), and checks a host without TLSA at
    level "secure" (counted "untrusted": the smtp client uses opportunistic TLS there).
    """
    if "Verified TLS connection established" in out:
        return "verified"
    if "Trusted TLS connection established" in out:
        return "trusted"
    if "does not accept mail (nullMX)" in out:
        return "nomail"
    lookup = [ln for ln in out.splitlines() if "Destination address lookup failed" in ln]
    if lookup:
        # NXDOMAIN / NODATA: nobody to deliver to; "try again" (SERVFAIL): deferred.
        return "fail" if "try again" in lookup[0] else "nomail"
    dane_level = (
        "(TLSA): OK" in out
        and 'resorting to "secure"' not in out
        and "all TLSA records unusable" not in out
    )
    if "Untrusted TLS connection established" in out:
        if dane_level and "server certificate verification failed" in out:
            return "fail"
        return "untrusted"
    if "Connected to" in out and not any(
        m in out
        for m in (
            "SSL_connect error",
            "STARTTLS rejected",
            "SMTP service not available",
            "timeout while",
            "Failed to establish session",
            "lost connection",
        )
    ):
        return "fail" if dane_level else "plaintext"
    return "fail"


POSTTLS_ARGS = [
    "posttls-finger",
    "-c",
    "-v",
    "-l",
    "dane",
    "-t",
    "4",
    "-T",
    "4",
    "-P",
    "/etc/ssl/certs",
]


def posttls_finger(world: WorldInfo, domain: str) -> str:
    env = dict(os.environ, MAIL_CONFIG=world.postfix_config_dir)
    proc = subprocess.run(
        [*POSTTLS_ARGS, domain],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return proc.stdout + proc.stderr


def test_posttls_finger_agrees_with_the_catalog(world: WorldInfo) -> None:
    catalog = load_catalog(world.catalog)
    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda s: posttls_finger(world, s.domain), catalog.scenarios))
    wrong = []
    for s, out in zip(catalog.scenarios, outs, strict=True):
        got = categorize(out)
        if got != s.expected_posttls:
            lines = [ln for ln in out.splitlines() if "dns_" not in ln and "lookup" not in ln]
            wrong.append(
                f"{s.domain}: posttls-finger {got}, catalog {s.expected_posttls}\n  "
                + "\n  ".join(lines[-6:])
            )
    assert not wrong, "\n".join(wrong)


def test_documented_exceptions_really_differ_from_rfc_7672() -> None:
    """An exception is only documented where Postfix and the RFC expectation part ways."""
    for s in load_catalog().scenarios:
        if s.posttls_exception:
            assert s.posttls and s.posttls != s.rfc_posttls, s.domain


def test_categorize_examples() -> None:
    assert categorize("posttls-finger: Verified TLS connection established to x") == "verified"
    dane_fail = (
        "posttls-finger: dns_query: _25._tcp.mx.a.com (TLSA): OK\n"
        "posttls-finger: server certificate verification failed for mx.a.com: num=65\n"
        "posttls-finger: Untrusted TLS connection established to mx.a.com"
    )
    assert categorize(dane_fail) == "fail"
    no_tlsa = (
        'posttls-finger: no TLSA records found, resorting to "secure"\n'
        "posttls-finger: server certificate verification failed for mx.a.com: num=62\n"
        "posttls-finger: Untrusted TLS connection established to mx.a.com"
    )
    assert categorize(no_tlsa) == "untrusted"
    assert categorize("posttls-finger: Connected to mx.a.com[127.0.0.1]:25") == "plaintext"
    nx = "Destination address lookup failed: Host or domain name not found. ... Host not found"
    assert categorize(nx) == "nomail"
    assert categorize(nx + ", try again") == "fail"
