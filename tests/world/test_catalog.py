"""The scenario catalog covers what issue 2 and DESIGN §4 ask for (no world needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from scanner.core.model import HostOutcome, MailOutcome, Verdict
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
    for s in catalog.scenarios:
        if s.posttls and s.posttls != s.rfc_posttls:
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


# --------------------------------------------------------------------------- MTA-STS, TLS-RPT

_BASE = """
[world]
canary_secure = "x.com"
canary_bogus = "x.com"
[tld.com]
[[scenario]]
domain = "x.com"
description = "x"
mx = ["10 mx1.x.com", "20 mx2.x.com"]
verdict = "dnssec_no_dane"
mail_outcome = "deliver_opportunistic"
[[scenario.host]]
name = "mx1.x.com"
[[scenario.host]]
name = "mx2.x.com"
"""


def _load(tmp_path: Path, extra: str, scenario_keys: str = "") -> Catalog:
    path = tmp_path / "sts.toml"
    # scenario keys go before the host tables; the sub-table after them
    head, _, hosts = _BASE.partition("[[scenario.host]]")
    path.write_text(head + scenario_keys + "\n[[scenario.host]]" + hosts + extra)
    return load_catalog(path)


def test_mta_sts_defaults_and_tlsrpt(tmp_path: Path) -> None:
    cat = _load(
        tmp_path,
        '[scenario.mta_sts]\nmode = "enforce"\n',
        'mta_sts_mode = "enforce"\ntlsrpt = "mailto:r@x.com"\ntlsrpt_rua = "mailto:r@x.com"\n',
    )
    s = cat.scenario("x.com")
    assert s.mta_sts is not None
    assert s.mta_sts.mx == ("mx1.x.com", "mx2.x.com")  # the MX hosts
    assert (s.mta_sts.max_age, s.mta_sts.serve) == (604800, "ok")
    assert s.mta_sts.txt == "v=STSv1; id=20261123T000000;"
    assert (s.tlsrpt, s.tlsrpt_rua, s.mta_sts_mode) == (
        "mailto:r@x.com",
        "mailto:r@x.com",
        "enforce",
    )
    assert s.policy_host == "mta-sts.x.com"
    assert s.mta_sts.policy_text() == (
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.x.com\r\nmx: mx2.x.com\r\nmax_age: 604800\r\n"
    )


def test_mta_sts_inline_table_with_every_key(tmp_path: Path) -> None:
    cat = _load(
        tmp_path,
        "",
        'mta_sts_mode = ""\nmta_sts = { mode = "testing", mx = ["*.X.com."], max_age = 86400, '
        'serve = "huge", txt = "v=STSv1; id=1;" }\n',
    )
    sts = cat.scenario("x.com").mta_sts
    assert sts is not None
    assert (sts.mode, sts.mx, sts.max_age, sts.serve) == ("testing", ("*.x.com",), 86400, "huge")
    assert sts.published and sts.listens and sts.has_address


def test_without_mta_sts_nothing_is_expected(tmp_path: Path) -> None:
    s = _load(tmp_path, "").scenario("x.com")
    assert (s.mta_sts, s.tlsrpt, s.mta_sts_mode, s.tlsrpt_rua) == (None, "", "", "")


@pytest.mark.parametrize(
    ("table", "keys"),
    [
        ('mode = "enforce"\nsreve = "ok"', 'mta_sts_mode = "enforce"'),  # unknown key
        ('mode = "enforced"', 'mta_sts_mode = ""'),
        ('mode = "enforce"\nserve = "404"', 'mta_sts_mode = ""'),
        ('serve = "ok"', 'mta_sts_mode = ""'),  # mode is required
        ('mode = "enforce"\nmx = []', 'mta_sts_mode = "enforce"'),  # enforce needs mx
        ('mode = "enforce"\nmx = ["mx1..x.com"]', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"\nmx = ["a.*.x.com"]', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"\nmx = "mx1.x.com"', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"\nmax_age = 31557601', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"\nmax_age = true', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"\ntxt = "v=STSv1; id=\\"1\\";"', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"', ""),  # the expectation must be written out
        ('mode = "enforce"', 'mta_sts_mode = "testing"'),  # not the policy's mode
        ('mode = "enforce"\nserve = "not-found"', 'mta_sts_mode = "enforce"'),  # not fetchable
        ('mode = "enforce"\ntxt = ""', 'mta_sts_mode = "enforce"'),  # never looked for
        ('mode = "enforce"\ntxt = "v=STSv2;"', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"\ntxt = "v=STSv1;"', 'mta_sts_mode = "enforce"'),  # no id
        ('mode = "enforce"\ntxt = "v=STSv1; id=a-b;"', 'mta_sts_mode = "enforce"'),
        ('mode = "enforce"', 'mta_sts_mode = "enforce"\ntlsrpt = "mailto:a@x.com"'),
        (
            'mode = "enforce"',
            'mta_sts_mode = "enforce"\ntlsrpt = "ftp://x"\ntlsrpt_rua = "ftp://x"',
        ),
        (
            'mode = "enforce"',
            'mta_sts_mode = "enforce"\ntlsrpt = "mailto:a"\ntlsrpt_rua = "mailto:b"',
        ),
        ('mode = "enforce"', 'mta_sts_mode = "enforce"\ntlsrpt_rua = "mailto:b"'),
        ('mode = "enforce"', 'mta_sts_mode = "enforces"'),
    ],
)
def test_mta_sts_mistakes_are_rejected(tmp_path: Path, table: str, keys: str) -> None:
    with pytest.raises(CatalogError):
        _load(tmp_path, f"[scenario.mta_sts]\n{table}\n", keys + "\n")


def test_mta_sts_needs_a_served_zone_and_its_own_host_name(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="served zone"):
        _load(
            tmp_path,
            "",
            'exists = false\ntlsrpt = "mailto:a@x.com"\ntlsrpt_rua = "mailto:a@x.com"\n',
        )
    with pytest.raises(CatalogError, match="also an MX host"):
        _load(
            tmp_path,
            '[[scenario.host]]\nname = "mta-sts.x.com"\n[scenario.mta_sts]\nmode = "none"\n',
            'mta_sts_mode = "none"\n',
        )


def test_mode_none_needs_no_mx_patterns(tmp_path: Path) -> None:
    sts = (
        _load(tmp_path, '[scenario.mta_sts]\nmode = "none"\nmx = []\n', 'mta_sts_mode = "none"\n')
        .scenario("x.com")
        .mta_sts
    )
    assert sts is not None and sts.mx == ()
    assert sts.policy_text() == "version: STSv1\r\nmode: none\r\nmax_age: 604800\r\n"
