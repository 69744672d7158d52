"""The scenario catalog covers what issue 2 and DESIGN §4 ask for (no world needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from scanner.model import HostOutcome, MailOutcome, Verdict
from scanner.world.catalog import Catalog, CatalogError, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_at_least_40_scenarios_with_descriptions(catalog: Catalog) -> None:
    assert len(catalog.scenarios) >= 40
    assert all(s.description for s in catalog.scenarios)


def test_every_verdict_and_host_outcome_is_covered(catalog: Catalog) -> None:
    verdicts = {s.verdict for s in catalog.scenarios}
    verdicts |= {s.expected_no_probe for s in catalog.scenarios if s.expected_no_probe}
    assert verdicts == set(Verdict)
    outcomes = {o for s in catalog.scenarios for o in s.host_outcomes.values()}
    assert outcomes == set(HostOutcome) - {HostOutcome.UNPROBED}
    assert {s.mail_outcome for s in catalog.scenarios} == set(MailOutcome)


def test_issue_2_checklist(catalog: Catalog) -> None:
    hosts = catalog.hosts()
    specs = [str(t) for h in hosts.values() for t in h.tlsa]
    for wanted in ("3 1 1 leaf", "3 0 1 leaf", "3 1 2 leaf", "2 1 1 int", "2 0 1 root"):
        assert wanted in specs
    zones = catalog.zones()
    signed = [z for z in zones if z.signed]
    assert {z.denial for z in signed} == {"nsec", "nsec3"}
    assert {"ecdsa", "rsasha256"} <= {z.algorithm for z in signed}
    breakage = {b.split()[0] for z in zones for b in z.breakage}
    assert {"expired-sigs", "expiring-sigs", "ds-mismatch", "bogus-sig"} <= breakage
    behaviours = {h.smtp for h in hosts.values() if not h.cname}
    assert {
        "starttls",
        "no-starttls",
        "starttls-454",
        "tls-fail",
        "tarpit",
        "refused",
    } <= behaviours
    certs = {(h.cert.issuer, h.cert.validity, h.cert.key) for h in hosts.values()}
    assert ("self", "expired", "ecdsa") in certs and ("ca", "expired", "ecdsa") in certs
    assert any(h.cert.key == "dual" for h in hosts.values())
    assert any(n.startswith("*.") for h in hosts.values() for n in h.cert.names)
    assert any(h.cname for h in hosts.values()) and any(h.tlsa_cname for h in hosts.values())
    mx_kinds: Counter[str] = Counter()
    for s in catalog.scenarios:
        if s.mx == ((0, "."),):
            mx_kinds["null"] += 1
        elif not s.mx and any(h.name == s.domain for h in s.spec.hosts):
            mx_kinds["implicit"] += 1
    assert mx_kinds["null"] and mx_kinds["implicit"]
    nx = [s for s in catalog.scenarios if not s.exists]
    tld_denial = {t.name: t.denial for t in catalog.tlds}
    assert {tld_denial[s.domain.rsplit(".", 1)[1]] for s in nx} == {"nsec", "nsec3"}


def test_providers_are_shared(catalog: Catalog) -> None:
    users: Counter[str] = Counter()
    provider_of = {h.name: p.spec.zone for p in catalog.providers for h in p.spec.hosts}
    for s in catalog.scenarios:
        for zone in {provider_of[h] for _, h in s.mx if h in provider_of}:
            users[zone] += 1
    for p in catalog.providers:
        assert users[p.spec.zone] >= 1, p.spec.zone
    assert max(users.values()) >= 3


def test_posttls_differences_are_documented(catalog: Catalog) -> None:
    default = {
        MailOutcome.DELIVER_AUTHENTICATED: "verified",
        MailOutcome.DELIVER_UNAUTHENTICATED_TLS: "untrusted",
        MailOutcome.DELIVER_OPPORTUNISTIC: "untrusted",
        MailOutcome.DEFER_OR_BOUNCE: "fail",
        MailOutcome.UNKNOWN: "fail",
        MailOutcome.NO_MAIL: "nomail",
    }
    for s in catalog.scenarios:
        if s.posttls and s.posttls != default[s.mail_outcome]:
            assert s.posttls_exception, f"{s.domain}: posttls differs without explanation"


def test_typos_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[tld.com]\n[[scenario]]\ndomain = "x.com"\nverdict = "dane_vaild"\n'
        'mail_outcome = "no_mail"\n'
    )
    with pytest.raises(CatalogError):
        load_catalog(bad)
    bad.write_text('[tld.com]\n[[scenario]]\ndomain = "x.com"\nsmpt = "tarpit"\n')
    with pytest.raises(CatalogError):
        load_catalog(bad)
