"""In a browser: a practice manager follows a figure to its explanation and tries a what-if; a commissioner
reads the opportunities and the forecast; Support confirms a held national prevalence. axe on every page."""

import datetime as dt

import pytest

from calculation import actions
from calculation.models import CalculationRun
from tests.calculation.helpers import (
    NEXT_YEAR_END,
    example_tree,
    load_in_year_extract,
    load_next_year,
    load_worked_example,
)
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sideways_scroll, sign_in
from tests.factories import user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def calculate(year, achievement_date) -> CalculationRun:
    run = actions.start_run(service_year=year, achievement_date=achievement_date, by=None, reason="e2e")
    return actions.calculate_in_process(run=run)


@pytest.fixture
def in_year(tmp_path):
    tree = example_tree()
    year = load_worked_example()
    for achievement_date in ("20231231", "20240131"):
        load_in_year_extract(tmp_path, achievement_date)
        run = calculate(year, dt.datetime.strptime(achievement_date, "%Y%m%d").date())
        assert run.status == CalculationRun.Status.PUBLISHED
    return tree


def test_a_practice_manager_follows_a_figure_to_its_explanation_and_asks_what_if(page, in_year):
    manager = user_with_roles(in_year["Z10005"], "view", "finance_view", "declaration_management")
    sign_in(page, manager)
    page.get_by_role("link", name="Achievement", exact=True).click()
    page.get_by_role("heading", name="Achievement Summary Report").wait_for()
    page.locator('[data-indicator="AF006"] th a').click()
    page.get_by_role("heading", name="AF006:").wait_for()
    assert page.get_by_test_id("recomputed").is_visible()
    assert page.get_by_test_id("extract-rows").is_visible()
    assert_no_serious_accessibility_violations(page)

    denominator = page.get_by_label("Denominator").input_value()
    page.get_by_label("Numerator").fill(denominator)
    page.get_by_test_id("what-if-points").filter(has_text="12.00").wait_for()
    assert page.get_by_role("heading", name="AF006:").is_visible()  # the page stayed; only the result changed
    assert_no_serious_accessibility_violations(page)

    page.goto("/achievement/practices/Z10005/")
    page.get_by_role("link", name="What would earn more").click()
    page.get_by_role("heading", name="What would earn more").wait_for()
    assert page.get_by_test_id("opportunities").is_visible()
    assert_no_serious_accessibility_violations(page)

    page.goto("/achievement/practices/Z10005/")
    page.get_by_role("link", name="Year-end forecast").click()
    page.get_by_role("heading", name="Year-end forecast").wait_for()
    assert page.get_by_test_id("forecast").is_visible()
    assert_no_serious_accessibility_violations(page)

    page.goto("/achievement/practices/Z10005/explain/")
    page.get_by_role("heading", name="Total:").wait_for()
    assert_no_serious_accessibility_violations(page)


def test_a_commissioner_reads_the_biggest_opportunities_and_the_forecast_totals(page, in_year):
    commissioner = user_with_roles(in_year["02A"], "view", "finance_view")
    sign_in(page, commissioner)
    page.get_by_role("link", name="Achievement", exact=True).click()
    page.get_by_role("heading", name="Detailed Provider Achievement Report").wait_for()
    page.get_by_role("link", name="The biggest opportunities across these practices").click()
    page.get_by_role("heading", name="The biggest opportunities across your practices").wait_for()
    assert page.get_by_test_id("opportunities").is_visible()
    assert_no_serious_accessibility_violations(page)
    page.go_back()
    page.get_by_role("link", name="Year-end forecast").click()
    page.get_by_test_id("forecast-totals").wait_for()
    assert_no_serious_accessibility_violations(page)


def test_support_confirms_a_held_national_prevalence(page, tmp_path):
    tree = example_tree()
    assert calculate(load_worked_example(), dt.date(2024, 3, 31)).status == CalculationRun.Status.PUBLISHED
    next_year = load_next_year(tmp_path, without=("Z92001", "Z72003", "Z10005", "Z90007"))
    held = calculate(next_year, NEXT_YEAR_END)
    assert held.status == CalculationRun.Status.HELD
    support = user_with_roles(tree["ENG"], "support")

    sign_in(page, support)
    page.goto(f"/calculation/runs/{held.pk}/")
    page.get_by_test_id("run-status").filter(has_text="Held").wait_for()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("link", name="Read the prevalence checks").click()
    page.get_by_role("heading", name="National prevalence checks").wait_for()
    assert "4 practices still taking part sent no data" in page.get_by_test_id("outliers").inner_text()
    assert_no_serious_accessibility_violations(page)

    page.get_by_label("The figures are right").check()
    page.get_by_label("Why").fill("The four practices merged into their neighbours on 1 April.")
    page.get_by_role("button", name="Record the decision").click()
    page.get_by_test_id("run-status").filter(has_text="Published").wait_for(timeout=60_000)
    assert_no_serious_accessibility_violations(page)


def test_the_new_pages_do_not_scroll_sideways_on_a_phone(page, in_year):
    """WCAG 1.4.10 reflow at 390 px: wide tables scroll inside their own region, the page never does."""
    manager = user_with_roles(in_year["Z10005"], "view", "finance_view")
    sign_in(page, manager)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (
        "/achievement/practices/Z10005/explain/indicators/AF006/",
        "/achievement/practices/Z10005/explain/groups/AF/",
        "/achievement/practices/Z10005/explain/",
        "/achievement/practices/Z10005/opportunities/",
        "/achievement/practices/Z10005/forecast/",
    ):
        page.goto(path)
        page.locator("h1").wait_for()
        scrolls = sideways_scroll(page)
        assert not scrolls, f"{path} {scrolls}"
