"""``danescan check``: judge a few domains now, for a mail administrator or a monitor.

Same gathering and rules as a scan, nothing written to disk; the result per domain is
a plain dict (the ``--json`` output): verdict, mail outcome, the error a DANE-enforcing
sender would report, the fix, the MX hosts and the findings.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from scanner.core.findings import CATALOGUE
from scanner.core.model import DomainJudgement, MailOutcome
from scanner.core.names import InvalidName, normalize_domain
from scanner.core.rules import judge_domain
from scanner.errors import DanescanError
from scanner.runs.wiring import (
    GatherOptions,
    Seams,
    gather_domain,
    load_blocklist,
    make_gatherer,
    policy_fetch_config,
    require_validating,
)

RECEIVES = frozenset(
    {
        MailOutcome.DELIVER_AUTHENTICATED,
        MailOutcome.DELIVER_UNAUTHENTICATED_TLS,
        MailOutcome.DELIVER_OPPORTUNISTIC,
    }
)


class CheckFailed(DanescanError):
    """The check cannot run (a name that is not a domain name)."""


def judgement_dict(j: DomainJudgement) -> dict[str, Any]:
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
            {"code": f.code, "host": f.host, "text": CATALOGUE[f.code].text, "detail": f.detail}
            for f in j.findings
        ],
        "rules_version": j.rules_version,
    }


async def check_domains(
    names: list[str], options: GatherOptions, seams: Seams | None = None
) -> list[dict[str, Any]]:
    """Judge ``names`` now, gathered exactly as a scan would (``scanner.runs.wiring``)."""
    seams = seams or Seams()
    domains = []
    for name in names:
        try:
            domains.append(normalize_domain(name))
        except InvalidName as exc:
            raise CheckFailed(f"{name!r} is not a domain name ({exc.reason})") from None
    blocklist = load_blocklist(options.blocklist)
    policy_fetch = policy_fetch_config(options)
    results: dict[str, dict[str, Any]] = {}
    async with seams.resolver(options.resolver_config()) as resolver:
        await require_validating(resolver, options)
        async with trio.open_nursery() as nursery:
            gatherer = make_gatherer(
                nursery, resolver, options, seams, blocklist=blocklist, policy_fetch=policy_fetch
            )

            async def one(domain: str) -> None:
                facts = await gather_domain(gatherer, domain, options)
                results[domain] = judgement_dict(judge_domain(facts, time.time()))

            async with trio.open_nursery() as inner:
                for domain in dict.fromkeys(domains):
                    inner.start_soon(one, domain)
            nursery.cancel_scope.cancel()
    return [results[d] for d in dict.fromkeys(domains)]
