"""Offers and participation: state machine, dates, bulk offers, expiry, automatic and dated participation."""

import math
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import AuditEvent, Organisation
from accounts.organisation_import import parse_mapping
from cqrs_portal.celery import app
from participation import actions, tasks
from participation.models import Offer, Participation
from participation.selectors import (
    is_participating,
    participating_practice_codes,
    participation_frame,
    participation_periods,
)
from tests.factories import QOF2324_OFFER_DATES, mapping_csv, offers_to, service_year, user_with_roles

State = Offer.State


@pytest.fixture
def year(db):
    return service_year("QOF2324")


@pytest.fixture
def commissioner(tree):
    return user_with_roles(tree["01A"], "commissioning_management")


@pytest.fixture
def practice_manager(tree):
    return user_with_roles(tree["A00001"], "participation_management")


@pytest.fixture
def offer(tree, year, commissioner):
    [offer] = offers_to([tree["A00001"]], year, by=commissioner)
    return offer


def reload(offer: Offer) -> Offer:
    return Offer.objects.get(pk=offer.pk)


# --- The state machine: every transition from every state ---------------------------------------------------

# How to bring an offer into each state, by transitions from offered.
PATH_TO = {
    State.OFFERED: [],
    State.ACCEPTED: ["accept"],
    State.DECLINED: ["decline"],
    State.WITHDRAWN: ["withdraw"],
    State.EXPIRED: ["expire"],
    State.APPROVED: ["accept", "approve"],
    State.ENDED: ["accept", "approve", "end"],
}
ALLOWED = {
    (State.OFFERED, "accept"): State.ACCEPTED,
    (State.OFFERED, "decline"): State.DECLINED,
    (State.OFFERED, "withdraw"): State.WITHDRAWN,
    (State.OFFERED, "expire"): State.EXPIRED,
    (State.ACCEPTED, "withdraw"): State.WITHDRAWN,
    (State.ACCEPTED, "approve"): State.APPROVED,
    (State.APPROVED, "end"): State.ENDED,
}
EVERY_TRANSITION = [(state, name) for state in State.values for name in actions.TRANSITIONS]


def make(name: str, offer: Offer, *, commissioner, practice_manager):
    """Make transition `name` as the person whose job it is (the system for expiry)."""
    if name == "accept":
        return actions.accept_offer(offer=offer, by=practice_manager)
    if name == "decline":
        return actions.decline_offer(offer=offer, reason="No capacity", by=practice_manager)
    if name == "withdraw":
        return actions.withdraw_offers(offers=[offer], by=commissioner)[0]
    if name == "approve":
        return actions.approve_offers(offers=[offer], by=commissioner)[0]
    if name == "expire":
        return actions.expire_lapsed_offers(today=offer.response_date + timedelta(days=1), by=None)
    if name == "end":
        participation = Participation.objects.get(offer=offer)
        return actions.end_participation(
            participation=participation, ended_on=date(2023, 9, 30), by=commissioner
        )
    raise AssertionError(name)


def test_the_transition_table_is_the_one_tested():
    declared = {
        (source, name): transition.target
        for name, transition in actions.TRANSITIONS.items()
        for source in transition.sources
    }
    assert declared == ALLOWED


@pytest.mark.parametrize(("state", "name"), EVERY_TRANSITION)
def test_every_transition_from_every_state(offer, commissioner, practice_manager, state, name):
    people = {"commissioner": commissioner, "practice_manager": practice_manager}
    for step in PATH_TO[state]:
        make(step, reload(offer), **people)
    assert reload(offer).state == state
    events = AuditEvent.objects.count()

    if (state, name) in ALLOWED:
        make(name, reload(offer), **people)
        assert reload(offer).state == ALLOWED[(state, name)]
        event = AuditEvent.objects.filter(action=f"offer.{name}", object_id=str(offer.pk)).get()
        assert event.before == {"state": state}
        assert event.after["state"] == ALLOWED[(state, name)]
    elif name == "expire":
        # Expiry looks only for unanswered offers: the others are not touched.
        assert make(name, reload(offer), **people) == []
        assert reload(offer).state == state
        assert AuditEvent.objects.count() == events
    elif name == "end" and not Participation.objects.filter(offer=offer).exists():
        # Only approved offers have participation to end; there is nothing to call the action on.
        assert state not in {State.APPROVED, State.ENDED}
    else:
        with pytest.raises(ValidationError) as refused:
            make(name, reload(offer), **people)
        verb = actions.TRANSITIONS[name].verb
        assert f"so it cannot be {verb}" in " ".join(refused.value.messages)
        assert reload(offer).state == state
        assert AuditEvent.objects.count() == events


