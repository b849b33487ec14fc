"""The 2026/27 childhood-vaccination improvement route, worked by hand with the shipped parameters
(fixtures/rulesets/rule_parameters.csv: mean of the two years' rates, baseline + 5 to baseline + 10
percentage points, all 18 points, thresholds capped at the standard upper threshold of 96%)."""

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import readers
from engine.improvement import (
    RouteParameterError,
    apply_improvement_route,
    improve_qof_result,
    parse_improvement_route,
)
from engine.qof import YearParameters, calculate_qof

SHIPPED = {
    "indicators": "VI001 VI002 VI003",
    "baseline_years": "2024/25 2025/26",
    "baseline_method": "mean_of_rates",
    "baseline_places": "none",
    "lower_improvement_pp": "5",
    "upper_improvement_pp": "10",
    "improvement_max_share": "1",
    "cap_at_standard_upper": "yes",
}


def route(**changes):
    return parse_improvement_route({**SHIPPED, **changes})


def standard(*rows):
    """(practice, indicator, numerator, denominator, standard points in hundredths)."""
    frame = pd.DataFrame(
        rows, columns=["practice_code", "indicator_code", "numerator", "denominator", "points"]
    )
    return frame.rename(columns={"points": "points_hundredths"}).assign(
        max_points=Decimal("18"), upper_threshold=Decimal("96")
    )


def baselines(*rows):
    """(practice, indicator, start year, numerator, denominator)."""
    return pd.DataFrame(
        rows, columns=["practice_code", "indicator_code", "financial_year", "numerator", "denominator"]
    )


def paid(result, practice, indicator="VI001"):
    row = result[(result["practice_code"] == practice) & (result["indicator_code"] == indicator)].iloc[0]
    return row["points_hundredths"], row["route"]


def test_improvement_beats_thresholds_for_a_practice_below_them():
    # Baseline (70% + 80%) / 2 = 75%: improvement from 80% to 85%. 83% is 3/5 of the way: 18 × 0.6 = 10.80.
    # On the standard route 83% is below 89%: 0 points.
    result = apply_improvement_route(
        standard(("A", "VI001", 83, 100, 0)),
        baselines(("A", "VI001", 2024, 70, 100), ("A", "VI001", 2025, 80, 100)),
        route(),
    )
    assert paid(result, "A") == (1080, "improvement")
    assert result.loc[0, "baseline"] == Decimal("75.0000")
    assert (result.loc[0, "improvement_lower"], result.loc[0, "improvement_upper"]) == (
        Decimal("80.0000"), Decimal("85.0000")
    )  # fmt: skip


def test_a_high_baseline_leaves_only_the_standard_route():
    # Baseline 93%: improvement thresholds 98% and 103% are capped at 96%, so there is no improvement scale.
    # Standard: 95% is 6/7 of the way from 89% to 96%: 18 × 6/7 = 15.428… → 15.43.
    result = apply_improvement_route(
        standard(("A", "VI001", 95, 100, 1543)),
        baselines(("A", "VI001", 2024, 92, 100), ("A", "VI001", 2025, 94, 100)),
        route(),
    )
    assert paid(result, "A") == (1543, "standard")
    assert result.loc[0, "improvement_points_hundredths"] == 0


def test_the_higher_route_wins_per_indicator_and_other_indicators_pass_unchanged():
    result = apply_improvement_route(
        standard(("A", "VI001", 83, 100, 0), ("A", "VI002", 95, 100, 1620), ("A", "VI004", 10, 100, 0)),
        baselines(
            ("A", "VI001", 2024, 70, 100), ("A", "VI001", 2025, 80, 100),
            ("A", "VI002", 2024, 70, 100), ("A", "VI002", 2025, 80, 100),
            ("A", "VI004", 2024, 1, 100), ("A", "VI004", 2025, 1, 100),
        ),
        route(),
    )  # fmt: skip
    assert paid(result, "A", "VI001") == (1080, "improvement")
    # VI002 at 95% is at the top of the improvement scale (18.00), above its standard 16.20.
    assert paid(result, "A", "VI002") == (1800, "improvement")
    # VI004 (shingles) is not in the route, whatever its baseline.
    assert paid(result, "A", "VI004") == (0, "standard")


def test_without_both_baseline_years_there_is_no_improvement_route():
    result = apply_improvement_route(
        standard(("A", "VI001", 83, 100, 0), ("B", "VI001", 83, 100, 0)),
        baselines(("A", "VI001", 2025, 70, 100), ("B", "VI001", 2024, 70, 100), ("B", "VI001", 2025, 0, 0)),
        route(),
    )
    assert paid(result, "A") == (0, "standard")
    assert paid(result, "B") == (0, "standard")
    assert result["baseline"].isna().all()


def test_the_baseline_method_is_a_parameter():
    # 9/10 (90%) and 60/100 (60%): the mean of rates is 75% but pooled it is 69/110 = 62.73%.
    # At 76%: nothing on the mean (below 80%), full points pooled (above 72.73%).
    rows = standard(("A", "VI001", 76, 100, 0))
    history = baselines(("A", "VI001", 2024, 9, 10), ("A", "VI001", 2025, 60, 100))
    assert paid(apply_improvement_route(rows, history, route()), "A") == (0, "standard")
    assert paid(apply_improvement_route(rows, history, route(baseline_method="pooled")), "A") == (
        1800,
        "improvement",
    )


