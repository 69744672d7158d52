"""CPU of the DNS codec per query: ``dnswire`` as written, compiled (mypyc), and dnspython.

Asks the world's resolver the domain stage's questions of ``--domains`` bench domains
(MX, the MTA-STS and TLS-RPT TXT names) and each MX host's A, AAAA and TLSA questions
once (not timed), keeping the raw replies; then each codec encodes every question and
decodes its reply, ``--rounds`` times over all replies per run, in alternating runs.
Prints the median CPU µs per query (``time.process_time``) of each build: the compiled
one (``scanner.gather.codecs``) and the pure module in the same run, and dnspython's
codec (the reference) as the baseline. Every build's replies are checked equal first.

    danescan world exec -- .venv/bin/python bench/bench_codec.py [--domains 3000]
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanner.gather import codecs
from scanner.gather.dnswire import DnspythonCodec

WORLD = Path(__file__).resolve().parents[1] / "work" / "world" / "bench-domains.txt"
Asked = tuple[str, int, int, bytes]  # question name, type, id, the reply's octets


def record(names: list[str], resolver: str) -> list[Asked]:
    codec = DnspythonCodec()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    replies: list[Asked] = []
    hosts: set[str] = set()

    def ask(qname: str, rdtype: int) -> bytes | None:
        qid = random.randrange(65536)
        sock.sendto(codec.encode_query(qname, rdtype, qid, False, 1232), (resolver, 53))
        try:
            wire = sock.recv(65535)
        except TimeoutError:
            return None
        replies.append((qname, rdtype, qid, wire))
        return wire

    for name in names:
        mx = ask(name, 15)
        ask(f"_mta-sts.{name}", 16)
        ask(f"_smtp._tls.{name}", 16)
        if mx is not None:
            for rrset in codec.decode_reply(mx).answer:
                if rrset.rdtype == 15:
                    hosts.update(r.split()[1].rstrip(".") for r in rrset.records)
    for host in sorted(hosts - {""}):
        for rdtype in (1, 28):
            ask(host, rdtype)
        ask(f"_25._tcp.{host}", 52)
    return replies


def cpu_per_query(codec_class: Any, replies: list[Asked], rounds: int) -> float:
    codec = codec_class()
    start = time.process_time()
    for _ in range(rounds):
        for qname, rdtype, qid, wire in replies:
            codec.encode_query(qname, rdtype, qid, False, 1232)
            codec.decode_reply(wire)
    return (time.process_time() - start) / (rounds * len(replies)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=3000)
    parser.add_argument("--names", type=Path, default=WORLD, help="bench domain list")
    parser.add_argument("--resolver", default="127.53.0.53")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with args.names.open() as lines:
        names = [line.split()[0] for _, line in zip(range(args.domains), lines, strict=False)]
    replies = record(names, args.resolver)
    builds: dict[str, Any] = {"dnspython": DnspythonCodec}
    for module in codecs.IMPLEMENTATIONS:
        builds[codecs.build_name(module)] = module.FastCodec
    reference = [DnspythonCodec().decode_reply(wire) for *_, wire in replies]
    for label, codec_class in builds.items():  # the same replies, or no figures at all
        codec = codec_class()
        for (qname, rdtype, qid, wire), ref in zip(replies, reference, strict=True):
            codec.encode_query(qname, rdtype, qid, False, 1232)
            if codec.decode_reply(wire) != ref:
                raise SystemExit(f"{label}: a reply to {qname} decodes differently")
    print(
        f"codec build: {codecs.NATIVE_STATUS}; {len(replies):,} replies of {len(names):,} "
        f"domains, {args.runs} runs x {args.rounds} rounds, medians"
    )
    figures: dict[str, list[float]] = {label: [] for label in builds}
    for _ in range(args.runs):
        for label, codec_class in builds.items():
            rounds = 1 if label == "dnspython" else args.rounds
            figures[label].append(cpu_per_query(codec_class, replies, rounds))
    for label, runs in figures.items():
        print(f"{label:<10} {statistics.median(runs):8.2f} µs per query (encode + decode)")


if __name__ == "__main__":
    main()
