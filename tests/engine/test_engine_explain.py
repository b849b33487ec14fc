"""The explanation of one line recomputes the vectorised engine's figures exactly, and what-if uses it."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import YearParameters, calculate_qof
from engine.explain import (
    Counts,
    National,
    Outcome,
    PracticeFactors,
    Rule,
    check_counts,
    decimal_places,
    explain_line,
    round_half_up,
)
from engine.rounding import hundredths_to_decimal
from tests.engine.test_engine_points import ruleset_of, values_of

thresholds = (
    st.tuples(st.integers(0, 9_000), st.integers(1, 10_000))
    .map(lambda pair: (Decimal(pair[0]).scaleb(-2), Decimal(min(pair[0] + pair[1], 10_000)).scaleb(-2)))
    .filter(lambda pair: pair[0] < pair[1])
)
points = st.integers(1, 10_000).map(lambda value: Decimal(value).scaleb(-2))
money = st.integers(1, 50_000).map(lambda value: Decimal(value).scaleb(-2))


@st.composite
def one_practice(draw):
    lower, upper = draw(thresholds)
    denominator = draw(st.integers(0, 5_000))
    return {
        "register_points": draw(points),
        "percentage_points": draw(points),
        "manual_points": draw(points),
        "lower": lower,
        "upper": upper,
        "adjusted": draw(st.booleans()),
        "register": draw(st.integers(0, 20_000)),
        "numerator": draw(st.integers(0, denominator)),
        "denominator": denominator,
        "answer": draw(st.booleans()),
        "list_cpi": draw(st.integers(1, 80_000)),
        "list_prevalence": draw(st.integers(1, 80_000)),
        "national_register": draw(st.integers(0, 5_000_000)),
        "national_population": draw(st.integers(1, 70_000_000)),
        "point_value": draw(money),
        "average": draw(st.integers(1_000, 20_000)),
    }


@settings(max_examples=300, deadline=None)
@given(case=one_practice())
def test_explaining_each_line_reproduces_the_engine_to_the_penny(case):
    adjusted = "1" if case["adjusted"] else "0"
    ruleset = ruleset_of(
        {"indicator_code": "R1", "kind": "register", "points": str(case["register_points"]),
         "prevalence_adjusted": adjusted},
        {"indicator_code": "P1", "points": str(case["percentage_points"]),
         "lower_threshold": str(case["lower"]), "upper_threshold": str(case["upper"]),
         "prevalence_adjusted": adjusted},
        {"indicator_code": "M1", "group_code": "QI", "kind": "manual", "points": str(case["manual_points"])},
    )  # fmt: skip
    values = values_of(
        {"indicator_code": "R1", "register": case["register"]},
        {"indicator_code": "P1", "numerator": case["numerator"], "denominator": case["denominator"]},
        {"indicator_code": "M1", "manual_answer": case["answer"]},
    )
    practices = pd.DataFrame(
        {"practice_code": ["A1"], "list_size_cpi": [case["list_cpi"]],
         "list_size_prevalence": [case["list_prevalence"]]}
    )  # fmt: skip
    prevalence = pd.DataFrame(
        {"group_code": ["AF"], "register_total": [case["national_register"]],
         "population_total": [case["national_population"]], "national_prevalence": [0.0]}
    )  # fmt: skip
    parameters = YearParameters(point_value=case["point_value"], average_list_size=Decimal(case["average"]))
    result = calculate_qof(ruleset, values, practices, parameters, prevalence=prevalence).indicators

    factors = PracticeFactors(case["list_cpi"], case["list_prevalence"], group_register=case["register"])
    national = National(case["national_register"], case["national_population"])
    lines = {
        "R1": (Rule("register", case["register_points"], prevalence_adjusted=case["adjusted"]),
               Counts(register=case["register"])),
        "P1": (Rule("percentage", case["percentage_points"], case["lower"], case["upper"], case["adjusted"]),
               Counts(numerator=case["numerator"], denominator=case["denominator"])),
        "M1": (Rule("manual", case["manual_points"]), Counts(manual_answer=case["answer"])),
    }  # fmt: skip
    for row in result.itertuples():
        rule, counts = lines[row.indicator_code]
        explanation = explain_line(rule, counts, factors, parameters, national)
        assert explanation.points == hundredths_to_decimal([row.points_hundredths])[0]
        assert explanation.payment == hundredths_to_decimal([row.payment_pence])[0]
        assert float(explanation.apdf) == pytest.approx(row.apdf)
        assert float(explanation.cpi) == pytest.approx(row.cpi)


PARAMETERS = YearParameters(point_value=Decimal("213.43"), average_list_size=Decimal(9639))
AF006 = Rule("percentage", Decimal(12), Decimal(40), Decimal(90), prevalence_adjusted=True)
PRACTICE = PracticeFactors(list_size_cpi=16000, list_size_prevalence=16000, group_register=488)
NATIONAL = National(register_total=1_300_000, population_total=62_000_000)


def test_a_line_between_the_thresholds_shows_each_step():
    explanation = explain_line(AF006, Counts(numerator=300, denominator=400), PRACTICE, PARAMETERS, NATIONAL)
    assert explanation.outcome == Outcome.BETWEEN_THRESHOLDS
    assert explanation.achievement == 75 and explanation.share == Fraction(35, 50)
    assert explanation.points_exact == Fraction(42, 5) and explanation.points == Decimal("8.40")
    assert explanation.cpi == Fraction(16000, 9639)
    assert explanation.apdf == Fraction(488, 16000) / Fraction(1_300_000, 62_000_000)
    pounds = Fraction(Decimal("8.40")) * Fraction(Decimal("213.43")) * explanation.cpi * explanation.apdf
    assert explanation.payment_exact == pounds and explanation.payment == round_half_up(pounds)


def test_thresholds_clamp_and_no_denominator_scores_nothing():
    below = explain_line(AF006, Counts(numerator=100, denominator=400), PRACTICE, PARAMETERS, NATIONAL)
    above = explain_line(AF006, Counts(numerator=390, denominator=400), PRACTICE, PARAMETERS, NATIONAL)
    empty = explain_line(AF006, Counts(numerator=0, denominator=0), PRACTICE, PARAMETERS, NATIONAL)
    assert (below.outcome, below.points) == (Outcome.AT_OR_BELOW_LOWER, Decimal("0.00"))
    assert (above.outcome, above.points) == (Outcome.AT_OR_ABOVE_UPPER, Decimal("12.00"))
    assert (empty.outcome, empty.points, empty.achievement) == (Outcome.NO_DENOMINATOR, Decimal("0.00"), None)


def test_points_round_half_up_from_the_exact_value():
    rule = Rule("percentage", Decimal("5.35"), Decimal(0), Decimal(100))
    explanation = explain_line(rule, Counts(numerator=1, denominator=2), PRACTICE, PARAMETERS)
    assert explanation.points_exact == Fraction(535, 200)  # 2.675
    assert explanation.points == Decimal("2.68") and explanation.rounding == Fraction(5, 1000)


def test_income_protected_lines_pay_the_credited_points():
    explanation = explain_line(
        AF006, Counts(credited_points=Decimal("11.20")), PRACTICE, PARAMETERS, NATIONAL
    )
    assert explanation.outcome == Outcome.INCOME_PROTECTED and explanation.points == Decimal("11.20")


def test_a_group_without_a_national_register_has_apdf_zero():
    explanation = explain_line(
        AF006, Counts(numerator=400, denominator=400), PRACTICE, PARAMETERS, National(0, 62_000_000)
    )
    assert explanation.points == 12 and explanation.apdf == 0 and explanation.payment == 0


def test_what_if_counts_no_extract_could_hold_are_refused_with_the_field():
    assert check_counts(AF006, Counts(numerator=5, denominator=4)) == [
        ("numerator", "cannot be more than the denominator")
    ]
    assert check_counts(AF006, Counts(numerator=-1, denominator=4))[0][0] == "numerator"
    assert check_counts(AF006, Counts(numerator=3, denominator=None))[0][0] == "denominator"
    with pytest.raises(ValueError, match="numerator"):
        explain_line(AF006, Counts(numerator=5, denominator=4), PRACTICE, PARAMETERS, NATIONAL)


def test_exact_values_are_written_without_pretending_they_end():
    assert decimal_places(Fraction(80, 7)) == "11.428571…"
    assert decimal_places(Fraction(12)) == "12" and decimal_places(Fraction(5, 2)) == "2.5"
