"""``danescan check`` against the local world: every scenario per sender profile, proven
TLSA suggestions, resolver errors, the watchlist across a real change, look-ahead, and
the terminal/pipe output.

Independent witnesses: the catalog's expectations (derived from the RFCs and the senders'
documented behaviour, the Postfix profile cross-checked with posttls-finger in
tests/world); ``openssl s_client`` fetches the chains the servers present, and
posttls-finger's "pkey digest" (OpenSSL's SHA-256 of the leaf's public key) must equal
every suggested ``3 1 1`` record.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from scanner.core import factjson
from scanner.core.assemble import ProbeKey, assemble
from scanner.core.certs import authenticates, evaluate_chain
from scanner.core.model import DnsLookup, DomainFacts, HostDns, MtaSts, SmtpProbe, ZoneKeys
from scanner.core.profiles import PkixTrust, judge_senders
from scanner.core.rules import judge_domain
from scanner.core.tlsa import parse_tlsa
from scanner.world.catalog import SENDERS, load_catalog
from scanner.world.info import WorldInfo
from tests.e2e.helpers import danescan, world_args

pytestmark = pytest.mark.world

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "check.schema.json").read_text())
ALL_SENDERS = [arg for s in SENDERS for arg in ("--sender", s)]


@pytest.fixture(scope="module")
def checked(world: WorldInfo, catalog_list: Path) -> dict[str, dict[str, Any]]:
    """``check --json`` of every scenario domain, every sender deciding the exit status."""
    proc = danescan(
        "check",
        "--file",
        str(catalog_list),
        "--json",
        *ALL_SENDERS,
        *world_args(world),
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # some scenarios fail by design
    assert proc.stderr == ""
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    return {r["domain"]: r for r in results}


def test_every_scenario_per_sender_matches_the_catalog(
    world: WorldInfo, checked: dict[str, dict[str, Any]]
) -> None:
    catalog = load_catalog(world.catalog)
    assert set(checked) == {s.domain for s in catalog.scenarios}
    wrong = []
    for s in catalog.scenarios:
        r = checked[s.domain]
        if (r["verdict"], r["mail_outcome"]) != (s.verdict.value, s.mail_outcome.value):
            wrong.append(f"{s.domain}: {r['verdict']} {r['mail_outcome']}")
        for got in r["senders"]:
            want = s.expected_sender(got["sender"]).value
            if got["outcome"] != want:
                wrong.append(
                    f"{s.domain} {got['sender']}: {got['outcome']} ({got['error_code']} "
                    f"{got['reason']}), catalog {want}"
                )
        assert r["passes"] == all(o["receives_mail"] for o in r["senders"])
    assert not wrong, "\n".join(wrong)


def test_every_result_is_valid_against_the_schema(checked: dict[str, dict[str, Any]]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for r in checked.values():
        validator.validate(r)


def test_the_evidence_of_a_matching_host(checked: dict[str, dict[str, Any]]) -> None:
    r = checked["ee-311.com"]
    (host,) = r["evidence"]["hosts"]
    matched = [rec for rec in host["tlsa"]["records"] if rec["matched"]]
    (record,) = matched  # the leaf's record; the rollover's next key matches nothing
    assert record["usable"] and {m["depth"] for m in record["matched"]} == {0}
    assert {m["address"] for m in record["matched"]} == {p["address"] for p in host["probes"]}
    for probe in host["probes"]:
        assert probe["stage"] == "tls" and probe["tls_version"].startswith("TLSv1.")
        leaf = probe["handshakes"][0]["chain"][0]
        assert record["record"] == f"3 1 1 {leaf['spki_sha256']}"
        assert "mx.ee-311.com" in leaf["sans"] and leaf["key_type"] == "ecdsa"


# --------------------------------------------------------------------------- proven fixes

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_SIGALGS = {
    "rsa": "rsa_pss_rsae_sha256:rsa_pkcs1_sha256",
    "ecdsa": "ecdsa_secp256r1_sha256",
}


def presented_chain(address: str, host: str, variant: str) -> tuple[bytes, ...]:
    """The chain the server presents after STARTTLS, as ``openssl s_client`` sees it."""
    args = ["openssl", "s_client", "-connect", f"{address}:25", "-starttls", "smtp"]
    args += ["-servername", host, "-showcerts"]
    if variant in _SIGALGS:
        args += ["-sigalgs", _SIGALGS[variant]]
    proc = subprocess.run(args, input=b"", capture_output=True, timeout=30, check=False)
    pems = _PEM.findall(proc.stdout)
    assert pems, proc.stderr.decode(errors="replace")
    return tuple(
        x509.load_pem_x509_certificate(p).public_bytes(serialization.Encoding.DER) for p in pems
    )


def posttls_pkey_digest(world: WorldInfo, host: str) -> str:
    """posttls-finger's SHA-256 of the leaf's public key (``-C``: "pkey digest" at depth 0)."""
    env = dict(os.environ, MAIL_CONFIG=world.postfix_config_dir)
    proc = subprocess.run(
        ["posttls-finger", "-c", "-C", "-l", "may", "-t", "4", "-T", "4", f"[{host}]"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    m = re.search(r"^ 0 subject:.*?\n(?:.*\n)*?\s+pkey digest=([0-9A-F:]+)", proc.stdout, re.M)
    assert m, proc.stdout + proc.stderr
    return m.group(1).replace(":", "").lower()


def test_every_suggested_record_matches_what_the_server_presents(
    world: WorldInfo, checked: dict[str, dict[str, Any]]
) -> None:
    proven = 0
    for r in checked.values():
        for s in r["suggested_tlsa"]:
            rec = parse_tlsa(s["record"])
            base = s["owner"].removeprefix("_25._tcp.")
            names = (base, s["host"], r["domain"])
            for target in s["for"]:
                address, variant = target.split()
                chain = presented_chain(address, s["host"], variant)
                evidence = evaluate_chain((rec,), chain, time.time())
                assert authenticates(evidence, names), (r["domain"], s, target)
                if variant == "default" and rec.usage == 3:
                    assert rec.data.hex() == posttls_pkey_digest(world, s["host"])
                proven += 1
    # Every DANE mismatch of the catalog gets a fix (ee-mismatch, the TA failures, ...).
    assert proven >= 10
    assert {"ee-mismatch.com", "ta-wrong-name.com", "dual-rsa-only.net"} <= {
        d for d, r in checked.items() if r["suggested_tlsa"]
    }


# --------------------------------------------------------------------------- resolvers


def _one_line_exit_2(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("danescan: "), proc.stderr
    assert any(n in lines[0] for n in needles), lines[0]


def _check_with(world: WorldInfo, resolver: str) -> subprocess.CompletedProcess[str]:
    return danescan(
        "check",
        "ee-311.com",
        "--resolver",
        resolver,
        "--canary-secure",
        world.canary_secure,
        "--canary-bogus",
        world.canary_bogus,
        check=False,
        timeout=120,
    )


def test_an_unreachable_resolver_is_exit_2_and_one_line(world: WorldInfo) -> None:
    _one_line_exit_2(_check_with(world, "127.0.0.9:53"), "not usable", "TIMEOUT")


def test_a_non_validating_resolver_is_exit_2_and_one_line(world: WorldInfo) -> None:
    # The authoritative server answers every zone of the world but never validates.
    _one_line_exit_2(_check_with(world, world.auth), "AD", "validat", "canary")


class LyingResolver:
    """Forwards to the world's resolver with CD set (so nothing fails validation) and
    claims AD on every answer: a resolver that says "secure" to a bogus name."""

    def __init__(self, upstream: str, address: str = "127.0.0.10", port: int = 5353) -> None:
        self.upstream = upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self.spec = f"{address}:{port}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                wire, client = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            query.flags |= dns.flags.CD
            try:
                reply = dns.query.udp(query, self.upstream, timeout=3)
            except Exception:
                continue
            reply.flags |= dns.flags.AD
            reply.flags &= ~dns.flags.CD
            self.sock.sendto(reply.to_wire(), client)


@pytest.fixture
def liar(world: WorldInfo) -> Iterator[LyingResolver]:
    resolver = LyingResolver(world.resolver)
    resolver.thread.start()
    yield resolver
    resolver.stop.set()
    resolver.thread.join(5)
    resolver.sock.close()


def test_a_lying_resolver_is_exit_2_and_one_line(world: WorldInfo, liar: LyingResolver) -> None:
    _one_line_exit_2(_check_with(world, liar.spec), world.canary_bogus)


# --------------------------------------------------------------------------- watchlist


def test_the_watchlist_reports_a_change_made_between_two_runs(
    world: WorldInfo, tmp_path: Path
) -> None:
    """The change is real: between the runs the operator opts the MX host of ee-311.com
    out of probing (--blocklist), so DANE cannot be verified there any more."""
    state = tmp_path / "partners.sqlite"
    partners = tmp_path / "partners.txt"
    partners.write_text("# partners\nee-311.com\nrollover.se\nno-tlsa-nsec.com\n")
    args = ["check", "--file", str(partners), "--state", str(state), "--json", "--exit-on-change"]
    first = danescan(*args, *world_args(world))
    assert all(
        [c["kind"] for c in json.loads(line)["changes"]] == ["new"]
        for line in first.stdout.splitlines()
    )
    blocklist = tmp_path / "opt-out.txt"
    host = world.hosts["mx.ee-311.com"]
    blocklist.write_text(
        "".join(f"{a}/32\n" for a in host.ipv4) + "".join(f"{a}/128\n" for a in host.ipv6)
    )
    partners.write_text("ee-311.com\nrollover.se\n")  # no-tlsa-nsec.com leaves the list
    second = danescan(*args, "--blocklist", str(blocklist), *world_args(world), check=False)
    assert second.returncode == 1, second.stderr  # ee-311.com no longer passes
    assert "no longer on the list (forgotten): no-tlsa-nsec.com" in second.stderr
    got = {json.loads(line)["domain"]: json.loads(line) for line in second.stdout.splitlines()}
    assert got["rollover.se"]["changes"] == []
    kinds = {c["kind"]: c for c in got["ee-311.com"]["changes"]}
    assert {"newly_failing", "verdict", "mail_outcome", "sender"} <= set(kinds)
    assert (kinds["verdict"]["before"], kinds["verdict"]["after"]) == ("dane_valid", "unverified")
    # Lifted again: fixed; every domain receives, so --exit-on-change gives 4.
    third = danescan(*args, *world_args(world), check=False)
    assert third.returncode == 4, third.stdout + third.stderr
    fixed = json.loads(third.stdout.splitlines()[0])
    assert "fixed" in {c["kind"] for c in fixed["changes"]}
    # Text output says the same.
    fourth = danescan("check", "ee-311.com", "--state", str(state), *world_args(world))
    assert "changed" not in fourth.stdout  # nothing changed since the third run


# --------------------------------------------------------------------------- time


def test_at_and_days_look_ahead(world: WorldInfo) -> None:
    """World certificates are valid for about a year: in two years the DANE-TA leaf has
    expired (dates count for DANE-TA) while DANE-EE ignores them (RFC 7671 §5.1)."""
    later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 365 * 86400))
    proc = danescan(
        "check",
        "ta-good.com",
        "ee-311.com",
        "--at",
        later,
        "--json",
        *world_args(world),
        check=False,
    )
    got = {json.loads(line)["domain"]: json.loads(line) for line in proc.stdout.splitlines()}
    assert got["ta-good.com"]["verdict"] == "dane_broken"
    assert got["ee-311.com"]["verdict"] == "dane_valid"
    assert got["ta-good.com"]["judged_at"].startswith(later)
    now = danescan("check", "ta-good.com", "--days", "800", "--json", *world_args(world))
    kinds = {w["kind"] for w in json.loads(now.stdout)["lookahead"]}
    assert "certificate_expires" in kinds
    bad = danescan("check", "ta-good.com", "--at", "next tuesday", *world_args(world), check=False)
    assert bad.returncode == 2 and "is not a date" in bad.stderr


# --------------------------------------------------------------------------- output


def test_stdin_text_output_and_help(world: WorldInfo) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scanner", "check", "-", *world_args(world)],
        input="# from a pipe\nunsigned-uses-broken-dane.com\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout  # piped: no colour
    assert proc.stdout.startswith("OK   unsigned-uses-broken-dane.com: insecure")
    assert "sender postfix-dane: defer_or_bounce 4.7.5: Server certificate not trusted" in (
        proc.stdout
    )
    assert "suggested: _25._tcp.mx.ee-mismatch.com TLSA 3 1 1 " in proc.stdout
    strict = danescan(
        "check",
        "unsigned-uses-broken-dane.com",
        "--sender",
        "postfix-dane",
        *world_args(world),
        check=False,
    )
    assert strict.returncode == 1 and strict.stdout.startswith("FAIL")
    helptext = danescan("check", "--help").stdout
    assert "Exit status: 0" in helptext and "4 (with --state" in helptext


def test_colour_only_on_a_terminal(world: WorldInfo) -> None:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", "check", "ee-mismatch.com", *world_args(world)],
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    os.close(terminal)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(controller)
    assert proc.wait(30) == 1
    assert b"\x1b[" in out and b"FAIL" in out


# --------------------------------------------------------------------------- check = scan


def _stored_domain_facts(scan: Path) -> dict[str, tuple[DomainFacts, float]]:
    """Every domain of a stored scan, rebuilt from its ``facts`` columns as regrade does
    (``assemble``), with the time it was observed."""
    import pyarrow.parquet as pq

    plain: list[tuple[dict[str, Any], float]] = []
    hosts: dict[str, HostDns] = {}
    probes: dict[ProbeKey, SmtpProbe] = {}
    for path in sorted(scan.rglob("*.parquet")):
        parts = path.relative_to(scan).parts
        names = pq.read_schema(path).names
        if "domains" in parts:
            cols = ["facts", "scanned_at"]
            for row in pq.read_table(path, columns=cols).to_pylist():
                plain.append((json.loads(row["facts"]), row["scanned_at"].timestamp()))
        elif "hosts" in parts and "facts" in names:
            for text in pq.read_table(path, columns=["facts"]).column("facts").to_pylist():
                host = factjson.loads(HostDns, text)
                hosts[host.host] = host
        elif "addresses" in parts and "facts" in names:
            for text in pq.read_table(path, columns=["facts"]).column("facts").to_pylist():
                p = factjson.loads(SmtpProbe, text)
                probes[(p.host, p.address, p.sni)] = p
    out = {}
    for d, at in plain:
        mx = factjson.from_plain(DnsLookup, d["mx"])
        own = DomainFacts(
            mx.name,
            mx,
            implicit_mx=d["implicit_mx"],
            zone_keys=factjson.from_plain(ZoneKeys | None, d["zone_keys"]),
            mta_sts=factjson.from_plain(MtaSts | None, d["mta_sts"]),
        )
        probing = d.get("probing_enabled", True)
        out[mx.name] = (assemble(own, d["hosts"], hosts, probes if probing else None), at)
    return out


def test_check_and_scan_agree_on_every_scenario(
    world: WorldInfo, world_scan: Path, checked: dict[str, dict[str, Any]]
) -> None:
    """The scan's stored facts, judged by the rules and the sender profiles, give what
    ``check`` said of every scenario: verdict, mail outcome and each sender's outcome."""
    stored = _stored_domain_facts(world_scan)
    assert set(stored) == set(checked)
    trust = PkixTrust(tuple(x509.load_pem_x509_certificates(Path(world.ca_roots).read_bytes())))
    wrong = []
    for domain, (facts, at) in sorted(stored.items()):
        judgement = judge_domain(facts, at)
        senders = {
            o.sender.value: o.outcome.value for o in judge_senders(facts, judgement, at, trust)
        }
        r = checked[domain]
        scan_view = (judgement.verdict.value, judgement.mail_outcome.value, senders)
        check_view = (
            r["verdict"],
            r["mail_outcome"],
            {s["sender"]: s["outcome"] for s in r["senders"]},
        )
        if scan_view != check_view:
            wrong.append(f"{domain}: scan {scan_view}\n  check {check_view}")
    assert not wrong, "\n".join(wrong)


def test_inside_world_exec_bogus_answers_are_explained_from_the_world_s_root(
    world: WorldInfo,
) -> None:
    """``world exec`` hands the world's root key to danescan (DANESCAN_TRUST_ANCHOR):
    without it the chain walk starts from IANA's bundled anchor, which matches no key of
    the world's root, and every diagnosis would stop there."""
    bogus = next(sc for sc in load_catalog(world.catalog).scenarios if sc.bogus and sc.diagnosis)
    assert bogus.diagnosis is not None
    args = ["check", bogus.domain, "--json", *world_args(world, anchor=False)]
    env = {k: v for k, v in os.environ.items() if k != "DANESCAN_TRUST_ANCHOR"}
    danescan_cmd = [sys.executable, "-m", "scanner"]

    def codes(argv: list[str]) -> list[str]:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr  # a bogus domain receives no mail
        return [d["code"] for d in json.loads(proc.stdout)["dnssec_diagnoses"]]

    assert codes([*danescan_cmd, "world", "exec", "--", *danescan_cmd, *args]) == [
        bogus.diagnosis.code
    ]
    assert codes([*danescan_cmd, *args]) == ["dnssec_anchor_mismatch"]
