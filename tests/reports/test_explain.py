"""Every figure explained: each result of a run is recomputed exactly from the run's inputs, the pages say
why a line earned what it did, and what-if recalculates without saving anything."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calculation.models import CalculationRun, IndicatorResult, Publication
from participation import actions as participation_actions
from participation.models import Indicator
from reports import explain
from reports.selectors import publications_for
from tests.calculation.helpers import (
    NEXT_YEAR_END,
    example_tree,
    load_in_year_extract,
    load_next_year,
    load_worked_example,
    run_to_the_end,
)
from tests.factories import user_with_roles


@pytest.fixture
def published(db, django_capture_on_commit_callbacks):
    tree = example_tree()
    year = load_worked_example()
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    assert run.status == CalculationRun.Status.PUBLISHED
    return tree, run


def explained_every_result(publication: Publication) -> int:
    """Explain every practice's every line of a publication and check each against the stored figures."""
    checked = 0
    for result in publication.run.practice_results.select_related("practice"):
        calculation = explain.practice_calculation(result.practice, publication)
        for line in calculation.lines:
            assert (line.explanation.points, line.explanation.payment) == (
                line.result.points,
                line.result.payment,
            ), (
                result.practice.code,
                line.code,
            )
            checked += 1
        assert calculation.reproduced, result.practice.code
    return checked


def test_every_result_of_a_run_is_reproduced_by_its_explanation(
    published, tmp_path, django_capture_on_commit_callbacks
):
    tree, run = published
    publication = Publication.objects.get(run=run)
    assert explained_every_result(publication) == 8 * 76
    # A recalculation carries the other practices forward by reference: theirs are explained from their run.
    recalculation = run_to_the_end(
        django_capture_on_commit_callbacks,
        service_year=run.service_year,
        kind=CalculationRun.Kind.RECALCULATION,
        organisation=tree["Z10005"],
        reason="A corrected extract",
    )
    assert explained_every_result(Publication.objects.get(run=recalculation)) == 8 * 76


def test_income_protected_lines_of_the_next_year_are_reproduced_too(
    published, tmp_path, django_capture_on_commit_callbacks
):
    year = load_next_year(tmp_path)
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=NEXT_YEAR_END
    )
    assert IndicatorResult.objects.filter(run=run, income_protected=True).exists()
    assert explained_every_result(Publication.objects.get(run=run)) == 8 * 76


def test_the_indicator_page_shows_the_whole_calculation_and_that_it_equals_the_published_figure(
    client, published
):
    tree, _ = published
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    response = client.get(
        reverse("reports:explain_indicator", kwargs={"code": "Z10005", "indicator": "AF006"})
    )
    assert response.status_code == 200
    line = response.context["line"]
    html = response.content.decode()
    assert line.reproduced and 'data-testid="recomputed"' in html
    assert f"AF006: {line.result.points} of 12.00 points" in html
    assert "<svg" in html and "upper" in html  # the threshold curve
    for words in (
        "Share of the way up",
        "rounded half-up",
        "CPI",
        "APDF",
        "National prevalence",
        "frozen by run",
    ):
        assert words in html
    assert re.search(r"INDICATOR_VALUES\.csv, line \d+", html)  # the extract rows, from their file and line
    assert 'data-testid="pcas"' in html and "AFIBINV1" in html
    assert "How sure the values are" in html and "thresholds" in html.lower()
    assert (
        response.context["next_patients"] is None or response.context["next_patients"].patients_to_upper > 0
    )


def test_pounds_are_shown_only_to_those_who_may_read_money(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["Z10005"], "view"))
    for name, kwargs in (
        ("reports:explain_indicator", {"code": "Z10005", "indicator": "AF006"}),
        ("reports:explain_group", {"code": "Z10005", "group": "AF"}),
        ("reports:explain_practice", {"code": "Z10005"}),
    ):
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 200 and "£" not in response.content.decode(), name


