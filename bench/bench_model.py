"""The model's types: CPU to build them and to write and read their facts JSON, two code
bases side by side (issue 10: frozen dataclasses against msgspec Structs).

Each round runs one child process per code base (``--base``, then this checkout, the order
swapped every round), which imports that code base's ``scanner`` and times, with
``time.process_time``, the best of 5 loops of each operation:

* ``DnsLookup(...)``: keyword arguments, as ``resolve._exchange_done`` builds an answer;
* ``DomainFacts(...)``: positional, as ``rows.OwnText.facts`` and ``assemble`` build one;
* ``assemble``: a domain's own facts completed with its hosts (the judge stage, per domain);
* ``factjson.dumps`` / ``factjson.loads(DomainFacts, ...)`` of a DNS-only domain (one MX
  host, a TLSA RRset) and of a probed one (two MX hosts, one probe each, a 2-certificate
  chain of 1 kB certificates).

Both code bases must write the same JSON (checked). Prints the median over ``--rounds`` of
each code base's ns per operation.

    .venv/bin/python bench/bench_model.py --base /tmp/struct-base [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from scanner.core import factjson
from scanner.core.assemble import assemble
from scanner.core.model import (
    DnsLookup, DomainFacts, HostDns, ProbeStatus, SmtpProbe, TlsHandshake, Rrsig,
)

def lk(name, rrtype, records):
    sig = (Rrsig(rrtype, 13, "example.com", 1_900_000_000, 1_800_000_000),)
    return DnsLookup(name, rrtype, "NOERROR", ad=True, records=tuple(records), ttl=300, rrsigs=sig)

def host(name):
    tlsa = lk(f"_25._tcp.{name}", "TLSA", ["3 1 1 " + "ab" * 32])
    return HostDns(name, lk(name, "A", ["192.0.2.1"]), lk(name, "AAAA", ["2001:db8::1"]), (tlsa,))

def probe(name):
    hs = TlsHandshake("default", True, "TLSv1.3", "TLS_AES_128_GCM_SHA256", (b"\x30" * 1000,) * 2)
    return SmtpProbe(name, "192.0.2.1", name, ProbeStatus.OK, banner="220 " + name,
                     ehlo=("250-" + name, "250 STARTTLS"), starttls_offered=True,
                     starttls_reply="220 go", handshakes=(hs,), started_at=1.7e9, elapsed=0.25)

h1, h2 = host("mx1.example.com"), host("mx2.example.com")
dns_only = DomainFacts("example.com", lk("example.com", "MX", ["10 mx1.example.com."]),
                       hosts={h1.host: h1}, probing_enabled=False)
probed = DomainFacts("example.com",
                     lk("example.com", "MX", ["10 mx1.example.com.", "20 mx2.example.com."]),
                     hosts={h1.host: h1, h2.host: h2},
                     probes={h1.host: (probe(h1.host),), h2.host: (probe(h2.host),)})
own = DomainFacts("example.com", probed.mx)
names = [h1.host, h2.host]
hosts = {h1.host: h1, h2.host: h2}
texts = {"dns-only": factjson.dumps(dns_only), "probed": factjson.dumps(probed)}
mx, chain, edes, sigs = "example.com", ("alias.example.com",), (), dns_only.mx.rrsigs

def best(fn, n):
    times = []
    for _ in range(5):
        t = time.process_time()
        fn(n)
        times.append((time.process_time() - t) / n * 1e9)
    return min(times)

def new_lookup(n):
    for _ in range(n):
        DnsLookup(name=mx, rrtype="MX", rcode="NOERROR", ad=True, records=("10 a.",),
                  cname_chain=chain, ttl=300, ede=edes, rrsigs=sigs, cname_limit_hit=False,
                  error="")

def new_facts(n):
    m, d = dns_only.mx, dns_only.hosts
    for _ in range(n):
        DomainFacts("example.com", m, False, d, {}, None, None, True)

def assembled(n):
    for _ in range(n):
        assemble(own, names, hosts, None)

def dumps(value):
    def run(n):
        for _ in range(n):
            factjson.dumps(value)
    return run

def loads(text):
    def run(n):
        for _ in range(n):
            factjson.loads(DomainFacts, text)
    return run

out = {
    "DnsLookup(...)": best(new_lookup, 100_000),
    "DomainFacts(...)": best(new_facts, 100_000),
    "assemble (2 hosts)": best(assembled, 50_000),
    "dumps, DNS-only": best(dumps(dns_only), 20_000),
    "dumps, probed": best(dumps(probed), 10_000),
    "loads, DNS-only": best(loads(texts["dns-only"]), 20_000),
    "loads, probed": best(loads(texts["probed"]), 10_000),
}
print(json.dumps({"times": out, "texts": texts}))
"""


def run(code: Path) -> dict[str, object]:
    got = subprocess.run(
        [sys.executable, "-c", CHILD],
        env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"},
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(got)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the old code base")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    codes = {"old": args.base.resolve(), "new": HERE}
    times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    texts: dict[str, object] = {}
    for r in range(args.rounds):
        for label in ("old", "new") if r % 2 == 0 else ("new", "old"):
            result = run(codes[label])
            texts[label] = result["texts"]
            for op, ns in result["times"].items():  # type: ignore[attr-defined]
                times[label].setdefault(op, []).append(ns)
    assert texts["old"] == texts["new"], "the two code bases write different JSON"
    print(f"medians of {args.rounds} rounds (each the best of 5 loops), ns per operation\n")
    print("| operation | dataclasses | Structs | new/old |")
    print("|---|---:|---:|---:|")
    for op, old in times["old"].items():
        o, n = statistics.median(old), statistics.median(times["new"][op])
        print(f"| {op} | {o:,.0f} | {n:,.0f} | {n / o:.2f} |")


if __name__ == "__main__":
    main()
