"""Year-end forecasts from in-year runs: each method, its range, and the clamps."""

from __future__ import annotations

import pandas as pd

from engine.forecast import HELD, NATIONAL_PATTERN, OWN_PATTERN, TREND, growth_ratios, year_end_forecast


def points(**by_code) -> pd.DataFrame:
    return pd.DataFrame({"practice_code": list(by_code), "points_hundredths": list(by_code.values())})


def now(**by_code) -> pd.DataFrame:
    frame = points(**{code: value for code, (value, _) in by_code.items()})
    return frame.assign(payment_pence=[money for _, money in by_code.values()])


NO_HISTORY = pd.DataFrame(columns=["practice_code", "day", "points_hundredths"])


def test_a_practice_follows_its_own_pattern_from_last_year_with_the_national_spread_as_range():
    then = points(**{f"P{i}": 10_000 for i in range(10)}, A=20_000)
    year_end = points(**{f"P{i}": 10_000 + 1_000 * i for i in range(10)}, A=30_000)
    ratios = growth_ratios(then, year_end)
    forecast = year_end_forecast(
        now(A=(22_000, 2_200_000), NEW=(10_000, 1_000_000)),
        ratios=ratios, history=NO_HISTORY, elapsed_days=273, year_days=365, maximum_hundredths=63_500,
    ).set_index("practice_code")  # fmt: skip
    own = forecast.loc["A"]
    assert own["method"] == OWN_PATTERN and own["ratio_central"] == 1.5
    assert own["points_central"] == 33_000 and own["payment_central"] == 3_300_000
    assert own["points_low"] <= own["points_central"] <= own["points_high"]
    new = forecast.loc["NEW"]
    assert new["method"] == NATIONAL_PATTERN
    assert new["ratio_central"] == ratios.median()
    assert new["ratio_low"] < new["ratio_central"] < new["ratio_high"]


def test_forecasts_never_pass_the_maximum_points():
    forecast = year_end_forecast(
        now(A=(60_000, 6_000_000)),
        ratios=growth_ratios(points(A=10_000), points(A=20_000)),
        history=NO_HISTORY, elapsed_days=100, year_days=365, maximum_hundredths=63_500,
    ).iloc[0]  # fmt: skip
    assert forecast["points_central"] == forecast["points_high"] == 63_500


def test_without_last_year_the_trend_of_this_years_runs_is_followed():
    history = pd.DataFrame(
        {"practice_code": ["A", "A", "A", "B"], "day": [91, 182, 273, 273],
         "points_hundredths": [10_000, 20_000, 30_000, 5_000]}
    )  # fmt: skip
    forecast = year_end_forecast(
        now(A=(30_000, 3_000_000), B=(5_000, 500_000)),
        ratios=pd.Series(dtype=float), history=history, elapsed_days=273, year_days=364,
        maximum_hundredths=63_500,
    ).set_index("practice_code")  # fmt: skip
    trend = forecast.loc["A"]
    assert trend["method"] == TREND
    assert trend["points_low"] == 30_000 and trend["points_central"] == 40_000
    assert trend["points_high"] >= trend["points_central"]
    held = forecast.loc["B"]
    assert (
        held["method"] == HELD
        and held["points_low"] == held["points_central"] == held["points_high"] == 5_000
    )
