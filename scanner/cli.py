"""The ``danescan`` command: scan, check, regrade, plus the world and analysis commands.

What must live here: option parsing, the one mapping from errors to exit statuses
(``Danescan.invoke``: every ``DanescanError`` becomes one line and its ``exit_code``,
for every command, the world's and analysis's included), and the output formatting of
the commands. The work itself lives in ``scanner.runs``; ``scan`` and ``check`` share
one set of gathering options (``gather_options`` → ``scanner.runs.wiring``).
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import trio

from scanner import __version__
from scanner.errors import EXIT_INTERRUPTED, EXIT_STATUS_HELP, DanescanError, user_error
from scanner.runs.scan import Scan, ScanConfig, ScanProgress
from scanner.runs.wiring import (
    DEFAULT_CANARY_BOGUS,
    DEFAULT_CANARY_SECURE,
    DEFAULT_EHLO_NAME,
    SCAN_REPLY_WAIT,
    GatherOptions,
    pkix_trust,
)

F = TypeVar("F", bound=Callable[..., Any])


class Interrupted(DanescanError):
    exit_code = EXIT_INTERRUPTED


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


def gather_options(f: F) -> F:
    """The options of ``scan`` and ``check`` that decide what is gathered (one set,
    one set of defaults: ``scanner.runs.wiring.GatherOptions``)."""
    decorators = [
        click.option(
            "--resolver",
            "resolvers",
            multiple=True,
            metavar="ADDR[:PORT]",
            help="Validating resolver to use (repeatable). Default: /etc/resolv.conf's.",
        ),
        click.option(
            "--canary-secure",
            default=DEFAULT_CANARY_SECURE,
            show_default=True,
            help="A name that must validate (AD) for the resolver self-check.",
        ),
        click.option(
            "--canary-bogus",
            default=DEFAULT_CANARY_BOGUS,
            show_default=True,
            help="A name that must fail validation (SERVFAIL) for the resolver self-check.",
        ),
        click.option("--no-probe", is_flag=True, help="DNS only: no SMTP or HTTPS connections."),
        click.option(
            "--dns-in-flight",
            default=512,
            show_default=True,
            type=click.IntRange(min=1),
            help="DNS queries in flight.",
        ),
        click.option(
            "--dns-sockets",
            default=4,
            show_default=True,
            type=click.IntRange(min=1, max=64),
            help="UDP sockets (source ports) per resolver address, used in turn: a "
            "multi-threaded resolver spreads the questions of several over its threads.",
        ),
        click.option(
            "--dns-reply-wait",
            default=SCAN_REPLY_WAIT,
            show_default=True,
            type=click.FloatRange(min=0, max=0.1),
            help="Seconds a scan's DNS reader rests after reading only a few replies, so "
            "that it reads them in bursts: a process woken once per reply spends more CPU "
            "per reply (0: never rests; check never does).",
        ),
        click.option(
            "--qps",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Cap on DNS queries per second.",
        ),
        click.option(
            "--probe-limit",
            default=64,
            show_default=True,
            type=click.IntRange(min=1),
            help="SMTP probes in flight.",
        ),
        click.option(
            "--per-destination",
            default=1,
            show_default=True,
            type=click.IntRange(min=1),
            help="Connections at a time per IP address.",
        ),
        click.option(
            "--ehlo-name",
            default=DEFAULT_EHLO_NAME,
            show_default=True,
            callback=_check_ehlo_name,
            help="The name sent in EHLO (use one whose address maps back to it).",
        ),
        click.option(
            "--blocklist",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Opt-out file: networks (CIDR) and domains never to contact. A line that "
            "does not parse refuses the run.",
        ),
        click.option("--smtp-port", default=25, show_default=True, hidden=True),
        click.option("--no-mta-sts", is_flag=True, help="Skip MTA-STS / TLS-RPT lookups."),
        click.option(
            "--mta-sts-ca",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="PEM roots trusted for MTA-STS policy hosts (default: the system's, "
            "SSL_CERT_FILE).",
        ),
        click.option(
            "--trust-anchor",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            envvar="DANESCAN_TRUST_ANCHOR",
            help="DS or DNSKEY zone-file lines the chain walk that explains bogus answers "
            "starts from (default: $DANESCAN_TRUST_ANCHOR, which `danescan world exec` "
            "sets to the world's root key; else IANA's root anchors, bundled). A bad "
            "file: exit 2.",
        ),
        click.option(
            "--domain-timeout",
            default=600.0,
            show_default=True,
            type=click.FloatRange(min=0, min_open=True),
            help="Seconds for one domain's whole gathering.",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _check_ehlo_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from scanner.core.names import is_hostname

    if not is_hostname(value.rstrip(".")):
        raise click.BadParameter(f"{value!r} is not a host name")
    return value


def _gather(kw: dict[str, Any]) -> GatherOptions:
    """Pop the ``gather_options`` values out of a command's keyword arguments."""
    return GatherOptions(
        resolvers=tuple(_resolvers(kw.pop("resolvers"))),
        canary_secure=kw.pop("canary_secure"),
        canary_bogus=kw.pop("canary_bogus"),
        probe=not kw.pop("no_probe"),
        dns_in_flight=kw.pop("dns_in_flight"),
        dns_sockets=kw.pop("dns_sockets"),
        dns_reply_wait=kw.pop("dns_reply_wait"),
        qps=kw.pop("qps"),
        probe_limit=kw.pop("probe_limit"),
        per_destination=kw.pop("per_destination"),
        ehlo_name=kw.pop("ehlo_name"),
        blocklist=kw.pop("blocklist"),
        smtp_port=kw.pop("smtp_port"),
        mta_sts=not kw.pop("no_mta_sts"),
        mta_sts_cafile=kw.pop("mta_sts_ca"),
        domain_timeout=kw.pop("domain_timeout"),
        trust_anchor=kw.pop("trust_anchor"),
    )


