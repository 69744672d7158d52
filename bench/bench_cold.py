"""Issue 10's side-by-side on a *cold* validating resolver: danescan, dnsperf (C) and a
straightforward asyncio + dnspython loop on the same names, with the resolver's own CPU.

Run from outside the namespace (it restarts the world before every client, so that
each one meets an empty Unbound cache):

    danescan world build --bench 1000000          # once
    .venv/bin/python bench/bench_cold.py --domains 20000 --runs 3
    .venv/bin/python bench/bench_cold.py --domains 1000000 --runs 1 --clients danescan \
        --scan-args "--workers 2"
    .venv/bin/python bench/bench_cold.py --domains 1000000 --runs 1 --asyncio-domains 50000 \
        --clients danescan asyncio --scan-args "--workers 2"

Each run takes a slice of the bench list that no earlier run of this invocation asked
(``--skip`` moves the start; use a fresh region per invocation if Unbound was not
restarted meanwhile — it always is here). Per client and run:

* **dnsperf** asks each domain's three domain-stage questions (MX, ``_mta-sts`` TXT,
  ``_smtp._tls`` TXT) with DO set, 500 in flight from 4 sockets (``--dnsperf-clients``):
  the floor of client CPU per query;
* **danescan** ``scan --no-probe`` (in-process engine unless ``--scan-args`` says
  otherwise; the CPU counted is the whole process tree's): every question of the scan
  (the domain stage's, each MX host's A/AAAA/TLSA once per scan, follow-ups);
* **asyncio** ``bench/baseline_asyncio.py``: the same questions as the scan, asked the
  way one writes it first, 256 domains at a time.

Printed per client (medians over runs): wall seconds, domains/s, queries, the client's
CPU per query and per domain (its own rusage: user + system), and the CPU of Unbound and
of NSD (its serving children included) during the run (``/proc/<pid>/stat``); for
danescan also each step's wall time and CPU (``scan.json``'s ``clock``) and how many
cores the scan, Unbound and NSD kept busy in it (sampled every 0.25 s): what is left
idle is all that running steps side by side could gain. Unbound's
extra CPU in danescan's run over dnsperf's is the resolver's cost of the extra
questions; set against the wall-time gap it says how much of that gap is the resolver's
work rather than the scanner's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib import medians, scan_argv, scan_counts

from scanner.world.info import WorldInfo, world_dir

DANESCAN = [sys.executable, "-m", "scanner"]
HERE = Path(__file__).parent
TICKS = os.sysconf("SC_CLK_TCK")


def restart_world() -> None:
    subprocess.run([*DANESCAN, "world", "down"], check=True, capture_output=True)
    subprocess.run([*DANESCAN, "world", "up"], check=True, capture_output=True)


def resolver_setup() -> str:
    """What the world's Unbound was built with (``DANESCAN_WORLD_RESOLVER_THREADS``,
    ``DANESCAN_WORLD_QUERY_LOG``): both change how fast it answers."""
    conf = dict(
        line.strip().split(": ", 1)
        for line in (world_dir() / "unbound.conf").read_text().splitlines()
        if ": " in line
    )
    log = "query log on" if conf.get("log-queries") == "yes" else "no query log"
    return f"{conf.get('num-threads', '?')} thread(s), {log}"


def inside(argv: Sequence[str]) -> list[str]:
    return [*DANESCAN, "world", "exec", "--", *argv]


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and its descendants, so far."""
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            fields = _stat(pid)
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += map(int, (task / "children").read_text().split())
    return total


def daemon_pid(name: str) -> int:
    return int((world_dir() / "run" / f"{name}.pid").read_text().split()[0])


def daemon_cpu(name: str) -> float:
    """Seconds of CPU (user + system) the world's daemon ``name`` (by its pid file) and
    its child processes have used so far: NSD serves from forked children."""
    return tree_cpu(daemon_pid(name))


Sample = tuple[float, float, float, float]  # (POSIX time, client, Unbound, NSD CPU seconds)


def sample_while(proc: subprocess.Popen[bytes], samples: list[Sample]) -> None:
    """Every 0.25 s until ``proc`` ends: the CPU used so far by it, Unbound and NSD (each
    with its children)."""
    resolver, authority = daemon_pid("unbound"), daemon_pid("nsd")
    while proc.poll() is None:
        samples.append((time.time(), tree_cpu(proc.pid), tree_cpu(resolver), tree_cpu(authority)))
        time.sleep(0.25)


