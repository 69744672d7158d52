"""The catalog's expected DNSSEC diagnoses (issue 11): required for every bogus scenario,
checked against the codes of docs/findings.md and the question's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.core.findings import DIAGNOSIS_CODES
from scanner.world.catalog import CatalogError, load_catalog

HEAD = """
[world]
canary_secure = "good.com"
canary_bogus = "bad.com"
[tld.com]
[[scenario]]
domain = "good.com"
description = "fine"
verdict = "dnssec_no_dane"
mail_outcome = "deliver_opportunistic"
[[scenario]]
domain = "bad.com"
description = "broken"
breakage = ["expired-sigs"]
verdict = "dnssec_bogus"
mail_outcome = "defer_or_bounce"
"""


def load(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(HEAD + extra)
    load_catalog(path)


def test_the_shipped_catalog_explains_every_bogus_scenario() -> None:
    cat = load_catalog()
    bogus = [s for s in cat.scenarios if s.bogus]
    assert bogus and all(s.diagnosis is not None for s in bogus)
    assert {s.diagnosis.code for s in cat.scenarios if s.diagnosis} <= DIAGNOSIS_CODES
    for kind in ("future-sigs", "ds-other-algorithm", "orphan-sig", "nsec3-lie"):
        assert any(s.spec.breaks(kind) and s.bogus for s in cat.scenarios), kind


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("", "must say its diagnosis"),
        ('diagnosis = "expired"\n', "want a table"),
        ('diagnosis = { code = "dnssec_rrsig_expired", zone = "bad.com" }\n', "missing 'type'"),
        (
            'diagnosis = { code = "expired", zone = "bad.com", type = "DNSKEY" }\n',
            "not one of",
        ),
        (
            'diagnosis = { code = "dnssec_rrsig_expired", zone = "other.com", type = "DNSKEY" }\n',
            "does not hold bad.com",
        ),
        (
            'diagnosis = { code = "dnssec_rrsig_expired", zone = "bad.com", type = "A", x = 1 }\n',
            "unknown keys",
        ),
    ],
)
def test_bad_diagnosis(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load(tmp_path, extra)


def test_diagnosis_defaults_to_the_domain_mx(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(
        HEAD + 'diagnosis = { code = "dnssec_rrsig_expired", zone = "bad.com", type = "dnskey" }\n'
    )
    d = load_catalog(path).scenario("bad.com").diagnosis
    assert d is not None and (d.name, d.rrtype, d.record_type) == ("bad.com", "MX", "DNSKEY")


def test_targeted_breakage_needs_owner_and_type(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    text = HEAD.replace('breakage = ["expired-sigs"]', 'breakage = ["nsec3-lie bad.com"]')
    path.write_text(
        text + 'diagnosis = { code = "dnssec_denial_wrong", zone = "bad.com", type = "NSEC3" }\n'
    )
    with pytest.raises(CatalogError, match="'nsec3-lie OWNER TYPE' expected"):
        load_catalog(path)
