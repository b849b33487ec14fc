"""Exact half-up rounding of products and quotients of integers, vectorised.

Every rounded quantity in the engine (points in hundredths, money in pence) is a ratio of integer products:
``round_half_up(prod(numerators) / prod(denominators))``. The intermediate integers overflow int64 at national
scale (a payment line multiplies points, pence, list sizes, registers and national totals), so we compute the
quotient in float64 and re-do exactly, with Python integers, only the rows whose float lies so close to a
rounding tie (x.5) that float error could put it on the wrong side. Half-up rounding is discontinuous only
at ties, so every other row's float rounds exactly like the true value.

Error bound: each factor is an integer below 2**53 (exact in float64), and each of the k multiplications or
divisions adds at most 2**-53 relative error, so the relative error is below k * 2**-53 (about 2e-15 for
k <= 16). TIE_TOLERANCE is a million times wider than that; rows inside it are a vanishing share of real data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

MAX_EXACT_FACTOR = 2**53
TIE_TOLERANCE = 1e-9
MAX_FACTORS = 16


def _as_int64(values: np.ndarray | int) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise TypeError(f"factors must be integer arrays, got {array.dtype}")
    return array.astype(np.int64, copy=False)


def round_half_up_quotient(
    numerators: Sequence[np.ndarray | int], denominators: Sequence[np.ndarray | int]
) -> np.ndarray:
    """Exact ``round_half_up(prod(numerators) / prod(denominators))`` as int64, element-wise.

    Factors are non-negative integers (numerators) and positive integers (denominators) below 2**53;
    scalars broadcast. The result must fit in int64.
    """
    nums = [_as_int64(value) for value in numerators]
    dens = [_as_int64(value) for value in denominators]
    if len(nums) + len(dens) > MAX_FACTORS:
        raise ValueError("too many factors for the float error bound")
    for factor in nums:
        if factor.size and (factor.min() < 0 or factor.max() >= MAX_EXACT_FACTOR):
            raise ValueError("numerator factors must lie in [0, 2**53)")
    for factor in dens:
        if factor.size and (factor.min() <= 0 or factor.max() >= MAX_EXACT_FACTOR):
            raise ValueError("denominator factors must lie in [1, 2**53)")

    approx = np.ones(np.broadcast_shapes(*(f.shape for f in [*nums, *dens])), dtype=np.float64)
    for factor in nums:
        approx = approx * factor
    for factor in dens:
        approx = approx / factor
    if approx.size and approx.max() >= 2**62:
        raise OverflowError("rounded result does not fit in int64")

    rounded = np.floor(approx + 0.5).astype(np.int64)
    distance_to_tie = np.abs(approx - np.floor(approx) - 0.5)
    near_tie = np.flatnonzero(distance_to_tie <= TIE_TOLERANCE * np.maximum(approx, 1.0))
    if near_tie.size:
        rounded = rounded.copy()
        broadcast_nums = [np.broadcast_to(f, approx.shape) for f in nums]
        broadcast_dens = [np.broadcast_to(f, approx.shape) for f in dens]
        for position in near_tie:
            numerator = _product(int(f.flat[position]) for f in broadcast_nums)
            denominator = _product(int(f.flat[position]) for f in broadcast_dens)
            rounded.flat[position] = (2 * numerator + denominator) // (2 * denominator)
    return rounded


def _product(values: Iterable[int]) -> int:
    result = 1
    for value in values:
        result *= value
    return result


def decimal_to_scaled_int(value: Decimal | str | int, places: int) -> int:
    """``value × 10**places`` as an int, refusing values with more decimal places than ``places``."""
    scaled = Decimal(value).scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {places} decimal places")
    return int(scaled)


_TWO_DIGITS = np.array([f"{cents:02d}" for cents in range(100)], dtype=object)


def format_hundredths(values: np.ndarray) -> np.ndarray:
    """Integer hundredths (points or pence) to strings with two decimals: 123456 → '1234.56'.

    Object arrays of Python strings: several times faster to build and join than numpy's fixed-width ones.
    """
    values = np.asarray(values, dtype=np.int64)
    magnitude = np.abs(values)
    whole = pd.Series(magnitude // 100).astype(str).to_numpy(dtype=object)
    sign = np.where(values < 0, "-", "").astype(object)
    return sign + whole + "." + _TWO_DIGITS[magnitude % 100]


def hundredths_to_decimal(values: Iterable[int]) -> list[Decimal]:
    """Integer hundredths to Decimals with two places, for the database and other exact boundaries."""
    return [Decimal(int(value)).scaleb(-2) for value in values]
