"""Aspiration payments on account for the next year, and the year-end balance (DOMAIN.md §4.9–10)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from .rounding import round_half_up_quotient

MONTHS = 12

# The year-versioned aspiration rules. MONEY_BASE is what the SFE and every public guidance describe:
# rate(Y+1) × the Unadjusted Achievement Payment of Y (points × £ × CPI × APDF, before aspiration paid is
# deducted) × £ per point(Y+1) / £ per point(Y). POINTS_CPI, rate × points(Y) × £(Y+1) × CPI(Y+1) with no
# prevalence, was an early misreading of the contract; it stays selectable only to reproduce historical
# figures calculated with it (DOMAIN.md §4.9, revised December 2026).
MONEY_BASE = "money_base"
POINTS_CPI = "points_cpi"
RULES = (MONEY_BASE, POINTS_CPI)
# (first financial year the aspiration is paid in, rule). No year has been found that used anything but
# the money base, so one row covers every year; a change of contract adds a row rather than an if.
RULE_FROM_YEAR = ((2004, MONEY_BASE),)


def aspiration_rule_for(financial_year: int) -> str:
    """The rule that calculates the aspiration paid on account during `financial_year`."""
    chosen = RULE_FROM_YEAR[0][1]
    for first_year, rule in RULE_FROM_YEAR:
        if financial_year >= first_year:
            chosen = rule
    return chosen


def split_into_instalments(annual_pence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Twelve instalments: eleven of annual/12 rounded down to the penny, the last takes the remainder,
    so the instalments always add up to the annual amount. Returns (monthly, last)."""
    annual_pence = np.asarray(annual_pence, dtype=np.int64)
    monthly = annual_pence // MONTHS
    return monthly, annual_pence - (MONTHS - 1) * monthly


def _instalments(codes, annual: np.ndarray) -> pd.DataFrame:
    monthly, last = split_into_instalments(annual)
    return pd.DataFrame(
        {
            "practice_code": np.asarray(codes),
            "annual_pence": annual,
            "monthly_pence": monthly,
            "last_month_pence": last,
        }
    )


def calculate_aspiration(
    practice_totals: pd.DataFrame,
    *,
    rate: Decimal,
    point_value: Decimal,
    previous_point_value: Decimal | None = None,
    rule: str = MONEY_BASE,
    next_year_practices: pd.DataFrame | None = None,
    average_list_size: Decimal | None = None,
) -> pd.DataFrame:
    """Next year's aspiration per practice, by `rule` (see MONEY_BASE / POINTS_CPI).

    practice_totals: practice_code, payment_pence (MONEY_BASE) or points_hundredths (POINTS_CPI), this
    year's totals as QofResult.practice_totals. rate and point_value are next year's; previous_point_value
    is this year's (MONEY_BASE). POINTS_CPI also needs next_year_practices (practice_code, list_size_cpi at
    1 January of next year; practices without one are left out) and next year's average_list_size.
    Returns practice_code, annual_pence, monthly_pence (months 1–11), last_month_pence (month 12).
    """
    if rule == MONEY_BASE:
        if previous_point_value is None:
            raise ValueError("the money-base rule needs this year's value of a point")
        return _money_base(practice_totals, rate, point_value, previous_point_value)
    if rule == POINTS_CPI:
        if next_year_practices is None or average_list_size is None:
            raise ValueError("the points × CPI rule needs next year's list sizes and average list size")
        return _points_cpi(practice_totals, next_year_practices, rate, point_value, average_list_size)
    raise ValueError(f"unknown aspiration rule {rule!r}; expected one of {', '.join(RULES)}")


def _money_base(
    practice_totals: pd.DataFrame, rate: Decimal, point_value: Decimal, previous_point_value: Decimal
) -> pd.DataFrame:
    rate_fraction = Fraction(Decimal(str(rate)))
    # £(Y+1)/£(Y) as one exact fraction: the uprating is not rounded, only the annual amount is.
    uprating = Fraction(Decimal(str(point_value))) / Fraction(Decimal(str(previous_point_value)))
    annual = round_half_up_quotient(
        [
            practice_totals["payment_pence"].to_numpy(dtype=np.int64),
            rate_fraction.numerator,
            uprating.numerator,
        ],
        [rate_fraction.denominator, uprating.denominator],
    )
    return _instalments(practice_totals["practice_code"].to_numpy(), annual)


def _points_cpi(
    practice_points: pd.DataFrame,
    next_year_practices: pd.DataFrame,
    rate: Decimal,
    point_value: Decimal,
    average_list_size: Decimal,
) -> pd.DataFrame:
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
    return _instalments(joined["practice_code"].to_numpy(), annual)


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
