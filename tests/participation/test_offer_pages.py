"""The offer and participation pages: thin views over the actions, scoped to the user, 404 outside scope."""

import datetime as dt
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import Organisation
from accounts.organisation_import import parse_mapping
from participation import actions
from participation.models import Offer
from tests.downloads import column, csv_rows, xlsx_sheet
from tests.factories import (
    QOF2324_OFFER_DATES,
    date_fields,
    mapping_csv,
    offers_to,
    service_year,
    user_with_roles,
)

LIST = reverse("participation:participation_list")
CREATE = reverse("participation:offer_create")
OFFERS = reverse("participation:offer_list")
State = Offer.State


def detail(offer) -> str:
    return reverse("participation:offer_detail", args=[offer.pk])


@pytest.fixture
def year(db):
    return service_year("QOF2324")


@pytest.fixture
def commissioner(tree):
    return user_with_roles(tree["01A"], "commissioning_management")


@pytest.fixture
def practice_manager(tree):
    return user_with_roles(tree["A00001"], "participation_management")


def offer_form(**changes) -> dict:
    return {"service_year": "QOF2324", **date_fields(**QOF2324_OFFER_DATES)} | changes


def test_commissioner_offers_a_year_to_all_its_practices(client, tree, year, commissioner):
    client.force_login(commissioner)
    page = client.get(CREATE, {"service_year": "QOF2324"})
    assert page.status_code == 200
    assert [practice.code for practice in page.context["listed"]] == ["A00001", "A00002"]
    assert page.context["form"].initial["start_date"] == date(2023, 4, 1)

    response = client.post(CREATE, offer_form(all_practices="on"))

    assert response.status_code == 302 and response.url == f"{LIST}?service_year=QOF2324"
    assert sorted(Offer.objects.values_list("practice__code", flat=True)) == ["A00001", "A00002"]


def test_commissioner_offers_to_chosen_practices_and_finds_them_by_name(client, tree, year, commissioner):
    client.force_login(commissioner)
    listed = client.get(CREATE, {"service_year": "QOF2324", "search": "a00002"}).context["listed"]
    assert [practice.code for practice in listed] == ["A00002"]
    client.post(CREATE, offer_form(practices=[tree["A00002"].pk]))
    assert list(Offer.objects.values_list("practice__code", flat=True)) == ["A00002"]


def test_offer_form_shows_what_is_wrong_and_makes_nothing(client, tree, year, commissioner):
    client.force_login(commissioner)
    response = client.post(
        CREATE, offer_form(**date_fields(end_date=date(2024, 4, 30)), practices=[tree["A00001"].pk])
    )
    assert response.status_code == 200
    assert "Must be between 1 April 2023 and 31 March 2024" in response.text
    assert "There is a problem" in response.text
    response = client.post(CREATE, offer_form())
    assert "Choose at least one practice" in response.text
    assert not Offer.objects.exists()


def test_commissioner_cannot_offer_to_a_practice_it_does_not_commission(client, tree, year, commissioner):
    client.force_login(commissioner)
    response = client.post(CREATE, offer_form(practices=[tree["A00003"].pk]))
    assert response.status_code == 200 and "practices" in response.context["form"].errors
    assert not Offer.objects.exists()


def test_offer_page_is_not_found_for_users_who_do_not_commission(client, tree, year, practice_manager):
    client.force_login(practice_manager)
    assert client.get(CREATE).status_code == 404
    client.force_login(user_with_roles(tree["01A"], "view"))
    assert client.get(CREATE).status_code == 404


def test_practice_manager_accepts_from_the_offers_page(client, tree, year, practice_manager, commissioner):
    [offer] = offers_to([tree["A00001"]], year, by=commissioner)
    offers_to([tree["A00002"]], year, by=commissioner)
    client.force_login(practice_manager)
    page = client.get(OFFERS)
    assert [o.practice.code for o in page.context["awaiting"]] == ["A00001"]
    assert "Accept" in page.text

    response = client.post(detail(offer), {"transition": "accept"})

    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.state == State.ACCEPTED and offer.responded_by == practice_manager


def test_practice_manager_declines_with_a_reason(client, tree, year, practice_manager):
    [offer] = offers_to([tree["A00001"]], year)
    client.force_login(practice_manager)
    client.post(detail(offer), {"transition": "decline", "reason": "Merging with A00002"})
    offer.refresh_from_db()
    assert (offer.state, offer.decline_reason) == (State.DECLINED, "Merging with A00002")
    assert "Merging with A00002" in client.get(detail(offer)).text


def test_a_practice_user_cannot_see_or_answer_another_practices_offer(client, tree, year, practice_manager):
    [other] = offers_to([tree["A00002"]], year)
    client.force_login(practice_manager)
    assert client.get(detail(other)).status_code == 404
    assert client.post(detail(other), {"transition": "accept"}).status_code == 404
    other.refresh_from_db()
    assert other.state == State.OFFERED