def test_each_transition_records_who_and_when(offer, commissioner, practice_manager):
    actions.accept_offer(offer=offer, by=practice_manager)
    actions.approve_offers(offers=[offer], by=commissioner)[0]
    offer = reload(offer)
    assert offer.offered_by == commissioner and offer.offered_at is not None
    assert offer.responded_by == practice_manager and offer.responded_at is not None
    assert offer.approved_by == commissioner and offer.approved_at >= offer.responded_at
    actors = list(
        AuditEvent.objects.filter(object_id=str(offer.pk), object_type="participation.offer")
        .order_by("id")
        .values_list("action", "actor__email")
    )
    assert actors == [
        ("offer.created", commissioner.email),
        ("offer.accept", practice_manager.email),
        ("offer.approve", commissioner.email),
    ]


def test_declining_keeps_the_reason(offer, practice_manager):
    actions.decline_offer(offer=offer, reason="  We are merging in May. ", by=practice_manager)
    assert reload(offer).decline_reason == "We are merging in May."


def test_only_approval_creates_participation(offer, commissioner, practice_manager, year):
    actions.accept_offer(offer=offer, by=practice_manager)
    assert participation_periods(year) == {}
    actions.approve_offers(offers=[offer], by=commissioner)[0]
    assert participation_periods(year) == {"A00001": [(date(2023, 4, 1), date(2024, 3, 31))]}


def test_a_practice_holds_one_live_offer_per_year_even_under_a_race(offer, year, tree):
    duplicate = Offer(
        service_year=year,
        practice=tree["A00001"],
        commissioner=tree["01A"],
        offered_at=timezone.now(),
        **QOF2324_OFFER_DATES,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


# --- Dates --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dates", "field"),
    [
        ({"start_date": date(2023, 3, 31)}, "start_date"),
        ({"end_date": date(2024, 4, 1)}, "end_date"),
        ({"response_date": date(2024, 4, 1)}, "response_date"),
        ({"target_date": date(2023, 3, 1)}, "target_date"),
        ({"start_date": date(2023, 10, 1), "end_date": date(2023, 9, 30)}, "end_date"),
        ({"end_date": date(2023, 12, 31), "response_date": date(2024, 1, 15)}, "response_date"),
    ],
)
def test_offer_dates_must_fit_each_other_and_the_national_year(tree, year, dates, field):
    with pytest.raises(ValidationError) as refused:
        offers_to([tree["A00001"]], year, **dates)
    assert field in refused.value.message_dict
    assert not Offer.objects.exists()


def test_dates_on_the_years_boundaries_and_equal_start_and_end_are_accepted(tree, year):
    [offer] = offers_to(
        [tree["A00001"]],
        year,
        start_date=date(2024, 3, 31),
        end_date=date(2024, 3, 31),
        response_date=date(2024, 3, 31),
        target_date=date(2023, 4, 1),
    )
    assert offer.state == State.OFFERED


