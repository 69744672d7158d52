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
from scanner.gather.domain import Gatherer
from scanner.gather.policyfetch import PolicyFetchConfig, trust_context
from scanner.gather.probe import ProbeConfig
from scanner.gather.resolve import Resolver, ResolverConfig, self_check

RECEIVES = frozenset(
    {
        MailOutcome.DELIVER_AUTHENTICATED,
        MailOutcome.DELIVER_UNAUTHENTICATED_TLS,
        MailOutcome.DELIVER_OPPORTUNISTIC,
    }
)


class CheckFailed(Exception):
    """The check cannot run (bad names, resolver that does not validate)."""


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
    names: list[str],
    resolvers: list[tuple[str, int]],
    canary_secure: str,
    canary_bogus: str,
    probe: bool,
    ehlo_name: str,
    smtp_port: int = 25,
) -> list[dict[str, Any]]:
    domains = []
    for name in names:
        try:
            domains.append(normalize_domain(name))
        except InvalidName as exc:
            raise CheckFailed(f"{name!r} is not a domain name ({exc.reason})") from None
    config = ProbeConfig(port=smtp_port, ehlo_name=ehlo_name) if probe else None
    results: dict[str, dict[str, Any]] = {}
    async with Resolver(ResolverConfig(servers=resolvers)) as resolver:
        verdict = await self_check(resolver, canary_secure, canary_bogus)
        if not verdict.ok:
            raise CheckFailed(verdict.message)
        await _judge_all(resolver, config, domains, results)
    return [results[d] for d in dict.fromkeys(domains)]


async def _judge_all(
    resolver: Resolver,
    config: ProbeConfig | None,
    domains: list[str],
    results: dict[str, dict[str, Any]],
) -> None:
    async with trio.open_nursery() as nursery:
        fetch = PolicyFetchConfig(context=trust_context())
        gatherer = Gatherer(nursery, resolver, config, policy_fetch=fetch)

        async def one(domain: str) -> None:
            facts = await gatherer.domain(domain)
            results[domain] = judgement_dict(judge_domain(facts, time.time()))

        async with trio.open_nursery() as inner:
            for domain in dict.fromkeys(domains):
                inner.start_soon(one, domain)
        nursery.cancel_scope.cancel()
