"""Declaring, approving, financially approving, rejecting and sending for payment; service-year settings;
freezes; the one-live-declaration constraint."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.roles import Role
from calculation.models import CalculationRun
from declarations import actions
from declarations.models import Declaration
from notifications.models import Notification
from participation import actions as participation_actions
from tests.declarations.helpers import publish
from tests.factories import service_year, user_with_roles

State = Declaration.State


@pytest.fixture
def people(tree):
    return {
        "declarer": user_with_roles(tree["A00001"], Role.DECLARATION_MANAGEMENT),
        "approver": user_with_roles(tree["01A"], Role.APPROVAL_MANAGEMENT),
        "icb_approver": user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT),
        "finance": user_with_roles(tree["01A"], Role.FINANCE_MANAGEMENT),
        "other_approver": user_with_roles(tree["02A"], Role.APPROVAL_MANAGEMENT),
        "other_finance": user_with_roles(tree["QBB"], Role.FINANCE_MANAGEMENT),
        "viewer": user_with_roles(tree["A00001"], Role.VIEW),
        "support": user_with_roles(tree["ENG"], Role.SUPPORT),
        "service_manager": user_with_roles(tree["ENG"], Role.SERVICE_MANAGEMENT),
    }


@pytest.fixture
def year(db):
    return service_year()


@pytest.fixture
def published(tree, year):
    return publish(year, {tree["A00001"]: ("385.58", "84244.84"), tree["B00001"]: ("500.00", "100000.00")})


def declaration_of(tree, code="A00001") -> Declaration:
    return Declaration.objects.select_related("practice", "service_year").get(
        practice=tree[code], state__in=Declaration.LIVE_STATES
    )


def test_publishing_a_year_end_declares_nothing_yet_and_snapshots_every_practices_figures(
    tree, year, people, published
):
    declarations = Declaration.objects.order_by("practice__code")
    assert [(d.practice.code, d.state, d.points, d.payment, d.run) for d in declarations] == [
        ("A00001", State.AWAITING_PRACTICE, Decimal("385.58"), Decimal("84244.84"), published),
        ("B00001", State.AWAITING_PRACTICE, Decimal("500.00"), Decimal("100000.00"), published),
    ]
    told = Notification.objects.get(user=people["declarer"])
    assert "£84,244.84, 385.58 points" in told.message and "available to view and declare" in told.message
    assert told.link == reverse("declarations:detail", args=[declaration_of(tree).pk])
    assert not Notification.objects.filter(user=people["approver"]).exists()


def test_an_in_year_run_is_a_preview_and_makes_no_declaration(tree, year):
    on = year.end_date.replace(month=6, day=30, year=year.start_date.year)
    publish(year, {tree["A00001"]: ("1", "2")}, kind=CalculationRun.Kind.IN_YEAR, on=on)
    assert not Declaration.objects.exists()


def test_the_whole_journey_with_labels_notifications_and_audit(tree, people, published):
    declaration = declaration_of(tree)
    with pytest.raises(ValidationError, match="Tick the declaration statement"):
        actions.declare(declaration=declaration, by=people["declarer"], statement_accepted=False)

    declared = actions.declare(
        declaration=declaration, by=people["declarer"], statement_accepted=True, notes=" As agreed. "
    )
    assert declared.state == State.AWAITING_COMMISSIONER and declared.notes == "As agreed."
    assert declared.get_state_display() == "Awaiting Commissioning Organisation Approval"
    approvers_told = Notification.objects.filter(user__in=[people["approver"], people["icb_approver"]])
    assert approvers_told.count() == 2 and "awaiting your approval" in approvers_told.first().message
    assert not Notification.objects.filter(user=people["other_approver"]).exists()

    approved = actions.approve(declaration=declaration, by=people["approver"])
    assert approved.get_state_display() == "Awaiting Financial Approval"
    assert Notification.objects.filter(
        user=people["finance"], message__contains="financial approval"
    ).exists()

    done = actions.financially_approve(declaration=declaration, by=people["finance"])
    assert done.state == State.APPROVED and done.financially_approved_by == people["finance"]

    assert actions.mark_sent_for_payment(declaration_ids=[declaration.pk], reference="BATCH-1") == 1
    sent = declaration_of(tree)
    assert sent.state == State.SENT and sent.get_state_display() == "SENT TO SSD"
    assert sent.payment_reference == "BATCH-1"

    trail = AuditEvent.objects.filter(object_type="declarations.declaration", object_id=str(declaration.pk))
    assert list(trail.order_by("pk").values_list("action", "actor")) == [
        ("declarations.follow_publication", None),
        ("declarations.declare", people["declarer"].pk),
        ("declarations.approve", people["approver"].pk),
        ("declarations.financially_approve", people["finance"].pk),
        ("declarations.send_for_payment", None),
    ]
    # Every transition records the run and the figures it was about.
    assert trail.get(action="declarations.approve").after == {
        "state": State.AWAITING_FINANCE, "run": declaration.run_id, "points": "385.58", "payment": "84244.84",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("step", "who"),
    [
        ("declare", "viewer"), ("declare", "approver"), ("declare", "finance"), ("declare", "support"),
        ("approve", "declarer"), ("approve", "finance"), ("approve", "other_approver"), ("approve", "viewer"),
        ("financially_approve", "approver"), ("financially_approve", "other_finance"),
        ("financially_approve", "declarer"),
    ],
)  # fmt: skip
def test_each_step_is_refused_to_every_role_but_its_own(tree, people, published, step, who):
    declaration = declaration_of(tree)
    # Bring it to the state the step starts from, so only the permission can refuse it.
    if step != "declare":
        actions.declare(declaration=declaration, by=people["declarer"], statement_accepted=True)
    if step == "financially_approve":
        actions.approve(declaration=declaration, by=people["approver"])
    extra = {"statement_accepted": True} if step == "declare" else {}
    state = declaration_of(tree).state
    with pytest.raises(PermissionDenied):
        getattr(actions, step)(declaration=declaration, by=people[who], **extra)
    assert declaration_of(tree).state == state


def test_a_second_approval_of_the_same_declaration_changes_nothing_and_says_why(tree, people, published):
    declaration = declaration_of(tree)
    actions.declare(declaration=declaration, by=people["declarer"], statement_accepted=True)
    actions.approve(declaration=declaration, by=people["approver"])
    with pytest.raises(ValidationError, match=r"now Awaiting Financial Approval.*already dealt with"):
        actions.approve(declaration=declaration, by=people["icb_approver"])
    assert AuditEvent.objects.filter(action="declarations.approve").count() == 1
    with pytest.raises(ValidationError, match="now Awaiting Financial Approval"):
        actions.declare(declaration=declaration, by=people["declarer"], statement_accepted=True)


def test_rejection_needs_a_reason_the_practice_sees_and_belongs_to_the_stage(tree, people, published):
    with pytest.raises(PermissionDenied):  # nothing to reject before it is declared
        actions.reject(declaration=declaration_of(tree), by=people["finance"], reason="Too early")
    with pytest.raises(ValidationError, match="nothing was changed"):
        actions.reject(declaration=declaration_of(tree), by=people["approver"], reason="Too early")
    actions.declare(declaration=declaration_of(tree), by=people["declarer"], statement_accepted=True)
    with pytest.raises(ValidationError, match="Say why"):
        actions.reject(declaration=declaration_of(tree), by=people["approver"], reason="  ")
    with pytest.raises(PermissionDenied):  # finance rejects only what awaits financial approval
        actions.reject(declaration=declaration_of(tree), by=people["finance"], reason="Wrong")

    rejected = actions.reject(
        declaration=declaration_of(tree), by=people["approver"], reason="List size is wrong"
    )
    assert rejected.state == State.AWAITING_PRACTICE and rejected.rejection_reason == "List size is wrong"
    told = Notification.objects.filter(user=people["declarer"]).first()
    assert "List size is wrong" in told.message

    actions.declare(declaration=declaration_of(tree), by=people["declarer"], statement_accepted=True)
    seen_by_approver = declaration_of(tree)
    actions.approve(declaration=declaration_of(tree), by=people["approver"])
    with pytest.raises(PermissionDenied):  # and the approver no longer can, once it is with finance
        actions.reject(declaration=declaration_of(tree), by=people["approver"], reason="Second thoughts")
    with pytest.raises(ValidationError, match="now Awaiting Financial Approval"):  # nor from a stale page
        actions.reject(declaration=seen_by_approver, by=people["approver"], reason="Second thoughts")
    back = actions.reject(
        declaration=declaration_of(tree), by=people["finance"], reason="Budget code missing"
    )
    assert back.state == State.AWAITING_PRACTICE and back.approved_by == people["approver"]


def test_no_declaration_required_starts_with_the_commissioner_and_names_the_setting(tree, people, year):
    participation_actions.update_service_year(
        service_year=year, changes={"declaration_required": False}, by=None
    )
    publish(year, {tree["A00001"]: ("10", "2134.30")})
    declaration = declaration_of(tree)
    assert declaration.state == State.AWAITING_COMMISSIONER
    event = AuditEvent.objects.get(action="declarations.follow_publication", object_id=str(declaration.pk))
    assert event.actor is None and event.after["settings"] == ["No Declaration Required"]
    assert Notification.objects.filter(user=people["approver"]).exists()
    assert not Notification.objects.filter(user=people["declarer"]).exists()


def test_no_approval_required_takes_a_declaration_straight_to_finance(tree, people, year):
    participation_actions.update_service_year(
        service_year=year, changes={"approval_required": False}, by=None
    )
    publish(year, {tree["A00001"]: ("10", "2134.30")})
    declaration = actions.declare(
        declaration=declaration_of(tree), by=people["declarer"], statement_accepted=True
    )
    assert declaration.state == State.AWAITING_FINANCE
    skip = AuditEvent.objects.get(action="declarations.skip_step")
    assert skip.actor is None and skip.after["setting"] == "No Approval Required"
    assert Notification.objects.filter(user=people["finance"]).exists()


def test_a_freeze_refuses_every_step_server_side_until_lifted(tree, people, year, published):
    declaration = declaration_of(tree)
    with pytest.raises(PermissionDenied):
        actions.freeze(service_year=year, reason="Data fault", by=people["approver"])
    with pytest.raises(ValidationError, match="Say why"):
        actions.freeze(service_year=year, reason=" ", by=people["service_manager"])
    frozen = actions.freeze(
        service_year=year, reason="Extract fault under investigation.", by=people["support"]
    )
    with pytest.raises(ValidationError, match="already frozen"):
        actions.freeze(service_year=year, reason="Again", by=people["service_manager"])
    with pytest.raises(ValidationError, match="frozen: Extract fault under investigation"):
        actions.declare(declaration=declaration, by=people["declarer"], statement_accepted=True)
    actions.unfreeze(freeze=frozen, by=people["service_manager"])
    actions.declare(declaration=declaration, by=people["declarer"], statement_accepted=True)

    everything = actions.freeze(
        service_year=None, reason="No further approvals until further notice.", by=people["support"]
    )
    for step in (actions.approve, actions.reject):
        with pytest.raises(ValidationError, match="all services are frozen"):
            step(
                declaration=declaration_of(tree),
                by=people["approver"],
                **({"reason": "x"} if step is actions.reject else {}),
            )
    with pytest.raises(ValidationError, match="frozen"):
        actions.bulk_approve(declarations=[declaration], by=people["approver"])
    actions.unfreeze(freeze=everything, by=people["support"])
    with pytest.raises(ValidationError, match="already been lifted"):
        actions.unfreeze(freeze=everything, by=people["support"])
    assert actions.approve(declaration=declaration, by=people["approver"]).state == State.AWAITING_FINANCE
    assert list(
        AuditEvent.objects.filter(action__in=["declarations.freeze", "declarations.unfreeze"])
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["declarations.freeze", "declarations.unfreeze", "declarations.freeze", "declarations.unfreeze"]


def test_bulk_approval_moves_those_still_waiting_and_counts_the_rest(tree, people, year):
    publish(year, {tree[code]: ("1", "213.43") for code in ("A00001", "A00002", "A00003")})
    declarer_2 = user_with_roles(tree["A00002"], Role.DECLARATION_MANAGEMENT)
    first, second = declaration_of(tree, "A00001"), declaration_of(tree, "A00002")
    actions.declare(declaration=first, by=people["declarer"], statement_accepted=True)
    actions.declare(declaration=second, by=declarer_2, statement_accepted=True)
    actions.approve(declaration=second, by=people["approver"])

    outcome = actions.bulk_approve(declarations=[first, second], by=people["icb_approver"])
    assert (outcome.done, outcome.skipped) == (1, 1)
    assert declaration_of(tree, "A00001").state == State.AWAITING_FINANCE
    with pytest.raises(ValidationError, match="None of the 2 selected"):
        actions.bulk_approve(declarations=[first, second], by=people["icb_approver"])
    with pytest.raises(PermissionDenied):  # 01B's practice is outside 01A's reach
        actions.bulk_financially_approve(
            declarations=[first, declaration_of(tree, "A00003")], by=people["finance"]
        )
    outcome = actions.bulk_financially_approve(declarations=[first, second], by=people["finance"])
    assert outcome.done == 2 and declaration_of(tree, "A00002").state == State.APPROVED


def test_only_approved_declarations_are_sent_for_payment(tree, people, published):
    declaration = declaration_of(tree)
    with pytest.raises(ValidationError, match="Only approved"):
        actions.mark_sent_for_payment(declaration_ids=[declaration.pk], reference="BATCH-1")
    assert declaration_of(tree).state == State.AWAITING_PRACTICE


def test_one_live_declaration_per_practice_year_and_date_is_a_database_constraint(tree, published):
    declaration = declaration_of(tree)
    twin = Declaration(
        practice=declaration.practice, service_year=declaration.service_year,
        achievement_date=declaration.achievement_date, state=State.AWAITING_PRACTICE, run=declaration.run,
        points=declaration.points, payment=declaration.payment,
    )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()
    twin.state = State.WITHDRAWN
    twin.save()  # a withdrawn one is history, not live