# The command groups that live with their code, by name: imported only when named (or
# listed by --help), so that ``scan`` and ``check`` do not load DuckDB and the world's
# builder (about 0.1 s of every run's start-up). tests/test_cli_lazy.py holds the names
# to the commands' own.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "world": ("scanner.world.cli", "world"),
    "report": ("analysis.cli", "report"),
    "sql": ("analysis.cli", "sql"),
    "diff": ("analysis.cli", "diff"),
    "queries": ("analysis.cli", "list_queries"),
}


class Danescan(click.Group):
    """The command group; the one place where errors become exit statuses."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[cmd_name]
            found = getattr(importlib.import_module(module), attribute)
            assert isinstance(found, click.Command)
            found.epilog = found.epilog or EXIT_STATUS_HELP
            self.add_command(found, cmd_name)
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DanescanError, KeyboardInterrupt, BaseExceptionGroup) as exc:
            found = user_error(exc)
            if found is None:
                raise
            if isinstance(found, KeyboardInterrupt):
                click.echo("danescan: interrupted", err=True)
                ctx.exit(EXIT_INTERRUPTED)
            click.echo(f"danescan: {found}", err=True)
            ctx.exit(found.exit_code)


@click.group(cls=Danescan, epilog=EXIT_STATUS_HELP)
@click.version_option(__version__, prog_name="danescan")
@click.option("-v", "--verbose", count=True, help="More log output.")
def main(verbose: int) -> None:
    """Measure DNSSEC and DANE for SMTP (RFC 7672) and readiness for mandatory DANE."""
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


def _parse_shard(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, int] | None:
    if value is None:
        return None
    k_text, _, n_text = value.partition("/")
    if not (k_text.isdigit() and n_text.isdigit()) or not 0 <= int(k_text) < int(n_text):
        raise click.BadParameter(f"{value!r} is not K/N with 0 <= K < N")
    return int(k_text), int(n_text)


@main.command(epilog=EXIT_STATUS_HELP)
@click.argument("input_path", metavar="INPUT")
@click.option(
    "--out",
    "out",
    required=True,
    help="Where the scan goes: a directory, or an object-store URL such as "
    "s3://bucket/prefix (credentials and endpoint from AWS_* variables or the URL's "
    "?endpoint_override=HOST:PORT&scheme=http).",
)
@gather_options
@click.option("--resume", is_flag=True, help="Continue an interrupted scan in --out.")
@click.option(
    "--concurrency",
    default=256,
    show_default=True,
    type=click.IntRange(min=1),
    help="Domains (hosts, probes) in flight per task.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1, max=65536),
    default=None,
    help="Domain partitions (default: about one per 50,000 input lines, at least two per "
    "worker); hosts and addresses get an eighth as many.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Run the stages on a local Dask cluster of N worker processes (0: in this "
    "process; from 50,000 domains on, judging also in one worker process beside it).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the stages on an existing Dask cluster.",
)
@click.option(
    "--shard",
    default=None,
    metavar="K/N",
    callback=_parse_shard,
    help="Run slice K of N (0-based) of the scan, e.g. from a SLURM array; all N slices "
    "share --out and form one dataset.",
)
@click.option("--progress/--no-progress", default=None, help="Live display (default: on a tty).")
def scan(
    input_path: str,
    out: str,
    resume: bool,
    concurrency: int,
    partitions: int | None,
    workers: int,
    scheduler: str | None,
    shard: tuple[int, int] | None,
    progress: bool | None,
    **gather_kw: Any,
) -> None:
    """Scan the domains in INPUT (a list, CSV or Tranco file; - for stdin) into --out."""
    if scheduler and workers:
        raise click.UsageError("--workers starts a local cluster; --scheduler uses another")
    config = ScanConfig(
        input=input_path,
        out=out,
        gather=_gather(gather_kw),
        resume=resume,
        concurrency=concurrency,
        partitions=partitions,
        workers=workers,
        scheduler=scheduler,
        shard=shard,
    )
    live = sys.stderr.isatty() if progress is None else progress
    runner = Scan(config)
    stop = threading.Event()
    display = threading.Thread(
        target=_display, args=(runner.progress, live, stop), name="danescan-progress", daemon=True
    )
    display.start()
    try:
        result = runner.run()
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; resume with --resume --out {out}") from None
    finally:
        stop.set()
        display.join(timeout=2)
    click.echo(_summary(result, runner.scan_id, out), err=True)


def _summary(p: ScanProgress, scan_id: str, out: str) -> str:
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(p.verdicts.items(), key=lambda kv: -kv[1]))
    return (
        f"scan {scan_id}: {p.done} domains scanned ({p.skipped_resume} already done, "
        f"{p.invalid} invalid lines) in {time.monotonic() - p.started:.1f} s → {out}\n"
        f"  {verdicts}"
    )


def _display(p: ScanProgress, live: bool, stop: threading.Event) -> None:
    """A rich live display on a terminal; a log line every 10 s otherwise."""

    def line() -> str:
        return (
            f"{p.stage} {p.parts_done}/{p.parts_total} partitions · {p.lines:,} lines read · "
            f"{p.done:,} domains judged · {p.skipped_resume:,} resumed"
        )

    if not live:
        while not stop.wait(10):
            click.echo(f"danescan: {line()}", err=True)
        return
    from rich.console import Console
    from rich.live import Live

    with Live(console=Console(stderr=True), refresh_per_second=4, transient=True) as view:
        while not stop.wait(0.25):
            top = sorted(p.verdicts.items(), key=lambda kv: -kv[1])[:6]
            view.update(line() + "\n" + "  ".join(f"{k}: {v:,}" for k, v in top))


CHECK_EXIT_HELP = (
    "Exit status: 0 every domain receives mail from the chosen --sender profiles; 1 some "
    "domain would not; 2 usage, input or resolver errors (a resolver that does not "
    "validate, does not answer or lies); 4 (with --state and --exit-on-change) every "
    "domain receives, but something changed since the last run; 130 interrupted."
)


def _parse_at(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD[THH:MM])") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@main.command(epilog=CHECK_EXIT_HELP)
@click.argument("domains", nargs=-1)
@click.option(
    "--file",
    "files",
    multiple=True,
    metavar="FILE",
    help="A partner list: one domain a line, # comments, or CSV with a domain column "
    "(- for stdin). Repeatable.",
)
@gather_options
@click.option(
    "--sender",
    "senders",
    multiple=True,
    type=click.Choice(
        [
            "rfc7672",
            "postfix-dane",
            "postfix-dane-only",
            "exchange-opportunistic",
            "exchange-mandatory",
            "mta-sts",
        ]
    ),
    help="Sender profile whose outcome sets the exit status (repeatable; default rfc7672).",
)
@click.option(
    "--days",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Look-ahead: warn of certificates and signatures that expire within N days.",
)
@click.option(
    "--at",
    "at",
    callback=_parse_at,
    metavar="DATE",
    help="Judge as of DATE (ISO 8601, UTC unless an offset is given) instead of now.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Watchlist file (SQLite): report what changed since the last run, then remember.",
)
@click.option(
    "--exit-on-change",
    is_flag=True,
    help="With --state: exit 4 when every domain receives but something changed.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per domain, one a line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV for spreadsheets: one row per domain.")
@click.option(
    "--evidence/--no-evidence",
    default=None,
    help="Text: show the evidence (default: for a single domain).",
)
def check(
    domains: tuple[str, ...],
    files: tuple[str, ...],
    senders: tuple[str, ...],
    days: float,
    at: float | None,
    state: Path | None,
    exit_on_change: bool,
    as_json: bool,
    as_csv: bool,
    evidence: bool | None,
    **gather_kw: Any,
) -> None:
    """Would DOMAINS (or the partners in --file, or - for stdin) receive mail from senders
    that enforce DANE? Per sender profile, with evidence, a proven fix and a watchlist."""
    from scanner.core.profiles import Sender
    from scanner.runs.check import (
        CheckFailed,
        CheckSettings,
        Watchlist,
        changed,
        check_domains,
        csv_lines,
        exit_status,
        iter_lines,
        read_domains,
    )

    if as_json and as_csv:
        raise CheckFailed("--json and --csv: choose one")
    names = read_domains(domains, files)
    options = _gather(gather_kw)
    settings = CheckSettings(
        senders=tuple(Sender(s) for s in dict.fromkeys(senders or ("rfc7672",))),
        days=days,
        at=at,
        trust=pkix_trust(options.mta_sts_cafile),
    )
    results = trio.run(check_domains, names, options, None, settings)
    watchlist = Watchlist(state) if state is not None else None
    if watchlist is not None:
        watchlist.update(results)
    if as_json or as_csv:
        for line in iter_lines(results) if as_json else csv_lines(results):
            click.echo(line)
    else:
        show = evidence if evidence is not None else len(results) == 1
        color = False if os.environ.get("NO_COLOR") else None
        for result in results:
            click.echo(_check_text(result, show), color=color)
    if watchlist is not None and watchlist.removed:
        click.echo(
            f"danescan: no longer on the list (forgotten): {', '.join(watchlist.removed)}",
            err=True,
        )
    sys.exit(exit_status(results, changed(results, watchlist), exit_on_change))


def _check_text(r: dict[str, Any], evidence: bool = False) -> str:
    """One domain for a reader: verdict first, then what differs per sender, evidence,
    fixes, warnings and changes. Styled with click (stripped when not on a terminal)."""
    ok = r.get("passes", r["receives_mail"])
    mark = (
        click.style("OK  ", fg="green", bold=True)
        if ok
        else click.style("FAIL", fg="red", bold=True)
    )
    lines = [f"{mark} {click.style(r['domain'], bold=True)}: {r['verdict']}, {r['mail_outcome']}"]
    if r.get("error_code"):
        lines.append(f"     a DANE-enforcing sender reports {r['error_code']}")
    senders = r.get("senders", [])
    default = next((s for s in senders if s["sender"] == "rfc7672"), None)
    chosen = set(r.get("selected_senders", ["rfc7672"]))
    for s in senders:
        if s["sender"] == "rfc7672" or (
            default is not None and s["outcome"] == default["outcome"] and s["sender"] not in chosen
        ):
            continue
        colour = "green" if s["receives_mail"] else "red"
        code = f" {s['error_code']}" if s["error_code"] else ""
        outcome = click.style(s["outcome"], fg=colour)
        lines.append(f"     sender {s['sender']}: {outcome}{code}: {s['reason']}")
    hosts = {h["host"]: h for h in r.get("evidence", {}).get("hosts", [])}
    for h in r.get("hosts", []):
        lines.append(
            f"     MX {h['preference']} {h['host']}: {h['outcome']} {h['detail']}".rstrip()
        )
        if evidence and h["host"] in hosts:
            lines.extend(_evidence_lines(hosts[h["host"]]))
    for s in r.get("suggested_tlsa", []):
        lines.append(f"     suggested: {s['owner']} TLSA {s['record']}")
        lines.append(f"       ({s['advice']})")
    if r.get("fix"):
        lines.append(f"     fix: {r['fix']}")
    for d in r.get("dnssec_diagnoses", []):  # why an answer is bogus (issue 11)
        key = f" key {d['key_tag']}/{d['algorithm']}" if d["key_tag"] is not None else ""
        lines.append(
            f"     DNSSEC {d['name']} {d['rrtype']}: {d['code']} at {d['zone']} "
            f"{d['record_type']}{key}: {d['reason']}"
        )
        lines.append(f"       ({d['rfc']}) zone fix: {d['fix']}")
    sts = r.get("mta_sts")
    if sts and (sts["mode"] or sts["policy_error"]):
        what = f"mode {sts['mode']}, mx {' '.join(sts['mx_patterns'])}" if sts["mode"] else ""
        lines.append(f"     MTA-STS: {what or 'no policy'} {sts['policy_error']}".rstrip())
    for f in r.get("findings", []):
        where = f" [{f['host']}]" if f.get("host") else ""
        lines.append(f"     finding {f['code']}{where}: {f['text']}")
        if f.get("detail"):
            lines.append(f"       ({f['detail']})")
    for w in r.get("lookahead", []):
        when = f" {w['date']}" if w["date"] else ""
        host = f" [{w['host']}]" if w["host"] else ""
        lines.append(
            click.style(f"     warning {w['kind']}{when}{host}: {w['detail']}", fg="yellow")
        )
    for c in r.get("changes", []):
        extra = (
            f": {c['before']} -> {c['after']}"
            if c["before"] is not None or c["after"] is not None
            else ""
        )
        lines.append(click.style(f"     changed {c['kind']}: {c['detail']}{extra}", fg="cyan"))
    return "\n".join(lines)


def _evidence_lines(h: dict[str, Any]) -> list[str]:
    out = []
    tlsa = h["tlsa"]
    if tlsa["owner"]:
        out.append(f"       TLSA {tlsa['owner']} ({tlsa['status']}, {tlsa['rcode']})")
    for rec in tlsa["records"]:
        state = "usable" if rec["usable"] else f"unusable: {rec['unusable_reason']}"
        hits = ", ".join(f"{m['address']} depth {m['depth']}" for m in rec["matched"])
        out.append(f"         {rec['record']} [{state}]" + (f" matched {hits}" if hits else ""))
    for e in h["ede"]:
        out.append(f"       EDE {e['code']} {e['text']} ({e['lookup']})")
    for p in h["probes"]:
        result = p["outcome"] or p["probe_status"]
        tls = f" {p['tls_version']}" if p["tls_version"] else ""
        err = f" ({p['error']})" if p["error"] else ""
        out.append(f"       {p['address']}: reached {p['stage']}{tls}: {result}{err}")
        for hs in p["handshakes"]:
            for depth, c in enumerate(hs["chain"]):
                if "error" in c:
                    out.append(f"         [{hs['variant']}] depth {depth}: {c['error']}")
                    continue
                out.append(
                    f"         [{hs['variant']}] depth {depth}: {c['subject']} "
                    f"SANs {','.join(c['sans']) or '-'}; issuer {c['issuer']}; "
                    f"{c['not_before'][:10]}..{c['not_after'][:10]}; {c['key_type']}; "
                    f"SPKI SHA-256 {c['spki_sha256']}"
                )
    return out


@main.command(epilog=EXIT_STATUS_HELP)
@click.argument("scan_dir", metavar="SCAN")
@click.option(
    "--out", required=True, help="Where the new scan goes (a directory or object-store URL)."
)
def regrade(scan_dir: str, out: str) -> None:
    """Re-judge a stored scan with the current rules (no network) into a new scan at --out
    (new scan id; its parent_scan_id is SCAN's), so that `danescan diff` shows what the
    rules change."""
    from scanner.runs.regrade import regrade as run_regrade

    scan_id, count = run_regrade(scan_dir, out)
    click.echo(f"regraded {count} domains → scan {scan_id} in {out}", err=True)