def utilisation(samples: list[Sample], start: float, end: float) -> tuple[float, float, float]:
    """Cores used by the client, Unbound and NSD between ``start`` and ``end``."""
    inside_window = [s for s in samples if start <= s[0] <= end]
    if len(inside_window) < 2:
        return (0.0, 0.0, 0.0)
    first, last = inside_window[0], inside_window[-1]
    span = last[0] - first[0]
    return (
        (last[1] - first[1]) / span,
        (last[2] - first[2]) / span,
        (last[3] - first[3]) / span,
    )


def measured(
    argv: Sequence[str], log: Path, samples: list[Sample] | None = None
) -> dict[str, float]:
    """Run ``argv`` (stdout to ``log``): wall seconds, its CPU and Unbound's meanwhile.
    A command that execs (``world exec``) is measured as what it became. ``samples``:
    filled by ``sample_while`` meanwhile."""
    resolver0, authority0 = daemon_cpu("unbound"), daemon_cpu("nsd")
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        sampler = None
        if samples is not None:
            sampler = threading.Thread(target=sample_while, args=(proc, samples), daemon=True)
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        if sampler is not None:
            sampler.join()
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    assert code == 0, f"{argv[:6]} failed ({code}): {log.read_text()[-2000:]}"
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "unbound_cpu": daemon_cpu("unbound") - resolver0,
        "nsd_cpu": daemon_cpu("nsd") - authority0,
    }


def run_dnsperf(world: WorldInfo, names: list[str], work: Path, clients: int) -> dict[str, float]:
    questions = work / "questions.txt"
    questions.write_text("".join(f"{d} MX\n_mta-sts.{d} TXT\n_smtp._tls.{d} TXT\n" for d in names))
    log = work / "dnsperf.log"
    # dnsperf sends nothing to the IPv4 address inside the namespace: its IPv6 one.
    argv = ["dnsperf", "-s", world.resolver6, "-d", str(questions), "-n", "1", "-q", "500", "-D"]
    argv += ["-c", str(clients)]  # sockets: as many as danescan's --dns-sockets
    got = measured(inside(argv), log)
    text = log.read_text()
    sent = int(text.split("Queries sent:")[1].split()[0])
    return {**got, "queries": sent, "domains": len(names)}


def run_danescan(
    world: WorldInfo, listing: Path, work: Path, tag: str, extra: Sequence[str]
) -> dict[str, float]:
    out = work / f"scan-{tag}"
    argv = inside(scan_argv(world, listing, out, "--no-probe", *extra))
    samples: list[Sample] = []
    got = measured(argv, work / f"{tag}.log", samples)
    domains, queries = scan_counts(out)
    state = json.loads((out / "scan.json").read_text())
    stats = state.get("stats", {})
    peak = max(
        (mib for s in stats.values() for mib in s["peak_rss_mib_per_process"].values()),
        default=0,
    )
    # Each step's wall time and the scan process's CPU in it (the in-process engine's
    # CPU is all in that process): where a cold scan's time goes.
    steps = {
        f"{kind} {step}": float(figures[key])
        for step, figures in state.get("clock", {}).items()
        for kind, key in (("wall", "wall_seconds"), ("cpu", "driver_cpu_seconds"))
    }
    # How busy the machine was in each step: the cores the scan, Unbound and NSD used.
    for step, figures in state.get("clock", {}).items():
        cores = utilisation(samples, figures["started_at"], figures["ended_at"])
        for who, used in zip(("scan", "unbound", "nsd"), cores, strict=True):
            steps[f"cores {who} {step}"] = used
    return {**got, "queries": queries, "domains": domains, "peak_task_mib": float(peak), **steps}


