"""Acceptance of the analysis: the report's numbers for a local-world scan equal those
computed independently here from the scenario catalog (``data/scenarios.toml``).

The catalog says, per scenario domain, the expected ``verdict`` and ``mail_outcome``
(and, for many, the MX hosts' outcomes and findings). Everything expected below is
counted in Python from the catalog; the report's numbers come from the named queries
over the Parquet scan (``world_scan``, from ``tests/e2e/conftest.py``), as they are
rendered in the Markdown.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from analysis import report
from scanner.world.catalog import Catalog, Scenario, load_catalog
from scanner.world.info import WorldInfo

pytestmark = pytest.mark.world

NO_MAIL = {"nxdomain", "no_mail", "dns_error"}
DANE_APPLIES = {
    "dane_valid",
    "dane_degraded",
    "dane_partial",
    "dane_unusable",
    "dane_broken",
    "unverified",
}


@pytest.fixture(scope="module")
def catalog(world: WorldInfo) -> Catalog:
    return load_catalog(world.catalog)


@pytest.fixture(scope="module")
def scanned(world: WorldInfo, catalog: Catalog) -> list[Scenario]:
    """The catalog's scenarios that the scan was given (world.domains)."""
    by_domain = {sc.domain: sc for sc in catalog.scenarios}
    unknown = [d for d in world.domains if d not in by_domain]
    assert not unknown, f"scanned domains without a scenario: {unknown}"
    return [by_domain[d] for d in dict.fromkeys(world.domains)]


@pytest.fixture(scope="module")
def world_report(
    world_scan: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, report.Report]:
    return report.write_report([world_scan], tmp_path_factory.mktemp("report") / "world.html")


def _md_row(md: str, *cells: object) -> bool:
    return ("| " + " | ".join(str(c) for c in cells) + " |") in md


def test_verdict_shares_equal_the_catalog(
    world_report: tuple[Path, Path, report.Report], scanned: list[Scenario]
) -> None:
    _, md_path, built = world_report
    md = md_path.read_text()
    expected = Counter(sc.verdict.value for sc in scanned)
    got = built.data["verdict_shares"]
    assert dict(zip(got.column("verdict"), got.column("domains"), strict=True)) == expected
    for verdict, n in expected.items():
        assert _md_row(md, verdict, n, f"{100 * n / len(scanned):.2f}"), verdict


def test_mail_outcomes_equal_the_catalog(
    world_report: tuple[Path, Path, report.Report], scanned: list[Scenario]
) -> None:
    expected = Counter(sc.mail_outcome.value for sc in scanned)
    got: Counter[str] = Counter()
    for r in world_report[2].data["mail_outcome_shares"].records():
        got[r["mail_outcome"]] += r["domains"]
        if r["mail_outcome"].startswith("deliver_"):
            assert r["error_code"] == "", r
    assert got == expected


def test_funnel_equals_the_catalog(
    world_report: tuple[Path, Path, report.Report], scanned: list[Scenario]
) -> None:
    _, md_path, built = world_report
    md = md_path.read_text()
    stages = dict(
        zip(
            built.data["funnel"].column("stage"),
            built.data["funnel"].column("domains"),
            strict=True,
        )
    )
    verdicts = [sc.verdict.value for sc in scanned]
    accept = sum(v not in NO_MAIL for v in verdicts)
    tlsa = sum(v in DANE_APPLIES for v in verdicts)
    valid = sum(v == "dane_valid" for v in verdicts)
    assert stages["domains scanned"] == len(scanned)
    assert stages["accept mail"] == accept
    assert stages["TLSA published"] == tlsa
    assert stages["DANE valid"] == valid
    # Signed MX: every DANE or dnssec_no_dane verdict needs a secure MX RRset; a bogus
    # domain may or may not have one (bogus MX vs. bogus hosts), so it bounds the count.
    at_least = sum(v in DANE_APPLIES or v == "dnssec_no_dane" for v in verdicts)
    at_most = at_least + sum(v == "dnssec_bogus" for v in verdicts)
    assert at_least <= stages["signed MX"] <= at_most
    for stage in ("domains scanned", "accept mail", "TLSA published", "DANE valid"):
        assert _md_row(md, stage, stages[stage], f"{100 * stages[stage] / len(scanned):.2f}")


