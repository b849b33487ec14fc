"""What the next patient is worth, against a patient-by-patient search with the exact explanation."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import YearParameters
from engine.explain import Counts, National, PracticeFactors, Rule, explain_line
from engine.opportunity import percentage_opportunities

PARAMETERS = YearParameters(point_value=Decimal("213.43"), average_list_size=Decimal(9639))


def frame(**columns) -> pd.DataFrame:
    defaults = {
        "numerator": 50, "denominator": 100, "points": Decimal(12), "lower_threshold": Decimal(40),
        "upper_threshold": Decimal(90), "list_size_cpi": 9639, "prevalence_adjusted": False,
        "group_register": 0, "list_size_prevalence": 10000, "register_total": 1, "population_total": 1,
    }  # fmt: skip
    return pd.DataFrame([{**defaults, **columns}])


def brute_force(row: dict) -> dict:
    rule = Rule("percentage", row["points"], row["lower_threshold"], row["upper_threshold"],
                row["prevalence_adjusted"])  # fmt: skip
    factors = PracticeFactors(row["list_size_cpi"], row["list_size_prevalence"], row["group_register"])
    national = National(row["register_total"], row["population_total"])

    def line(numerator):
        return explain_line(rule, Counts(numerator=numerator, denominator=row["denominator"]), factors,
                            PARAMETERS, national)  # fmt: skip

    now = line(row["numerator"])
    if row["denominator"] == 0 or now.points == now.maximum:
        return {"next": 0, "upper": 0, "gain": Decimal(0)}
    target = min(int(now.points) + 1, now.maximum)
    reach_next = next(
        n for n in range(row["numerator"] + 1, row["denominator"] + 1) if line(n).points >= target
    )
    # The upper threshold is an achievement: 100·N/D ≥ UT (rounding may give full points a patient sooner).
    reach_upper = next(
        n for n in range(row["numerator"], row["denominator"] + 1)
        if 100 * n >= row["upper_threshold"] * row["denominator"]
    )  # fmt: skip
    return {
        "next": reach_next - row["numerator"],
        "upper": reach_upper - row["numerator"],
        "gain": line(row["denominator"]).payment - now.payment,
    }


@st.composite
def rows(draw):
    lower = draw(st.integers(0, 9_000))
    upper = draw(st.integers(lower + 1, 10_000))
    denominator = draw(st.integers(0, 300))
    adjusted = draw(st.booleans())
    return {
        "numerator": draw(st.integers(0, denominator)),
        "denominator": denominator,
        "points": Decimal(draw(st.integers(1, 5_000))).scaleb(-2),
        "lower_threshold": Decimal(lower).scaleb(-2),
        "upper_threshold": Decimal(upper).scaleb(-2),
        "list_size_cpi": draw(st.integers(500, 40_000)),
        "prevalence_adjusted": adjusted,
        "group_register": draw(st.integers(0, 3_000)),
        "list_size_prevalence": draw(st.integers(500, 40_000)),
        "register_total": draw(st.integers(0, 2_000_000)),
        "population_total": draw(st.integers(1_000_000, 60_000_000)),
    }


@settings(max_examples=100, deadline=None)
@given(row=rows())
def test_patients_to_the_next_point_and_the_upper_threshold_are_the_fewest_that_do_it(row):
    result = percentage_opportunities(pd.DataFrame([row]), PARAMETERS).iloc[0]
    expected = brute_force(row)
    assert result["patients_to_next_point"] == expected["next"]
    assert result["patients_to_upper"] == expected["upper"]
    assert Decimal(int(result["upper_gain_pence"])).scaleb(-2) == expected["gain"]


def test_a_practice_below_the_lower_threshold_learns_how_many_patients_earn_nothing():
    result = percentage_opportunities(frame(numerator=30, denominator=100), PARAMETERS).iloc[0]
    assert result["patients_to_lower"] == 10  # 40% of 100
    assert result["patients_to_next_point"] == 15  # 45% of 100 earns 1.2 points
    assert result["patients_to_upper"] == 60
    # Between the thresholds each patient is worth 12 × 100 / (100 × 50) = 0.24 points at £213.43 and CPI 1.
    assert result["pence_per_patient_in_range"] == 5122
    assert result["pence_per_patient"] == round(result["upper_gain_pence"] / 60)


def test_full_points_and_no_denominator_are_no_opportunity():
    result = percentage_opportunities(
        pd.concat([frame(numerator=95, denominator=100), frame(numerator=0, denominator=0)]), PARAMETERS
    )
    assert result["patients_to_upper"].tolist() == [0, 0]
    assert result["upper_gain_pence"].tolist() == [0, 0]