def run_asyncio(world: WorldInfo, listing: Path, count: int, work: Path) -> dict[str, float]:
    log = work / "asyncio.log"
    argv = [
        sys.executable,
        str(HERE / "baseline_asyncio.py"),
        "--file",
        str(listing),
        "--domains",
        str(count),
        "--resolver",
        world.resolver_spec,
        "--concurrency",
        "256",
        "--json",
    ]
    got = measured(inside(argv), log)
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return {**got, "queries": result["queries"], "domains": result["domains"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip", type=int, default=0, help="start this far into the list")
    parser.add_argument(
        "--clients",
        nargs="+",
        default=["dnsperf", "danescan", "asyncio"],
        choices=["dnsperf", "danescan", "asyncio"],
    )
    parser.add_argument(
        "--scan-args", default="", help="more options of danescan's scan, e.g. '--workers 2'"
    )
    parser.add_argument(
        "--dnsperf-clients",
        type=int,
        default=4,
        help="dnsperf's sockets (-c); danescan uses 4 per task unless --scan-args says",
    )
    parser.add_argument(
        "--asyncio-domains",
        type=int,
        default=0,
        help="the asyncio loop asks only the first N domains of each run's slice (its rate "
        "is its own CPU's, the same at any size; 1M domains would take it an hour)",
    )
    args = parser.parse_args()
    world = WorldInfo.load(world_dir() / "world.json")
    assert world.bench_domains, "the world has no bench domains: danescan world build --bench N"
    names = Path(world.bench_domains).read_text().split()
    need = args.skip + args.domains * args.runs
    assert len(names) >= need, f"the world has {len(names)} bench domains, {need} needed"
    results: dict[str, list[dict[str, float]]] = {c: [] for c in args.clients}
    with tempfile.TemporaryDirectory(dir=Path.cwd() / "work") as tmp:
        work = Path(tmp)
        for run in range(args.runs):
            start = args.skip + run * args.domains
            chunk = names[start : start + args.domains]
            listing = work / f"domains-{run}.txt"
            listing.write_text("\n".join(chunk) + "\n")
            for client in args.clients:
                restart_world()  # every client meets an empty cache
                if client == "dnsperf":
                    got = run_dnsperf(world, chunk, work, args.dnsperf_clients)
                elif client == "danescan":
                    got = run_danescan(world, listing, work, str(run), args.scan_args.split())
                else:
                    count = min(args.asyncio_domains or len(chunk), len(chunk))
                    got = run_asyncio(world, listing, count, work)
                results[client].append(got)
                print(f"run {run} {client}: {json.dumps({k: round(v, 3) for k, v in got.items()})}")
    print(
        f"\n{args.domains:,} bench domains per run, cold Unbound ({resolver_setup()}) for "
        f"every client, medians of {args.runs}"
    )
    print(
        f"{'client':<10} {'wall s':>8} {'domains/s':>10} {'queries':>9} "
        f"{'CPU µs/query':>13} {'CPU µs/domain':>14} {'Unbound CPU s':>14} {'NSD CPU s':>10}"
    )
    summary: dict[str, dict[str, float]] = {}
    for client, runs in results.items():
        m = medians(runs)
        m["rate"] = statistics.median(r["domains"] / r["wall"] for r in runs)
        m["per_query"] = statistics.median(r["cpu"] / r["queries"] * 1e6 for r in runs)
        m["per_domain"] = statistics.median(r["cpu"] / r["domains"] * 1e6 for r in runs)
        summary[client] = m
        print(
            f"{client:<10} {m['wall']:>8.1f} {m['rate']:>10,.0f} {m['queries']:>9,.0f} "
            f"{m['per_query']:>13,.1f} {m['per_domain']:>14,.1f} {m['unbound_cpu']:>14.1f} "
            f"{m['nsd_cpu']:>10.1f}"
        )
    if "danescan" in summary:
        print(
            f"danescan: largest peak RSS of one task {summary['danescan']['peak_task_mib']:.0f} MiB"
        )
    if "danescan" in summary:
        d = summary["danescan"]
        order = ("partition", "domain", "host", "diagnose", "probe", "judge", "compact")
        steps = [s for s in order if f"wall {s}" in d]
        print(
            f"danescan steps (of {os.cpu_count()} cores): wall s, the scan process's CPU s, "
            "cores used by the scan + Unbound + NSD"
        )
        for s in steps:
            used = [d.get(f"cores {who} {s}", 0.0) for who in ("scan", "unbound", "nsd")]
            print(
                f"  {s:<10} {d['wall ' + s]:6.1f} {d['cpu ' + s]:6.1f}   "
                f"{used[0]:.2f} + {used[1]:.2f} + {used[2]:.2f} = {sum(used):.2f}"
            )
    if "danescan" in summary and "dnsperf" in summary:
        d, p = summary["danescan"], summary["dnsperf"]
        gap = d["wall"] - p["wall"]
        extra = d["unbound_cpu"] - p["unbound_cpu"]
        print(
            f"danescan CPU per query / dnsperf's: {d['per_query'] / p['per_query']:.1f}×; "
            f"wall gap {gap:.1f} s, of which Unbound's extra CPU for the extra questions "
            f"{extra:.1f} s ({100 * extra / gap if gap > 0 else 0:.0f} % of the gap)"
        )
    if "danescan" in summary and "asyncio" in summary:
        ratio = summary["danescan"]["rate"] / summary["asyncio"]["rate"]
        print(f"danescan domains/s / asyncio + dnspython's: {ratio:.1f}×")


if __name__ == "__main__":
    main()
