import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from manual_entry.actions import enter_manual_answers, set_missing_answers_to_yes
from manual_entry.models import ManualAnswer
from manual_entry.selectors import manual_answers_frame
from participation.models import Indicator
from tests.extracts.helpers import load_rulesets, participate, set_manual_deadline
from tests.factories import user_with_roles

QI = ["QI013", "QI014", "QI016", "QI017", "QI018", "QI019"]


@pytest.fixture
def qof2324(tree):
    year = load_rulesets()
    participate(["A00001", "A00002"], year)
    return year


@pytest.fixture
def open_year(qof2324):
    return set_manual_deadline(qof2324, timezone.localdate() + dt.timedelta(days=30))


@pytest.fixture
def closed_year(qof2324):
    return set_manual_deadline(qof2324, dt.date(2024, 3, 31))


def test_practice_enters_answers_before_the_deadline_and_each_change_is_audited(tree, open_year):
    user = user_with_roles(tree["A00001"], "achievement_entry")

    enter_manual_answers(practice=tree["A00001"], service_year=open_year, answers={"QI013": True}, by=user)
    enter_manual_answers(
        practice=tree["A00001"], service_year=open_year, answers={"QI013": False, "QI014": True}, by=user
    )

    answers = {a.indicator.code: a for a in ManualAnswer.objects.select_related("indicator")}
    assert (answers["QI013"].answer, answers["QI014"].answer) == (False, True)
    assert answers["QI013"].entered_by == user and not answers["QI013"].entered_by_commissioner
    events = list(AuditEvent.objects.filter(action="manual_answer.entered").order_by("id"))
    was_yes = {"answer": True, "count": None, "entered_by_commissioner": False, "set_by_default": False}
    assert [(e.before, e.after["answer"]) for e in events][:2] == [(None, True), (was_yes, False)]
    assert len(events) == 3


def test_unchanged_answers_are_not_rewritten_or_audited(tree, open_year):
    user = user_with_roles(tree["A00001"], "achievement_entry")
    enter_manual_answers(practice=tree["A00001"], service_year=open_year, answers={"QI013": True}, by=user)

    changed = enter_manual_answers(
        practice=tree["A00001"], service_year=open_year, answers={"QI013": True, "QI014": None}, by=user
    )

    assert changed == []
    assert AuditEvent.objects.filter(action="manual_answer.entered").count() == 1


def test_practice_entry_locks_after_the_deadline(tree, closed_year):
    user = user_with_roles(tree["A00001"], "achievement_entry")

    with pytest.raises(ValidationError, match="closed on 31 March 2024"):
        enter_manual_answers(
            practice=tree["A00001"], service_year=closed_year, answers={"QI013": True}, by=user
        )
    assert not ManualAnswer.objects.exists()


@pytest.mark.parametrize("commissioner", ["01A", "QAA"])
def test_commissioner_may_still_enter_after_the_deadline_and_is_flagged(tree, closed_year, commissioner):
    user = user_with_roles(tree[commissioner], "achievement_entry")

    enter_manual_answers(practice=tree["A00001"], service_year=closed_year, answers={"QI013": True}, by=user)

    answer = ManualAnswer.objects.get()
    assert answer.answer is True and answer.entered_by_commissioner


def test_commissioner_entry_before_the_deadline_is_flagged_too(tree, open_year):
    user = user_with_roles(tree["01A"], "achievement_entry")
    enter_manual_answers(practice=tree["A00002"], service_year=open_year, answers={"QI016": False}, by=user)
    assert ManualAnswer.objects.get().entered_by_commissioner


def test_entry_outside_scope_or_for_a_non_participating_practice_is_refused(tree, open_year):
    with pytest.raises(PermissionDenied):
        enter_manual_answers(
            practice=tree["A00002"],
            service_year=open_year,
            answers={"QI013": True},
            by=user_with_roles(tree["A00001"], "achievement_entry"),
        )
    with pytest.raises(ValidationError, match="does not take part"):
        enter_manual_answers(
            practice=tree["A00003"],
            service_year=open_year,
            answers={"QI013": True},
            by=user_with_roles(tree["A00003"], "achievement_entry"),
        )
    with pytest.raises(ValidationError, match="Not manual indicators"):
        enter_manual_answers(
            practice=tree["A00001"], service_year=open_year, answers={"AF001": True}, by=None
        )


def test_indicator_answered_with_a_count_takes_a_count(tree, open_year):
    Indicator.objects.filter(service_year=open_year, code="QI019").update(answered_with_count=True)
    enter_manual_answers(practice=tree["A00001"], service_year=open_year, answers={"QI019": 12}, by=None)
    assert ManualAnswer.objects.get().count == 12
    with pytest.raises(ValidationError, match="count"):
        enter_manual_answers(
            practice=tree["A00001"], service_year=open_year, answers={"QI019": True}, by=None
        )
    assert manual_answers_frame(service_year=open_year).empty  # counts are not Yes/No answers


