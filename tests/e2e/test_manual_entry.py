import datetime as dt

import pytest
from django.utils import timezone

from manual_entry.models import ManualAnswer
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sign_in
from tests.extracts.helpers import load_rulesets, participate, set_manual_deadline
from tests.factories import user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_practice_manager_enters_the_manual_indicators(page, tree):
    year = load_rulesets()
    participate(["A00001"], year)
    set_manual_deadline(year, timezone.localdate() + dt.timedelta(days=14))
    user = user_with_roles(tree["A00001"], "achievement_entry", "participation_management")

    sign_in(page, user)
    page.get_by_role("heading", name="Year-end checklist", exact=False).first.wait_for()
    page.goto(f"/practices/A00001/manual-entry/{year.code}/")
    page.get_by_role("heading", name="Manual indicators for").wait_for()
    assert_no_serious_accessibility_violations(page)

    for code in ["QI013", "QI014", "QI016", "QI017", "QI018"]:
        page.get_by_role("group", name=code, exact=False).get_by_label("Yes").check()
    page.get_by_role("group", name="QI019", exact=False).get_by_label("No").check()
    page.get_by_role("button", name="Save answers").click()

    page.get_by_text("Saved 6 answers.").wait_for()
    assert page.get_by_text("Every indicator is answered.").is_visible()
    assert_no_serious_accessibility_violations(page)
    answers = dict(ManualAnswer.objects.values_list("indicator__code", "answer"))
    assert answers["QI013"] is True and answers["QI019"] is False and len(answers) == 6


def test_support_is_shown_why_an_extract_was_rejected(page, tree, tmp_path):
    load_rulesets()
    user = user_with_roles(tree["ENG"], "support")
    sign_in(page, user)
    page.get_by_role("link", name="Extracts").click()
    page.get_by_role("button", name="Load an extract").click()
    bad = tmp_path / "bad.csv"
    bad.write_text("not,an,extract\n1,2,3\n")
    page.get_by_label("Extract file").set_input_files(str(bad))
    page.get_by_role("button", name="Load extract").click()
    page.get_by_role("heading", name="bad.csv was rejected: nothing was stored").wait_for()
    assert page.get_by_text("Line 1, (header)", exact=False).is_visible()
    assert_no_serious_accessibility_violations(page)
