from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from engine import (
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
    st.integers(min_value=0, max_value=63500),
    st.integers(min_value=1, max_value=60000),
    st.decimals(min_value=100, max_value=300, places=2),
)
def test_aspiration_is_rate_points_value_and_cpi_rounded_half_up(points_hundredths, list_size, point_value):
    totals = pd.DataFrame({"practice_code": ["A1"], "points_hundredths": [points_hundredths]})
    next_year = pd.DataFrame({"practice_code": ["A1"], "list_size_cpi": [list_size]})

    result = calculate_aspiration(
        totals, next_year, rate=Decimal("0.80"), point_value=point_value, average_list_size=Decimal(9964)
    )

    pence = Fraction(80, 100) * points_hundredths * Fraction(point_value) * Fraction(list_size, 9964)
    assert result["annual_pence"].iat[0] == (2 * pence.numerator + pence.denominator) // (
        2 * pence.denominator
    )
    assert (
        11 * result["monthly_pence"].iat[0] + result["last_month_pence"].iat[0]
        == result["annual_pence"].iat[0]
    )


def test_aspiration_worked_example():
    # 400 points × 70% × £213.43 × 12,000/9,639 = £74,398.257…; monthly £6,199.85, the twelfth £6,199.91.
    totals = pd.DataFrame({"practice_code": ["A1"], "points_hundredths": [40000]})
    next_year = pd.DataFrame({"practice_code": ["A1"], "list_size_cpi": [12000]})

    row = calculate_aspiration(
        totals,
        next_year,
        rate=Decimal("0.70"),
        point_value=Decimal("213.43"),
        average_list_size=Decimal(9639),
    ).iloc[0]

    assert (row["annual_pence"], row["monthly_pence"], row["last_month_pence"]) == (7439826, 619985, 619991)


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
