"""The one wiring of resolver, prober, policy fetch and gatherer that scan and check share.

What must live here: ``GatherOptions`` (every setting that changes what is gathered,
with the one set of defaults both commands use), the checks those settings get before
anything is contacted (the opt-out list parses strictly, the resolver validates), and
the construction of the resolver client and the ``Gatherer`` from them. ``Seams`` names
what the runs talk to, so unit tests can run the whole pipeline against fakes.

Why one place: ``scan`` and ``check`` once wired these by hand and drifted (``check``
ignored the opt-out list and had no per-domain deadline). Now a mail administrator's
``check`` of a partner gathers exactly what a researcher's scan would.
"""

from __future__ import annotations

import os
import re
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio
from cryptography import x509

from scanner.core.blocklist import Blocklist
from scanner.core.model import DnsLookup, DomainFacts
from scanner.core.profiles import PkixTrust
from scanner.errors import DanescanError
from scanner.gather.chainwalk import ChainWalker, WalkConfig, load_trust_anchor
from scanner.gather.domain import Gatherer, PolicyFetcher, Prober
from scanner.gather.policyfetch import PolicyFetchConfig, fetch_policy, trust_context
from scanner.gather.probe import ProbeConfig, probe_address
from scanner.gather.resolve import DnsClient, Resolver, ResolverConfig, self_check
from scanner.gather.shared import SpillStore

DEFAULT_CANARY_SECURE = "isc.org"
DEFAULT_CANARY_BOGUS = "dnssec-failed.org"
DEFAULT_EHLO_NAME = "danescan.invalid"


class ResolverUnusable(DanescanError):
    """The resolver failed the pre-scan self-check (it does not validate, or is silent)."""


class OptionError(DanescanError):
    """A setting that cannot be used as given (an unreadable or invalid opt-out list...)."""


# How long a scan's DNS readers rest after a small drain (resolve.ResolverConfig
# .reply_wait): a process woken once per reply spends more CPU per reply than one that
# reads them in bursts (bench/bench_reply_wait.py). 20 ms: cold scans' domain stage used
# less CPU than at 5 ms in 12 of 13 alternating pairs (bench/RESULTS.md, eighth pass), and
# it is 1 % of a try's 2 s timeout. What can arrive meanwhile is bounded by the in-flight
# cap, not by the rest (resolve.py, "reader").
SCAN_REPLY_WAIT = 0.02


@dataclass(frozen=True, slots=True)
class GatherOptions:
    """Everything that decides what is gathered for a domain (scan and check alike)."""

    resolvers: tuple[tuple[str, int], ...]
    canary_secure: str = DEFAULT_CANARY_SECURE
    canary_bogus: str = DEFAULT_CANARY_BOGUS
    probe: bool = True
    dns_in_flight: int = 512
    dns_sockets: int = 4  # UDP source ports per resolver address (resolve.ResolverConfig)
    dns_reply_wait: float = SCAN_REPLY_WAIT  # a scan's stages only (resolver_config)
    qps: float | None = None
    probe_limit: int = 64  # SMTP probes in flight
    per_destination: int = 1  # connections at a time per IP
    ehlo_name: str = DEFAULT_EHLO_NAME
    smtp_port: int = 25
    blocklist: Path | None = None
    mta_sts: bool = True
    mta_sts_cafile: str | None = None  # PEM roots for policy hosts; None: the system's
    domain_timeout: float = 600.0  # one domain's whole gathering
    # DNSSEC diagnoses of bogus answers (issue 11): the anchor the chain walk starts from
    # (DS/DNSKEY zone-file lines); None: IANA's root anchors bundled with the package.
    trust_anchor: Path | None = None

    def resolver_config(self, *, bulk: bool = False) -> ResolverConfig:
        """The resolver client's settings; ``bulk`` for a scan's stages (many questions
        in flight, throughput over latency: ``dns_reply_wait``)."""
        return ResolverConfig(
            servers=list(self.resolvers),
            max_in_flight=self.dns_in_flight,
            sockets=self.dns_sockets,
            qps=self.qps,
            # hand-written codec: 3-4x less client CPU, cross-checked against dnspython
            fast_codec=True,
            reply_wait=self.dns_reply_wait if bulk else 0.0,
        )

    def probe_config(self) -> ProbeConfig | None:
        return ProbeConfig(port=self.smtp_port, ehlo_name=self.ehlo_name) if self.probe else None


