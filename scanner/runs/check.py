"""``danescan check``: judge a few partner domains now, for a mail administrator or a monitor.

What must live here: the work of the ``check`` command below the CLI — reading the
partner list (arguments, ``--file``, standard input), gathering each domain exactly as a
scan would (``scanner.runs.wiring``: opt-out list, deadlines, caps, the resolver
self-check), judging it (verdict, sender profiles, evidence, proven TLSA suggestions,
look-ahead), and the watchlist (``Watchlist``: the last result per domain in a small
SQLite file and what changed since). The result per domain is a plain dict, the
``--json`` output, whose shape is ``docs/check.schema.json``. Nothing else is written.

Decisions:

* ``passes``: the domain receives mail from every sender chosen with ``--sender``
  (default ``rfc7672``); the exit status is 1 when any domain does not pass.
  ``receives_mail`` stays the RFC 7672 answer whatever the choice.
* ``--at`` judges the gathered facts as of another time (certificate and signature
  validity); ``--days`` is the look-ahead window from that time.
* The MTA-STS profile checks MX certificates against PKIX roots: ``--mta-sts-ca`` if
  given, else ``SSL_CERT_FILE``, else the system's bundle (the roots a sender trusts).
* The watchlist mirrors the last list checked: a domain not in this run is reported as
  removed and forgotten; a domain seen for the first time is reported as new.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import trio

from scanner.core.chain import Diagnosis, domain_lookups
from scanner.core.evidence import host_evidence, lookahead
from scanner.core.findings import CATALOGUE
from scanner.core.model import DomainFacts, DomainJudgement
from scanner.core.mtasts import mx_covered, tlsrpt_rua
from scanner.core.names import InvalidName, normalize_domain
from scanner.core.profiles import (
    RECEIVES,
    PkixTrust,
    Sender,
    SenderOutcome,
    host_assessments,
    judge_senders,
)
from scanner.core.rules import judge_domain
from scanner.errors import DanescanError
from scanner.gather.chainwalk import ChainWalker, diagnose_lookups
from scanner.runs.wiring import (
    GatherOptions,
    ResolverUnusable,
    Seams,
    gather_domain,
    load_blocklist,
    make_gatherer,
    policy_fetch_config,
    require_validating,
)
from scanner.store.inputs import parse_lines

SCHEMA_ID = "https://danescan.invalid/check.schema.json"
EXIT_CHANGED = 4  # with --exit-on-change: everything receives, but something changed


class CheckFailed(DanescanError):
    """The check cannot run (a name that is not a domain name, an unreadable list...)."""


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """What ``check`` adds to the gathering options: who decides, when, how far ahead."""

    senders: tuple[Sender, ...] = (Sender.RFC7672,)
    days: float = 30.0
    at: float | None = None  # judge as of this time (POSIX seconds); None: now
    trust: PkixTrust | None = None


# --------------------------------------------------------------------------- input


def domains_from_lines(lines: Iterable[str], where: str) -> list[str]:
    """Domains of a partner list: one a line, ``#`` comments, or CSV with a domain column
    (the scan's input reader); a line that is not a domain name refuses the run."""
    found = []
    for line in parse_lines(iter(lines)):
        if line.domain is None:
            raise CheckFailed(
                f"{where}: line {line.line_no}: {line.raw!r} is not a domain ({line.reason})"
            )
        found.append(line.domain)
    return found


def read_domains(
    args: Sequence[str], files: Sequence[str], stdin: TextIO | None = None
) -> list[str]:
    """The domains to check: arguments (``-`` reads standard input) and ``--file`` lists."""
    names: list[str] = []
    for arg in args:
        if arg == "-":
            names += domains_from_lines((stdin or sys.stdin).read().splitlines(), "stdin")
            continue
        try:
            names.append(normalize_domain(arg))
        except InvalidName as exc:
            raise CheckFailed(f"{arg!r} is not a domain name ({exc.reason})") from None
    for path in files:
        if path == "-":
            names += domains_from_lines((stdin or sys.stdin).read().splitlines(), "stdin")
            continue
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckFailed(f"--file {path}: cannot read it ({exc})") from None
        names += domains_from_lines(text.splitlines(), path)
    if not names:
        raise CheckFailed("no domain to check: give DOMAIN arguments, --file FILE or - (stdin)")
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- one domain


def _iso(seconds: float) -> str:
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def sender_dict(o: SenderOutcome) -> dict[str, Any]:
    return {
        "sender": o.sender.value,
        "outcome": o.outcome.value,
        "receives_mail": o.receives,
        "error_code": o.error_code,
        "reason": o.reason,
        "host": o.host,
    }


def _mta_sts_dict(facts: DomainFacts, hosts: Sequence[str]) -> dict[str, Any] | None:
    sts = facts.mta_sts
    if sts is None:
        return None
    covers = all(mx_covered(sts.mx_patterns, h) for h in hosts) if sts.mode and hosts else None
    return {
        "policy_id": sts.policy_id,
        "fetched": sts.policy_fetched,
        "mode": sts.mode,
        "mx_patterns": list(sts.mx_patterns),
        "max_age": sts.max_age,
        "covers_mx": covers,
        "policy_error": sts.policy_error,
        "tlsrpt_rua": tlsrpt_rua(sts.tlsrpt_txt.records) if sts.tlsrpt_txt else "",
    }


def judgement_dict(j: DomainJudgement, diagnoses: Sequence[Diagnosis] = ()) -> dict[str, Any]:
    """The RFC 7672 part of a result (also what a scan stores per domain), with why each
    bogus answer is bogus (``diagnose_bogus``)."""
    return {
        "domain": j.domain,
        "verdict": j.verdict.value,
        "mail_outcome": j.mail_outcome.value,
        "receives_mail": j.mail_outcome in RECEIVES,
        "error_code": j.error_code,
        "fix": j.fix,
        "mx_status": j.mx_status.value,
        "hosts": [
            {
                "preference": h.preference,
                "host": h.host,
                "outcome": h.outcome.value,
                "dane_applies": h.dane_applies,
                "tlsa_base": h.tlsa_base,
                "detail": h.detail,
            }
            for h in j.hosts
        ],
        "findings": [
            {
                "code": f.code,
                "severity": CATALOGUE[f.code].severity,
                "host": f.host,
                "text": CATALOGUE[f.code].text,
                "detail": f.detail,
            }
            for f in j.findings
        ],
        "rules_version": j.rules_version,
        "dnssec_diagnoses": [diagnosis_dict(d) for d in diagnoses],
    }


def diagnosis_dict(d: Diagnosis) -> dict[str, Any]:
    """One DNSSEC diagnosis (issue 11) as ``check`` shows it (``docs/check.schema.json``)."""
    return {
        "name": d.name,
        "rrtype": d.rrtype,
        "code": d.code,
        "broken": d.broken,
        "zone": d.zone,
        "record_type": d.record_type,
        "key_tag": d.key_tag,
        "algorithm": d.algorithm,
        "reason": d.reason,
        "detail": d.detail,
        "rfc": d.rfc,
        "fix": d.fix,
    }


async def diagnose_bogus(walker: ChainWalker | None, facts: DomainFacts) -> list[Diagnosis]:
    """Why each answer of the domain that validated bogus is bogus: the first broken link
    of its chain of trust, walked with CD set (``scanner.gather.chainwalk``; zone cuts
    cached for the whole run). No query when nothing is bogus or there is no walker."""
    if walker is None:
        return []
    return [d for d, _facts in await diagnose_lookups(walker, domain_lookups(facts))]


def check_result(
    facts: DomainFacts,
    settings: CheckSettings,
    checked_at: float,
    diagnoses: Sequence[Diagnosis] = (),
) -> dict[str, Any]:
    """Everything ``check`` says about one domain, from its gathered facts."""
    at = settings.at if settings.at is not None else checked_at
    judgement = judge_domain(facts, at)
    senders = judge_senders(facts, judgement, at, settings.trust)
    hosts = host_assessments(facts, judgement, at)
    evidence_hosts = [
        host_evidence(a, facts.probes.get(a.host, ()), facts.domain, at) for a in hosts
    ]
    result = judgement_dict(judgement, diagnoses)
    chosen = [o for o in senders if o.sender in settings.senders]
    result.update(
        checked_at=_iso(checked_at),
        judged_at=_iso(at),
        passes=all(o.receives for o in chosen),
        senders=[sender_dict(o) for o in senders],
        selected_senders=[s.value for s in settings.senders],
        evidence={
            "mx": {
                "status": judgement.mx_status.value,
                "rcode": facts.mx.rcode,
                "records": list(facts.mx.records),
                "implicit_mx": facts.implicit_mx,
                "ede": [{"code": e.code, "text": e.text} for e in facts.mx.ede],
            },
            "probing": facts.probing_enabled,
            "hosts": evidence_hosts,
        },
        suggested_tlsa=[
            {"host": e["host"], **s} for e in evidence_hosts for s in e["suggested_tlsa"]
        ],
        lookahead=lookahead(facts, hosts, at, settings.days),
        lookahead_days=settings.days,
        mta_sts=_mta_sts_dict(facts, [h.host for h in judgement.hosts]),
    )
    return result


async def check_domains(
    names: list[str],
    options: GatherOptions,
    seams: Seams | None = None,
    settings: CheckSettings | None = None,
) -> list[dict[str, Any]]:
    """Judge ``names`` now, gathered exactly as a scan would (``scanner.runs.wiring``)."""
    seams = seams or Seams()
    settings = settings or CheckSettings()
    domains = []
    for name in names:
        try:
            domains.append(normalize_domain(name))
        except InvalidName as exc:
            raise CheckFailed(f"{name!r} is not a domain name ({exc.reason})") from None
    blocklist = load_blocklist(options.blocklist)
    policy_fetch = policy_fetch_config(options)
    walker = seams.walker(options)  # loads the trust anchor: a bad file refuses the run
    results: dict[str, dict[str, Any]] = {}
    async with seams.resolver(options.resolver_config()) as resolver:
        try:
            await require_validating(resolver, options)
        except ResolverUnusable as exc:
            # One line per problem from the self-check; a monitor reads one line.
            raise ResolverUnusable("; ".join(str(exc).splitlines())) from None
        async with trio.open_nursery() as nursery:
            gatherer = make_gatherer(
                nursery, resolver, options, seams, blocklist=blocklist, policy_fetch=policy_fetch
            )

            async def one(domain: str) -> None:
                facts = await gather_domain(gatherer, domain, options)
                diagnoses = await diagnose_bogus(walker, facts)
                results[domain] = check_result(facts, settings, time.time(), diagnoses)

            async with trio.open_nursery() as inner:
                for domain in dict.fromkeys(domains):
                    inner.start_soon(one, domain)
            nursery.cancel_scope.cancel()
    return [results[d] for d in dict.fromkeys(domains)]


# --------------------------------------------------------------------------- watchlist


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the watchlist remembers of a result: the things whose change matters."""
    hosts = result["evidence"]["hosts"]
    sts = result.get("mta_sts") or {}
    return {
        "verdict": result["verdict"],
        "mail_outcome": result["mail_outcome"],
        "passes": result["passes"],
        "senders": {s["sender"]: s["outcome"] for s in result["senders"]},
        "tlsa": {h["host"]: sorted(r["record"] for r in h["tlsa"]["records"]) for h in hosts},
        "keys": {
            h["host"]: sorted(
                {
                    c["spki_sha256"] or ""
                    for p in h["probes"]
                    for hs in p["handshakes"]
                    for c in hs["chain"][:1]
                }
            )
            for h in hosts
        },
        "mta_sts": {k: sts.get(k) for k in ("mode", "policy_id", "mx_patterns")},
    }


def _change(kind: str, detail: str, before: Any = None, after: Any = None) -> dict[str, Any]:
    return {"kind": kind, "detail": detail, "before": before, "after": after}


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed between two summaries of one domain (``before`` None: new partner)."""
    if before is None:
        return [_change("new", "first check of this domain")]
    out = []
    if before["passes"] and not after["passes"]:
        out.append(_change("newly_failing", "no longer receives mail from the chosen senders"))
    elif after["passes"] and not before["passes"]:
        out.append(_change("fixed", "receives mail from the chosen senders again"))
    for key in ("verdict", "mail_outcome"):
        if before[key] != after[key]:
            out.append(_change(key, f"{key} changed", before[key], after[key]))
    for sender, outcome in after["senders"].items():
        old = before["senders"].get(sender)
        if old != outcome:
            out.append(_change("sender", f"{sender} outcome changed", old, outcome))
    for what, kind in (("tlsa", "tlsa"), ("keys", "certificate")):
        for host in sorted(set(before[what]) | set(after[what])):
            old, new = before[what].get(host), after[what].get(host)
            if old != new:
                out.append(_change(kind, f"{host}: {kind} changed", old, new))
    if before["mta_sts"] != after["mta_sts"]:
        out.append(_change("mta_sts", "MTA-STS changed", before["mta_sts"], after["mta_sts"]))
    return out


@dataclass
class Watchlist:
    """The last result per domain, in a small SQLite file (``--state FILE``)."""

    path: Path
    removed: list[str] = field(default_factory=list)
    first_run: bool = False  # the state held nothing: every partner is new

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path)
            db.execute(
                "CREATE TABLE IF NOT EXISTS last_result ("
                "domain TEXT PRIMARY KEY, checked_at TEXT NOT NULL, summary TEXT NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise CheckFailed(f"--state {self.path}: not a usable state file ({exc})") from None
        return db

    def previous(self) -> dict[str, dict[str, Any]]:
        db = self._connect()
        try:
            rows = db.execute("SELECT domain, summary FROM last_result").fetchall()
        finally:
            db.close()
        return {domain: json.loads(text) for domain, text in rows}

    def update(self, results: list[dict[str, Any]]) -> None:
        """Annotate each result with ``changes`` since the last run, then remember it."""
        before = self.previous()
        checked = {r["domain"] for r in results}
        self.removed = sorted(set(before) - checked)
        self.first_run = not before
        db = self._connect()
        try:
            with db:
                for r in results:
                    now = summary(r)
                    r["changes"] = changes(before.get(r["domain"]), now)
                    db.execute(
                        "INSERT OR REPLACE INTO last_result VALUES (?, ?, ?)",
                        (r["domain"], r["checked_at"], json.dumps(now, sort_keys=True)),
                    )
                db.executemany(
                    "DELETE FROM last_result WHERE domain = ?", [(d,) for d in self.removed]
                )
        finally:
            db.close()


def changed(results: Iterable[dict[str, Any]], watchlist: Watchlist | None) -> bool:
    """Whether anything changed since the last run (on a first run, nothing has)."""
    if watchlist is None or watchlist.first_run:
        return False
    return bool(watchlist.removed) or any(r.get("changes") for r in results)


def exit_status(results: Sequence[dict[str, Any]], changed_any: bool, exit_on_change: bool) -> int:
    if not all(r["passes"] for r in results):
        return 1
    return EXIT_CHANGED if exit_on_change and changed_any else 0


CSV_COLUMNS = (
    "domain",
    "passes",
    "verdict",
    "mail_outcome",
    "error_code",
    *(f"{s.value}" for s in Sender),
    "suggested_tlsa",
    "warnings",
    "changes",
    "fix",
)


def csv_lines(results: Iterable[dict[str, Any]]) -> Iterator[str]:
    """``--csv``: a header, then one row per domain for a spreadsheet; each sender column
    holds its outcome, and its error code after a space when it has one."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="")
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue()
    for r in results:
        senders = {s["sender"]: f"{s['outcome']} {s['error_code']}".strip() for s in r["senders"]}
        row = [
            r["domain"],
            "yes" if r["passes"] else "no",
            r["verdict"],
            r["mail_outcome"],
            r["error_code"],
            *(senders.get(s.value, "") for s in Sender),
            " ".join(f"{x['owner']} TLSA {x['record']}" for x in r["suggested_tlsa"]),
            "; ".join(f"{w['kind']} {w['date'] or ''}".strip() for w in r["lookahead"]),
            " ".join(c["kind"] for c in r.get("changes", ())),
            r["fix"],
        ]
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        yield out.getvalue()


def iter_lines(results: Iterable[dict[str, Any]]) -> Iterator[str]:
    """``--json``: one JSON object per domain, one a line."""
    for r in results:
        yield json.dumps(r, sort_keys=False)
