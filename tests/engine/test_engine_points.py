"""Points and payments against exact Fraction arithmetic (DOMAIN.md §4)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine import YearParameters, calculate_qof, national_prevalence, validate_ruleset

PARAMETERS = YearParameters(point_value=Decimal("213.43"), average_list_size=Decimal(9639))


def ruleset_of(*indicators: dict) -> pd.DataFrame:
    defaults = {
        "group_code": "AF",
        "group_description": "",
        "domain_code": "CL",
        "points": "10",
        "kind": "percentage",
        "carries_register": "0",
        "patient_list": "TOTAL",
        "additional_patient_list": "",
        "prevalence_adjusted": "0",
        "lower_threshold": "",
        "upper_threshold": "",
        "threshold_confidence": "",
    }
    return validate_ruleset(pd.DataFrame([{**defaults, **indicator} for indicator in indicators]))


def values_of(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {
                "practice_code": "A1",
                "register": None,
                "numerator": None,
                "denominator": None,
                "pcas": None,
                "manual_answer": None,
                **row,
            }
            for row in rows
        ]
    )
    for column in ("register", "numerator", "denominator", "pcas"):
        frame[column] = frame[column].astype("Int64")
    frame["manual_answer"] = frame["manual_answer"].astype("boolean")
    return frame


def practices_of(*codes: str, cpi: int = 9639, prevalence: int = 10000) -> pd.DataFrame:
    return pd.DataFrame(
        {"practice_code": list(codes), "list_size_cpi": cpi, "list_size_prevalence": prevalence}
    )


def percentage_points(numerator: int, denominator: int, maximum: str, lower: str, upper: str) -> int:
    ruleset = ruleset_of(
        {"indicator_code": "X1", "points": maximum, "lower_threshold": lower, "upper_threshold": upper}
    )
    values = values_of({"indicator_code": "X1", "numerator": numerator, "denominator": denominator})
    return int(
        calculate_qof(ruleset, values, practices_of("A1"), PARAMETERS).indicators["points_hundredths"].iat[0]
    )


def exact_points(numerator: int, denominator: int, maximum: str, lower: str, upper: str) -> int:
    if denominator == 0:
        return 0
    achieved = Fraction(100 * numerator, denominator)
    low, high = Fraction(lower), Fraction(upper)
    share = min(max((achieved - low) / (high - low), Fraction(0)), Fraction(1))
    hundredths = Fraction(maximum) * share * 100
    return (2 * hundredths.numerator + hundredths.denominator) // (2 * hundredths.denominator)


thresholds = st.tuples(
    st.decimals(min_value=0, max_value=99, places=2),
    st.decimals(min_value=Decimal("0.01"), max_value=100, places=2),
).map(lambda pair: (pair[0], min(pair[0] + pair[1], Decimal(100))))
maxima = st.decimals(min_value=0, max_value=50, places=3)
counts = st.integers(min_value=0, max_value=10**6)


@given(counts, counts, maxima, thresholds)
def test_percentage_points_agree_with_exact_fractions(numerator, denominator, maximum, bounds):
    lower, upper = bounds
    assume(lower < upper)
    numerator, denominator = min(numerator, denominator), max(numerator, denominator)

    got = percentage_points(numerator, denominator, str(maximum), str(lower), str(upper))

    assert got == exact_points(numerator, denominator, str(maximum), str(lower), str(upper))
    assert 0 <= got <= exact_points(1, 1, str(maximum), "0", "100")


@given(st.integers(min_value=1, max_value=5000), st.data(), maxima, thresholds)
def test_points_never_fall_as_the_numerator_grows(denominator, data, maximum, bounds):
    lower, upper = bounds
    assume(lower < upper)
    smaller = data.draw(st.integers(min_value=0, max_value=denominator))
    larger = data.draw(st.integers(min_value=smaller, max_value=denominator))

    assert percentage_points(smaller, denominator, str(maximum), str(lower), str(upper)) <= percentage_points(
        larger, denominator, str(maximum), str(lower), str(upper)
    )


@given(st.integers(min_value=1, max_value=2000), st.integers(min_value=1, max_value=2000))
def test_ties_at_half_a_hundredth_round_up(numerator_seed, denominator_seed):
    # G = 1.07, LT = 0, UT = 100 → points = 1.07·N/D; N/D = k/214 puts every odd k on x.xx5 exactly.
    denominator = 214 * denominator_seed
    numerator = min(numerator_seed * denominator_seed, denominator)

    got = percentage_points(numerator, denominator, "1.07", "0", "100")

    assert got == exact_points(numerator, denominator, "1.07", "0", "100")


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(0, 0, 0), (40, 100, 0), (90, 100, 1200), (100, 100, 1200), (65, 100, 600), (39, 100, 0)],
)
def test_percentage_points_at_thresholds_and_zero_denominator(numerator, denominator, expected):
    assert percentage_points(numerator, denominator, "12", "40", "90") == expected


def test_worked_tie_2_675_rounds_to_2_68():
    # G = 10.7, LT = 0, UT = 100: N/D = 1/4 gives exactly 2.675 points.
    assert percentage_points(1, 4, "10.7", "0", "100") == 268


def test_zero_denominator_leaves_achievement_blank():
    ruleset = ruleset_of({"indicator_code": "X1", "lower_threshold": "40", "upper_threshold": "90"})
    values = values_of({"indicator_code": "X1", "numerator": 0, "denominator": 0, "pcas": 3})

    row = calculate_qof(ruleset, values, practices_of("A1"), PARAMETERS).indicators.iloc[0]

    assert pd.isna(row["achievement"])
    assert row["points_hundredths"] == 0
    assert row["pca_rate"] == 1.0


def test_register_and_manual_indicators_score_all_or_nothing_with_the_default_for_missing_answers():
    ruleset = ruleset_of(
        {"indicator_code": "AF001", "kind": "register", "points": "5"},
        {"indicator_code": "QI1", "group_code": "QI", "kind": "manual", "points": "27"},
        {"indicator_code": "QI2", "group_code": "QI", "kind": "manual", "points": "10"},
        {"indicator_code": "MI1", "group_code": "QI", "kind": "management_information", "points": "0"},
    )
    values = values_of(
        {"practice_code": "A1", "indicator_code": "AF001", "register": 3},
        {"practice_code": "A2", "indicator_code": "AF001", "register": 0},
        {"practice_code": "A1", "indicator_code": "QI1", "manual_answer": False},
        {"practice_code": "A1", "indicator_code": "MI1", "numerator": 3, "denominator": 4},
    )
    practices = practices_of("A1", "A2")

    def points(parameters: YearParameters) -> dict:
        indicators = calculate_qof(ruleset, values, practices, parameters).indicators
        return {
            (row.practice_code, row.indicator_code): row.points_hundredths for row in indicators.itertuples()
        }

    assert points(PARAMETERS) == {
        ("A1", "AF001"): 500, ("A1", "QI1"): 0, ("A1", "QI2"): 0, ("A1", "MI1"): 0,
        ("A2", "AF001"): 0, ("A2", "QI1"): 0, ("A2", "QI2"): 0, ("A2", "MI1"): 0,
    }  # fmt: skip
    yes_by_default = YearParameters(PARAMETERS.point_value, PARAMETERS.average_list_size, manual_default=True)
    assert points(yes_by_default)[("A1", "QI1")] == 0
    assert points(yes_by_default)[("A2", "QI1")] == 2700


def test_manual_answers_override_the_extract():
    ruleset = ruleset_of({"indicator_code": "QI1", "group_code": "QI", "kind": "manual", "points": "27"})
    values = values_of({"indicator_code": "QI1", "manual_answer": False})
    answers = pd.DataFrame({"practice_code": ["A1"], "indicator_code": ["QI1"], "answer": [True]})

    result = calculate_qof(ruleset, values, practices_of("A1"), PARAMETERS, manual_answers=answers)

    assert result.indicators["points_hundredths"].tolist() == [2700]


def test_income_protected_indicator_is_credited_base_year_points_through_the_mapping():
    ruleset = ruleset_of(
        {"indicator_code": "X2", "lower_threshold": "40", "upper_threshold": "90", "income_protected": "1"}
    )
    values = values_of(
        {"practice_code": "A1", "indicator_code": "X2", "numerator": 1, "denominator": 100},
        {"practice_code": "A2", "indicator_code": "X2", "numerator": 90, "denominator": 100},
    )
    base = pd.DataFrame(
        {"practice_code": ["A1"], "indicator_code": ["X1"], "achieved_points": [Decimal("7.35")]}
    )

    result = calculate_qof(
        ruleset,
        values,
        practices_of("A1", "A2"),
        PARAMETERS,
        base_year_points=base,
        indicator_mapping={"X2": "X1"},
    )

    rows = result.indicators.set_index("practice_code")
    assert rows.loc["A1", "points_hundredths"] == 735
    assert bool(rows.loc["A1", "income_protected"]) and pd.isna(rows.loc["A1", "numerator"])
    assert rows.loc["A2", "points_hundredths"] == 1000  # no base-year result: calculated as conditional
    assert not rows.loc["A2", "income_protected"]


registers = st.integers(min_value=0, max_value=5000)


@given(
    st.lists(
        st.tuples(registers, st.integers(1000, 40000), st.integers(1000, 40000)), min_size=1, max_size=5
    ),
    st.decimals(min_value=0, max_value=30, places=2),
    st.decimals(min_value=Decimal("100"), max_value=Decimal("300"), places=2),
)
def test_payments_agree_with_exact_fractions(practice_rows, maximum, point_value):
    ruleset = ruleset_of(
        {"indicator_code": "AF001", "kind": "register", "points": str(maximum), "prevalence_adjusted": "1"}
    )
    codes = [f"P{i}" for i in range(len(practice_rows))]
    values = values_of(
        *(
            {"practice_code": c, "indicator_code": "AF001", "register": r[0]}
            for c, r in zip(codes, practice_rows, strict=True)
        )
    )
    practices = pd.DataFrame(
        {
            "practice_code": codes,
            "list_size_cpi": [row[1] for row in practice_rows],
            "list_size_prevalence": [row[2] for row in practice_rows],
        }
    )
    parameters = YearParameters(point_value=point_value, average_list_size=Decimal(9639))

    result = calculate_qof(ruleset, values, practices, parameters)

    register_total = sum(row[0] for row in practice_rows)
    population_total = sum(row[2] for row in practice_rows)
    for code, (register, list_cpi, population), payment in zip(
        codes, practice_rows, result.indicators["payment_pence"], strict=True
    ):
        points = Fraction(maximum) if register > 0 else Fraction(0)
        apdf = Fraction(register, population) / Fraction(register_total, population_total) if register else 0
        pence = points * 100 * Fraction(point_value) * Fraction(list_cpi, 9639) * apdf
        assert payment == (2 * pence.numerator + pence.denominator) // (2 * pence.denominator), code
    assert result.practice_totals["payment_pence"].sum() == result.indicators["payment_pence"].sum()


def test_apdf_is_zero_when_the_register_is_zero_and_not_applied_to_unadjusted_groups():
    ruleset = ruleset_of(
        {"indicator_code": "AF001", "kind": "register", "points": "5", "prevalence_adjusted": "1"},
        {"indicator_code": "BP1", "group_code": "BP", "lower_threshold": "0", "upper_threshold": "100"},
    )
    values = values_of(
        {"practice_code": "A1", "indicator_code": "AF001", "register": 0},
        {"practice_code": "A2", "indicator_code": "AF001", "register": 10},
        {"practice_code": "A1", "indicator_code": "BP1", "numerator": 5, "denominator": 10},
    )

    rows = calculate_qof(ruleset, values, practices_of("A1", "A2"), PARAMETERS).indicators

    assert rows["apdf"].tolist() == [0.0, 1.0, 2.0, 1.0]
    # 5 points × £213.43 × CPI 1 for BP1 at 50%: not prevalence adjusted.
    assert (
        rows.loc[(rows["practice_code"] == "A1") & (rows["indicator_code"] == "BP1"), "payment_pence"].iat[0]
        == 106715
    )


def test_national_prevalence_is_a_ratio_of_totals():
    ruleset = ruleset_of(
        {"indicator_code": "AF001", "kind": "register", "points": "5", "prevalence_adjusted": "1"}
    )
    values = values_of(
        {"practice_code": "A1", "indicator_code": "AF001", "register": 100},
        {"practice_code": "A2", "indicator_code": "AF001", "register": 300},
    )
    practices = pd.DataFrame(
        {"practice_code": ["A1", "A2"], "list_size_cpi": [1, 1], "list_size_prevalence": [1000, 19000]}
    )

    prevalence = national_prevalence(ruleset, values, practices)

    assert prevalence[["group_code", "register_total", "population_total"]].values.tolist() == [
        ["AF", 400, 20000]
    ]
    assert prevalence["national_prevalence"].iat[0] == pytest.approx(0.02)
