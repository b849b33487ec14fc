"""Points with thresholds at PCN level, the Investment and Impact Fund 2024/25 (ADR 0019): members' extract
values summed to their PCN as at the year end by a national run, declared by the PCN through its nominated
payee, approved by the commissioner and paid to the payee as a network payment."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import PcnMembership
from accounts.roles import Role
from calculation.models import CalculationRun, PracticeListSize, PracticeResult, Publication, ServiceLine
from extracts.actions import load_extract
from participation.models import Indicator, NominatedPayee, Provenance, ServiceYear
from tests.calculation.helpers import run_to_the_end
from tests.extracts.helpers import extract_row, participate, write_extract
from tests.factories import user_with_roles

YEAR_END = dt.date(2025, 3, 31)
LISTS = {"A00001": 10000, "A00002": 5000, "A00003": 3000, "B00001": 2000}
# practice: (ACC-08 numerator, denominator), (HI-03 numerator, denominator, LD register)
VALUES = {
    "A00001": ((900, 1000), (30, 40, 40)),
    "A00002": ((430, 500), (10, 20, 20)),
    "A00003": ((260, 300), (9, 10, 10)),
    "B00001": ((170, 200), (5, 10, 10)),
}


@pytest.fixture
def iif(tree, tmp_path):
    """IIF2425 loaded from the shipped rulesets; U00001 paid through A00001, U00002 through A00003, U00003
    without a payee; A00002 moves from U00001 to U00002 on 1 January 2025; lists at 1 January 2024; the
    year end's extract loaded."""
    from django.core.management import call_command

    call_command("load_rulesets", verbosity=0)
    year = ServiceYear.objects.get(code="IIF2425")
    PcnMembership.objects.update(start_date=dt.date(2019, 7, 1))
    moved = PcnMembership.objects.get(practice__code="A00002")
    PcnMembership.objects.filter(pk=moved.pk).update(end_date=dt.date(2024, 12, 31))
    PcnMembership.objects.create(practice=moved.practice, pcn=tree["U00002"], start_date=dt.date(2025, 1, 1))
    for code, size in LISTS.items():
        PracticeListSize.objects.create(
            practice=tree[code], list_date=dt.date(2024, 1, 1), registered_patients=size
        )
    for pcn, payee in (("U00001", "A00001"), ("U00002", "A00003")):
        NominatedPayee.objects.create(pcn=tree[pcn], payee=tree[payee], start_date=dt.date(2019, 7, 1))
    participate(list(LISTS), year)
    rows = []
    for code, ((acc_n, acc_d), (ld_n, ld_d, register)) in VALUES.items():
        for indicator, field, value in (
            ("ACC-08", "Numerator", acc_n), ("ACC-08", "Denominator", acc_d),
            ("HI-03", "Numerator", ld_n), ("HI-03", "Denominator", ld_d), ("HI-03", "LD register", register),
        ):  # fmt: skip
            rows.append(
                extract_row(
                    code, indicator, field, str(value), service="IIF2425", date="20250331", name="IIF"
                )
            )
    load_extract(path=write_extract(tmp_path, rows, "iif.csv"), file_name="iif.csv", by=None)
    return year


def test_the_shipped_iif_ruleset_is_58_points_at_198_with_every_indicator_flagged(tree, client):
    from django.core.management import call_command

    call_command("load_rulesets", verbosity=0)
    year = ServiceYear.objects.get(code="IIF2425")
    assert (year.payment_kind, year.point_value, year.max_points) == ("network_points", Decimal("198.00"), 58)
    assert year.parameters_confidence == Provenance.CONFIRMED and "DOMAIN.md" in year.parameters_note
    indicators = Indicator.objects.filter(service_year=year)
    assert sum(indicator.points for indicator in indicators) == 58
    assert all(indicator.unconfirmed_values for indicator in indicators), "an invented value is not flagged"
    client.force_login(user_with_roles(tree["A00001"], Role.VIEW))
    page = client.get(reverse("participation:ruleset", args=["IIF2425"])).content.decode()
    assert "Points with thresholds at PCN level; achievement annual" in page
    assert "58 points available. £198.00 a point" in page
    assert page.count("Thresholds unconfirmed") == 5 and page.count("Definition unconfirmed") == 5


