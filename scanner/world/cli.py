"""``danescan world build | up | down | status | exec``: the click group of the local world.

The lead attaches it to the main command with ``main.add_command(world)``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import click

from scanner.world import control, netns
from scanner.world.build import build as build_world
from scanner.world.info import WorldError, ca_roots_path, trust_anchor_path, world_dir


def _dir(value: str | None) -> Path:
    return Path(value).resolve() if value else world_dir()


_dir_option = click.option(
    "--dir",
    "directory",
    default=None,
    help="State directory (default: $DANESCAN_WORLD_DIR or <repo>/work/world).",
)
_catalog_option = click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Scenario catalog (default: data/scenarios.toml).",
)


@click.group()
def world() -> None:
    """Build, start and stop the local world (private DNSSEC root, NSD, Unbound, SMTP)."""


@world.command()
@_dir_option
@_catalog_option
@click.option(
    "--bench",
    type=int,
    default=control.DEFAULT_BENCH,
    show_default=True,
    help="Benchmark domains to generate next to the scenarios (e.g. 1000000; 0: none). "
    "The tests need at least the default.",
)
def build(directory: str | None, catalog: Path | None, bench: int) -> None:
    """Build keys, signed zones, certificates and configurations."""
    started = time.monotonic()
    d = _dir(directory)
    try:
        info = build_world(d, catalog, bench=bench)
    except WorldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"built {len(info.domains)} scenario domains"
        + (f" + {info.bench_count} bench domains ({info.bench_domains})" if bench else "")
        + f" in {d} ({time.monotonic() - started:.1f} s)"
    )


@world.command()
@_dir_option
@_catalog_option
@click.option("--rebuild", is_flag=True, help="Rebuild even if the build is fresh.")
def up(directory: str | None, catalog: Path | None, rebuild: bool) -> None:
    """Start the world (building it first if needed) and wait until it validates."""
    started = time.monotonic()
    try:
        info = control.up(_dir(directory), catalog, rebuild=rebuild)
    except WorldError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"world up in {time.monotonic() - started:.1f} s: resolver {info.resolver}, "
        f"{len(info.domains)} domains; run commands inside with: danescan world exec -- CMD"
    )


@world.command()
@_dir_option
def down(directory: str | None) -> None:
    """Stop every process of the world and delete its namespace."""
    downed = control.down(_dir(directory))
    stopped = downed.stopped
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    if downed.others:
        kept = control.describe_worlds(downed.others)
        click.echo(f"namespace kept: another world runs in it: {kept}")


@world.command()
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(directory: str | None, as_json: bool) -> None:
    """Tell what runs; exit status 1 when the world is not up."""
    st = control.status(_dir(directory))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "up": st.up,
                    "namespace": st.namespace,
                    "processes": [asdict(p) for p in st.processes],
                    "info": asdict(st.info) if st.info else None,
                }
            )
        )
    else:
        for line in st.lines():
            click.echo(line)
    sys.exit(0 if st.up else 1)


@world.command()
@_dir_option
@click.option("--bench", "bench", is_flag=True, help="The benchmark domains instead.")
def domains(directory: str | None, bench: bool) -> None:
    """Print the world's scenario domains (or its benchmark domains), one a line: a
    domain list ready for `danescan scan` or `danescan check --file`."""
    try:
        info = control.world_info(_dir(directory))
    except WorldError as exc:
        raise click.ClickException(str(exc)) from exc
    if bench:
        if not info.bench_domains:
            raise click.ClickException("this world has no bench domains (world build --bench N)")
        click.echo(Path(info.bench_domains).read_text(), nl=False)
        return
    for name in info.domains:
        click.echo(name)


@world.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(argv: tuple[str, ...]) -> None:
    """Run a command inside the world's namespace: danescan world exec -- CMD ARGS.

    SSL_CERT_FILE (OpenSSL, so Python's ssl default context) and CURL_CA_BUNDLE (curl,
    which has its own bundle path) name the world CA root: PKIX clients inside trust the
    world's HTTPS servers and nothing else. DANESCAN_TRUST_ANCHOR names the world's root
    key, so that a scan or check inside explains bogus answers from the root the world's
    resolver validates with (the bundled IANA anchor matches no key of the world's root:
    every diagnosis would stop there).
    """
    d = world_dir()
    roots = str(ca_roots_path(d))
    env = {"SSL_CERT_FILE": roots, "CURL_CA_BUNDLE": roots}
    anchor = trust_anchor_path(d)
    if anchor.exists():
        env["DANESCAN_TRUST_ANCHOR"] = str(anchor)
    netns.exec_inside(list(argv), env=env)
