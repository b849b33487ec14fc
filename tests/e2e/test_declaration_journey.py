"""The declaration journey in a browser, as three people: the practice declares from its home page's work
list, the commissioner's approver approves from the declarations list, finance approves the money from the
declaration's page; then a recalculation changes the figures and the declaration comes back to the
practice with what changed. axe-core on each new page."""

import pytest

from accounts.roles import Role
from declarations.models import Declaration
from tests.declarations.helpers import publish
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sideways_scroll, sign_in
from tests.factories import build_organisation_tree, service_year, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
State = Declaration.State


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()


def test_practice_declares_approver_approves_finance_approves_and_a_recalculation_sends_it_back(
    page, live_server
):
    tree = build_organisation_tree()
    year = service_year()
    publish(year, {tree["A00001"]: ("385.58", "84244.84"), tree["A00002"]: ("300.00", "60000.00")})
    declarer = user_with_roles(tree["A00001"], Role.DECLARATION_MANAGEMENT)
    approver = user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT)
    finance = user_with_roles(tree["QAA"], Role.FINANCE_MANAGEMENT)
    declaration = Declaration.objects.get(practice=tree["A00001"], service_year=year)

    sign_in(page, declarer)
    page.get_by_role("link", name=f"Declare {year.name}: £84,244.84, 385.58 points").click()
    page.get_by_role("heading", name=f"{year.name} declaration").wait_for()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("button", name="Declare £84,244.84").click()
    page.get_by_text("Tick the declaration statement").first.wait_for()  # refused without the statement
    page.locator("input[name=statement]").check()
    page.get_by_role("button", name="Declare £84,244.84").click()
    page.get_by_text("Awaiting Commissioning Organisation Approval").first.wait_for()
    sign_out(page)

    sign_in(page, approver)
    page.get_by_role("link", name="1 declaration awaiting your approval").click()
    page.get_by_role("heading", name="Declarations").wait_for()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("button", name="Approve all 1 awaiting approval").click()
    page.get_by_text("1 declaration approved").wait_for()
    sign_out(page)

    sign_in(page, finance)
    page.get_by_role("link", name="1 declaration awaiting your financial approval").click()
    page.get_by_role("link", name="A00001").first.click()
    page.get_by_role("button", name="Financially approve £84,244.84").click()
    page.get_by_text("Financially approved").first.wait_for()
    declaration.refresh_from_db()
    assert declaration.state == State.APPROVED
    sign_out(page)

    # A recalculation changes A00001's figures before payment: the declaration goes back to the practice,
    # which is told the old and new figures and can see what changed, indicator by indicator.
    publish(year, {tree["A00001"]: ("380.00", "83000.00"), tree["A00002"]: ("300.00", "60000.00")},
            kind="recalculation", reason="Corrected list size")  # fmt: skip
    declaration = Declaration.objects.get(
        practice=tree["A00001"], service_year=year, state__in=Declaration.LIVE_STATES
    )
    assert declaration.state == State.AWAITING_PRACTICE
    assert (
        Declaration.objects.get(practice=tree["A00002"], service_year=year).state == State.AWAITING_PRACTICE
    )
    sign_in(page, declarer)
    page.get_by_role("link", name=f"Declare {year.name}: £83,000.00, 380.00 points").click()
    page.get_by_role("heading", name=f"{year.name} declaration").wait_for()
    assert "£84,244.84" in page.content()  # the figures it had, beside the new ones
    assert_no_serious_accessibility_violations(page)
    scrolls = sideways_scroll(page, 390)
    assert not scrolls, scrolls
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("a[href*='/declarations/changes/']").first.click()
    page.get_by_role("heading", name="What run").wait_for()
    assert "Corrected list size" in page.content()
    assert_no_serious_accessibility_violations(page)
    sign_out(page)

    # The freeze page, where Support or Service Management stop declarations and approvals (its rules are
    # tested in tests/declarations/test_pages.py).
    sign_in(page, user_with_roles(tree["ENG"], Role.SUPPORT))
    page.goto("/declarations/freezes/")
    page.get_by_role("heading", name="Freeze declarations and approvals").wait_for()
    assert_no_serious_accessibility_violations(page)
