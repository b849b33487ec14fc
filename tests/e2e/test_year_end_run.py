import pytest

from tests.calculation.helpers import example_tree, load_worked_example
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import follow_menu, sign_in
from tests.factories import user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_support_runs_the_year_end_and_the_practice_manager_reads_the_summary(page, live_server):
    tree = example_tree()
    load_worked_example()
    support = user_with_roles(tree["ENG"], "support")
    manager = user_with_roles(tree["Z10005"], "declaration_management", "view", "finance_view")

    sign_in(page, support)
    follow_menu(page, "Calculation runs")
    page.get_by_role("heading", name="Calculation runs").wait_for()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("link", name="Start a year-end run").click()
    page.get_by_label("Service year").select_option("QOF2324")
    page.get_by_label("Why is this run needed?").fill("2023/24 year end")
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("button", name="Start the run").click()
    page.get_by_test_id("run-status").filter(has_text="Published").wait_for(timeout=60_000)
    assert page.locator("#run-progress-bar").get_attribute("value") == "100"
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, manager)
    assert page.get_by_test_id("unread-notifications").inner_text().startswith("1")
    page.get_by_role("link", name="Achievement", exact=True).click()
    page.get_by_role("heading", name="Achievement Summary Report").wait_for()
    assert page.get_by_test_id("total-points").inner_text().startswith("382.86 of 635")
    assert page.get_by_text("£41,358.95").first.is_visible()
    assert_no_serious_accessibility_violations(page)
