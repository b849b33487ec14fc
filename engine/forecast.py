"""A year-end forecast of points and pounds from the year's in-year runs: an estimate, never a payment.

Achievement grows through the year as patients are reviewed, so today's points are not the year end's. The
best guide is how the same practice's points grew from this point of the year to its year end last year:

- `own_pattern`: last year's year-end points ÷ its points at the same point of the year, for this practice,
  times today's points. The range is the same ratio's 10th to 90th percentile over every practice that has
  one (and always includes the practice's own).
- `national_pattern`: a practice without its own history (new, or no points then) takes the median ratio,
  with the same range.
- `trend`: with no last year at all, a straight line through this year's runs to the year end; the range runs
  from holding today's points to the fastest pace seen between two runs.
- `held`: a single run and no history: today's points, as they are.

Pounds follow points at the practice's current pounds per point (its mix of indicators, CPI and APDF held).
Figures are rounded half-up to hundredths of a point and to the penny and clamped to [0, maximum points].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OWN_PATTERN = "own_pattern"
NATIONAL_PATTERN = "national_pattern"
TREND = "trend"
HELD = "held"
LOW_QUANTILE, HIGH_QUANTILE = 0.1, 0.9

FORECAST_COLUMNS = (
    "practice_code", "method", "ratio_low", "ratio_central", "ratio_high",
    "points_low", "points_central", "points_high", "payment_low", "payment_central", "payment_high",
)  # fmt: skip


def growth_ratios(then: pd.DataFrame, year_end: pd.DataFrame) -> pd.Series:
    """Last year's year-end points ÷ points at the same point of the year, by practice code (practices with
    no points then have no ratio). then, year_end: practice_code, points_hundredths."""
    joined = then.merge(year_end, on="practice_code", suffixes=("_then", "_end"))
    joined = joined[joined["points_hundredths_then"] > 0]
    ratios = joined["points_hundredths_end"].to_numpy(dtype=float) / joined[
        "points_hundredths_then"
    ].to_numpy(dtype=float)
    return pd.Series(ratios, index=joined["practice_code"].to_numpy(), dtype=float)


def year_end_forecast(
    now: pd.DataFrame,
    *,
    ratios: pd.Series,
    history: pd.DataFrame,
    elapsed_days: int,
    year_days: int,
    maximum_hundredths: int,
) -> pd.DataFrame:
    """now: practice_code, points_hundredths, payment_pence at the latest in-year run. ratios: growth_ratios
    over every practice with last-year figures (empty without a last year). history: practice_code, day,
    points_hundredths of this year's in-year runs (for the trend). Returns FORECAST_COLUMNS per practice."""
    codes = now["practice_code"].to_numpy(dtype=object)
    points = now["points_hundredths"].to_numpy(dtype=float)
    payment = now["payment_pence"].to_numpy(dtype=float)
    n = len(codes)
    method = np.full(n, HELD, dtype=object)
    ratio = np.full((3, n), np.nan)
    forecast = np.tile(points, (3, 1))

    if len(ratios):
        low, median, high = np.quantile(ratios.to_numpy(), [LOW_QUANTILE, 0.5, HIGH_QUANTILE])
        own = ratios.reindex(codes).to_numpy(dtype=float)
        has_own = ~np.isnan(own)
        central = np.where(has_own, own, median)
        ratio = np.vstack([np.minimum(low, central), central, np.maximum(high, central)])
        method = np.where(has_own, OWN_PATTERN, NATIONAL_PATTERN).astype(object)
        forecast = points * ratio
    else:
        slope, fastest, runs = _trend(history, codes)
        remaining = max(year_days - elapsed_days, 0)
        trending = runs >= 2
        central = points + slope * remaining
        forecast = np.where(
            trending,
            np.vstack(
                [np.minimum(points, central), central, np.maximum(points + fastest * remaining, central)]
            ),
            forecast,
        )
        method = np.where(trending, TREND, HELD).astype(object)

    hundredths = np.clip(np.floor(forecast + 0.5), 0, maximum_hundredths).astype(np.int64)
    per_point = np.divide(payment, points, out=np.zeros(n), where=points > 0)
    pence = np.floor(hundredths * per_point + 0.5).astype(np.int64)
    return pd.DataFrame(
        {
            "practice_code": codes,
            "method": method,
            "ratio_low": ratio[0],
            "ratio_central": ratio[1],
            "ratio_high": ratio[2],
            "points_low": hundredths[0],
            "points_central": hundredths[1],
            "points_high": hundredths[2],
            "payment_low": pence[0],
            "payment_central": pence[1],
            "payment_high": pence[2],
        },
        columns=list(FORECAST_COLUMNS),
    )


def _trend(history: pd.DataFrame, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per practice: least-squares slope of points over days, the fastest pace between consecutive runs
    (never below 0), and the number of runs; all vectorised by group sums."""
    if history.empty:
        zeros = np.zeros(len(codes))
        return zeros, zeros, zeros
    frame = history.sort_values(["practice_code", "day"]).assign(
        x=lambda f: f["day"].astype(float), y=lambda f: f["points_hundredths"].astype(float)
    )
    frame = frame.assign(xy=frame["x"] * frame["y"], xx=frame["x"] ** 2)
    sums = frame.groupby("practice_code")[["x", "y", "xy", "xx"]].sum()
    count = frame.groupby("practice_code").size()
    spread = count * sums["xx"] - sums["x"] ** 2
    slope = ((count * sums["xy"] - sums["x"] * sums["y"]) / spread.where(spread > 0)).fillna(0.0)
    same = frame["practice_code"].eq(frame["practice_code"].shift())
    days = frame["x"].diff().where(same)
    pace = (frame["y"].diff().where(same) / days.where(days > 0)).groupby(frame["practice_code"]).max()
    fastest = pace.clip(lower=0).fillna(0.0)
    return (
        slope.reindex(codes).fillna(0.0).to_numpy(),
        fastest.reindex(codes).fillna(0.0).to_numpy(),
        count.reindex(codes).fillna(0).to_numpy(),
    )
