"""Achievement reports and exports over a published run of the worked example: content, scope, queries."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calculation.models import CalculationRun
from declarations import actions as declaration_actions
from declarations.models import Declaration
from tests.calculation.helpers import (
    EXAMPLE,
    example_tree,
    expected_totals,
    load_in_year_extract,
    load_worked_example,
    run_to_the_end,
)
from tests.downloads import column, csv_rows, xlsx_sheet
from tests.factories import user_with_roles


@pytest.fixture
def published(db, django_capture_on_commit_callbacks):
    tree = example_tree()
    year = load_worked_example()
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    assert run.status == CalculationRun.Status.PUBLISHED
    return tree, run


def streamed(response) -> bytes:
    return b"".join(response.streaming_content)


def test_practice_summary_shows_points_money_and_the_domain_chart(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    response = client.get(reverse("reports:practice_summary", kwargs={"code": "Z10005"}))

    assert response.status_code == 200
    points, payment = next((p, m) for code, p, m in expected_totals() if code == "Z10005")
    summary = response.context["summary"]
    assert f"{summary.service.points:.2f}" == points and f"{summary.service.payment:.2f}" == payment
    assert [domain.code for domain in summary.domains] == ["CL", "PH", "QI"]
    html = response.content.decode()
    assert "<svg" in html and "Points by domain" in html and "£41,358.95" in html
    assert 'data-indicator="AF006"' in html and "Conditional" in html


def test_practice_summary_hides_pounds_without_finance_view(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["Z10005"], "view"))
    response = client.get(reverse("reports:practice_summary", kwargs={"code": "Z10005"}))
    assert response.status_code == 200 and "£" not in response.content.decode()


def test_income_protected_rows_show_base_year_performance(
    client, published, django_capture_on_commit_callbacks
):
    from calculation.models import IndicatorResult

    tree, run = published
    protected = IndicatorResult.objects.filter(run=run, practice__code="Z10005", indicator_code="AF006")
    protected.update(
        income_protected=True, numerator=None, denominator=None, base_numerator=7, base_denominator=8
    )
    client.force_login(user_with_roles(tree["Z10005"], "view"))
    html = client.get(reverse("reports:practice_summary", kwargs={"code": "Z10005"})).content.decode()
    assert "Income protected" in html and "Base year: 7 of 8" in html


def test_commissioner_report_lists_only_its_practices_and_downloads(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["01A"], "view"))
    url = reverse("reports:provider_report", kwargs={"code": "01A"})
    response = client.get(url)
    assert response.status_code == 200
    codes = [row.record.practice.code for row in response.context["table"].rows]
    assert codes == ["Z73000", "Z92001"]

    rows = csv_rows(client.get(url, {"_export": "csv"}))
    header = rows[0]
    # The ODS code as the code, not a link's markup; money as a plain number a spreadsheet can add.
    assert [row[0] for row in rows[1:]] == ["Z73000", "Z92001"]
    payments = [Decimal(row[header.index("Achievement payment")]) for row in rows[1:]]
    assert all(payment > 0 for payment in payments)
    sheet = xlsx_sheet(client.get(url, {"_export": "xlsx"}))
    cells = column(sheet, "Achievement payment")
    assert [Decimal(str(cell.value)) for cell in cells] == payments
    assert all("£" in cell.number_format and "0.00" in cell.number_format for cell in cells)
    assert all(isinstance(cell.value, int | float) for cell in column(sheet, "Points"))
    # On the page: pounds as pounds, right-aligned, with a totals row that adds every practice up.
    html = response.content.decode()
    assert f"£{payments[0]:,.2f}" in html and 'class="nhsuk-table__cell portal-numeric"' in html
    assert "<tfoot" in html and f"£{sum(payments):,.2f}" in html
    filtered = client.get(url, {"search": "Z92001"})
    assert [row.record.practice.code for row in filtered.context["table"].rows] == ["Z92001"]
    assert client.get(reverse("reports:provider_report", kwargs={"code": "02A"})).status_code == 404
    assert client.get(reverse("reports:practice_summary", kwargs={"code": "Z10005"})).status_code == 404


def test_support_sees_the_national_report_sorted_by_points(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    response = client.get(reverse("reports:provider_report", kwargs={"code": "ENG"}), {"sort": "-points"})
    points = [row.record.points for row in response.context["table"].rows]
    assert len(points) == 8 and points == sorted(points, reverse=True)


def test_publication_export_reproduces_the_published_achievement_file(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    response = client.get(reverse("reports:publication_export", kwargs={"code": "ENG"}))
    assert response.status_code == 200 and response.streaming
    assert streamed(response) == (EXAMPLE / "expected" / "ACHIEVEMENT.csv").read_bytes()


def test_achieved_points_export_is_scoped_to_the_organisation(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["QBB"], "view"))
    response = client.get(reverse("reports:achieved_points_export", kwargs={"code": "QBB"}))
    lines = streamed(response).decode().splitlines()
    assert lines[0] == (
        "QUALITY_SERVICE,ORG_CODE,ACH_DATE,IND_CODE,POINTS,APPROVED,PAYMENT_STATUS,EXPECTED_PAYMENT_DATE"
    )
    assert {line.split(",")[1] for line in lines[1:]} == {"Z85004", "Z10005", "Z98006", "Z90007"}
    assert lines[1].startswith("QOF2324,Z10005,20240331,AF001,5.00,")
    assert client.get(reverse("reports:achieved_points_export", kwargs={"code": "QAA"})).status_code == 404


def test_achieved_points_are_approved_once_the_commissioner_approves_the_declaration(client, published):
    tree, _ = published
    declaration = Declaration.objects.get(practice=tree["Z10005"])
    declaration_actions.declare(declaration=declaration, by=None, statement_accepted=True)
    declaration_actions.approve(declaration=Declaration.objects.get(pk=declaration.pk), by=None)
    client.force_login(user_with_roles(tree["QBB"], "view"))
    lines = streamed(client.get(reverse("reports:achieved_points_export", kwargs={"code": "QBB"})))
    approved = {line.split(",")[1]: line.split(",")[5] for line in lines.decode().splitlines()[1:]}
    assert approved == {"Z10005": "Y", "Z85004": "N", "Z98006": "N", "Z90007": "N"}


def test_the_export_and_reports_show_where_the_payment_stands_and_when_it_is_expected(client, published):
    from payments import actions as payment_actions
    from payments import schedule

    tree, run = published
    client.force_login(user_with_roles(tree["QBB"], "view", "finance_view"))
    url = reverse("reports:achieved_points_export", kwargs={"code": "QBB"})

    def tails():
        lines = streamed(client.get(url)).decode().splitlines()[1:]
        return {line.split(",")[1]: tuple(line.split(",")[5:]) for line in lines}

    assert tails()["Z10005"] == ("N", "NOT_APPROVED", "")
    # A year needing no declaration: finance approving the year end approves the figures for payment.
    payment_actions.approve_year_end_nationally(service_year=run.service_year)
    next_up = schedule.next_release(timezone.now())
    assert tails()["Z10005"] == ("Y", "APPROVED", f"{next_up.payment_date:%Y%m%d}")
    batch, _ = payment_actions.release(cutoff=next_up.cutoff, by=None)
    assert tails()["Z10005"] == ("Y", "SENT_TO_SSD", f"{batch.payment_date:%Y%m%d}")
    report = client.get(reverse("reports:provider_report", kwargs={"code": "QBB"})).content.decode()
    assert f"SENT TO SSD, {batch.payment_date:%-d %b %Y}" in report
    summary = client.get(reverse("reports:practice_summary", kwargs={"code": "Z10005"})).content.decode()
    assert f"SENT TO SSD: expected {batch.payment_date:%-d %B %Y}" in summary
    assert reverse("payments:statement", kwargs={"code": "Z10005"}) in summary


# Session, user, roles and navigation (once, however many templates the page renders), permission checks,
# then the page's own reads.
PINNED_QUERIES = {
    "reports:practice_summary": 16,  # with the payment's state
    "reports:provider_report": 12,  # the totals row, the payments' states, two for the distribution chart
    "reports:publication_export": 7,
    "reports:achieved_points_export": 8,  # and the declarations approved, for APPROVED; payments' states
}


def _queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
        if response.streaming:
            streamed(response)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("reports:practice_summary", "Z10005"),
        ("reports:provider_report", "ENG"),
        ("reports:publication_export", "ENG"),
        ("reports:achieved_points_export", "ENG"),
    ],
)
def test_report_queries_do_not_grow_with_the_data(
    client, published, django_capture_on_commit_callbacks, tmp_path, name, code
):
    """The same number of queries with one publication as with three, a recalculation and a trend."""
    tree, run = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    url = reverse(name, kwargs={"code": code})
    small = _queries(client, url)
    for achievement_date in ("2023-12-31", "2024-01-31"):
        load_in_year_extract(tmp_path, achievement_date.replace("-", ""))
        run_to_the_end(
            django_capture_on_commit_callbacks,
            service_year=run.service_year,
            achievement_date=date.fromisoformat(achievement_date),
            kind=CalculationRun.Kind.IN_YEAR,
        )
    run_to_the_end(
        django_capture_on_commit_callbacks,
        service_year=run.service_year,
        kind=CalculationRun.Kind.RECALCULATION,
        organisation=tree["Z10005"],
        reason="A corrected extract",
    )
    large = _queries(client, url)
    assert small == large
    assert large == PINNED_QUERIES[name], large


def test_publication_exports_hold_only_the_practices_the_report_is_filtered_to(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    for name in ("reports:publication_export", "reports:achieved_points_export"):
        url = reverse(name, kwargs={"code": "ENG"})
        everyone = {line.split(",")[0 if "publication" in name else 1] for line in streamed(client.get(url))
                    .decode().splitlines()[1:]}  # fmt: skip
        one = streamed(client.get(url, {"search": "Z92001"})).decode().splitlines()[1:]
        assert len(everyone) == 8 and one and all("Z92001" in line for line in one), name
    report = client.get(reverse("reports:provider_report", kwargs={"code": "ENG"}), {"search": "Z92001"})
    assert "search=Z92001" in report.content.decode().split("NHS Digital publication layout")[0][-300:]


def test_a_filter_value_that_is_not_a_number_is_an_error_not_ignored(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    response = client.get(reverse("reports:provider_report", kwargs={"code": "ENG"}), {"points_below": "abc"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem with the filter" in html and "Enter a number" in html
    assert 'aria-invalid="true"' in html


def test_no_choice_reads_as_dashes(client, published):
    from calculation.forms import YearEndRunForm
    from participation.filters import ParticipationFilter

    assert "---------" not in str(YearEndRunForm())
    assert "---------" not in str(ParticipationFilter().form)


def test_the_practice_page_charts_points_and_pounds_through_the_year_beside_the_table(
    client, published, django_capture_on_commit_callbacks, tmp_path
):
    tree, run = published
    load_in_year_extract(tmp_path, "20231231")
    run_to_the_end(
        django_capture_on_commit_callbacks,
        service_year=run.service_year,
        achievement_date=date(2023, 12, 31),
        kind=CalculationRun.Kind.IN_YEAR,
    )
    url = reverse("reports:practice_summary", kwargs={"code": "Z10005"})
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    html = client.get(url).content.decode()

    trend = html.split("Progress through the year")[1].split("</table>")[0]
    charts = trend.split("<table")[0]
    assert charts.count('role="img"') == 2
    assert "<title" in charts and "Points through the year" in charts and "<desc" in charts
    assert "Achievement payment through the year" in charts
    for figure in ("£41,358.95", "31 Mar", "31 Dec"):  # the year end's payment, both dates: as in the table
        assert figure in charts, figure
    client.force_login(user_with_roles(tree["Z10005"], "view"))
    without_money = client.get(url).content.decode()
    assert "Points through the year" in without_money
    assert "Achievement payment through the year" not in without_money


def test_the_provider_report_charts_how_achievement_is_spread_with_the_counts_in_a_table(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    response = client.get(reverse("reports:provider_report", kwargs={"code": "ENG"}))

    bands = response.context["bands"]
    assert len(bands) == 10 and sum(band.count for band in bands) == 8
    html = response.content.decode()
    assert "Practices by share of points achieved" in html and 'role="img"' in html
    for band in bands:
        assert f'<td class="nhsuk-table__cell">{band.label}</td>' in html
    filtered = client.get(reverse("reports:provider_report", kwargs={"code": "ENG"}), {"search": "Z92001"})
    assert sum(band.count for band in filtered.context["bands"]) == 1
