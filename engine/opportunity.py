"""What the next patient is worth: for percentage indicators, how many more patients in the numerator reach
the next whole point and the upper threshold, and what that pays at the practice's CPI and APDF.

Vectorised over every row given (a practice's indicators, or a commissioner's practices × indicators), and
exact: every "how many patients" is the smallest count whose rounded points reach the target, found from a
closed form and then checked with the engine's own exact points function; every amount is the difference of
two payments the engine would make. The denominator is held fixed: an extra patient in the numerator is one
already eligible whose care now meets the indicator.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

from .qof import SCALE, YearParameters, payment_pence, percentage_points_hundredths, scaled_column
from .rounding import round_half_up_quotient

OPPORTUNITY_COLUMNS = (
    "points_hundredths",  # now, recomputed from the counts
    "full_hundredths",
    "patients_to_lower",  # patients before the achievement passes the lower threshold (they earn nothing)
    "patients_to_next_point",
    "next_point_hundredths",
    "next_point_gain_pence",
    "patients_to_upper",
    "upper_gain_hundredths",
    "upper_gain_pence",
    "pence_per_patient",  # upper_gain_pence ÷ patients_to_upper, rounded half-up
    "pence_per_patient_in_range",  # what each patient between the thresholds adds, before rounding points
    "payment_pence",  # now
)


def apdf_factors(
    adjusted: np.ndarray,
    group_register: np.ndarray,
    list_size_prevalence: np.ndarray,
    register_total: np.ndarray,
    population_total: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """([R, ΣP], [P, ΣR]) per row, 1s where not prevalence adjusted and R = 0 where ΣR = 0 (APDF 0), as the
    engine's own APDF."""
    adjusted = np.asarray(adjusted, dtype=bool)
    national_register = np.where(adjusted, register_total, 1)
    no_register = national_register == 0
    return (
        [
            np.where(adjusted & ~no_register, group_register, np.where(adjusted, 0, 1)),
            np.where(adjusted, population_total, 1),
        ],
        [np.where(adjusted, list_size_prevalence, 1), np.where(no_register, 1, national_register)],
    )


def percentage_opportunities(rows: pd.DataFrame, parameters: YearParameters) -> pd.DataFrame:
    """rows: numerator, denominator (ints, denominator > 0 for an opportunity); points, lower_threshold,
    upper_threshold (Decimals, as a validated ruleset); list_size_cpi; and for APDF prevalence_adjusted,
    group_register, list_size_prevalence, register_total, population_total. Returns `rows` with
    OPPORTUNITY_COLUMNS added. Rows with no denominator, or at full points already, get 0 patients and 0
    pence. (Income-protected lines are not calculated from their counts: leave them out.)"""
    numerator = rows["numerator"].to_numpy(dtype=np.int64)
    denominator = rows["denominator"].to_numpy(dtype=np.int64)
    maximum, lower, upper = (scaled_column(rows, c) for c in ("points", "lower_threshold", "upper_threshold"))

    def points(count: np.ndarray) -> np.ndarray:
        return percentage_points_hundredths(count, denominator, maximum=maximum, lower=lower, upper=upper)

    factors = apdf_factors(
        rows["prevalence_adjusted"].to_numpy(dtype=bool),
        rows["group_register"].to_numpy(dtype=np.int64),
        rows["list_size_prevalence"].to_numpy(dtype=np.int64),
        rows["register_total"].to_numpy(dtype=np.int64),
        rows["population_total"].to_numpy(dtype=np.int64),
    )
    list_cpi = rows["list_size_cpi"].to_numpy(dtype=np.int64)

    def pay(hundredths: np.ndarray) -> np.ndarray:
        return payment_pence(hundredths, list_cpi, parameters, factors)

    now = points(numerator)
    full = round_half_up_quotient([maximum, 100], [SCALE])
    open_ = (denominator > 0) & (now < full)
    target = np.minimum((now // 100 + 1) * 100, full)
    reach_next = np.where(open_, _smallest_count_reaching(target, numerator, denominator, points, rows), 0)
    # At 100·N ≥ UT·D the points are full: the smallest such N, in integers (D·ut < 2**63 for any count).
    reach_upper = -((-denominator * upper) // (100 * SCALE))
    reach_lower = -((-denominator * lower) // (100 * SCALE))
    next_points = np.where(open_, points(np.minimum(reach_next, denominator)), now)
    patients_upper = np.where(open_, np.maximum(reach_upper - numerator, 0), 0)
    pay_now = pay(now)
    upper_gain = np.where(open_, pay(full) - pay_now, 0)
    # Between the thresholds each patient adds 100·G / (D·(UT − LT)) points = 100·g / (D·(ut − lt)); in pence
    # that is × 100 × £ per point × CPI × APDF.
    value, average = Fraction(parameters.point_value), Fraction(parameters.average_list_size)
    in_range = round_half_up_quotient(
        [maximum, 100 * 100, list_cpi, value.numerator, average.denominator, *factors[0]],
        [np.maximum(denominator, 1), np.where(upper > lower, upper - lower, 1), value.denominator,
         average.numerator, *factors[1]],
    )  # fmt: skip
    return rows.assign(
        points_hundredths=now,
        full_hundredths=full,
        patients_to_lower=np.where(open_, np.maximum(reach_lower - numerator, 0), 0),
        patients_to_next_point=np.where(open_, reach_next - numerator, 0),
        next_point_hundredths=next_points,
        next_point_gain_pence=np.where(open_, pay(next_points) - pay_now, 0),
        patients_to_upper=patients_upper,
        upper_gain_hundredths=np.where(open_, full - now, 0),
        upper_gain_pence=upper_gain,
        pence_per_patient=np.where(
            open_, round_half_up_quotient([upper_gain], [np.maximum(patients_upper, 1)]), 0
        ),
        pence_per_patient_in_range=np.where(open_, in_range, 0),
        payment_pence=pay_now,
    )


def _smallest_count_reaching(target, numerator, denominator, points, rows) -> np.ndarray:
    """The smallest N' in (N, D] whose rounded points reach `target` hundredths.

    Rounded points reach T exactly when the unrounded hundredths reach T − ½, that is when
    N' ≥ D·(200·g·lt + SCALE·(2T − 1)·(ut − lt)) / (20000·SCALE·g) (g, lt, ut scaled by SCALE). That bound is
    taken in floating point, so the candidate is checked and moved with the exact points function; float
    error is far below one patient, so one or two steps at most.
    """
    g = scaled_column(rows, "points").astype(np.float64)
    lt = scaled_column(rows, "lower_threshold").astype(np.float64)
    ut = scaled_column(rows, "upper_threshold").astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = denominator * (200 * g * lt + SCALE * (2 * target - 1) * (ut - lt)) / (20000 * SCALE * g)
    bound = np.nan_to_num(bound, nan=0.0, posinf=0.0)
    candidate = np.clip(np.ceil(bound).astype(np.int64), numerator + 1, np.maximum(denominator, 1))
    for _ in range(8):
        short = (points(candidate) < target) & (candidate < denominator)
        if not short.any():
            break
        candidate = candidate + short
    for _ in range(8):
        earlier = np.maximum(candidate - 1, 0)
        enough = (candidate - 1 > numerator) & (points(earlier) >= target)
        if not enough.any():
            break
        candidate = candidate - enough
    return candidate
