import hashlib
from decimal import Decimal

import pytest

from payments import actions
from payments.models import PaymentBatch
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sideways_scroll, sign_in
from tests.factories import build_organisation_tree, user_with_roles
from tests.payments.helpers import publish_year_end, years

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_previews_releases_and_downloads_the_agency_file_and_the_practice_reads_its_statement(
    page, live_server, tmp_path
):
    tree = build_organisation_tree()
    first, second = years()
    practices = [tree["A00001"], tree["B00001"]]
    publish_year_end(
        first,
        dict.fromkeys(practices, Decimal("1200.00")),
        aspiration=dict.fromkeys(practices, Decimal("1200.00")),
    )
    actions.approve_aspiration_nationally(service_year=second)
    publish_year_end(second, {tree["A00001"]: Decimal("1000.00"), tree["B00001"]: Decimal("1500.50")})
    actions.approve_year_end_nationally(service_year=second)
    finance = user_with_roles(tree["ENG"], "finance_management")
    practice_finance = user_with_roles(tree["A00001"], "finance_view")

    sign_in(page, finance)
    page.get_by_role("link", name="Release payments").click()
    page.get_by_role("heading", name="Release payments").wait_for()
    assert "26 lines, £2,500.50" in page.get_by_test_id("preview").inner_text()
    assert_no_serious_accessibility_violations(page)
    page.get_by_test_id("release").click()
    page.get_by_text("Released PAY-").wait_for()
    batch = PaymentBatch.objects.get()
    with page.expect_download() as download_info:
        page.get_by_role("link", name=f"Download {batch.agency_file.filename}").click()
    path = tmp_path / "agency.csv"
    download_info.value.save_as(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == batch.agency_file.sha256
    assert path.read_text().splitlines()[-1] == f"TRAILER,{batch.reference},26,2500.50"
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, practice_finance)
    page.get_by_role("link", name="Payments", exact=True).click()
    page.get_by_role("heading", name="Payment statement: Quality and Outcomes Framework 2024/25").wait_for()
    assert page.get_by_test_id("total").inner_text().startswith("£1,000.00")
    assert page.get_by_text("−£200.00").first.is_visible()  # the balance: a recovery of aspiration overpaid
    assert_no_serious_accessibility_violations(page)
    scrolls = sideways_scroll(page, 390)
    assert not scrolls, scrolls
