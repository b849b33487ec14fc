"""A 2026/27 QOF run reads its improvement route from the year's rule parameters and its baseline from the
published year ends of 2024/25 and 2025/26 (docs/adr/0015-service-kinds.md)."""

from decimal import Decimal

import pandas as pd
import pytest
from django.core.management import call_command

from calculation.improvement_route import baseline_results, improvement_route_for, with_improvement_route
from calculation.models import CalculationRun, IndicatorResult, PracticeResult, Publication
from engine.qof import YearParameters, calculate_qof
from participation.models import RuleParameter, ServiceYear
from participation.selectors import engine_ruleset


@pytest.fixture
def rulesets(db):
    call_command("load_rulesets")


def publish_year_end(code: str, practice, rows: dict[str, tuple[int, int]]) -> None:
    """A published year-end run holding this practice's numerator and denominator per indicator."""
    year = ServiceYear.objects.get(code=code)
    run = CalculationRun.objects.create(
        kind=CalculationRun.Kind.YEAR_END,
        scope=CalculationRun.Scope.NATIONAL,
        service_year=year,
        achievement_date=year.end_date,
        status=CalculationRun.Status.PUBLISHED,
    )
    for indicator, (numerator, denominator) in rows.items():
        IndicatorResult.objects.create(
            run=run, practice=practice, indicator_code=indicator, numerator=numerator,
            denominator=denominator, points=Decimal(0), cpi=1.0, apdf=1.0, payment=Decimal(0),
        )  # fmt: skip
    PracticeResult.objects.create(
        run=run, practice=practice, indicator_run=run, list_size_cpi=1, list_size_prevalence=1,
        points=Decimal(0), payment=Decimal(0),
    )  # fmt: skip
    Publication.objects.create(service_year=year, achievement_date=year.end_date, run=run)


def test_the_shipped_2026_27_route_is_read_from_its_parameters(rulesets):
    route = improvement_route_for(ServiceYear.objects.get(code="QOF2627"))

    assert route.indicators == ("VI001", "VI002", "VI003")
    assert route.baseline_years == (2024, 2025)
    assert improvement_route_for(ServiceYear.objects.get(code="QOF2526")) is None


def test_a_2026_27_result_uses_the_published_baseline_years(rulesets, tree):
    practice = tree["A00001"]
    publish_year_end("QOF2425", practice, {"VI001": (70, 100), "VI004": (1, 100)})
    year = ServiceYear.objects.get(code="QOF2627")
    route = improvement_route_for(year)

    # Until 2025/26 is published there is no two-year baseline: the standard route only.
    assert baseline_results(year, route, ["A00001"])["financial_year"].unique().tolist() == [2024]
    publish_year_end("QOF2526", practice, {"VI001": (80, 100)})
    baselines = baseline_results(year, route, ["A00001"])
    assert sorted(baselines[["indicator_code", "financial_year", "numerator"]].values.tolist()) == [
        ["VI001", 2024, 70], ["VI001", 2025, 80]
    ]  # fmt: skip

    rules = engine_ruleset(year)
    values = pd.DataFrame(
        {
            "practice_code": ["A00001"],
            "indicator_code": ["VI001"],
            "register": pd.array([None], dtype="Int64"),
            "numerator": pd.array([83], dtype="Int64"),
            "denominator": pd.array([100], dtype="Int64"),
            "pcas": pd.array([None], dtype="Int64"),
            "manual_answer": pd.array([None], dtype="boolean"),
        }
    )
    practices = pd.DataFrame(
        {"practice_code": ["A00001"], "list_size_cpi": [10349], "list_size_prevalence": [10349]}
    )
    parameters = YearParameters(year.point_value, Decimal(year.national_average_list_size))
    prevalence = pd.DataFrame(
        {
            "group_code": sorted(set(rules["group_code"])),
            "register_total": 1,
            "population_total": 1,
            "national_prevalence": 1.0,
        }
    )
    result = calculate_qof(rules, values, practices, parameters, prevalence=prevalence)

    improved = with_improvement_route(year, result, rules, practices, parameters)

    line = improved.indicators.set_index("indicator_code").loc["VI001"]
    # Baseline 75%: 83% is 3/5 of the way from 80% to 85%: 10.80 points × £227.95 = £2,461.86.
    assert (line["points_hundredths"], line["payment_pence"], line["route"]) == (1080, 246186, "improvement")

    # A service manager corrects the lower improvement threshold to baseline + 8 (83%): 83% earns nothing.
    RuleParameter.objects.filter(service_year=year, name="lower_improvement_pp").update(value="8")
    corrected = with_improvement_route(year, result, rules, practices, parameters).indicators
    assert corrected.set_index("indicator_code").loc["VI001", ["points_hundredths", "route"]].tolist() == [
        0, "standard"
    ]  # fmt: skip