def test_database_refuses_an_offer_ending_before_it_starts(tree, year):
    bad = Offer(
        service_year=year,
        practice=tree["A00001"],
        commissioner=tree["01A"],
        offered_at=timezone.now(),
        **(QOF2324_OFFER_DATES | {"end_date": date(2023, 4, 1), "start_date": date(2023, 5, 1)}),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        bad.save()


# --- Bulk offers --------------------------------------------------------------------------------------------


def many_practices(count: int) -> list[Organisation]:
    rows = [(f"C{n:05d}", f"U{n % 7:05d}", f"0{n % 3}C", "QCC", "Y03") for n in range(count)]
    account_actions.import_organisations(
        mapping=parse_mapping(mapping_csv(rows)), effective_date=timezone.localdate(), by=None
    )
    return list(Organisation.objects.filter(code__startswith="C").order_by("code"))


def extra_insert_batches(model, count: int) -> int:
    """Inserts beyond the first that `bulk_create` needs for `count` rows: none on PostgreSQL; SQLite splits
    at 999 parameters, so there the count grows by one per few dozen rows, never per row."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    per_batch = connection.ops.bulk_batch_size(fields, [None] * count)
    return math.ceil(count / per_batch) - 1


@pytest.mark.parametrize("count", [3, 120])
def test_bulk_offer_makes_one_offer_per_practice_in_a_fixed_number_of_queries(
    db, count, django_assert_max_num_queries
):
    practices = many_practices(count)
    commissioner = user_with_roles(Organisation.objects.get(code="QCC"), "commissioning_management")
    year = service_year()
    batches = extra_insert_batches(Offer, count) + extra_insert_batches(AuditEvent, count)
    # Two more than before: the action checks `by` may offer to every practice, and locks the year so that
    # the same batch sent twice at once offers each practice once. Four more for the audit trail's hash
    # chain: its head is locked and moved on once per batch of events (with a savepoint round it).
    with django_assert_max_num_queries(15 + batches):
        summary = actions.offer_service(
            service_year=year, practices=practices, **QOF2324_OFFER_DATES, by=commissioner
        )
    assert len(summary.offers) == count
    assert {offer.commissioner.code for offer in summary.offers} == {"QCC"}
    assert AuditEvent.objects.filter(action="offer.created").count() == count


@pytest.mark.parametrize("count", [3, 120])
def test_bulk_approval_takes_a_fixed_number_of_queries(db, count, django_assert_max_num_queries):
    practices = many_practices(count)
    offers = offers_to(practices)
    for offer in offers:
        actions.accept_offer(offer=offer, by=None)
    commissioner = user_with_roles(Organisation.objects.get(code="QCC"), "commissioning_management")
    batches = extra_insert_batches(Participation, count) + 2 * extra_insert_batches(AuditEvent, count)
    # 8 of these are the hash chain's, 4 for each of the two batches of audit events.
    with django_assert_max_num_queries(18 + batches):
        actions.approve_offers(offers=offers, by=commissioner)
    assert Participation.objects.count() == count


def test_offering_again_leaves_out_practices_already_offered(tree, year, commissioner):
    offers_to([tree["A00001"]], year, by=commissioner)
    summary = actions.offer_service(
        service_year=year, practices=[tree["A00001"], tree["A00002"]], **QOF2324_OFFER_DATES, by=commissioner
    )
    assert [offer.practice.code for offer in summary.offers] == ["A00002"]
    assert summary.already_offered == ["A00001"]


def test_a_declined_practice_may_be_offered_again(offer, year, practice_manager, commissioner, tree):
    actions.decline_offer(offer=offer, by=practice_manager)
    [again] = offers_to([tree["A00001"]], year, by=commissioner)
    assert again.state == State.OFFERED


def test_offers_are_made_to_practices_only(tree, year):
    with pytest.raises(ValidationError, match="GP practices only"):
        offers_to([tree["01A"]], year)


def test_an_icb_commissioner_offers_as_the_icb(tree, year):
    icb_commissioner = user_with_roles(tree["QAA"], "commissioning_management")
    [offer] = offers_to([tree["A00003"]], year, by=icb_commissioner)
    assert offer.commissioner.code == "QAA"


def test_the_system_offers_as_each_practices_own_commissioner(tree, year):
    [offer] = offers_to([tree["A00003"]], year)
    assert offer.commissioner.code == "01B"


# --- Permissions --------------------------------------------------------------------------------------------


def test_a_commissioner_cannot_offer_to_practices_it_does_not_commission(tree, year, commissioner):
    with pytest.raises(PermissionDenied):
        offers_to([tree["A00001"], tree["A00003"]], year, by=commissioner)
    assert not Offer.objects.exists()


def test_only_participation_management_at_the_practice_accepts(offer, tree):
    for outsider in [
        user_with_roles(tree["A00002"], "participation_management"),
        user_with_roles(tree["A00001"], "view", "declaration_management"),
        user_with_roles(tree["01A"], "commissioning_management"),
    ]:
        with pytest.raises(PermissionDenied):
            actions.accept_offer(offer=offer, by=outsider)
    assert reload(offer).state == State.OFFERED


def test_only_the_practices_commissioners_approve(offer, tree, practice_manager):
    actions.accept_offer(offer=offer, by=practice_manager)
    for outsider in [practice_manager, user_with_roles(tree["01B"], "commissioning_management")]:
        with pytest.raises(PermissionDenied):
            actions.approve_offers(offers=[offer], by=outsider)[0]
    actions.approve_offers(offers=[offer], by=user_with_roles(tree["QAA"], "commissioning_management"))
    assert reload(offer).state == State.APPROVED


def test_bulk_approval_is_refused_as_a_whole(tree, year, commissioner, practice_manager):
    first, second = offers_to([tree["A00001"], tree["A00002"]], year, by=commissioner)
    actions.accept_offer(offer=first, by=practice_manager)
    with pytest.raises(ValidationError, match="A00002 is offered, so it cannot be approved"):
        actions.approve_offers(offers=[first, second], by=commissioner)
    assert reload(first).state == State.ACCEPTED
    assert not Participation.objects.exists()


# --- Expiry -------------------------------------------------------------------------------------------------


def test_offers_expire_the_day_after_their_response_date(tree, year, practice_manager):
    offered, answered = offers_to([tree["A00001"], tree["A00002"]], year)
    actions.accept_offer(offer=answered, by=None)
    assert actions.expire_lapsed_offers(today=date(2023, 6, 30), by=None) == []
    expired = actions.expire_lapsed_offers(today=date(2023, 7, 1), by=None)
    assert [offer.pk for offer in expired] == [offered.pk]
    assert reload(offered).state == State.EXPIRED and reload(offered).closed_at is not None
    assert reload(answered).state == State.ACCEPTED
    assert actions.expire_lapsed_offers(today=date(2023, 7, 2), by=None) == []


def test_the_nightly_task_expires_lapsed_offers(tree, year):
    offers_to([tree["A00001"], tree["A00002"]], year)
    # The offers' response date (30 June 2023) is long past.
    assert tasks.expire_lapsed_offers.delay().get() == 2
    assert set(Offer.objects.values_list("state", flat=True)) == {State.EXPIRED}


def test_the_expiry_task_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["participation-expire-lapsed-offers"]
    assert entry["task"] == tasks.expire_lapsed_offers.name
    assert entry["task"] in app.tasks


def test_support_may_expire_offers_but_a_commissioner_may_not(tree, year, commissioner):
    offers_to([tree["A00001"]], year)
    with pytest.raises(PermissionDenied):
        actions.expire_lapsed_offers(today=date(2023, 7, 1), by=commissioner)
    support = user_with_roles(tree["ENG"], "support")
    assert len(actions.expire_lapsed_offers(today=date(2023, 7, 1), by=support)) == 1


# --- Automatic participation --------------------------------------------------------------------------------


def test_automatic_participation_covers_every_open_practice_once(tree):
    Organisation.objects.filter(code="A00002").update(closed_on=date(2013, 9, 30))
    Organisation.objects.filter(code="A00003").update(closed_on=date(2013, 3, 31))
    Organisation.objects.filter(code="B00001").update(opened_on=date(2013, 6, 1))

    # Creating a year with automatic participation records it for every practice open during the year.
    year = service_year("QOF1314", automatic_participation=True)
    created = list(year.participations.all())

    assert len(created) == 3
    assert participation_periods(year) == {
        "A00001": [(date(2013, 4, 1), date(2014, 3, 31))],
        "A00002": [(date(2013, 4, 1), date(2013, 9, 30))],
        "B00001": [(date(2013, 6, 1), date(2014, 3, 31))],
    }
    events = AuditEvent.objects.count()
    assert actions.record_automatic_participation(service_year=year, by=None) == []
    assert AuditEvent.objects.count() == events


def test_a_commissioner_records_automatic_participation_for_its_practices_only(tree, commissioner):
    # A year made automatic after it was created records nothing until someone (or the nightly task) asks.
    year = actions.update_service_year(
        service_year=service_year("QOF1314"), changes={"automatic_participation": True}, by=None
    )
    assert not year.participations.exists()
    actions.record_automatic_participation(service_year=year, by=commissioner)
    assert set(participation_periods(year)) == {"A00001", "A00002"}
    with pytest.raises(PermissionDenied):
        actions.record_automatic_participation(
            service_year=year, by=user_with_roles(tree["A00001"], "participation_management")
        )


def test_the_nightly_task_records_automatic_participation_for_open_years_only(tree):
    from participation import tasks

    past = actions.update_service_year(
        service_year=service_year("QOF1314"), changes={"automatic_participation": True}, by=None
    )
    running = service_year("QOF2627")
    actions.update_service_year(service_year=running, changes={"automatic_participation": True}, by=None)
    assert tasks.record_automatic_participation.delay().get() == 4
    assert running.participations.count() == 4 and not past.participations.exists()
    assert tasks.record_automatic_participation.delay().get() == 0


def test_automatic_years_are_not_offered_and_offered_years_not_automatic(tree, year):
    automatic = service_year("QOF1314", automatic_participation=True)
    with pytest.raises(ValidationError, match="automatically"):
        offers_to(
            [tree["A00001"]],
            automatic,
            **{k: v.replace(year=v.year - 10) for k, v in QOF2324_OFFER_DATES.items()},
        )
    with pytest.raises(ValidationError, match="not automatic"):
        actions.record_automatic_participation(service_year=year, by=None)


def test_automatic_participation_can_be_ended(tree):
    year = service_year("QOF1314", automatic_participation=True)
    actions.record_automatic_participation(service_year=year, by=None)
    participation = Participation.objects.get(practice__code="A00001")
    manager = user_with_roles(tree["ENG"], "service_management")
    actions.end_participation(participation=participation, ended_on=date(2013, 12, 31), by=manager)
    assert participation_periods(year)["A00001"] == [(date(2013, 4, 1), date(2013, 12, 31))]
    with pytest.raises(ValidationError, match="already ended"):
        actions.end_participation(participation=participation, ended_on=date(2013, 11, 30), by=manager)


# --- Joining and leaving mid-year ---------------------------------------------------------------------------


def approved(practice, year, **dates) -> Offer:
    [offer] = offers_to([practice], year, **dates)
    actions.accept_offer(offer=offer, by=None)
    return actions.approve_offers(offers=[offer], by=None)[0]


def test_a_practice_that_joins_or_leaves_mid_year_participates_only_on_its_dates(tree, year, commissioner):
    approved(tree["A00001"], year, start_date=date(2023, 10, 1))
    leaver = approved(tree["A00002"], year)
    actions.end_participation(
        participation=leaver.participation, ended_on=date(2023, 12, 31), by=commissioner
    )
    assert reload(leaver).state == State.ENDED
    # Rejoining later in the year is a new offer for dates after the first period.
    approved(tree["A00002"], year, start_date=date(2024, 2, 1))

    assert participation_periods(year) == {
        "A00001": [(date(2023, 10, 1), date(2024, 3, 31))],
        "A00002": [(date(2023, 4, 1), date(2023, 12, 31)), (date(2024, 2, 1), date(2024, 3, 31))],
    }
    assert participating_practice_codes(year, on=date(2023, 6, 1)) == {"A00002"}
    assert participating_practice_codes(year, on=date(2024, 1, 15)) == {"A00001"}
    assert participating_practice_codes(year, on=date(2024, 3, 31)) == {"A00001", "A00002"}
    assert is_participating(tree["A00001"], year, date(2023, 10, 1))
    assert not is_participating(tree["A00001"], year, date(2023, 9, 30))
    assert not is_participating(tree["A00003"], year, date(2023, 10, 1))
    frame = participation_frame(year)
    assert list(frame.columns) == ["practice_code", "start_date", "end_date"]
    assert frame["practice_code"].tolist() == ["A00001", "A00002", "A00002"]


def test_an_offer_overlapping_existing_participation_is_not_made(tree, year):
    approved(tree["A00001"], year)
    summary = actions.offer_service(
        service_year=year,
        practices=[tree["A00001"]],
        **(QOF2324_OFFER_DATES | {"start_date": date(2023, 6, 1)}),
        by=None,
    )
    assert summary.offers == [] and summary.already_offered == ["A00001"]


def test_participation_ends_inside_its_own_dates(tree, year, commissioner):
    offer = approved(tree["A00001"], year, start_date=date(2023, 10, 1))
    for outside in [date(2023, 9, 30), date(2024, 4, 1)]:
        with pytest.raises(ValidationError) as refused:
            actions.end_participation(participation=offer.participation, ended_on=outside, by=commissioner)
        assert "ended_on" in refused.value.message_dict
    assert reload(offer).state == State.APPROVED


def test_a_practice_cannot_end_its_own_participation(tree, year, practice_manager):
    offer = approved(tree["A00001"], year)
    with pytest.raises(PermissionDenied):
        actions.end_participation(
            participation=offer.participation, ended_on=date(2023, 9, 30), by=practice_manager
        )
