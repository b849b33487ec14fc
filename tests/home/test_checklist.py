import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import Organisation
from accounts.organisation_import import parse_mapping
from home.checklist import year_end_checklists
from manual_entry.actions import enter_manual_answers
from participation import actions as participation_actions
from participation.models import ServiceYear
from tests.downloads import csv_rows
from tests.extracts.helpers import load_rulesets, participate
from tests.factories import mapping_csv, user_with_roles

DURING_2023_24 = dt.date(2024, 1, 15)
QI = ["QI013", "QI014", "QI016", "QI017", "QI018", "QI019"]


@pytest.fixture
def years(tree):
    this = load_rulesets()
    participate(["A00001", "A00002"], this)
    return this, ServiceYear.objects.get(code="QOF2425")


def test_checklist_shows_each_item_and_its_state(tree, years):
    this, following = years
    enter_manual_answers(practice=tree["A00001"], service_year=this, answers=dict.fromkeys(QI, True), by=None)
    offers = participation_actions.offer_service(
        service_year=following,
        practices=[tree["A00001"], tree["A00002"]],
        start_date=following.start_date,
        end_date=following.end_date,
        response_date=dt.date(2024, 6, 30),
        target_date=dt.date(2024, 9, 30),
        by=None,
    ).offers
    participation_actions.accept_offer(offer=next(o for o in offers if o.practice.code == "A00001"), by=None)

    checklists = year_end_checklists(Organisation.objects.filter(type="practice"), today=DURING_2023_24)

    first, second, third = (checklists[tree[code].pk] for code in ["A00001", "A00002", "A00003"])
    assert first.complete and first.summary == "Complete"
    assert (second.participating, second.next_year_agreed, second.manual_entered) == (True, False, 0)
    assert second.next_year_response_date == dt.date(2024, 6, 30)
    assert second.summary == "1 of 3 done"
    assert not third.participating and third.next_year_response_date is None
    assert [item.label for item in first.items] == [
        "Participating in QOF 2023/24",
        "Agreed to take part in QOF 2024/25",
        "Manual indicators entered (6 of 6)",
    ]


@pytest.mark.parametrize("practices", [3, 40])
def test_checklists_take_a_fixed_number_of_queries(db, practices, django_assert_max_num_queries):
    rows = [(f"C{n:05d}", "U00009", "09C", "QCC", "Y03") for n in range(practices)]
    account_actions.import_organisations(
        mapping=parse_mapping(mapping_csv(rows)), effective_date=timezone.localdate(), by=None
    )
    year = load_rulesets()
    participate([code for code, *_ in rows], year)
    with django_assert_max_num_queries(2):
        checklists = year_end_checklists(Organisation.objects.filter(type="practice"), today=DURING_2023_24)
    assert len(checklists) == practices and all(c.participating for c in checklists.values())


def test_home_page_shows_the_practice_checklist(client, tree, years):
    client.force_login(user_with_roles(tree["A00001"], "achievement_entry"))
    response = client.get(reverse("home:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Year-end checklist" in html
    # The NHS.UK task list: each step's status beside it, described to a screen reader with the link.
    assert 'class="nhsuk-task-list portal-checklist"' in html
    assert html.count('class="nhsuk-task-list__item') == 3
    assert "Incomplete" in html and 'aria-describedby="task-A00001-' in html


@pytest.mark.parametrize("practices", [4, 60])
def test_practice_list_shows_the_checklist_column_in_flat_queries(
    client, db, practices, django_assert_max_num_queries
):
    rows = [(f"C{n:05d}", f"U{n % 7:05d}", f"0{n % 3}C", "QCC", "Y03") for n in range(practices)]
    account_actions.import_organisations(
        mapping=parse_mapping(mapping_csv(rows)), effective_date=timezone.localdate(), by=None
    )
    load_rulesets()
    client.force_login(user_with_roles(Organisation.objects.get(code="ENG"), "support"))
    with django_assert_max_num_queries(10):
        response = client.get(reverse("home:practice_list"), {"per_page": 100})
    assert len(response.context["table"].rows) == practices
    # Each cell says what is still to do as such, not "1 of 3 done:" followed by what is not done.
    cell = response.context["table"].rows[0].get_cell("year_end")
    assert cell.startswith("Still to do: Participating in QOF") and "done:" not in cell
    assert cell.endswith("Done: Manual indicators entered (0 of 0).")
    header = csv_rows(client.get(reverse("home:practice_list"), {"_export": "csv"}))[0]
    assert header[:6] == ["ODS code", "Practice", "PCN", "PCN code", "Sub-ICB location", "ICB"]
    assert header[6].startswith("Year end ")