def test_a_user_without_participation_management_sees_no_buttons_and_is_refused(client, tree, year):
    [offer] = offers_to([tree["A00001"]], year)
    client.force_login(user_with_roles(tree["A00001"], "view"))
    assert "Accept" not in client.get(detail(offer)).text
    assert client.post(detail(offer), {"transition": "accept"}).status_code == 403
    offer.refresh_from_db()
    assert offer.state == State.OFFERED


def test_a_refused_transition_is_explained(client, tree, year, commissioner):
    [offer] = offers_to([tree["A00001"]], year)
    client.force_login(commissioner)
    response = client.post(detail(offer), {"transition": "approve"}, follow=True)
    assert "is offered, so it cannot be approved" in response.text


def test_commissioner_approves_withdraws_and_ends_from_the_offer_page(client, tree, year, commissioner):
    first, second = offers_to([tree["A00001"], tree["A00002"]], year)
    actions.accept_offer(offer=first, by=None)
    client.force_login(commissioner)
    assert "Approve participation" in client.get(detail(first)).text

    client.post(detail(first), {"transition": "approve"})
    client.post(detail(second), {"transition": "withdraw"})
    refused = client.post(detail(first), {"transition": "end", **date_fields(ended_on=date(2024, 4, 1))})
    assert "The last day must be between" in refused.text
    client.post(detail(first), {"transition": "end", **date_fields(ended_on=date(2023, 12, 31))})

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.participation.end_date) == (State.ENDED, date(2023, 12, 31))
    assert second.state == State.WITHDRAWN
    history = client.get(detail(first)).context["history"]
    assert [event.action for event in history] == [
        "offer.created",
        "offer.accept",
        "offer.approve",
        "offer.end",
    ]


def test_commissioner_sees_its_practices_states_at_a_glance(client, tree, year, commissioner):
    accepted, _ = offers_to([tree["A00001"], tree["A00002"]], year)
    actions.accept_offer(offer=accepted, by=None)
    client.force_login(commissioner)
    response = client.get(LIST, {"service_year": "QOF2324"})
    rows = {row.record.code: row.record.offer_state for row in response.context["table"].rows}
    assert rows == {"A00001": State.ACCEPTED, "A00002": State.OFFERED}
    accepted_only = client.get(LIST, {"service_year": "QOF2324", "state": "accepted"}).context["table"].rows
    assert [row.record.code for row in accepted_only] == ["A00001"]
    found = client.get(LIST, {"service_year": "QOF2324", "search": "a00002"}).context["table"].rows
    assert [row.record.code for row in found] == ["A00002"]


def test_practices_never_offered_show_as_not_offered(client, tree, year):
    offers_to([tree["A00001"]], year)
    client.force_login(user_with_roles(tree["QAA"], "view"))
    rows = client.get(LIST, {"service_year": "QOF2324", "state": "not_offered"}).context["table"].rows
    assert [row.record.code for row in rows] == ["A00002", "A00003"]


def test_participation_list_downloads_as_csv_and_excel(client, tree, year, commissioner):
    offer, _ = offers_to([tree["A00001"], tree["A00002"]], year)
    actions.accept_offer(offer=offer, by=None)
    actions.approve_offers(offers=[offer], by=None)[0]
    client.force_login(commissioner)
    rows = csv_rows(client.get(LIST, {"service_year": "QOF2324", "_export": "csv"}))
    assert rows[0] == [
        "ODS code", "Practice", "Sub-ICB", "State", "Respond by", "Participating from", "Participating to"
    ]  # fmt: skip
    assert rows[1][:4] == ["A00001", "Practice A00001", "01A", "Approved"]
    assert rows[1][5:] == ["2023-04-01", "2024-03-31"]
    assert rows[2][3] == "Offered"
    # Dates are dates in Excel, so they sort and compare; not text such as "1 Apr 2023".
    sheet = xlsx_sheet(client.get(LIST, {"service_year": "QOF2324", "_export": "xlsx"}))
    start = column(sheet, "Participating from")[0]
    assert start.value.date() == dt.date(2023, 4, 1) and start.number_format == "dd/mm/yyyy"
    assert all(isinstance(cell.value, dt.datetime) for cell in column(sheet, "Respond by")[:2])


def test_commissioner_approves_many_accepted_offers_at_once(client, tree, year, commissioner):
    offers = offers_to([tree["A00001"], tree["A00002"]], year)
    for offer in offers:
        actions.accept_offer(offer=offer, by=None)
    client.force_login(commissioner)
    response = client.post(
        LIST,
        {"transition": "approve", "offer": [o.pk for o in offers], "next": f"{LIST}?service_year=QOF2324"},
    )
    assert response.status_code == 302 and response.url == f"{LIST}?service_year=QOF2324"
    assert set(Offer.objects.values_list("state", flat=True)) == {State.APPROVED}