def test_improvement_points_round_half_up_from_the_exact_value():
    # 6401/8000 = 80.0125%, 0.0125 points of percentage over the lower threshold: 18 × 0.0125 / 5 = 0.045
    # exactly, which rounds half-up to 0.05 (binary floating point would give 0.04).
    result = apply_improvement_route(
        standard(("A", "VI001", 6401, 8000, 0)),
        baselines(("A", "VI001", 2024, 70, 100), ("A", "VI001", 2025, 80, 100)),
        route(),
    )
    assert paid(result, "A") == (5, "improvement")


def test_a_smaller_improvement_share_and_a_rounded_baseline():
    # Baseline (70/90 + 80/100)/2 = 78.888…%, rounded to one place 78.9%; lower 83.9%, upper 88.9%.
    # At 86.4%: half the scale; half of the points available (9): 4.50.
    result = apply_improvement_route(
        standard(("A", "VI001", 864, 1000, 0)),
        baselines(("A", "VI001", 2024, 70, 90), ("A", "VI001", 2025, 80, 100)),
        route(baseline_places="1", improvement_max_share="0.5"),
    )
    assert paid(result, "A") == (450, "improvement")
    assert result.loc[0, "baseline"] == Decimal("78.9000")


def test_parameters_are_checked_as_a_whole_and_each_problem_named():
    with pytest.raises(RouteParameterError) as refused:
        parse_improvement_route(
            {
                **SHIPPED,
                "baseline_years": "2024/25",
                "upper_improvement_pp": "five",
                "improvement_max_share": "2",
                "surprise": "1",
            }
        )
    assert refused.value.problems == ["surprise: not a parameter of this rule"]
    with pytest.raises(RouteParameterError) as refused:
        parse_improvement_route({**SHIPPED, "baseline_years": "2024/25", "upper_improvement_pp": "five"})
    assert refused.value.problems == [
        "baseline_years: must name two different financial years, e.g. 2024/25 2025/26",
        "upper_improvement_pp: 'five' is not a number",
    ]
    with pytest.raises(RouteParameterError, match="indicators: missing"):
        parse_improvement_route({name: value for name, value in SHIPPED.items() if name != "indicators"})


@settings(max_examples=150, deadline=None)
@given(
    achieved=st.integers(min_value=0, max_value=200),
    denominator=st.integers(min_value=1, max_value=200),
    first=st.integers(min_value=0, max_value=100),
    second=st.integers(min_value=0, max_value=100),
    standard_points=st.integers(min_value=0, max_value=1800),
)
def test_the_paid_points_are_the_higher_route_and_never_above_the_maximum(
    achieved, denominator, first, second, standard_points
):
    numerator = min(achieved, denominator)
    result = apply_improvement_route(
        standard(("A", "VI001", numerator, denominator, standard_points)),
        baselines(("A", "VI001", 2024, first, 100), ("A", "VI001", 2025, second, 100)),
        route(),
    ).iloc[0]
    assert result["points_hundredths"] == max(standard_points, result["improvement_points_hundredths"])
    assert 0 <= result["improvement_points_hundredths"] <= 1800


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vaccination_rules(tmp_path_factory):
    """The VI indicators of the shipped 2026/27 ruleset (VI001 89-96%, 18 points; VI004 not in the route)."""
    rows = (REPO / "fixtures" / "rulesets" / "indicators" / "QOF2627.csv").read_text().splitlines()
    path = tmp_path_factory.mktemp("rules") / "vi.csv"
    path.write_text("\n".join([rows[0], *[row for row in rows if row.startswith("VI00")]]) + "\n")
    return readers.load_ruleset(path)


def test_a_2026_27_result_is_paid_on_the_higher_route_and_repriced(vaccination_rules):
    # Practice A: VI001 at 83% with a 75% baseline earns 10.80 improvement points (0 standard).
    # £227.95 × 10.80 × CPI (10,349 / 10,349 = 1) = £2,461.86. B is paid on the standard route only.
    values = pd.DataFrame(
        {
            "practice_code": ["A", "A", "B"],
            "indicator_code": ["VI001", "VI004", "VI001"],
            "register": pd.array([None, None, None], dtype="Int64"),
            "numerator": pd.array([83, 10, 95], dtype="Int64"),
            "denominator": pd.array([100, 100, 100], dtype="Int64"),
            "pcas": pd.array([None, None, None], dtype="Int64"),
            "manual_answer": pd.array([None, None, None], dtype="boolean"),
        }
    )
    practices = pd.DataFrame(
        {"practice_code": ["A", "B"], "list_size_cpi": [10349, 20698], "list_size_prevalence": [10349, 20698]}
    )
    parameters = YearParameters(Decimal("227.95"), Decimal("10349"))
    standard_result = calculate_qof(vaccination_rules, values, practices, parameters)
    improved = improve_qof_result(
        standard_result,
        vaccination_rules,
        practices,
        parameters,
        baselines(("A", "VI001", 2024, 70, 100), ("A", "VI001", 2025, 80, 100)),
        route(),
    )
    lines = improved.indicators.set_index(["practice_code", "indicator_code"])
    assert lines.loc[("A", "VI001"), ["points_hundredths", "payment_pence", "route"]].tolist() == [
        1080, 246186, "improvement"
    ]  # fmt: skip
    # B: 95% standard 15.43 points × £227.95 × CPI 2 = £7,034.54, unchanged by the route.
    before = standard_result.indicators.set_index(["practice_code", "indicator_code"])
    assert lines.loc[("B", "VI001"), "payment_pence"] == before.loc[("B", "VI001"), "payment_pence"] == 703454
    assert lines.loc[("B", "VI001"), "route"] == "standard"
    totals = improved.practice_totals.set_index("practice_code")
    assert totals.loc["A", "payment_pence"] == lines.xs("A")["payment_pence"].sum()
    assert totals.loc["B", "points_hundredths"] == 1543