def test_an_iif_year_end_is_declared_by_the_pcns_payee_approved_and_paid_as_a_network_payment(
    iif, tree, client, django_capture_on_commit_callbacks
):
    """As at 31 March 2025 U00001 = A00001 and U00002 = A00003 + A00002 (moved 1 January); U00003 = B00001.
    Lists 10,000, 8,000 and 2,000: national mean 20,000 / 3, so list-size adjustments 1.5, 1.2 and 0.3.
    LD registers 40, 30, 10 of 80 nationally over 20,000 patients: prevalence adjustments
    (40 / 10,000) / (80 / 20,000) = 1 and (30 / 8,000) / (80 / 20,000) = 0.9375.
    U00001: ACC-08 900/1,000 = 90% (upper threshold 90) → 14 points × £198 × 1.5 = £4,158.00;
            HI-03 30/40 = 75% → 14 × 15/20 = 10.50 points × £198 × 1.5 × 1 = £3,118.50.
            24.50 points, £7,276.50.
    U00002: ACC-08 690/800 = 86.25% → 14 × 1.25/5 = 3.50 points × £198 × 1.2 = £831.60;
            HI-03 19/30 = 63.33…% → 14 × 3.33…/20 = 2.333… → 2.33 points × £198 × 1.2 × 0.9375 = £519.0075
            → £519.01. 5.83 points, £1,350.61.
    U00003 has no payee on the date: held back (nobody could declare or be paid it).
    """
    from declarations import actions as declaration_actions
    from declarations.models import Declaration
    from payments import actions as payment_actions
    from payments.models import PaymentLine

    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=iif, achievement_date=YEAR_END)

    assert run.status == CalculationRun.Status.PUBLISHED, run.error
    lines = {
        (line.pcn.code, line.component): line
        for line in ServiceLine.objects.filter(run=run).select_related("pcn", "payee")
    }
    assert {pcn for pcn, _ in lines} == {"U00001", "U00002"}
    assert all(line.practice_id is None for line in lines.values())
    got = {key: (line.payee.code, line.numerator, line.denominator, line.points, line.amount)
           for key, line in lines.items() if key[1] in ("ACC-08", "HI-03")}  # fmt: skip
    assert got == {
        ("U00001", "ACC-08"): ("A00001", 900, 1000, Decimal("14.00"), Decimal("4158.00")),
        ("U00001", "HI-03"): ("A00001", 30, 40, Decimal("10.50"), Decimal("3118.50")),
        ("U00002", "ACC-08"): ("A00003", 690, 800, Decimal("3.50"), Decimal("831.60")),
        ("U00002", "HI-03"): ("A00003", 19, 30, Decimal("2.33"), Decimal("519.01")),
    }
    # Indicators nobody reported score nothing.
    assert all(line.amount == 0 for key, line in lines.items() if key[1].startswith("VI-"))
    results = {
        r.practice.code: (r.points, r.payment)
        for r in PracticeResult.objects.filter(run=run).select_related("practice")
    }
    assert results == {
        "U00001": (Decimal("24.50"), Decimal("7276.50")),
        "U00002": (Decimal("5.83"), Decimal("1350.61")),
    }

    # Only the PCNs declare; the payee's users declare their PCN's, the commissioner approves.
    declarations = {d.practice.code: d for d in Declaration.objects.filter(service_year=iif)}
    assert set(declarations) == {"U00001", "U00002"}
    declaration = declarations["U00001"]
    assert declaration.state == Declaration.State.AWAITING_PRACTICE
    assert (declaration.points, declaration.payment) == (Decimal("24.50"), Decimal("7276.50"))
    payee_user = user_with_roles(tree["A00001"], Role.DECLARATION_MANAGEMENT, Role.VIEW, Role.FINANCE_VIEW)
    declared = declaration_actions.declare(declaration=declaration, by=payee_user, statement_accepted=True)
    approver = user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT)
    finance = user_with_roles(tree["QAA"], Role.FINANCE_MANAGEMENT)
    approved = declaration_actions.approve(declaration=declared, by=approver)
    declaration_actions.financially_approve(declaration=approved, by=finance)

    batch, _ = payment_actions.release(cutoff=timezone.now(), by=None)

    line = PaymentLine.objects.get(declaration=declaration)
    assert (line.payee.code, line.component, line.amount, line.batch) == (
        "A00001", PaymentLine.Component.NETWORK_PAYMENT, Decimal("7276.50"), batch,
    )  # fmt: skip
    assert line.reference == "NET-IIF2425-20250331-U00001"
    declaration.refresh_from_db()
    assert declaration.state == Declaration.State.SENT
    # No QOF year-end balance is written for a year of points at PCN level.
    assert not PaymentLine.objects.filter(
        service_year=iif, component=PaymentLine.Component.ACHIEVEMENT_BALANCE
    ).exists()

    # The payee's achievement summary shows its PCN's indicators, points and money.
    client.force_login(payee_user)
    publication = Publication.objects.get(run=run)
    page = client.get(reverse("reports:practice_summary", args=["A00001"]), {"publication": publication.pk})
    text = page.content.decode()
    assert page.status_code == 200
    assert text.count('data-testid="network-points-line"') == 5
    assert "10.50 of 14.00" in text and "£3,118.50" in text and "£7,276.50" in text
    assert "24.50 of 58.00" in text
    # A member that is not the payee has no IIF achievement of its own: the publication is not one of its.
    client.force_login(user_with_roles(tree["A00002"], Role.VIEW))
    summary = reverse("reports:practice_summary", args=["A00002"])
    assert client.get(summary, {"publication": publication.pk}).status_code == 404
    assert "network-points-line" not in client.get(summary).content.decode()