def test_service_manager_sets_every_missing_answer_to_yes_in_bulk(
    tree, closed_year, django_assert_max_num_queries
):
    enter_manual_answers(practice=tree["A00001"], service_year=closed_year, answers={"QI013": False}, by=None)
    manager = user_with_roles(tree["ENG"], "service_management")

    # 4 of these are the audit trail's hash chain: its head locked and moved on once for the batch of events.
    with django_assert_max_num_queries(16):
        created = set_missing_answers_to_yes(service_year=closed_year, by=manager)

    assert created == 2 * len(QI) - 1
    frame = manual_answers_frame(service_year=closed_year).set_index(["practice_code", "indicator_code"])
    assert not frame.loc[("A00001", "QI013"), "answer"]
    assert frame.loc[("A00002", "QI013"), "answer"]
    assert ManualAnswer.objects.filter(set_by_default=True).count() == created
    events = AuditEvent.objects.filter(action="manual_answer.missing_set_to_yes")
    assert events.count() == created and events.first().before is None
    assert set_missing_answers_to_yes(service_year=closed_year, by=manager) == 0
    with pytest.raises(PermissionDenied):
        set_missing_answers_to_yes(service_year=closed_year, by=user_with_roles(tree["ENG"], "support"))


def test_manual_answers_frame_filters_by_practice(tree, open_year):
    for code in ["A00001", "A00002"]:
        enter_manual_answers(practice=tree[code], service_year=open_year, answers={"QI013": True}, by=None)
    frame = manual_answers_frame(service_year=open_year, practice_codes=["A00002"])
    assert frame.to_dict("records") == [
        {"practice_code": "A00002", "indicator_code": "QI013", "answer": True}
    ]


# ---- Pages ----


def page_url(year, code="A00001"):
    return reverse("manual_entry:manual_entry", kwargs={"code": code, "year": year.code})


def test_practice_page_saves_answers_from_radios(client, tree, open_year):
    client.force_login(user_with_roles(tree["A00001"], "achievement_entry"))

    page = client.get(page_url(open_year))
    assert page.status_code == 200 and b"Complete every manual indicator by" in page.content
    response = client.post(page_url(open_year), {"QI013": "yes", "QI014": "no"})

    assert response.status_code == 302
    saved = dict(ManualAnswer.objects.values_list("indicator__code", "answer"))
    assert saved == {"QI013": True, "QI014": False}


def test_page_after_the_deadline_explains_the_lock_and_refuses_changes(client, tree, closed_year):
    client.force_login(user_with_roles(tree["A00001"], "achievement_entry"))

    page = client.get(page_url(closed_year))
    assert b"Manual entry closed on 31 March 2024" in page.content
    assert b"Save answers" not in page.content
    client.post(page_url(closed_year), {"QI013": "yes"})
    assert not ManualAnswer.objects.exists()


def test_commissioner_page_after_the_deadline_still_saves(client, tree, closed_year):
    client.force_login(user_with_roles(tree["01A"], "achievement_entry"))
    page = client.get(page_url(closed_year, "A00002"))
    assert b"on the practice's behalf" in page.content
    client.post(page_url(closed_year, "A00002"), {"QI013": "yes"})
    assert ManualAnswer.objects.get().entered_by_commissioner


def test_viewer_reads_but_cannot_enter(client, tree, open_year):
    client.force_login(user_with_roles(tree["A00001"], "view"))
    page = client.get(page_url(open_year))
    assert page.status_code == 200 and b"Save answers" not in page.content
    client.post(page_url(open_year), {"QI013": "yes"})
    assert not ManualAnswer.objects.exists()


def test_year_the_practice_is_not_in_is_not_found(client, tree, open_year):
    client.force_login(user_with_roles(tree["A00003"], "achievement_entry"))
    assert client.get(page_url(open_year, "A00003")).status_code == 404
    years = client.get(reverse("manual_entry:manual_entry_years", kwargs={"code": "A00001"}))
    assert years.status_code == 404


def test_set_missing_page_is_for_service_management_only(client, tree, closed_year):
    url = reverse("manual_entry:set_missing_answers", kwargs={"year": closed_year.code})
    client.force_login(user_with_roles(tree["ENG"], "support"))
    assert client.get(url).status_code == 404
    client.force_login(user_with_roles(tree["ENG"], "service_management"))
    assert b"12 answers are missing" in client.get(url).content
    client.post(url)
    assert ManualAnswer.objects.filter(set_by_default=True).count() == 12


def test_a_practice_user_finds_manual_entry_in_the_menu_and_reads_what_each_indicator_asks(
    client, tree, open_year
):
    client.force_login(user_with_roles(tree["A00001"], "achievement_entry"))
    home = client.get(reverse("home:index"))
    menu = {item["text"]: item["href"] for item in home.context["navigation"]}
    assert menu["Manual entry"] == reverse("manual_entry:manual_entry_years", kwargs={"code": "A00001"})
    html = client.get(page_url(open_year)).content.decode()
    # The indicator's own wording, not only its group's name.
    assert "can demonstrate continuous quality improvement activity focused upon workforce" in html
    assert 'aria-describedby="QI013-hint"' in html and 'id="QI013-hint"' in html


def test_the_menu_offers_manual_entry_only_to_those_who_enter_it(client, tree):
    client.force_login(user_with_roles(tree["A00001"], "view"))
    menu = [item["text"] for item in client.get(reverse("home:index")).context["navigation"]]
    assert "Manual entry" not in menu
