"""In a browser, at a laptop's 1280 px and a phone's 390 px: the data pages fit. Nothing scrolls the page
sideways (WCAG 1.4.10 reflow), and at 1280 px the practice's 12-column indicator tables fit without scrolling
their own region, so "5.0 of 5.0" stays on one line. axe-core on each page at each width."""

import datetime as dt

import pytest

from calculation import actions
from calculation.models import CalculationRun
from tests.calculation.helpers import example_tree, load_in_year_extract, load_worked_example
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sideways_scroll, sign_in
from tests.factories import user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each table's own overflow: how far its content is wider than the box it sits in.
TABLE_OVERFLOW = """() => Array.from(document.querySelectorAll('main table')).map(
    t => [t.querySelector('caption')?.textContent.trim() || t.className,
          t.scrollWidth - t.parentElement.clientWidth])"""


@pytest.fixture
def published(tmp_path):
    tree = example_tree()
    year = load_worked_example()
    load_in_year_extract(tmp_path, "20231231")
    run = actions.start_run(service_year=year, achievement_date=dt.date(2023, 12, 31), by=None, reason="e2e")
    assert actions.calculate_in_process(run=run).status == CalculationRun.Status.PUBLISHED
    return tree


def _check(page, path, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(path)
    page.locator("h1").wait_for()
    scrolls = sideways_scroll(page)
    assert not scrolls, f"{path} {scrolls}"
    assert_no_serious_accessibility_violations(page)


def test_data_pages_reflow_at_390_px_and_fit_at_1280_px(page, published):
    support = user_with_roles(published["ENG"], "support")
    sign_in(page, support)
    paths = [
        "/achievement/practices/Z10005/",
        "/achievement/organisations/ENG/practices/",
        "/achievement/organisations/01A/practices/",
        "/participation/",
        "/practices/",
        "/extracts/",
    ]
    for path in paths:
        for width in (1280, 390):
            _check(page, path, width)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/achievement/practices/Z10005/")
    # The NHS.UK responsive table is 4 px wider than its box by design (its cells' borders).
    wide = [(name, over) for name, over in page.evaluate(TABLE_OVERFLOW) if over > 4]
    assert not wide, f"tables wider than the page at 1280 px: {wide}"
