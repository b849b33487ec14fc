from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import (
    MONEY_BASE,
    POINTS_CPI,
    aspiration_rule_for,
    calculate_aspiration,
    calculate_pcn_payments,
    split_into_instalments,
    year_end_balance,
)


@given(st.integers(min_value=0, max_value=10**11))
def test_instalments_are_eleven_floors_and_a_remainder_adding_up_to_the_annual(annual):
    monthly, last = split_into_instalments(np.array([annual]))

    assert monthly[0] == annual // 12
    assert 11 * monthly[0] + last[0] == annual
    assert 0 <= last[0] - monthly[0] < 12


@given(
    st.integers(min_value=0, max_value=10**10),
    st.decimals(min_value="0.5", max_value="1", places=3),
    st.decimals(min_value=100, max_value=300, places=2),
    st.decimals(min_value=100, max_value=300, places=2),
)
def test_money_base_aspiration_is_rate_times_last_years_payment_uprated_rounded_half_up(
    payment_pence, rate, previous_value, value
):
    totals = pd.DataFrame({"practice_code": ["A1"], "payment_pence": [payment_pence]})

    result = calculate_aspiration(
        totals, rate=rate, point_value=value, previous_point_value=previous_value, rule=MONEY_BASE
    )

    pence = Fraction(rate) * payment_pence * Fraction(value) / Fraction(previous_value)
    assert result["annual_pence"].iat[0] == (2 * pence.numerator + pence.denominator) // (
        2 * pence.denominator
    )
    assert (
        11 * result["monthly_pence"].iat[0] + result["last_month_pence"].iat[0]
        == result["annual_pence"].iat[0]
    )


def test_money_base_worked_example_from_the_small_2023_24_example():
    # Z10005's 2023/24 achievement payment is £41,358.95 (examples/qof_2023_24_small). 2024/25 pays 80% of
    # it uprated from £213.43 to £220.62 a point: 0.8 × 41,358.95 × 220.62 / 213.43 = £34,201.7956… →
    # £34,201.80, twelve instalments of £2,850.15.
    totals = pd.DataFrame({"practice_code": ["Z10005"], "payment_pence": [4135895]})

    row = calculate_aspiration(
        totals, rate=Decimal("0.80"), point_value=Decimal("220.62"), previous_point_value=Decimal("213.43")
    ).iloc[0]

    assert (row["annual_pence"], row["monthly_pence"], row["last_month_pence"]) == (3420180, 285015, 285015)


def test_money_base_rounds_an_exact_half_penny_up():
    # 70% of 5p with the point value unchanged is exactly 3.5p: half-up gives 4p, never banker's 4p-or-3p.
    totals = pd.DataFrame({"practice_code": ["A1"], "payment_pence": [5]})

    row = calculate_aspiration(
        totals, rate=Decimal("0.70"), point_value=Decimal("200"), previous_point_value=Decimal("200")
    ).iloc[0]

    assert row["annual_pence"] == 4


def test_the_money_base_is_the_rule_for_every_year_and_the_points_rule_stays_selectable():
    assert aspiration_rule_for(2004) == aspiration_rule_for(2024) == aspiration_rule_for(2030) == MONEY_BASE
    # The superseded points × CPI rule still reproduces a historical figure when asked for by name:
    # 400 points × 70% × £213.43 × 12,000/9,639 = £74,398.257…; monthly £6,199.85, the twelfth £6,199.91.
    totals = pd.DataFrame({"practice_code": ["A1"], "points_hundredths": [40000]})
    next_year = pd.DataFrame({"practice_code": ["A1"], "list_size_cpi": [12000]})

    row = calculate_aspiration(
        totals,
        rule=POINTS_CPI,
        next_year_practices=next_year,
        rate=Decimal("0.70"),
        point_value=Decimal("213.43"),
        average_list_size=Decimal(9639),
    ).iloc[0]

    assert (row["annual_pence"], row["monthly_pence"], row["last_month_pence"]) == (7439826, 619985, 619991)


def test_each_rule_refuses_to_run_without_its_inputs():
    totals = pd.DataFrame({"practice_code": ["A1"], "payment_pence": [100], "points_hundredths": [100]})

    with pytest.raises(ValueError, match="this year's value of a point"):
        calculate_aspiration(totals, rate=Decimal("0.8"), point_value=Decimal("200"))
    with pytest.raises(ValueError, match="list sizes"):
        calculate_aspiration(totals, rule=POINTS_CPI, rate=Decimal("0.8"), point_value=Decimal("200"))
    with pytest.raises(ValueError, match="unknown aspiration rule"):
        calculate_aspiration(totals, rule="guess", rate=Decimal("0.8"), point_value=Decimal("200"))


def test_year_end_balance_may_be_negative_and_defaults_to_nothing_paid():
    totals = pd.DataFrame({"practice_code": ["A1", "A2"], "payment_pence": [100000, 50000]})
    paid = pd.DataFrame({"practice_code": ["A1"], "paid_pence": [120000]})

    balance = year_end_balance(totals, paid)

    assert balance["balance_pence"].tolist() == [-20000, 50000]


def test_pcn_payments_round_the_annual_and_pay_it_in_twelve_instalments():
    rates = pd.DataFrame(
        {"payment": ["network_participation", "core_pcn_funding"], "rate_gbp": ["1.761", "1.50"]}
    )
    populations = pd.DataFrame(
        {
            "payee_code": ["A81001", "U89141"],
            "payment": ["network_participation", "core_pcn_funding"],
            "population": [Decimal("10234.5"), 50001],
        }
    )

    result = calculate_pcn_payments(rates, populations)

    # 10,234.5 × £1.761 = £18,022.9545 → £18,022.95; 50,001 × £1.50 = £75,001.50.
    assert result["annual_pence"].tolist() == [1802295, 7500150]
    assert result["monthly_pence"].tolist() == [150191, 625012]
    assert result["last_month_pence"].tolist() == [150194, 625018]
