"""The payment pages: a practice's statement, a commissioner's payments, finance's release preview."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payments import actions
from payments.models import PaymentBatch, PaymentLine
from tests.factories import user_with_roles
from tests.payments.helpers import publish_year_end, years

pytestmark = pytest.mark.django_db
L = PaymentLine


@pytest.fixture
def paid_year(tree):
    first, second = years()
    practice = tree["A00001"]
    publish_year_end(first, {practice: Decimal("41358.95")}, aspiration={practice: Decimal("34201.80")})
    actions.approve_aspiration_nationally(service_year=second)
    publish_year_end(second, {practice: Decimal("30000.00")})
    actions.approve_year_end_nationally(service_year=second)
    return second, practice


def test_the_statement_lists_each_line_with_a_running_total_chart_and_download(client, paid_year):
    year, practice = paid_year
    client.force_login(user_with_roles(practice, "finance_view"))
    url = reverse("payments:statement", kwargs={"code": practice.code})

    html = client.get(url, {"year": year.code}).content.decode()
    download = client.get(url, {"year": year.code, "format": "csv"})

    assert "ASP-QOF2425-A00001-01" in html and "BAL-QOF2425-A00001" in html
    assert "−£4,201.80" in html  # the balance is a recovery
    assert "£30,000.00" in html and "equal to the achievement payment" in html
    assert "<svg" in html and "On hold until the next release on" in html
    rows = download.content.decode("utf-8-sig").splitlines()  # with the byte-order mark Excel needs for £
    assert rows[0].startswith("REFERENCE,COMPONENT") and len(rows) == 14
    assert rows[-1].split(",")[6] == "30000.00"  # the running total ends at the achievement payment


def test_a_practice_without_finance_rights_cannot_see_its_statement(client, paid_year):
    _, practice = paid_year
    client.force_login(user_with_roles(practice, "view"))
    assert client.get(reverse("payments:statement", kwargs={"code": practice.code})).status_code == 404


def test_the_commissioner_sees_totals_the_next_release_and_approves_adjustments(client, paid_year, tree):
    year, practice = paid_year
    publish_year_end(year, {practice: Decimal("30012.34")})
    finance = user_with_roles(tree["01A"], "finance_management")
    client.force_login(finance)
    url = reverse("payments:commissioner", kwargs={"code": "01A"})

    html = client.get(url).content.decode()
    assert "Awaiting financial approval (1)" in html and "£12.34" in html
    assert "Next release" in html and "13 lines" in html
    response = client.post(
        reverse("payments:approve", kwargs={"code": "01A"}),
        {
            "year": year.code,
            "what": "adjustments",
            "reference": L.objects.get(component="ADJUSTMENT").reference,
        },
    )
    assert response.status_code == 302
    assert L.objects.get(component="ADJUSTMENT").status == L.Status.APPROVED


def test_national_finance_previews_releases_downloads_and_imports_the_acknowledgement(
    client, paid_year, tree
):
    client.force_login(user_with_roles(tree["ENG"], "finance_management"))
    url = reverse("payments:release")

    preview = client.get(url).content.decode()
    assert "13 lines, £30,000.00" in preview
    assert client.post(url).status_code == 302
    batch = PaymentBatch.objects.get()
    download = client.get(reverse("payments:agency_file", kwargs={"reference": batch.reference}))
    assert hashlib.sha256(download.content).hexdigest() == batch.agency_file.sha256
    assert download.content.decode().splitlines()[-1] == f"TRAILER,{batch.reference},13,30000.00"
    acknowledgement = "LINE_REFERENCE,STATUS,REASON\r\n" + "".join(
        f"{reference},PAID,\r\n" for reference in batch.lines.values_list("reference", flat=True)
    )
    upload = SimpleUploadedFile("ack.csv", acknowledgement.encode(), "text/csv")
    client.post(reverse("payments:acknowledgement"), {"file": upload})
    assert L.objects.filter(status=L.Status.PAID).count() == 13
    assert "13 paid" in client.get(url).content.decode()
