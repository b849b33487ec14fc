from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.rounding import format_hundredths, hundredths_to_decimal, round_half_up_quotient

factors = st.integers(min_value=0, max_value=10**9)
positive = st.integers(min_value=1, max_value=10**9)


def _fraction_half_up(value: Fraction) -> int:
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


@given(st.lists(factors, min_size=1, max_size=4), st.lists(positive, min_size=1, max_size=3))
def test_quotient_rounds_like_exact_fractions(numerators, denominators):
    expected = _fraction_half_up(Fraction(math.prod(numerators), math.prod(denominators)))
    if expected >= 2**62:
        return

    got = round_half_up_quotient([np.array([n]) for n in numerators], [np.array([d]) for d in denominators])

    assert int(got[0]) == expected


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=10**6))
def test_exact_ties_round_up(whole, scale):
    # (2·whole + 1)/2 is exactly whole + ½, multiplied through by an arbitrary scale.
    got = round_half_up_quotient([np.array([2 * whole + 1]), scale], [2, np.array([scale])])

    assert int(got[0]) == whole + 1


def test_decimal_tie_that_floats_get_wrong_rounds_up():
    # 2.675 is 2.67499999… in binary floating point; exactly it is a tie and rounds up.
    assert f"{2.675:.2f}" == "2.67"
    assert int(round_half_up_quotient([np.array([2675])], [np.array([10])])[0]) == 268


def test_factors_outside_the_exact_float_range_are_refused():
    with pytest.raises(ValueError, match="2\\*\\*53"):
        round_half_up_quotient([np.array([2**53])], [np.array([1])])
    with pytest.raises(ValueError, match="denominator"):
        round_half_up_quotient([np.array([1])], [np.array([0])])


def test_vectors_broadcast_against_scalars():
    got = round_half_up_quotient([np.array([1, 2, 3, 5]), 5], [10])

    assert got.tolist() == [1, 1, 2, 3]


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_hundredths_format_and_convert_like_decimal(value):
    expected = Decimal(value).scaleb(-2).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    assert format_hundredths(np.array([value]))[0] == str(expected)
    assert hundredths_to_decimal([value]) == [expected]
