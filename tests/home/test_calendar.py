import datetime as dt
from decimal import Decimal

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import actions as account_actions
from home import actions
from home.deadlines import Kind, deadlines_for
from participation import actions as participation_actions
from participation.models import Offer
from tests.factories import offers_to, service_year, user_with_roles


@pytest.fixture
def this_year(db):
    """The QOF year today falls in, with its manual-entry deadline a fortnight away."""
    today = timezone.localdate()
    start_year = today.year if today.month >= 4 else today.year - 1
    year = service_year(f"QOF{start_year % 100:02d}{(start_year + 1) % 100:02d}")
    participation_actions.create_indicator(
        values={
            "service_year": year, "code": "QI001", "group_code": "QI",
            "group_description": "Quality improvement",
            "domain_code": "QI", "points": Decimal("27"), "kind": "manual", "patient_list": "TOTAL",
            "prevalence_adjusted": False,
        },
        by=None,
    )  # fmt: skip
    return participation_actions.update_service_year(
        service_year=year, changes={"manual_entry_deadline": today + dt.timedelta(days=14)}, by=None
    )


@pytest.fixture
def offered(tree, this_year):
    """An offer to A00001 to answer in ten days."""
    today = timezone.localdate()
    return offers_to(
        [tree["A00001"]], this_year, start_date=this_year.start_date, end_date=this_year.end_date,
        response_date=today + dt.timedelta(days=10), target_date=this_year.end_date,
    )[0]  # fmt: skip


def feed_of(client, user) -> tuple[str, str]:
    """Make the user's calendar link through the page; (the address shown once, its path)."""
    client.force_login(user)
    assert client.post(reverse("home:calendar_feed")).status_code == 302
    page = client.get(reverse("home:calendar")).content.decode()
    start = page.index("http://testserver/calendar/")
    address = page[start : page.index("</code>", start)]
    assert address not in client.get(reverse("home:calendar")).content.decode(), "shown only once"
    return address, address.removeprefix("http://testserver")


def events(body: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(event["summary"]): event for event in calendar.walk("VEVENT")}


def test_the_practices_offer_is_on_its_home_page_with_the_days_left(client, tree, offered):
    user = user_with_roles(tree["A00001"], "participation_management")
    client.force_login(user)
    home = client.get(reverse("home:index")).content.decode()
    assert "Accept or decline the offer of Quality and Outcomes Framework" in home
    assert "10 days left" in home
    assert reverse("participation:offer_detail", kwargs={"pk": offered.pk}) in home


def test_a_commissioner_sees_how_many_of_its_practices_are_still_to_respond(tree, this_year, offered):
    offers_to(
        [tree["A00002"]], this_year, start_date=this_year.start_date, end_date=this_year.end_date,
        response_date=offered.response_date, target_date=this_year.end_date,
    )  # fmt: skip
    sub_icb = user_with_roles(tree["01A"], "commissioning_management")
    whats = [d.what for d in deadlines_for(sub_icb) if d.kind == Kind.OFFER_RESPONSE]
    assert whats == [f"2 practices to respond to the offer of {this_year.name}"]
    other_icb = user_with_roles(tree["QBB"], "commissioning_management")
    assert not [d for d in deadlines_for(other_icb) if d.kind == Kind.OFFER_RESPONSE]


def test_the_feed_parses_and_holds_the_users_deadlines(client, tree, offered, this_year):
    user = user_with_roles(
        tree["A00001"], "participation_management", "achievement_entry", "declaration_management"
    )
    _, path = feed_of(client, user)
    client.logout()
    response = client.get(path)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    found = events(response.content)
    offer = found[f"Accept or decline the offer of {this_year.name}"]
    assert offer.decoded("dtstart") == offered.response_date
    assert offer.decoded("dtend") == offered.response_date + dt.timedelta(days=1)
    manual = found[f"Manual entry closes for {this_year.name}"]
    assert manual.decoded("dtstart") == this_year.manual_entry_deadline
    cutoffs = [event for summary, event in found.items() if summary.startswith("Payment cut-off")]
    assert len(cutoffs) == 3 and all(isinstance(e.decoded("dtstart"), dt.datetime) for e in cutoffs)
    assert len({str(event["uid"]) for event in found.values()}) == len(found)


def test_another_users_feed_holds_only_their_own_organisations_deadlines(client, tree, offered, this_year):
    theirs = user_with_roles(tree["B00001"], "participation_management")
    _, path = feed_of(client, theirs)
    client.logout()
    assert not any("offer" in summary for summary in events(client.get(path).content))


def test_a_stopped_replaced_unknown_or_retired_link_is_a_404(client, tree, offered):
    user = user_with_roles(tree["A00001"], "participation_management")
    _, first = feed_of(client, user)
    _, second = feed_of(client, user)
    client.logout()
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert client.get(reverse("home:calendar_ics", kwargs={"token": "not-a-secret"})).status_code == 404
    other = user_with_roles(tree["A00002"], "participation_management")
    _, others = feed_of(client, other)
    client.logout()
    assert client.get(others).status_code == 200
    actions.revoke_calendar_feed(by=other)
    assert client.get(others).status_code == 404
    account_actions.retire_user(user=user, by=None)
    assert client.get(second).status_code == 404


def test_a_finance_manager_is_told_what_waits_before_the_cut_off(tree, this_year):
    finance = user_with_roles(tree["01A"], "finance_management")
    kinds = {d.kind for d in deadlines_for(finance)}
    assert Kind.PAYMENT_CUTOFF in kinds
    practice_viewer = user_with_roles(tree["A00001"], "view")
    assert Kind.PAYMENT_CUTOFF not in {d.kind for d in deadlines_for(practice_viewer)}


def test_an_answered_offer_is_no_longer_a_deadline_for_the_practice(tree, offered):
    user = user_with_roles(tree["A00001"], "participation_management")
    participation_actions.accept_offer(offer=offered, by=user)
    assert Offer.objects.get(pk=offered.pk).state == Offer.State.ACCEPTED
    assert Kind.OFFER_RESPONSE not in {d.kind for d in deadlines_for(user)}


def test_a_manual_entry_deadline_moved_past_an_old_years_end_is_still_a_deadline(tree):
    old = service_year("QOF2324", automatic_participation=True)
    participation_actions.create_indicator(
        values={
            "service_year": old, "code": "QI001", "group_code": "QI",
            "group_description": "Quality improvement",
            "domain_code": "QI", "points": Decimal("27"), "kind": "manual", "patient_list": "TOTAL",
            "prevalence_adjusted": False,
        },
        by=None,
    )  # fmt: skip
    participation_actions.record_automatic_participation(service_year=old, by=None)
    reopened = timezone.localdate() + dt.timedelta(days=3)
    participation_actions.update_service_year(
        service_year=old, changes={"manual_entry_deadline": reopened}, by=None
    )
    user = user_with_roles(tree["A00001"], "achievement_entry")
    manual = [d for d in deadlines_for(user) if d.kind == Kind.MANUAL_ENTRY]
    assert [(d.what, d.due) for d in manual] == [(f"Manual entry closes for {old.name}", reopened)]
