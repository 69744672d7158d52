"""Whole cold scans of two or more variants (code trees, scan options), alternating.

A cold scan's CPU moves 10-20 % with this shared machine's load within minutes, so a
change of a few per cent shows only when its variants run in turns, each on a slice of
bench domains no run has asked before (cold in Unbound's cache without a restart: the
slices never repeat, from ``--skip`` on). Every round runs each variant once, in the
order given, on the next slice (start with the world freshly up, ``danescan world down;
danescan world up``, or past the slices of earlier runs): ``danescan scan SLICE
--no-probe`` inside the world, its CPU the process tree's (user + system), and from
``scan.json``'s clock the domain and host stages' CPU (the scan process's: the part a
change of the gathering moves).

A variant is ``NAME=TREE`` or ``NAME=TREE:OPTIONS``: ``TREE`` is a checkout or a copy of
the code whose ``scanner`` the scan imports (``.`` for this one; a copy keeps its built
codec, which ``git archive`` would not), ``OPTIONS`` more options of ``danescan scan``::

    danescan world up    # a world built with --bench 1000000
    .venv/bin/python bench/bench_ab.py --domains 30000 --rounds 5 --skip 100000 \\
        --variant now=. --variant wait20=.:"--dns-reply-wait 0.02"

Prints each run and, per variant, the medians over rounds and in how many rounds its
domain stage took less CPU than the first variant's in the same round.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from benchlib import medians, run_measured, scan_argv

from scanner.world.info import WorldInfo, world_dir

DANESCAN = [sys.executable, "-m", "scanner"]


def parse_variant(text: str) -> tuple[str, Path, list[str]]:
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--variant {text!r}: NAME=TREE[:OPTIONS]")
    tree, _, options = rest.partition(":")
    return name, Path(tree or ".").resolve(), shlex.split(options)


def one_scan(
    world: WorldInfo, names: list[str], tree: Path, options: list[str], work: Path
) -> dict[str, float]:
    listing = work / "slice.txt"
    listing.write_text("\n".join(names) + "\n")
    out = work / "out"
    argv = [*DANESCAN, "world", "exec", "--", *scan_argv(world, listing, out, "--no-probe")]
    argv += options
    wall, _, cpu = run_measured(argv, work / "scan.log", code=tree)
    clock = json.loads((out / "scan.json").read_text())["clock"]
    got = {
        "wall": wall,
        "us_per_domain": cpu / len(names) * 1e6,
        "domain_cpu": clock["domain"]["driver_cpu_seconds"],
        "host_cpu": clock["host"]["driver_cpu_seconds"],
        "domain_wall": clock["domain"]["wall_seconds"],
    }
    for path in sorted(out.rglob("*"), reverse=True):  # the next run's --out must be new
        path.unlink() if path.is_file() else path.rmdir()
    out.rmdir()
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=30_000, help="per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip", type=int, default=0, help="the first slice starts here")
    parser.add_argument("--variant", action="append", required=True, type=parse_variant)
    args = parser.parse_args()
    world = WorldInfo.load(world_dir() / "world.json")
    assert world.bench_domains, "the world has no bench domains: danescan world build --bench N"
    names = Path(world.bench_domains).read_text().split()
    need = args.skip + args.domains * args.rounds * len(args.variant)
    assert len(names) >= need, f"the world has {len(names)} bench domains, {need} needed"
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in args.variant}
    start = args.skip
    with tempfile.TemporaryDirectory(dir=Path.cwd() / "work") as tmp:
        for round_no in range(args.rounds):
            for name, tree, options in args.variant:
                got = one_scan(world, names[start : start + args.domains], tree, options, Path(tmp))
                start += args.domains
                runs[name].append(got)
                print(
                    f"round {round_no + 1} {name:<10} {got['us_per_domain']:7.1f} µs/domain  "
                    f"domain stage {got['domain_cpu']:6.2f} s CPU "
                    f"{got['domain_wall']:6.1f} s wall  "
                    f"host stage {got['host_cpu']:5.2f} s CPU  wall {got['wall']:5.1f} s",
                    flush=True,
                )
    first = args.variant[0][0]
    print(
        f"\n{args.domains:,} cold bench domains per run, {args.rounds} rounds, medians; "
        f"slices {args.skip:,}-{start:,}"
    )
    print(
        f"{'variant':<10} {'µs/domain':>10} {'domain CPU s':>13} {'host CPU s':>11} "
        f"{'domain wall s':>14} {'fewer than ' + first:>20}"
    )
    for name, got in runs.items():
        med = medians(got)
        fewer = sum(
            a["domain_cpu"] < b["domain_cpu"] for a, b in zip(got, runs[first], strict=True)
        )
        print(
            f"{name:<10} {med['us_per_domain']:>10.1f} {med['domain_cpu']:>13.2f} "
            f"{med['host_cpu']:>11.2f} {med['domain_wall']:>14.1f} "
            f"{'' if name == first else f'{fewer} of {len(got)}':>20}"
        )


if __name__ == "__main__":
    main()
