"""The 2026/27 childhood-vaccination improvement route (shared/reference/qof_2026_27_improvement_route.md).

For each practice and each indicator the rule names, the practice is paid the higher of its points on the
standard thresholds and its points for improvement against its own two-year baseline (K4, decided per
indicator: U9). The published rule is incomplete, so every constant is a year-versioned parameter read
from data with its provenance (participation.RuleParameter); nothing unknown is written here. What the
code does fix, and the ADR (0015) records as our reading until the SFE amendment is read:
- the improvement scale is linear between the lower and upper improvement thresholds (U6), as QOF's is;
- a practice without a valid baseline (either baseline year missing, or a baseline denominator of 0) has
  no improvement route and is paid on the standard route (U8);
- improvement points are rounded half-up to hundredths from the exact value, as standard points are (U10).

Arithmetic is exact (fractions of integers); the rows are three indicators per practice, so a national
year is about 20,000 rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import numpy as np
import pandas as pd

from .qof import QofResult, YearParameters, payment_pence

BASELINE_METHODS = ("mean_of_rates", "pooled")
PARAMETER_NAMES = (
    "indicators",
    "baseline_years",
    "baseline_method",
    "baseline_places",
    "lower_improvement_pp",
    "upper_improvement_pp",
    "improvement_max_share",
    "cap_at_standard_upper",
)


@dataclass(frozen=True)
class ImprovementRoute:
    indicators: tuple[str, ...]
    # Start years of the two baseline financial years (2024 for 2024/25).
    baseline_years: tuple[int, int]
    baseline_method: str
    # Decimal places the baseline percentage is rounded half-up to; None: not rounded.
    baseline_places: int | None
    lower_improvement_pp: Fraction
    upper_improvement_pp: Fraction
    improvement_max_share: Fraction
    cap_at_standard_upper: bool


class RouteParameterError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _financial_year(text: str) -> int:
    start = text[:4]
    if len(text) != 7 or not start.isdigit() or text[4:] != f"/{(int(start) + 1) % 100:02d}":
        raise ValueError(f"{text!r} is not a financial year such as 2024/25")
    return int(start)


def _fraction(text: str) -> Fraction:
    try:
        return Fraction(Decimal(text))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{text!r} is not a number") from None


def parse_improvement_route(values: Mapping[str, str]) -> ImprovementRoute:
    """The route from its parameters as text (name → value), checked as a whole: every problem is named."""
    problems = [f"{name}: missing" for name in PARAMETER_NAMES if name not in values]
    problems += [f"{name}: not a parameter of this rule" for name in values if name not in PARAMETER_NAMES]
    if problems:
        raise RouteParameterError(problems)
    parsed = {}

    def read(name, parse):
        try:
            parsed[name] = parse(values[name].strip())
        except ValueError as error:
            problems.append(f"{name}: {error}")

    read("indicators", lambda text: tuple(text.split()) or _fail("no indicator named"))
    read("baseline_years", _baseline_years)
    read(
        "baseline_method", lambda text: text if text in BASELINE_METHODS else _fail(_one_of(BASELINE_METHODS))
    )
    read("baseline_places", lambda text: None if text == "none" else _places(text))
    read("lower_improvement_pp", _fraction)
    read("upper_improvement_pp", _fraction)
    read("improvement_max_share", _fraction)
    read("cap_at_standard_upper", _yes_no)
    if not problems:
        if not 0 <= parsed["lower_improvement_pp"] < parsed["upper_improvement_pp"]:
            problems.append("upper_improvement_pp: must be above lower_improvement_pp, which is 0 or more")
        if not 0 < parsed["improvement_max_share"] <= 1:
            problems.append("improvement_max_share: must be above 0 and at most 1")
    if problems:
        raise RouteParameterError(problems)
    return ImprovementRoute(**parsed)


def _fail(message: str):
    raise ValueError(message)


def _one_of(choices) -> str:
    return f"must be one of {', '.join(choices)}"


def _yes_no(text: str) -> bool:
    if text not in ("yes", "no"):
        raise ValueError("must be yes or no")
    return text == "yes"


def _places(text: str) -> int:
    if not text.isdigit() or int(text) > 4:
        raise ValueError("must be none or a whole number of decimal places from 0 to 4")
    return int(text)


def _baseline_years(text: str) -> tuple[int, int]:
    years = tuple(sorted(_financial_year(part) for part in text.split()))
    if len(years) != 2 or years[0] == years[1]:
        raise ValueError("must name two different financial years, e.g. 2024/25 2025/26")
    return years


def _round_half_up(value: Fraction, places: int) -> Fraction:
    scale = 10**places
    scaled = value * scale
    return Fraction((2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator), scale)


def _baselines(baselines: pd.DataFrame, route: ImprovementRoute) -> dict[tuple[str, str], Fraction]:
    """(practice, indicator) → baseline percentage, for those with both baseline years and denominators."""
    first, second = route.baseline_years
    wanted = baselines[baselines["financial_year"].isin([first, second])]
    wide = wanted.pivot_table(
        index=["practice_code", "indicator_code"],
        columns="financial_year",
        values=["numerator", "denominator"],
        aggfunc="sum",
    )
    if wide.empty or first not in wide["denominator"] or second not in wide["denominator"]:
        return {}
    wide = wide.dropna()
    n1, n2 = wide["numerator"][first].astype("int64"), wide["numerator"][second].astype("int64")
    d1, d2 = wide["denominator"][first].astype("int64"), wide["denominator"][second].astype("int64")
    valid = (d1 > 0) & (d2 > 0)
    result = {}
    for key, a, b, c, d in zip(wide.index[valid], n1[valid], d1[valid], n2[valid], d2[valid], strict=True):
        if route.baseline_method == "pooled":
            baseline = Fraction(100 * (int(a) + int(c)), int(b) + int(d))
        else:
            baseline = (Fraction(100 * int(a), int(b)) + Fraction(100 * int(c), int(d))) / 2
        if route.baseline_places is not None:
            baseline = _round_half_up(baseline, route.baseline_places)
        result[key] = baseline
    return result


def apply_improvement_route(
    standard: pd.DataFrame, baselines: pd.DataFrame, route: ImprovementRoute
) -> pd.DataFrame:
    """Points as the higher of the standard and improvement routes, for the route's indicators.

    standard: practice_code, indicator_code, numerator, denominator, points_hundredths (standard route),
    max_points (Decimal), upper_threshold (Decimal, percent). Rows of other indicators pass unchanged.
    baselines: practice_code, indicator_code, financial_year (start year), numerator, denominator.
    Returns ``standard`` with standard_points_hundredths, improvement_points_hundredths, baseline,
    improvement_lower, improvement_upper (Decimal percent or None) and route ("standard"/"improvement")
    added, and points_hundredths the points paid.
    """
    result = standard.copy()
    known = _baselines(baselines, route)
    count = len(result)
    improvement = np.zeros(count, dtype=np.int64)
    shown_baseline = np.full(count, None, dtype=object)
    shown_lower = np.full(count, None, dtype=object)
    shown_upper = np.full(count, None, dtype=object)
    in_route = result["indicator_code"].isin(route.indicators).to_numpy()
    columns = [result[name].to_numpy() for name in ("practice_code", "indicator_code", "numerator")]
    denominators = result["denominator"].to_numpy()
    maxima = result["max_points"].to_numpy()
    uppers = result["upper_threshold"].to_numpy()
    for position in np.flatnonzero(in_route):
        practice, indicator, numerator = (column[position] for column in columns)
        baseline = known.get((practice, indicator))
        if baseline is None:
            continue
        lower = baseline + route.lower_improvement_pp
        upper = baseline + route.upper_improvement_pp
        if route.cap_at_standard_upper:
            standard_upper = Fraction(Decimal(str(uppers[position])))
            lower, upper = min(lower, standard_upper), min(upper, standard_upper)
        shown_baseline[position] = _as_decimal(baseline)
        shown_lower[position], shown_upper[position] = _as_decimal(lower), _as_decimal(upper)
        denominator = int(denominators[position])
        if denominator == 0 or lower >= upper:
            continue
        achievement = Fraction(100 * int(numerator), denominator)
        share = min(max((achievement - lower) / (upper - lower), Fraction(0)), Fraction(1))
        points = Fraction(Decimal(str(maxima[position]))) * route.improvement_max_share * share
        improvement[position] = int(_round_half_up(points, 2) * 100)
    standard_points = result["points_hundredths"].to_numpy(dtype=np.int64)
    result["standard_points_hundredths"] = standard_points
    result["improvement_points_hundredths"] = improvement
    result["baseline"] = shown_baseline
    result["improvement_lower"] = shown_lower
    result["improvement_upper"] = shown_upper
    wins = improvement > standard_points
    result["route"] = np.where(wins, "improvement", "standard")
    result["points_hundredths"] = np.maximum(standard_points, improvement)
    return result


def _as_decimal(value: Fraction) -> Decimal:
    """A percentage to show, to four places (the exact value is what the points use)."""
    return Decimal(int(_round_half_up(value, 4) * 10_000)).scaleb(-4)


def improve_qof_result(
    result: QofResult,
    ruleset: pd.DataFrame,
    practices: pd.DataFrame,
    parameters: YearParameters,
    baselines: pd.DataFrame,
    route: ImprovementRoute,
) -> QofResult:
    """A QOF year's result with the route's indicators paid on the higher route, repriced exactly.

    result: calculate_qof's result; ruleset, practices and parameters: what it was calculated from.
    The route's indicators must not be prevalence adjusted (the VI indicators never are): a higher route
    changes only points, and the payment is points × £ per point × CPI, rounded half-up from the points.
    Adds to the indicator rows standard_points_hundredths, improvement_points_hundredths, baseline,
    improvement_lower, improvement_upper and route.
    """
    rules = ruleset.set_index("indicator_code")
    in_route = [code for code in route.indicators if code in rules.index]
    if rules.loc[in_route, "prevalence_adjusted"].astype(bool).any():
        raise ValueError("the improvement route is defined for indicators that are not prevalence adjusted")
    indicators = result.indicators
    standard = indicators.assign(
        numerator=indicators["numerator"].fillna(0).astype(np.int64),
        denominator=indicators["denominator"].fillna(0).astype(np.int64),
        max_points=indicators["indicator_code"].map(rules["points"]),
        upper_threshold=indicators["indicator_code"].map(rules["upper_threshold"]),
    )
    improved = apply_improvement_route(standard, baselines, route)
    changed = improved["route"].to_numpy() == "improvement"
    points = improved["points_hundredths"].to_numpy(dtype=np.int64)
    payment = indicators["payment_pence"].to_numpy(dtype=np.int64).copy()
    if changed.any():
        list_cpi = indicators["practice_code"].map(practices.set_index("practice_code")["list_size_cpi"])
        ones = np.ones(int(changed.sum()), dtype=np.int64)
        payment[changed] = payment_pence(
            points[changed],
            list_cpi.to_numpy(dtype=np.int64)[changed],
            parameters,
            ([ones, ones], [ones, ones]),
        )
    shown = ["standard_points_hundredths", "improvement_points_hundredths", "baseline"]
    shown += ["improvement_lower", "improvement_upper", "route"]
    indicators = indicators.assign(
        points_hundredths=points, payment_pence=payment, **{c: improved[c] for c in shown}
    )
    totals = (
        indicators.groupby("practice_code", sort=False)[["points_hundredths", "payment_pence"]]
        .sum()
        .reindex(result.practice_totals["practice_code"])
        .reset_index()
    )
    return QofResult(indicators=indicators, practice_totals=totals, prevalence=result.prevalence)
