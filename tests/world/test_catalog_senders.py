"""The catalog's expected sender-profile outcomes (``senders``), checked without the world:
the names match the core's, the loader rejects typos and redundant overrides, and the
Postfix profile agrees with what posttls-finger says of each scenario (the ``posttls``
column, itself checked against the real posttls-finger by tests/world/test_posttls.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.core.model import MailOutcome, Verdict
from scanner.core.profiles import Sender
from scanner.world.catalog import (
    SENDERS,
    CatalogError,
    Scenario,
    derived_sender_outcome,
    load_catalog,
)

M = MailOutcome


def test_the_sender_names_are_the_cores() -> None:
    assert tuple(s.value for s in Sender) == SENDERS


def postfix_categories(s: Scenario) -> set[str]:
    """What posttls-finger can say of a domain the Postfix smtp client treats so."""
    outcome = s.expected_sender("postfix-dane")
    if outcome is M.DELIVER_AUTHENTICATED:
        # "Verified" needs a secure MX RRset; behind an insecure one (the insecure-MX
        # policy) Postfix authenticates but logs "Trusted".
        return {"trusted" if s.verdict is Verdict.INSECURE else "verified"}
    return {
        M.DELIVER_UNAUTHENTICATED_TLS: {"untrusted"},
        M.DELIVER_OPPORTUNISTIC: {"untrusted", "plaintext"},
        M.DEFER_OR_BOUNCE: {"fail"},
        M.UNKNOWN: {"fail"},
        M.NO_MAIL: {"nomail"},
    }[outcome]


def test_the_postfix_profile_agrees_with_posttls_finger() -> None:
    wrong = []
    for s in load_catalog().scenarios:
        if s.expected_posttls not in postfix_categories(s):
            if "posttls-finger" in s.senders_note:
                continue  # a documented probe artefact (degraded.org)
            wrong.append(
                f"{s.domain}: postfix-dane {s.expected_sender('postfix-dane')}, "
                f"posttls {s.expected_posttls}"
            )
    assert not wrong, "\n".join(wrong)


def test_the_insecure_mx_policy_scenarios_are_where_postfix_differs() -> None:
    cat = load_catalog()
    differs = {
        s.domain for s in cat.scenarios if s.expected_sender("postfix-dane") is not s.mail_outcome
    }
    assert differs == {"unsigned-uses-dane.net", "unsigned-uses-broken-dane.com"}


def test_enforced_mta_sts_policies_state_the_mta_sts_outcome() -> None:
    for s in load_catalog().scenarios:
        if s.mta_sts_mode == "enforce":
            assert "mta-sts" in s.senders, s.domain


def test_derived_outcomes() -> None:
    assert (
        derived_sender_outcome("postfix-dane", M.DELIVER_OPPORTUNISTIC) is M.DELIVER_OPPORTUNISTIC
    )
    for strict in ("postfix-dane-only", "exchange-mandatory"):
        assert derived_sender_outcome(strict, M.DELIVER_OPPORTUNISTIC) is M.DEFER_OR_BOUNCE
        assert derived_sender_outcome(strict, M.DELIVER_UNAUTHENTICATED_TLS) is M.DEFER_OR_BOUNCE
        assert derived_sender_outcome(strict, M.DELIVER_AUTHENTICATED) is M.DELIVER_AUTHENTICATED
        assert derived_sender_outcome(strict, M.UNKNOWN) is M.UNKNOWN
    assert derived_sender_outcome("mta-sts", M.DELIVER_AUTHENTICATED) is M.DELIVER_OPPORTUNISTIC
    assert derived_sender_outcome("mta-sts", M.DEFER_OR_BOUNCE) is M.DEFER_OR_BOUNCE
    s = load_catalog().scenario("ee-311.com")
    with pytest.raises(KeyError):
        s.expected_sender("sendmail")


_BASE = """
[world]
canary_secure = "x.com"
canary_bogus = "x.com"
[tld.com]
[[scenario]]
domain = "x.com"
description = "x"
mx = ["10 mx1.x.com"]
verdict = "dnssec_no_dane"
mail_outcome = "deliver_opportunistic"
{keys}
[[scenario.host]]
name = "mx1.x.com"
"""


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ('senders = { sendmail = "no_mail" }', "not one of"),
        ('senders = { "postfix-dane" = "delivered" }', "is not a valid MailOutcome"),
        ('senders = { rfc7672 = "no_mail" }', "the rfc7672 outcome is mail_outcome"),
        ('senders = { "mta-sts" = "deliver_opportunistic" }', "already the default"),
        ('senders = { "postfix-dane" = "defer_or_bounce" }', "needs a senders_note"),
        ('senders = "postfix-dane"', "must be a table"),
    ],
)
def test_the_loader_rejects_bad_sender_tables(tmp_path: Path, keys: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(_BASE.format(keys=keys))
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_the_loader_keeps_overrides_and_notes(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    keys = 'senders = { "postfix-dane" = "defer_or_bounce" }\nsenders_note = "because"'
    path.write_text(_BASE.format(keys=keys))
    s = load_catalog(path).scenario("x.com")
    assert s.expected_sender("postfix-dane") is M.DEFER_OR_BOUNCE
    assert s.expected_sender("exchange-mandatory") is M.DEFER_OR_BOUNCE  # derived
    assert s.senders_note == "because"
