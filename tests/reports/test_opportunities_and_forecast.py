"""What the next patient is worth, per practice and across a commissioner; and the year-end forecast."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calculation.models import CalculationRun, PracticeResult, Publication
from engine.forecast import OWN_PATTERN, TREND
from reports import explain, forecast, opportunities
from tests.calculation.helpers import (
    example_tree,
    load_in_year_extract,
    load_next_year_extract,
    load_worked_example,
    prepare_next_year,
    run_to_the_end,
)
from tests.factories import user_with_roles


@pytest.fixture
def in_year(db, tmp_path, django_capture_on_commit_callbacks):
    """The worked example published at two in-year dates of 2023/24 (no year end yet)."""
    tree = example_tree()
    year = load_worked_example()
    for achievement_date in ("20231231", "20240131"):
        load_in_year_extract(tmp_path, achievement_date)
        run = run_to_the_end(
            django_capture_on_commit_callbacks,
            service_year=year,
            achievement_date=date(
                int(achievement_date[:4]), int(achievement_date[4:6]), int(achievement_date[6:])
            ),
            kind=CalculationRun.Kind.IN_YEAR,
        )
        assert run.status == CalculationRun.Status.PUBLISHED
    return tree, year, Publication.objects.get(run=run)


def test_a_practices_list_puts_unanswered_manual_indicators_first_then_pounds_per_patient(in_year):
    tree, _, publication = in_year
    found = opportunities.opportunities(tree["Z10005"], publication)
    assert not found.is_year_end and found.practices == 1
    kinds = [item.what for item in found.opportunities]
    assert kinds == sorted(kinds, key=lambda what: what != opportunities.ANSWER)
    patients = [item for item in found.opportunities if item.what == opportunities.PATIENTS]
    assert patients and [item.per_patient for item in patients] == sorted(
        (item.per_patient for item in patients), reverse=True
    )
    for item in found.opportunities:
        if item.what == opportunities.ANSWER:
            assert item.deadline == publication.service_year.manual_entry_deadline and item.value > 0


def test_each_opportunity_agrees_with_the_explanation_of_its_line(in_year):
    tree, _, publication = in_year
    found = opportunities.opportunities(tree["Z10005"], publication)
    calculation = explain.practice_calculation(tree["Z10005"], publication)
    for item in found.opportunities:
        if item.what != opportunities.PATIENTS:
            continue
        line = calculation.line(item.indicator_code)
        expected = explain.next_patients(calculation, line)
        assert (item.patients_to_next_point, item.patients_to_upper) == (
            expected.patients_to_next_point,
            expected.patients_to_upper,
        )
        assert item.value == expected.upper_gain and item.per_patient == expected.per_patient
        # Recomputed with what-if: that many more patients does reach full points, worth exactly that much.
        reached = explain.what_if(
            calculation, line, numerator=line.result.numerator + item.patients_to_upper,
            denominator=line.result.denominator,
        )  # fmt: skip
        assert reached.explanation.points == line.indicator.points
        assert reached.payment_change == item.value


def test_the_practice_page_lists_and_downloads(client, in_year):
    tree, _, _ = in_year
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    url = reverse("reports:opportunities", kwargs={"code": "Z10005"})
    response = client.get(url)
    assert response.status_code == 200 and "£ per patient" in response.content.decode()
    csv = client.get(url, {"_export": "csv"})
    assert csv.status_code == 200
    client.force_login(user_with_roles(tree["Z10005"], "view"))
    assert "£" not in client.get(url).content.decode()


def test_a_commissioner_sees_the_biggest_opportunities_across_its_practices_only(client, in_year):
    tree, _, _ = in_year
    client.force_login(user_with_roles(tree["01A"], "view", "finance_view"))
    url = reverse("reports:commissioner_opportunities", kwargs={"code": "01A"})
    response = client.get(url)
    assert response.status_code == 200
    codes = {row.record.practice_code for row in response.context["table"].rows}
    assert codes == {"Z73000", "Z92001"}
    filtered = client.get(url, {"practice": "Z92001"})
    assert {row.record.practice_code for row in filtered.context["table"].rows} == {"Z92001"}
    assert (
        client.get(reverse("reports:commissioner_opportunities", kwargs={"code": "02A"})).status_code == 404
    )
    client.force_login(user_with_roles(tree["ENG"], "support"))
    assert (
        client.get(reverse("reports:commissioner_opportunities", kwargs={"code": "ENG"})).status_code == 404
    )


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# The money-base aspiration reads no list sizes, so the forecast needs no query for them.
# The navigation is read once per request, though the table renders a template of its own.
PINNED = {"reports:commissioner_opportunities": 14, "reports:commissioner_forecast": 16}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_commissioner_pages_read_in_a_fixed_number_of_queries(
    client, in_year, tmp_path, django_capture_on_commit_callbacks, name
):
    tree, year, _ = in_year
    client.force_login(user_with_roles(tree["QAA"], "view", "finance_view"))
    url = reverse(name, kwargs={"code": "QAA"})
    small = _queries(client, url)
    load_in_year_extract(tmp_path, "20240229")
    run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=date(2024, 2, 29),
        kind=CalculationRun.Kind.IN_YEAR,
    )  # fmt: skip
    assert _queries(client, url) == small == PINNED[name]


def test_without_last_year_the_forecast_follows_this_years_trend(client, in_year):
    tree, year, publication = in_year
    result = forecast.forecast(tree["QAA"], year)
    assert result.as_of == publication and len(result.practices) == 4
    item = next(item for item in result.practices if item.practice_code == "Z73000")
    assert item.method == TREND
    assert item.points["low"] <= item.points["central"] <= item.points["high"] <= result.maximum_points
    assert [f.achievement_date for f in item.this_year] == [date(2023, 12, 31), date(2024, 1, 31)]
    assert result.total("points") == sum(i.points["central"] for i in result.practices)

    client.force_login(user_with_roles(tree["Z73000"], "view", "finance_view"))
    page = client.get(reverse("reports:forecast", kwargs={"code": "Z73000"}))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "A forecast, not a payment" in html and 'data-testid="forecast-runs"' in html


@pytest.fixture
def next_in_year(db, tmp_path, django_capture_on_commit_callbacks):
    """2023/24 published at 31 December and the year end; 2024/25 published at 31 December 2024."""
    tree = example_tree()
    year = load_worked_example()
    next_year = prepare_next_year()  # next year's list sizes first, so 2023/24 calculates its aspiration
    load_in_year_extract(tmp_path, "20231231")
    for achievement_date, kind in ((date(2023, 12, 31), "in_year"), (year.end_date, "year_end")):
        run_to_the_end(
            django_capture_on_commit_callbacks,
            service_year=year,
            achievement_date=achievement_date,
            kind=kind,
        )
    load_next_year_extract(tmp_path, achievement_date="20241231")
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=next_year, achievement_date=date(2024, 12, 31),
        kind=CalculationRun.Kind.IN_YEAR,
    )  # fmt: skip
    assert run.status == CalculationRun.Status.PUBLISHED
    return tree, year, next_year


def test_a_practice_grows_as_it_grew_last_year_and_the_balance_follows_from_aspiration_paid(
    client, next_in_year
):
    tree, year, next_year = next_in_year
    result = forecast.forecast(tree["Z10005"], next_year)
    item = result.practices[0]
    assert item.method == OWN_PATTERN and result.compared_with == date(2023, 12, 31)
    then = PracticeResult.objects.get(
        practice__code="Z10005", run__publications__achievement_date=date(2023, 12, 31)
    )
    year_end = PracticeResult.objects.get(
        practice__code="Z10005", run__publications__achievement_date=year.end_date
    )
    assert item.ratio["central"] == pytest.approx(float(year_end.points / then.points))
    expected = (item.points_now * year_end.points / then.points).quantize(Decimal("0.01"))
    assert abs(item.points["central"] - expected) <= Decimal("0.01")
    assert item.aspiration_paid == year_end.aspiration_annual is not None
    assert item.balance["central"] == item.payment["central"] - year_end.aspiration_annual

    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    html = client.get(reverse("reports:forecast", kwargs={"code": "Z10005"})).content.decode()
    assert "Year-end balance" in html and "aspiration paid on account" in html


def test_commissioners_see_forecast_totals_for_their_practices(client, next_in_year):
    tree, _, _ = next_in_year
    client.force_login(user_with_roles(tree["02A"], "view", "finance_view"))
    response = client.get(
        reverse("reports:commissioner_forecast", kwargs={"code": "02A"}), {"year": "QOF2425"}
    )
    assert response.status_code == 200
    result = response.context["forecast"]
    assert {item.practice_code for item in result.practices} == {"Z85004", "Z10005", "Z98006", "Z90007"}
    assert result.totals["payment"]["central"] == sum(item.payment["central"] for item in result.practices)
    assert 'data-testid="forecast-totals"' in response.content.decode()
    assert client.get(reverse("reports:commissioner_forecast", kwargs={"code": "01A"})).status_code == 404


def test_opportunities_with_only_manual_lines_list_and_download():
    """A commissioner whose practices have nothing left but manual answers has an empty frame of patient
    lines (no columns): its page and its download list the manual lines alone (the every-page walk met a
    500 here)."""
    import pandas as pd

    manual = ["the manual line"]
    rows = opportunities.OpportunityRows(manual, pd.DataFrame())
    assert list(rows) == manual
    assert rows[0:50] == manual
    assert len(rows) == 1
