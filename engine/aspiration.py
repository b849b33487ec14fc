"""Aspiration payments on account for the next year, and the year-end balance (DOMAIN.md §4.9–10)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from .rounding import round_half_up_quotient

MONTHS = 12


def split_into_instalments(annual_pence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Twelve instalments: eleven of annual/12 rounded down to the penny, the last takes the remainder,
    so the instalments always add up to the annual amount. Returns (monthly, last)."""
    annual_pence = np.asarray(annual_pence, dtype=np.int64)
    monthly = annual_pence // MONTHS
    return monthly, annual_pence - (MONTHS - 1) * monthly


def calculate_aspiration(
    practice_points: pd.DataFrame,
    next_year_practices: pd.DataFrame,
    *,
    rate: Decimal,
    point_value: Decimal,
    average_list_size: Decimal,
) -> pd.DataFrame:
    """annual = rate(Y+1) × total points(Y) × £ per point(Y+1) × CPI(Y+1), rounded half-up to the penny.

    practice_points: practice_code, points_hundredths (this year's totals, as QofResult.practice_totals).
    next_year_practices: practice_code, list_size_cpi (list at 1 January of the next year).
    Returns practice_code, annual_pence, monthly_pence (months 1–11), last_month_pence (month 12); practices
    without a next-year list size are left out (they will not be paid on account).
    """
    joined = practice_points.merge(
        next_year_practices[["practice_code", "list_size_cpi"]], on="practice_code"
    )
    rate_fraction = Fraction(Decimal(str(rate)))
    value = Fraction(Decimal(str(point_value)))
    average = Fraction(Decimal(str(average_list_size)))
    # Pounds = rate × hundredths/100 × value × list/average; pence multiplies that by 100, cancelling the 100.
    annual = round_half_up_quotient(
        [
            joined["points_hundredths"].to_numpy(dtype=np.int64),
            joined["list_size_cpi"].to_numpy(dtype=np.int64),
            rate_fraction.numerator,
            value.numerator,
            average.denominator,
        ],
        [rate_fraction.denominator, value.denominator, average.numerator],
    )
    monthly, last = split_into_instalments(annual)
    return pd.DataFrame(
        {
            "practice_code": joined["practice_code"].to_numpy(),
            "annual_pence": annual,
            "monthly_pence": monthly,
            "last_month_pence": last,
        }
    )


def year_end_balance(practice_totals: pd.DataFrame, aspiration_paid: pd.DataFrame) -> pd.DataFrame:
    """balance = achievement payment(Y) − aspiration instalments paid during Y; negative means a recovery.

    practice_totals: practice_code, payment_pence; aspiration_paid: practice_code, paid_pence (practices
    absent from it were paid nothing on account).
    """
    joined = practice_totals[["practice_code", "payment_pence"]].merge(
        aspiration_paid[["practice_code", "paid_pence"]], on="practice_code", how="left"
    )
    paid = joined["paid_pence"].fillna(0).to_numpy(dtype=np.int64)
    achievement = joined["payment_pence"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "practice_code": joined["practice_code"].to_numpy(),
            "achievement_pence": achievement,
            "aspiration_paid_pence": paid,
            "balance_pence": achievement - paid,
        }
    )
