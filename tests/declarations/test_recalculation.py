"""What a newer published run does to declarations: unchanged → nothing; changed and not yet sent → back to
the practice with everyone told; changed and sent → flagged for the commissioner with the difference."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.roles import Role
from calculation.models import CalculationRun
from declarations import actions
from declarations.models import Declaration, DeclarationRevision
from notifications.models import Notification
from tests.declarations.helpers import publish
from tests.factories import service_year, user_with_roles

State = Declaration.State
RECALCULATION = CalculationRun.Kind.RECALCULATION


@pytest.fixture
def journey(tree):
    """A00001 approved, A00002 sent for payment, A00003 declared, B00001 untouched; everyone to tell."""
    year = service_year()
    people = {
        code: user_with_roles(tree[code], Role.DECLARATION_MANAGEMENT)
        for code in ("A00001", "A00002", "A00003", "B00001")
    }
    people["approver"] = user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT)
    people["finance"] = user_with_roles(tree["QAA"], Role.FINANCE_MANAGEMENT)
    first = publish(
        year, {tree[code]: ("100.00", "21343.00") for code in ("A00001", "A00002", "A00003", "B00001")}
    )
    live = {d.practice.code: d for d in Declaration.objects.select_related("practice")}
    for code in ("A00001", "A00002", "A00003"):
        actions.declare(declaration=live[code], by=people[code], statement_accepted=True)
    for code in ("A00001", "A00002"):
        actions.approve(declaration=live[code], by=people["approver"])
        actions.financially_approve(declaration=live[code], by=people["finance"])
    actions.mark_sent_for_payment(declaration_ids=[live["A00002"].pk], reference="BATCH-1")
    Notification.objects.all().delete()
    return year, first, people, live


def state_of(declaration):
    declaration.refresh_from_db()
    return declaration.state


def test_unchanged_figures_leave_every_declaration_alone_and_tell_nobody(tree, journey):
    year, first, _, live = journey
    publish(year, {tree[code]: ("100.00", "21343.00") for code in live}, kind=RECALCULATION, reason="Re-run")
    assert [state_of(live[code]) for code in sorted(live)] == [
        State.APPROVED, State.SENT, State.AWAITING_COMMISSIONER, State.AWAITING_PRACTICE,
    ]  # fmt: skip
    assert not DeclarationRevision.objects.exists() and not Notification.objects.exists()
    assert live["A00001"].run == first


def test_changed_figures_send_unsent_declarations_back_and_tell_practice_and_commissioner(tree, journey):
    year, first, people, live = journey
    figures = {tree[code]: ("100.00", "21343.00") for code in live} | {
        tree["A00001"]: ("101.50", "21663.15"), tree["A00003"]: ("99.00", "21129.57"),
    }  # fmt: skip
    second = publish(year, figures, kind=RECALCULATION, reason="Corrected CVD extract")

    approved_before = live["A00001"]
    approved_before.refresh_from_db()
    assert approved_before.state == State.AWAITING_PRACTICE and approved_before.run == second
    assert (approved_before.points, approved_before.payment) == (Decimal("101.50"), Decimal("21663.15"))
    assert approved_before.declared_at is None and approved_before.approved_by is None
    assert state_of(live["A00003"]) == State.AWAITING_PRACTICE
    assert state_of(live["B00001"]) == State.AWAITING_PRACTICE  # unchanged, never declared

    revision = DeclarationRevision.objects.get(declaration=approved_before)
    assert (
        revision.outcome == DeclarationRevision.Outcome.REVERTED and revision.previous_state == State.APPROVED
    )
    assert (revision.previous_run, revision.run, revision.difference) == (first, second, Decimal("320.15"))
    told = Notification.objects.get(user=people["A00001"])
    assert "100.00 → 101.50 points" in told.message and "£21,343.00 → £21,663.15" in told.message
    assert "Corrected CVD extract" in told.message and "declare it again" in told.message
    assert told.link == reverse("declarations:revision", args=[revision.pk])
    assert Notification.objects.filter(user=people["approver"]).count() == 2  # A00001 and A00003
    assert not Notification.objects.filter(user__in=[people["A00002"], people["B00001"]]).exists()


def test_changed_figures_of_a_declaration_already_sent_flag_it_with_the_difference(tree, journey):
    year, first, people, live = journey
    figures = {tree[code]: ("100.00", "21343.00") for code in live} | {tree["A00002"]: ("98.00", "20916.14")}
    second = publish(year, figures, kind=RECALCULATION, reason="Practice merger corrected")

    assert state_of(live["A00002"]) == State.SENT
    revision = DeclarationRevision.objects.get()
    assert revision.outcome == DeclarationRevision.Outcome.FLAGGED and revision.awaiting_commissioner
    assert revision.difference == Decimal("-426.86") and (revision.previous_run, revision.run) == (
        first,
        second,
    )
    for who in ("A00002", "approver", "finance"):
        message = Notification.objects.get(user=people[who]).message
        assert "-£426.86" in message and "commissioner to act on" in message
    # A later recalculation is compared with the figures the adjustment brings it to.
    publish(year, figures, kind=RECALCULATION, reason="Nothing new")
    assert DeclarationRevision.objects.count() == 1


def test_a_practice_no_longer_in_the_run_has_its_unsent_declaration_withdrawn(tree, journey):
    year, _, _, live = journey
    publish(
        year,
        {tree[code]: ("100.00", "21343.00") for code in ("A00001", "A00002", "A00003")},
        kind=RECALCULATION,
    )
    assert state_of(live["B00001"]) == State.WITHDRAWN
    # It may come back later, as a new live declaration.
    publish(year, {tree[code]: ("100.00", "21343.00") for code in live}, kind=RECALCULATION)
    assert Declaration.objects.filter(practice=tree["B00001"]).count() == 2
