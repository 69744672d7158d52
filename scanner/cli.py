"""The ``danescan`` command: scan, check, regrade, plus the world and analysis commands.

Exit status: 0 success; 1 a ``check`` found a domain that a DANE-enforcing sender
could not deliver to; 2 usage errors, an unusable resolver or output directory;
3 a scan stopped because its resolver failed mid-scan (resumable); 130 interrupted.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click
import trio

from scanner import __version__
from scanner.runs.scan import (
    ResolverFailed,
    Scan,
    ScanConfig,
    ScanError,
    ScanProgress,
    raise_scan_error,
)

DEFAULT_CANARY_SECURE = "isc.org"
DEFAULT_CANARY_BOGUS = "dnssec-failed.org"


def parse_resolver(text: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``[V6]:PORT`` or a bare IPv6 address → (address, port)."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise click.BadParameter(f"bad resolver {text!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise click.BadParameter(f"bad port in resolver {text!r}")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise click.BadParameter(f"resolver must be an IP address, got {host!r}") from None
    if not 0 < port < 65536:
        raise click.BadParameter(f"bad port in resolver {text!r}")
    return host, port


def system_resolvers(path: Path = Path("/etc/resolv.conf")) -> list[tuple[str, int]]:
    found = []
    try:
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                found.append((fields[1].split("%")[0], 53))
    except OSError:
        pass
    return found


def _resolvers(values: tuple[str, ...]) -> list[tuple[str, int]]:
    resolvers = [parse_resolver(v) for v in values] or system_resolvers()
    if not resolvers:
        raise click.UsageError("no resolver: pass --resolver ADDR or configure /etc/resolv.conf")
    return resolvers


resolver_option = click.option(
    "--resolver",
    "resolvers",
    multiple=True,
    metavar="ADDR[:PORT]",
    help="Validating resolver to use (repeatable). Default: /etc/resolv.conf's.",
)
canary_secure_option = click.option(
    "--canary-secure",
    default=DEFAULT_CANARY_SECURE,
    show_default=True,
    help="A name that must validate (AD) for the resolver self-check.",
)
canary_bogus_option = click.option(
    "--canary-bogus",
    default=DEFAULT_CANARY_BOGUS,
    show_default=True,
    help="A name that must fail validation (SERVFAIL) for the resolver self-check.",
)


@click.group()
@click.version_option(__version__, prog_name="danescan")
@click.option("-v", "--verbose", count=True, help="More log output.")
def main(verbose: int) -> None:
    """Measure DNSSEC and DANE for SMTP (RFC 7672) and readiness for mandatory DANE."""
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Scan dir.")
@resolver_option
@canary_secure_option
@canary_bogus_option
@click.option("--no-probe", is_flag=True, help="DNS only: no SMTP connections.")
@click.option("--resume", is_flag=True, help="Continue an interrupted scan in --out.")
@click.option("--concurrency", default=256, show_default=True, help="Domains in flight.")
@click.option("--dns-in-flight", default=512, show_default=True, help="DNS queries in flight.")
@click.option("--qps", type=float, default=None, help="Cap on DNS queries per second.")
@click.option("--probe-limit", default=64, show_default=True, help="SMTP probes in flight.")
@click.option("--per-destination", default=1, show_default=True, help="Connections per IP.")
@click.option("--ehlo-name", default="danescan.invalid", show_default=True)
@click.option(
    "--blocklist",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Opt-out file: networks (CIDR) and domains never to probe.",
)
@click.option("--smtp-port", default=25, show_default=True, hidden=True)
@click.option(
    "--checkpoint-domains",
    default=5000,
    show_default=True,
    help="Write a checkpoint after this many domains.",
)
@click.option("--no-mta-sts", is_flag=True, help="Skip MTA-STS / TLS-RPT lookups.")
@click.option(
    "--mta-sts-ca",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="PEM roots trusted for MTA-STS policy hosts (default: the system's, SSL_CERT_FILE).",
)
@click.option(
    "--resident",
    default=50_000,
    show_default=True,
    help="Finished host/probe/TLSA/zone results kept in memory per kind; older ones spill "
    "to a scratch file in --out (bounded memory on huge scans).",
)
@click.option("--progress/--no-progress", default=None, help="Live display (default: on a tty).")
def scan(
    input_path: str,
    out: Path,
    resolvers: tuple[str, ...],
    canary_secure: str,
    canary_bogus: str,
    no_probe: bool,
    resume: bool,
    concurrency: int,
    dns_in_flight: int,
    qps: float | None,
    probe_limit: int,
    per_destination: int,
    ehlo_name: str,
    blocklist: Path | None,
    smtp_port: int,
    checkpoint_domains: int,
    no_mta_sts: bool,
    mta_sts_ca: str | None,
    resident: int,
    progress: bool | None,
) -> None:
    """Scan the domains in INPUT (a list, CSV or Tranco file; - for stdin) into --out."""
    config = ScanConfig(
        input=input_path,
        out=out,
        resolvers=_resolvers(resolvers),
        canary_secure=canary_secure,
        canary_bogus=canary_bogus,
        probe=not no_probe,
        resume=resume,
        concurrency=max(1, concurrency),
        dns_in_flight=max(1, dns_in_flight),
        qps=qps,
        probe_limit=max(1, probe_limit),
        per_destination=max(1, per_destination),
        ehlo_name=ehlo_name,
        smtp_port=smtp_port,
        blocklist=blocklist,
        checkpoint_domains=max(1, checkpoint_domains),
        mta_sts=not no_mta_sts,
        mta_sts_cafile=mta_sts_ca,
        resident=max(1, resident),
    )
    live = sys.stderr.isatty() if progress is None else progress
    runner = Scan(config)
    try:
        result = trio.run(_run_with_display, runner, live)
    except ResolverFailed as exc:
        click.echo(f"danescan: {exc}", err=True)
        sys.exit(3)
    except ScanError as exc:
        click.echo(f"danescan: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo(f"danescan: interrupted; resume with --resume --out {out}", err=True)
        sys.exit(130)
    click.echo(_summary(result, runner.scan_id, out), err=True)


def _summary(p: ScanProgress, scan_id: str, out: Path) -> str:
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(p.verdicts.items(), key=lambda kv: -kv[1]))
    return (
        f"scan {scan_id}: {p.done} domains scanned ({p.skipped_resume} already done, "
        f"{p.invalid} invalid lines) in {time.monotonic() - p.started:.1f} s → {out}\n"
        f"  {verdicts}"
    )


async def _run_with_display(runner: Scan, live: bool) -> ScanProgress:
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_display, runner.progress, live)
            result = await runner.run()
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_scan_error(group)
        raise
    return result


async def _display(p: ScanProgress, live: bool) -> None:
    """A rich live display on a terminal; a log line every 10 s otherwise."""
    if not live:
        while True:
            await trio.sleep(10)
            click.echo(
                f"danescan: {p.done} done, {p.in_flight} in flight, {p.rate:.0f}/s", err=True
            )
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True)
    with Live(console=console, refresh_per_second=4, transient=True) as view:
        while True:
            top = sorted(p.verdicts.items(), key=lambda kv: -kv[1])[:6]
            view.update(
                f"[bold]{p.done:,}[/] domains done · {p.in_flight} in flight · "
                f"{p.rate:,.0f}/s · {p.invalid} invalid · {p.skipped_resume:,} resumed\n"
                + "  ".join(f"{k}: {v:,}" for k, v in top)
            )
            await trio.sleep(0.25)


@main.command()
@click.argument("domains", nargs=-1, required=True)
@resolver_option
@canary_secure_option
@canary_bogus_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per domain.")
@click.option("--no-probe", is_flag=True, help="DNS only.")
@click.option("--ehlo-name", default="danescan.invalid", show_default=True)
@click.option("--smtp-port", default=25, show_default=True, hidden=True)
def check(
    domains: tuple[str, ...],
    resolvers: tuple[str, ...],
    canary_secure: str,
    canary_bogus: str,
    as_json: bool,
    no_probe: bool,
    ehlo_name: str,
    smtp_port: int,
) -> None:
    """Would DOMAINS receive mail from a sender that enforces DANE? Exit 0 if all would."""
    from scanner.runs.check import CheckFailed, check_domains

    try:
        results = trio.run(
            check_domains,
            list(domains),
            _resolvers(resolvers),
            canary_secure,
            canary_bogus,
            not no_probe,
            ehlo_name,
            smtp_port,
        )
    except CheckFailed as exc:
        click.echo(f"danescan: {exc}", err=True)
        sys.exit(2)
    failing = 0
    for result in results:
        if as_json:
            click.echo(json.dumps(result, sort_keys=False))
        else:
            click.echo(_check_text(result))
        if not result["receives_mail"]:
            failing += 1
    sys.exit(1 if failing else 0)


def _check_text(r: dict[str, Any]) -> str:
    mark = "OK  " if r["receives_mail"] else "FAIL"
    lines = [f"{mark} {r['domain']}: {r['verdict']}, {r['mail_outcome']}"]
    if r.get("error_code"):
        lines.append(f"     a DANE-enforcing sender reports {r['error_code']}")
    for h in r.get("hosts", []):
        lines.append(
            f"     MX {h['preference']} {h['host']}: {h['outcome']} {h['detail']}".rstrip()
        )
    if r.get("fix"):
        lines.append(f"     fix: {r['fix']}")
    for f in r.get("findings", []):
        where = f" [{f['host']}]" if f.get("host") else ""
        lines.append(f"     finding {f['code']}{where}: {f['text']}")
        if f.get("detail"):
            lines.append(f"       ({f['detail']})")
    return "\n".join(lines)


@main.command()
@click.argument("scan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="New scan dir.")
def regrade(scan_dir: Path, out: Path) -> None:
    """Re-judge a stored scan with the current rules (no network), into --out."""
    from scanner.runs.regrade import RegradeError
    from scanner.runs.regrade import regrade as run_regrade

    try:
        count = run_regrade(scan_dir, out)
    except RegradeError as exc:
        click.echo(f"danescan: {exc}", err=True)
        sys.exit(2)
    click.echo(f"regraded {count} domains → {out}", err=True)


def _attach() -> None:
    """Attach the command groups that live with their code (world, analysis)."""
    from analysis.cli import COMMANDS
    from scanner.world.cli import world

    main.add_command(world)
    for command in COMMANDS:
        main.add_command(command)


_attach()