def test_what_if_recalculates_at_once_and_saves_nothing(client, published):
    tree, run = published
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    url = reverse("reports:explain_indicator", kwargs={"code": "Z10005", "indicator": "AF006"})
    line = client.get(url).context["line"]
    before = list(IndicatorResult.objects.filter(run=run).values_list("points", "payment"))

    denominator = line.result.denominator
    response = client.get(url, {"numerator": denominator, "denominator": denominator}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="what-if-result"')  # the fragment htmx swaps in, not the page
    assert "12.00" in html and 'data-testid="what-if-payment"' in html
    assert response.context["what_if"].explanation.points == Decimal("12.00")

    refused = client.get(
        url, {"numerator": denominator + 1, "denominator": denominator}, HTTP_HX_REQUEST="true"
    )
    assert "cannot be more than the denominator" in refused.content.decode()
    assert list(IndicatorResult.objects.filter(run=run).values_list("points", "payment")) == before


def test_what_if_a_manual_answer_changes(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    url = reverse("reports:explain_indicator", kwargs={"code": "Z10005", "indicator": "QI013"})
    line = client.get(url).context["line"]
    flipped = "no" if line.result.manual_answer else "yes"
    what_if = client.get(url, {"answer": flipped}).context["what_if"]
    assert what_if.explanation.points == (Decimal(0) if flipped == "no" else line.indicator.points)


def test_a_ruleset_corrected_after_the_run_is_explained_with_the_values_the_run_used(client, published):
    tree, run = published
    af006 = Indicator.objects.get(service_year=run.service_year, code="AF006")
    participation_actions.update_indicator(indicator=af006, changes={"points": Decimal("10")}, by=None)
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    response = client.get(
        reverse("reports:explain_indicator", kwargs={"code": "Z10005", "indicator": "AF006"})
    )
    assert response.context["line"].reproduced
    html = response.content.decode()
    assert "Changed since this run" in html and "AF006 points: 12.00 → 10.00" in html


def test_group_domain_and_total_pages_add_up_their_lines(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    total = client.get(reverse("reports:explain_practice", kwargs={"code": "Z10005"}))
    assert total.status_code == 200 and total.context["calculation"].reproduced
    part = total.context["part"]
    assert part.points == total.context["calculation"].totals.points
    assert [child.code for child in part.children] == ["CL", "PH", "QI"]
    assert "CPI of" in total.content.decode()
    group = client.get(reverse("reports:explain_group", kwargs={"code": "Z10005", "group": "AF"}))
    assert group.status_code == 200 and 'data-testid="group-prevalence"' in group.content.decode()
    domain = client.get(reverse("reports:explain_domain", kwargs={"code": "Z10005", "domain": "CL"}))
    assert domain.status_code == 200 and domain.context["part"].reproduced
    for name, kwargs in (
        ("reports:explain_group", {"code": "Z10005", "group": "NOPE"}),
        ("reports:explain_indicator", {"code": "Z10005", "indicator": "NOPE"}),
        ("reports:explain_indicator", {"code": "Z73000", "indicator": "AF006"}),  # another practice
    ):
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 404


def test_every_figure_of_the_summary_links_to_its_explanation(client, published):
    tree, _ = published
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    html = client.get(reverse("reports:practice_summary", kwargs={"code": "Z10005"})).content.decode()
    for name, kwargs in (
        ("reports:explain_practice", {"code": "Z10005"}),
        ("reports:explain_domain", {"code": "Z10005", "domain": "CL"}),
        ("reports:explain_group", {"code": "Z10005", "group": "AF"}),
        ("reports:explain_indicator", {"code": "Z10005", "indicator": "AF006"}),
    ):
        assert reverse(name, kwargs=kwargs) in html, name


# Session, user, roles and navigation, permission checks, then the page's own reads.
PINNED_QUERIES = {"reports:explain_indicator": 17, "reports:explain_practice": 16}


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("reports:explain_indicator", {"code": "Z10005", "indicator": "AF006"}),
        ("reports:explain_practice", {"code": "Z10005"}),
    ],
)
def test_explanation_queries_do_not_grow_with_the_data(
    client, published, tmp_path, django_capture_on_commit_callbacks, name, kwargs
):
    tree, run = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    url = reverse(name, kwargs=kwargs)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    small = queries()
    for achievement_date in ("2023-12-31", "2024-01-31"):
        load_in_year_extract(tmp_path, achievement_date.replace("-", ""))
        run_to_the_end(
            django_capture_on_commit_callbacks,
            service_year=run.service_year,
            achievement_date=date.fromisoformat(achievement_date),
            kind=CalculationRun.Kind.IN_YEAR,
        )
    assert len(publications_for(tree["Z10005"])) == 3
    assert queries() == small == PINNED_QUERIES[name]
