import pytest

from participation.actions import load_rulesets
from participation.models import Offer
from participation.ruleset_files import RULESETS_DIR, read_rulesets
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sign_in
from tests.factories import user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def test_commissioner_offers_qof_a_practice_accepts_and_the_commissioner_approves(page, tree):
    load_rulesets(rulesets=read_rulesets(RULESETS_DIR), by=None)
    commissioner = user_with_roles(tree["01A"], "commissioning_management")
    practice_manager = user_with_roles(tree["A00001"], "participation_management")

    sign_in(page, commissioner)
    page.get_by_role("link", name="Offer a service", exact=True).click()
    page.get_by_role("heading", name="Offer a service").wait_for()
    assert_no_serious_accessibility_violations(page)
    # 2023/24 ended long ago, so it is not in the list of years to offer; it is still reachable by its code.
    page.goto("/participation/offers/new/?service_year=QOF2324")
    page.get_by_role("heading", name="Quality and Outcomes Framework 2023/24").wait_for()
    start = page.get_by_role("group", name="Start date")
    assert [start.get_by_label(part).input_value() for part in ("Day", "Month", "Year")] == ["1", "4", "2023"]
    assert page.get_by_label("Practice A00003 (A00003)").count() == 0
    assert_no_serious_accessibility_violations(page)
    response_date = page.get_by_role("group", name="Response date")
    for part, value in (("Day", "30"), ("Month", "6"), ("Year", "2023")):
        response_date.get_by_label(part).fill(value)
    page.get_by_label("All the practices I commission").check()
    page.get_by_role("button", name="Make offers").click()
    page.get_by_text("Quality and Outcomes Framework 2023/24 offered to 2 practices.").wait_for()
    assert page.get_by_role("cell", name="Offered").count() == 2
    assert_no_serious_accessibility_violations(page)
    sign_out(page)

    sign_in(page, practice_manager)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.get_by_role("heading", name="Awaiting your response").wait_for()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("button", name="Accept Quality and Outcomes Framework 2023/24 for A00001").click()
    page.get_by_text("was accepted").wait_for()
    assert_no_serious_accessibility_violations(page)
    sign_out(page)

    sign_in(page, commissioner)
    page.get_by_role("link", name="Participation", exact=True).click()
    page.get_by_role("heading", name="Participation").wait_for()
    # The page opens at the service year today falls in; the offer was for 2023/24.
    page.goto("/participation/?service_year=QOF2324")
    page.get_by_label("Select A00001").check()
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_text("1 offer approved.").wait_for()
    assert page.get_by_role("cell", name="1 Apr 2023 to 31 Mar 2024").is_visible()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("link", name="A00001").click()
    page.get_by_role("heading", name="History").wait_for()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("link", name="Timetable", exact=True).click()
    page.get_by_role("heading", name="Year-end timetable").wait_for()
    page.goto("/participation/timetable/?service_year=QOF2324")  # it too opens at the current year
    page.get_by_role("cell", name="Achievement available to view and declare").wait_for()
    assert_no_serious_accessibility_violations(page)

    states = dict(Offer.objects.values_list("practice__code", "state"))
    assert states == {"A00001": Offer.State.APPROVED, "A00002": Offer.State.OFFERED}