def test_verdicts_by_tld_equal_the_catalog(
    world_report: tuple[Path, Path, report.Report], scanned: list[Scenario]
) -> None:
    expected = Counter((sc.domain.rsplit(".", 1)[-1], sc.verdict.value) for sc in scanned)
    got = world_report[2].data["verdict_by_tld"]
    tlds = set(got.column("tld"))
    assert {(r["tld"], r["verdict"]): r["domains"] for r in got.records()} == {
        k: v for k, v in expected.items() if k[0] in tlds
    }


def test_providers_equal_the_catalog(
    world_report: tuple[Path, Path, report.Report], scanned: list[Scenario], catalog: Catalog
) -> None:
    rows = {r["provider"]: r for r in world_report[2].data["verdict_by_provider"].records()}
    for provider in catalog.providers:
        zone = provider.spec.zone
        users = [
            sc
            for sc in scanned
            if sc.verdict.value not in NO_MAIL | {"dnssec_bogus"}
            and any(host == zone or host.endswith("." + zone) for _, host in sc.mx)
        ]
        if not users:
            continue
        if zone not in rows:  # not among the top providers shown
            continue
        row = rows[zone]
        assert row["domains"] >= len(users), zone
        for column, verdicts in (
            ("dane_valid", {"dane_valid"}),
            ("dnssec_no_dane", {"dnssec_no_dane"}),
            ("insecure", {"insecure"}),
        ):
            assert row[column] == sum(sc.verdict.value in verdicts for sc in users), (zone, column)


def test_host_outcomes_cover_the_catalog(
    world_report: tuple[Path, Path, report.Report], scanned: list[Scenario]
) -> None:
    data = world_report[2].data
    pairs = Counter(o.value for sc in scanned for o in sc.host_outcomes.values())
    got_pairs = {r["outcome"]: r["domain_mx_pairs"] for r in data["host_outcomes"].records()}
    for outcome, n in pairs.items():
        assert got_pairs.get(outcome, 0) >= n, outcome  # the catalog lists some hosts only
    # Findings are not compared: the catalog names them in its own vocabulary
    # ("selector-0", "single-tlsa") while the scanner writes catalogue codes
    # ("tlsa_selector0", "tlsa_single_record"); see the report to the lead.


def test_world_report_renders(world_report: tuple[Path, Path, report.Report]) -> None:
    html_path, md_path, built = world_report
    page = html_path.read_text()
    assert page.count('<img class="chart"') >= 6
    assert page.count('<table class="data">') >= 8
    assert built.latest in md_path.read_text()


def test_mta_sts_table_equals_the_catalog(
    world_report: tuple[Path, Path, report.Report], scanned: list[Scenario]
) -> None:
    """MTA-STS state x DANE group, counted from the catalog's set-up and expectations."""
    working = {"dane_valid", "dane_degraded", "dane_partial"}
    failing = {"dane_broken", "dane_unusable", "dnssec_bogus"}
    expected: Counter[tuple[str, str]] = Counter()
    with_rpt: Counter[tuple[str, str]] = Counter()
    for sc in scanned:
        if sc.verdict.value in NO_MAIL:
            continue
        sts = sc.mta_sts
        if sc.mta_sts_mode:
            state = sc.mta_sts_mode
        elif sts is not None and sts.published:  # a valid TXT record, a policy not served
            state = "policy_error"
        else:
            state = "absent"
        v = sc.verdict.value
        dane = "dane_working" if v in working else "dane_failing" if v in failing else "no_dane"
        expected[state, dane] += 1
        with_rpt[state, dane] += bool(sc.tlsrpt_rua)
    got = world_report[2].data["mta_sts"].records()
    assert {(r["mta_sts"], r["dane"]): r["domains"] for r in got} == expected
    assert {(r["mta_sts"], r["dane"]): r["with_tlsrpt"] for r in got} == with_rpt
    assert {"enforce", "testing", "none", "policy_error"} <= {s for s, _ in expected}


def test_adoption_notebook_runs_on_the_world_scan(
    world_scan: Path, scanned: list[Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook (nbclient) over the local world's scan: runs clean, and its funnel's
    first stage is every scanned domain, its verdict table the catalog's counts."""
    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    monkeypatch.setenv("DANESCAN_SCAN_DIR", str(world_scan))
    nb = nbformat.read(notebooks / "adoption_overview.ipynb", as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(notebooks)}},
    ).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "1 scan(s)" in "\n".join(str(o.get("text", "")) for o in outputs) + html
    for verdict, n in Counter(sc.verdict.value for sc in scanned).items():
        assert f"<td>{verdict}</td>" in html and f"<td>{n}</td>" in html, verdict
    assert any("image/png" in o.get("data", {}) for o in outputs)