@dataclass(frozen=True, slots=True)
class Seams:
    """What the runs talk to. Production uses the real ones; unit tests pass fakes."""

    resolver: Callable[[ResolverConfig], DnsClient] = field(default=Resolver)
    # The chain walker that explains bogus answers; one returning None diagnoses nothing.
    walker: Callable[[GatherOptions], ChainWalker | None] = field(default=lambda o: chain_walker(o))
    prober: Prober = field(default=probe_address)
    fetcher: PolicyFetcher = field(default=fetch_policy)


def chain_walker(options: GatherOptions) -> ChainWalker:
    """The walker that diagnoses bogus answers (issue 11) through the first resolver, from
    the trust anchor (``--trust-anchor``; a bad file refuses the run, exit status 2)."""
    return ChainWalker(WalkConfig(options.resolvers[0]), load_trust_anchor(options.trust_anchor))


def load_blocklist(path: Path | None) -> Blocklist | None:
    """The opt-out list, strictly: a line that does not parse refuses the run, so an
    operator's intent is never silently dropped."""
    if path is None:
        return None
    try:
        blocklist = Blocklist.from_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"--blocklist {path}: cannot read it ({exc})") from None
    if blocklist.invalid:
        number, entry = blocklist.invalid[0]
        more = f" (and {len(blocklist.invalid) - 1} more)" if len(blocklist.invalid) > 1 else ""
        raise OptionError(
            f"--blocklist {path}: line {number}: {entry!r} is neither a network nor a "
            f"domain name{more}"
        )
    return blocklist


def policy_fetch_config(options: GatherOptions) -> PolicyFetchConfig:
    try:
        return PolicyFetchConfig(context=trust_context(options.mta_sts_cafile))
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise OptionError(f"--mta-sts-ca {options.mta_sts_cafile}: not usable ({exc})") from None


async def require_validating(resolver: DnsClient, options: GatherOptions) -> str:
    """DESIGN §4: refuse to gather through a resolver that does not validate."""
    check = await self_check(resolver, options.canary_secure, options.canary_bogus)
    if not check.ok:
        # One line, as every error the user reads (one problem per server and canary).
        raise ResolverUnusable("; ".join(check.message.splitlines()))
    return check.message


def make_gatherer(
    nursery: trio.Nursery,
    resolver: DnsClient,
    options: GatherOptions,
    seams: Seams,
    *,
    blocklist: Blocklist | None,
    policy_fetch: PolicyFetchConfig | None,
    spill_store: SpillStore | None = None,
    resident: int = 50_000,
) -> Gatherer:
    return Gatherer(
        nursery,
        resolver,
        options.probe_config(),
        probe_limit=options.probe_limit,
        per_destination=options.per_destination,
        blocklist=blocklist,
        mta_sts=options.mta_sts,
        policy_fetch=policy_fetch,
        spill_store=spill_store,
        resident=resident,
        prober=seams.prober,
        fetcher=seams.fetcher,
    )


async def gather_domain(gatherer: Gatherer, domain: str, options: GatherOptions) -> DomainFacts:
    """One domain's facts within its deadline; past it, an indeterminate MX lookup."""
    with trio.move_on_after(options.domain_timeout):
        return await gatherer.domain(domain)
    return DomainFacts(
        domain,
        DnsLookup(domain, "MX", "TIMEOUT", error="domain deadline exceeded"),
        probing_enabled=options.probe,
    )


_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def pkix_trust(cafile: str | None) -> PkixTrust:
    """The roots an MTA-STS sender trusts (PKIX): ``--mta-sts-ca``, else ``SSL_CERT_FILE``,
    else the system's bundle. A system bundle may hold certificates that newer
    ``cryptography`` refuses (a negative serial number): those are skipped one by one,
    not the whole bundle; a file without one usable certificate is an error."""
    path = (
        cafile
        or os.environ.get("SSL_CERT_FILE")
        or ssl.get_default_verify_paths().cafile
        or "/etc/ssl/certs/ca-certificates.crt"
    )
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OptionError(f"PKIX roots {path}: not readable ({exc.strerror})") from None
    roots = []
    for block in _PEM.findall(data):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                roots.append(x509.load_pem_x509_certificate(block))
            except (ValueError, Warning):
                continue
    if not roots:
        raise OptionError(f"PKIX roots {path}: no usable PEM certificate in it")
    return PkixTrust(tuple(roots))