def test_bulk_actions_ignore_offers_outside_the_users_scope(client, tree, year, commissioner):
    [outside] = offers_to([tree["A00003"]], year)
    actions.accept_offer(offer=outside, by=None)
    client.force_login(commissioner)
    response = client.post(LIST, {"transition": "approve", "offer": [outside.pk]}, follow=True)
    assert "Select at least one offer" in response.text
    outside.refresh_from_db()
    assert outside.state == State.ACCEPTED


def many_offers(count: int):
    rows = [(f"C{n:05d}", f"U{n % 7:05d}", f"0{n % 3}C", "QCC", "Y03") for n in range(count)]
    account_actions.import_organisations(
        mapping=parse_mapping(mapping_csv(rows)), effective_date=timezone.localdate(), by=None
    )
    practices = list(Organisation.objects.filter(code__startswith="C"))
    offers = offers_to(practices, service_year("QOF2324"))
    actions.accept_offer(offer=offers[0], by=None)
    actions.approve_offers(offers=[offers[0]], by=None)[0]
    return practices


@pytest.mark.parametrize("count", [4, 60])
def test_participation_list_query_count_does_not_grow_with_rows(
    client, db, count, django_assert_max_num_queries
):
    many_offers(count)
    client.force_login(user_with_roles(Organisation.objects.get(code="QCC"), "commissioning_management"))
    with django_assert_max_num_queries(11):
        response = client.get(LIST, {"service_year": "QOF2324", "per_page": 100})
    assert len(response.context["table"].rows) == count


@pytest.mark.parametrize("count", [4, 60])
def test_offers_page_query_count_does_not_grow_with_rows(client, db, count, django_assert_max_num_queries):
    practices = many_offers(count)
    user = user_with_roles(practices[0], "participation_management")
    for practice in practices[1:]:
        account_actions.grant_role(user=user, organisation=practice, role="participation_management", by=None)
    client.force_login(user)
    with django_assert_max_num_queries(10):
        response = client.get(OFFERS)
    assert len(response.context["awaiting"]) + len(response.context["answered"]) == count


def test_navigation_offers_each_role_its_pages(client, tree, year):
    client.force_login(user_with_roles(tree["01A"], "commissioning_management"))
    texts = [item["text"] for item in client.get(LIST).context["navigation"]]
    assert {"Participation", "Offer a service", "Timetable"} <= set(texts)
    client.force_login(user_with_roles(tree["A00001"], "participation_management"))
    navigation = client.get(OFFERS).context["navigation"]
    assert {"Offers", "Timetable"} <= {item["text"] for item in navigation}
    assert "Offer a service" not in {item["text"] for item in navigation}
    assert [item["text"] for item in navigation if item["current"]] == ["Offers"]


def test_practices_already_offered_the_year_are_left_out_and_old_years_are_not_listed(
    client, tree, year, commissioner
):
    service_year("QOF1415")
    today = dt.date.today()
    starts = today.year if today.month >= 4 else today.year - 1  # the financial year today lies in
    current = service_year(f"QOF{starts % 100:02d}{(starts + 1) % 100:02d}")
    offers_to([tree["A00001"]], year)
    client.force_login(commissioner)
    page = client.get(CREATE, {"service_year": "QOF2324"})
    assert [practice.code for practice in page.context["listed"]] == ["A00002"]
    assert "1 already offered" in page.content.decode()
    codes = [y.code for y in page.context["years"]]
    # The chosen (old) year stays reachable by its code; 2014/15 is not offered in the list.
    assert "QOF1415" not in codes and current.code in codes and codes[0] == "QOF2324"
    assert [y.code for y in client.get(CREATE).context["years"]] == [current.code]


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ({"day": "30", "month": "", "year": "2023"}, "Response date must include a month"),
        ({"day": "", "month": "", "year": "2023"}, "Response date must include a day and a month"),
        ({"day": "31", "month": "6", "year": "2023"}, "Response date must be a real date"),
        ({"day": "30", "month": "6", "year": "23"}, "Year must include 4 numbers"),
        ({"day": "", "month": "", "year": ""}, "Enter the response date"),
    ],
)
def test_a_date_is_three_boxes_with_the_nhsuk_error_messages(
    client, tree, year, commissioner, boxes, message
):
    client.force_login(commissioner)
    data = offer_form(all_practices="on") | {f"response_date-{part}": value for part, value in boxes.items()}
    page = client.post(CREATE, data)
    assert page.status_code == 200
    assert message in page.text
    assert 'href="#id_response_date-day"' in page.text  # the error summary leads to the first box
    assert Offer.objects.count() == 0