def test_an_iif_run_is_national_and_needs_its_extract(iif, tree):
    from django.core.exceptions import ValidationError

    from calculation import actions

    with pytest.raises(ValidationError, match="start a national run"):
        actions.start_run(
            service_year=iif, achievement_date=YEAR_END, by=None, organisation=tree["01A"], reason="check"
        )
    with pytest.raises(ValidationError, match="no extract data"):
        actions.start_run(service_year=iif, achievement_date=dt.date(2024, 12, 31), by=None)


def test_a_pcn_held_for_want_of_a_payee_is_declared_once_nominated_and_a_move_re_aggregates(
    iif, tree, django_capture_on_commit_callbacks
):
    """U00003 (B00001 alone) has no payee at the year end: held, nobody declares it. Once B00001 is
    nominated and the date recalculated, U00003 declares its own: 0 points (ACC-08 85% and HI-03 50% are at
    or below the lower thresholds), and nobody else's figures change, because the national figures always
    counted it. A00002 then moves back to U00001 from 1 February 2025: the year end is recalculated and
    both PCNs' declarations follow the new aggregates."""
    from calculation import actions, tasks
    from declarations.models import Declaration

    first = run_to_the_end(django_capture_on_commit_callbacks, service_year=iif, achievement_date=YEAR_END)
    assert not Declaration.objects.filter(service_year=iif, practice__code="U00003").exists()
    before = dict(Declaration.objects.filter(service_year=iif).values_list("practice__code", "payment"))

    # The nomination recalculates the published year end itself (ADR 0018).
    with django_capture_on_commit_callbacks(execute=True):
        nomination = actions.nominate_payee(
            pcn=tree["U00003"], payee=tree["B00001"], start_date=dt.date(2025, 3, 1), by=None
        )
        assert [(r.service_year.code, r.kind) for r in nomination.runs] == [("IIF2425", "recalculation")]
        for run in nomination.runs:
            tasks.queue_run(run)
    second = CalculationRun.objects.get(pk=nomination.runs[0].pk)

    assert second.status == CalculationRun.Status.PUBLISHED and first.pk != second.pk
    after = {
        d.practice.code: d for d in Declaration.objects.filter(service_year=iif).select_related("practice")
    }
    assert after["U00003"].payment == 0 and after["U00003"].state == Declaration.State.AWAITING_PRACTICE
    assert {code: after[code].payment for code in before} == before
    assert not after["U00001"].revisions.exists()

    commissioner = user_with_roles(tree["01A"], Role.COMMISSIONING_MANAGEMENT)
    with django_capture_on_commit_callbacks(execute=True):
        change = actions.change_pcn_membership(
            practice=tree["A00002"], pcn=tree["U00001"], start_date=dt.date(2025, 2, 1), by=commissioner
        )
        assert [(r.service_year.code, r.kind) for r in change.runs] == [("IIF2425", "recalculation")]
        for run in change.runs:
            tasks.queue_run(run)
    rerun = CalculationRun.objects.get(pk=change.runs[0].pk)
    assert rerun.status == CalculationRun.Status.PUBLISHED, rerun.error
    acc = dict(
        ServiceLine.objects.filter(run=rerun, component="ACC-08").values_list("pcn__code", "numerator")
    )
    assert acc == {"U00001": 900 + 430, "U00002": 260, "U00003": 170}
    revised = {
        d.practice.code: d for d in Declaration.objects.filter(service_year=iif).select_related("practice")
    }
    assert revised["U00001"].run_id == rerun.pk and revised["U00001"].payment != before["U00001"]
    assert revised["U00001"].revisions.count() == 1 and revised["U00002"].revisions.count() == 1
