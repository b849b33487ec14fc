"""QOF year-end achievement and payments (DOMAIN.md §4), vectorised over every practice × indicator.

Inputs are frames; nothing here reads files or touches Django. Points are carried as int64 hundredths
(``points_hundredths``) and money as int64 pence (``*_pence``): both exact, and converted to Decimal only at
the boundaries (see rounding.hundredths_to_decimal). CPI, APDF, achievement and PCA rate are floats because
they are reported, never used as inputs to a rounded figure: payments are computed from the integers they
are made of.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from .rounding import decimal_to_scaled_int, round_half_up_quotient
from .ruleset import DECIMAL_PLACES, INFORMATION, MANUAL, PERCENTAGE, REGISTER, register_source_indicators

SCALE = 10**DECIMAL_PLACES

PREVALENCE_COLUMNS = ("group_code", "register_total", "population_total", "national_prevalence")


@dataclass(frozen=True)
class YearParameters:
    """Money parameters of a service year. ``manual_default`` is what a missing manual answer counts as."""

    point_value: Decimal
    average_list_size: Decimal
    manual_default: bool = False


@dataclass(frozen=True)
class QofResult:
    """indicators: one row per practice × indicator; practice_totals: one per practice; prevalence: the
    national figures used (pass it back as ``prevalence=`` to recalculate single practices identically)."""

    indicators: pd.DataFrame
    practice_totals: pd.DataFrame
    prevalence: pd.DataFrame


@dataclass(frozen=True)
class _Grid:
    """Dense practice-major layout: row r is practice r // n_indicators, indicator r % n_indicators."""

    practice_codes: np.ndarray
    indicator_codes: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.practice_codes), len(self.indicator_codes)

    @property
    def size(self) -> int:
        return len(self.practice_codes) * len(self.indicator_codes)

    def positions(self, practice_codes: pd.Series, indicator_codes: pd.Series, what: str) -> np.ndarray:
        practice = pd.Categorical(practice_codes, categories=self.practice_codes).codes.astype(np.int64)
        indicator = pd.Categorical(indicator_codes, categories=self.indicator_codes).codes.astype(np.int64)
        if (practice < 0).any() or (indicator < 0).any():
            unknown = pd.DataFrame({"practice": practice_codes, "indicator": indicator_codes})[
                (practice < 0) | (indicator < 0)
            ]
            raise ValueError(
                f"{what} names practices or indicators outside the calculation: {unknown.head(5)}"
            )
        return practice * len(self.indicator_codes) + indicator

    def per_indicator(self, values: np.ndarray) -> np.ndarray:
        return np.tile(np.asarray(values), len(self.practice_codes))

    def per_practice(self, values: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(values), len(self.indicator_codes))


def _ints(values: pd.Series, what: str) -> np.ndarray:
    array = pd.to_numeric(values, errors="raise").to_numpy()
    if array.dtype.kind not in "iu":
        raise ValueError(f"{what} must be whole numbers")
    return array.astype(np.int64)


def _fraction(value: Decimal | int | str) -> Fraction:
    return Fraction(Decimal(str(value)))


def _sorted_practices(practices: pd.DataFrame) -> pd.DataFrame:
    practices = practices.sort_values("practice_code", kind="stable").reset_index(drop=True)
    if practices["practice_code"].duplicated().any():
        raise ValueError("practices must be unique")
    return practices


def _dense(grid: _Grid, positions: np.ndarray, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Scatter a nullable integer column onto the grid: (values with 0 for missing, present mask)."""
    dense = np.zeros(grid.size, dtype=np.int64)
    present = np.zeros(grid.size, dtype=bool)
    mask = values.notna().to_numpy()
    dense[positions[mask]] = values[mask].to_numpy(dtype=np.int64)
    present[positions[mask]] = True
    return dense, present


def national_prevalence(ruleset: pd.DataFrame, values: pd.DataFrame, practices: pd.DataFrame) -> pd.DataFrame:
    """NP_g = Σ register_g / Σ registered population over every practice in ``practices`` (ratio of totals).

    The totals are kept as integers so that APDF, and hence payments, can be recomputed exactly later.
    """
    practices = _sorted_practices(practices)
    sources = register_source_indicators(ruleset)
    rows = values[values["indicator_code"].isin(sources["indicator_code"])]
    rows = rows[rows["practice_code"].isin(practices["practice_code"])]
    by_indicator = rows.groupby("indicator_code", observed=True)["register"].sum()
    register_total = sources["indicator_code"].map(by_indicator).fillna(0).astype(np.int64).to_numpy()
    population_total = int(_ints(practices["list_size_prevalence"], "list_size_prevalence").sum())
    return pd.DataFrame(
        {
            "group_code": sources["group_code"].to_numpy(),
            "register_total": register_total,
            "population_total": np.full(len(sources), population_total, dtype=np.int64),
            "national_prevalence": register_total / max(population_total, 1),
        }
    )


def calculate_qof(
    ruleset: pd.DataFrame,
    values: pd.DataFrame,
    practices: pd.DataFrame,
    parameters: YearParameters,
    *,
    prevalence: pd.DataFrame | None = None,
    manual_answers: pd.DataFrame | None = None,
    base_year_points: pd.DataFrame | None = None,
    indicator_mapping: dict[str, str] | None = None,
) -> QofResult:
    """Achievement, points and payments for every practice in ``practices`` × every ruleset indicator.

    ruleset: a validated ruleset frame (ruleset.validate_ruleset).
    values: practice_code, indicator_code, register, numerator, denominator, pcas (nullable ints) and
        manual_answer (nullable bool), one row per practice × indicator, as extract.parse_extract returns.
    practices: practice_code, list_size_cpi, list_size_prevalence.
    prevalence: frozen national figures from an earlier national run; computed from these practices if None.
    manual_answers: practice_code, indicator_code, answer (bool): overrides the extract's Yes/No flags.
    base_year_points: practice_code, indicator_code (base-year code), achieved_points (Decimal, 2 places)
        for the ruleset's income-protected indicators; ``indicator_mapping`` maps this year's code to the
        base year's where it changed.
    """
    practices = _sorted_practices(practices)
    grid = _Grid(
        practices["practice_code"].to_numpy(dtype=object), ruleset["indicator_code"].to_numpy(dtype=object)
    )
    if prevalence is None:
        prevalence = national_prevalence(ruleset, values, practices)

    positions = grid.positions(values["practice_code"], values["indicator_code"], "values")
    register, has_register = _dense(grid, positions, values["register"])
    numerator, has_numerator = _dense(grid, positions, values["numerator"])
    denominator, has_denominator = _dense(grid, positions, values["denominator"])
    pcas, has_pcas = _dense(grid, positions, values["pcas"])
    if (has_numerator & (numerator > denominator)).any() or (numerator < 0).any():
        raise ValueError("values must satisfy 0 <= numerator <= denominator")
    answer = _manual_answers(grid, positions, values, manual_answers, parameters.manual_default)

    kind = grid.per_indicator(ruleset["kind"].to_numpy(dtype=object))
    full = _full_points_hundredths(ruleset)
    points = np.zeros(grid.size, dtype=np.int64)
    points = np.where(kind == PERCENTAGE, _percentage_points(ruleset, grid, numerator, denominator), points)
    points = np.where((kind == REGISTER) & (register > 0), grid.per_indicator(full), points)
    points = np.where((kind == MANUAL) & answer, grid.per_indicator(full), points)
    points = np.where(kind == INFORMATION, 0, points)

    protected = np.zeros(grid.size, dtype=bool)
    if base_year_points is not None:
        points, protected = _income_protection(
            ruleset, grid, points, base_year_points, indicator_mapping or {}
        )

    apdf_factors = _apdf_factors(ruleset, grid, practices, prevalence, register)
    list_cpi = grid.per_practice(_ints(practices["list_size_cpi"], "list_size_cpi"))
    payment = payment_pence(points, list_cpi, parameters, apdf_factors)

    average = _fraction(parameters.average_list_size)
    cpi = list_cpi * (average.denominator / average.numerator)
    apdf = (apdf_factors[0][0] * apdf_factors[0][1]) / (apdf_factors[1][0] * apdf_factors[1][1])
    percentage = kind == PERCENTAGE
    with np.errstate(divide="ignore", invalid="ignore"):
        achievement = 100 * numerator / denominator
        pca_rate = pcas / (denominator + pcas)
    indicators = pd.DataFrame(
        {
            "practice_code": grid.per_practice(grid.practice_codes),
            "indicator_code": grid.per_indicator(grid.indicator_codes),
            "group_code": grid.per_indicator(ruleset["group_code"].to_numpy(dtype=object)),
            "kind": kind,
            "register": pd.arrays.IntegerArray(register, ~has_register),
            "numerator": pd.arrays.IntegerArray(numerator, ~has_numerator | protected),
            "denominator": pd.arrays.IntegerArray(denominator, ~has_denominator | protected),
            "pcas": pd.arrays.IntegerArray(pcas, ~has_pcas),
            "pca_rate": pd.arrays.FloatingArray(
                np.nan_to_num(pca_rate), ~has_pcas | ~has_denominator | (denominator + pcas == 0)
            ),
            "achievement": pd.arrays.FloatingArray(
                np.nan_to_num(achievement), ~percentage | ~has_denominator | (denominator == 0) | protected
            ),
            "manual_answer": pd.arrays.BooleanArray(answer, kind != MANUAL),
            "income_protected": protected,
            "points_hundredths": points,
            "cpi": cpi,
            "apdf": apdf,
            "payment_pence": payment,
        }
    )
    totals = pd.DataFrame(
        {
            "practice_code": grid.practice_codes,
            "points_hundredths": points.reshape(grid.shape).sum(axis=1),
            "payment_pence": payment.reshape(grid.shape).sum(axis=1),
        }
    )
    return QofResult(indicators=indicators, practice_totals=totals, prevalence=prevalence)


def _full_points_hundredths(ruleset: pd.DataFrame) -> np.ndarray:
    return round_half_up_quotient([scaled_column(ruleset, "points"), 100], [SCALE])


def scaled_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Points or thresholds × SCALE as int64 (0 where blank). Each distinct value is converted once: a frame
    of many practices' lines repeats the ruleset's few values."""
    codes, distinct = pd.factorize(frame[column], use_na_sentinel=False)
    scaled = np.array(
        [0 if pd.isna(value) else decimal_to_scaled_int(value, DECIMAL_PLACES) for value in distinct],
        dtype=np.int64,
    )
    return scaled[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def _percentage_points(
    ruleset: pd.DataFrame, grid: _Grid, numerator: np.ndarray, denominator: np.ndarray
) -> np.ndarray:
    return percentage_points_hundredths(
        numerator,
        denominator,
        maximum=grid.per_indicator(scaled_column(ruleset, "points")),
        lower=grid.per_indicator(scaled_column(ruleset, "lower_threshold")),
        upper=grid.per_indicator(scaled_column(ruleset, "upper_threshold")),
    )


def percentage_points_hundredths(
    numerator: np.ndarray,
    denominator: np.ndarray,
    *,
    maximum: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray:
    """points = G × clamp((100N/D − LT) / (UT − LT), 0, 1), in hundredths, rounded half-up exactly.

    ``maximum``, ``lower`` and ``upper`` are G, LT and UT × SCALE (scaled_column). With thresholds scaled the
    fraction is (100·N·SCALE − lt·D) / (D·(ut − lt)); clamping that numerator to [0, D·(ut − lt)] in
    integers keeps the clamp exact too. D = 0 scores 0.
    """
    numerator = np.asarray(numerator, dtype=np.int64)
    denominator = np.asarray(denominator, dtype=np.int64)
    span = np.where(upper > lower, upper - lower, 1)
    safe_denominator = np.maximum(denominator, 1)
    above_lower = 100 * SCALE * numerator - lower * denominator
    clamped = np.clip(above_lower, 0, denominator * span)
    return round_half_up_quotient([maximum, 100, clamped], [SCALE, safe_denominator, span])


def payment_pence(
    points_hundredths: np.ndarray,
    list_size_cpi: np.ndarray,
    parameters: YearParameters,
    apdf_factors: tuple[list[np.ndarray], list[np.ndarray]],
) -> np.ndarray:
    """points × £ per point × CPI × APDF in pence, rounded half-up exactly from the rounded points.

    ``apdf_factors`` is ([R, ΣP], [P, ΣR]) per row (all 1 where the line is not prevalence adjusted).
    """
    point_value = _fraction(parameters.point_value)
    average = _fraction(parameters.average_list_size)
    return round_half_up_quotient(
        [points_hundredths, point_value.numerator, list_size_cpi, average.denominator, *apdf_factors[0]],
        [point_value.denominator, average.numerator, *apdf_factors[1]],
    )


def _manual_answers(
    grid: _Grid,
    positions: np.ndarray,
    values: pd.DataFrame,
    overrides: pd.DataFrame | None,
    default: bool,
) -> np.ndarray:
    answer = np.full(grid.size, default, dtype=bool)
    if "manual_answer" in values.columns:
        given = values["manual_answer"].notna().to_numpy()
        answer[positions[given]] = values["manual_answer"][given].to_numpy(dtype=bool)
    if overrides is not None and len(overrides):
        override_positions = grid.positions(
            overrides["practice_code"], overrides["indicator_code"], "manual answers"
        )
        answer[override_positions] = overrides["answer"].to_numpy(dtype=bool)
    return answer


def _income_protection(
    ruleset: pd.DataFrame,
    grid: _Grid,
    points: np.ndarray,
    base_year_points: pd.DataFrame,
    indicator_mapping: dict[str, str],
) -> tuple[np.ndarray, np.ndarray]:
    """Credit base-year points to protected indicators; a practice without a base-year result keeps its
    conditional points."""
    protected_codes = ruleset.loc[ruleset["income_protected"], "indicator_code"]
    base_codes = pd.DataFrame(
        {
            "indicator_code": protected_codes,
            "base_code": protected_codes.map(lambda c: indicator_mapping.get(c, c)),
        }
    )
    credited = base_codes.merge(
        base_year_points.rename(columns={"indicator_code": "base_code"}), on="base_code", how="inner"
    )
    credited = credited[credited["practice_code"].isin(grid.practice_codes)]
    positions = grid.positions(credited["practice_code"], credited["indicator_code"], "base-year points")
    base_points = np.array(
        [decimal_to_scaled_int(value, 2) for value in credited["achieved_points"]], dtype=np.int64
    )
    points = points.copy()
    points[positions] = base_points
    protected = np.zeros(grid.size, dtype=bool)
    protected[positions] = True
    return points, protected


def _apdf_factors(
    ruleset: pd.DataFrame,
    grid: _Grid,
    practices: pd.DataFrame,
    prevalence: pd.DataFrame,
    register: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """APDF_g = (R / P) / (ΣR / ΣP) as integer factors ([R, ΣP], [P, ΣR]); 1 where not prevalence adjusted.

    R is the practice's group register, read from the group's register-source indicator. A group with no
    register anywhere nationally has APDF 0 (its registers are all 0, so nothing is owed for it).
    """
    sources = register_source_indicators(ruleset)
    source_position = (
        pd.Series(np.arange(len(grid.indicator_codes)), index=grid.indicator_codes)
        .reindex(sources["indicator_code"])
        .to_numpy()
    )
    # A trailing zero column and unit totals stand in for indicators whose group has no register.
    group_register = np.column_stack(
        [register.reshape(grid.shape)[:, source_position], np.zeros(len(grid.practice_codes), dtype=np.int64)]
    )
    group_of_indicator = pd.Categorical(ruleset["group_code"], categories=sources["group_code"]).codes
    adjusted = ruleset["prevalence_adjusted"].to_numpy(dtype=bool) & (group_of_indicator >= 0)

    national = prevalence.set_index("group_code").reindex(sources["group_code"])
    if national["register_total"].isna().any():
        raise ValueError("prevalence lacks groups the ruleset needs")
    register_total = np.append(national["register_total"].to_numpy(dtype=np.int64), 1)
    population_total = np.append(national["population_total"].to_numpy(dtype=np.int64), 1)
    population = _ints(practices["list_size_prevalence"], "list_size_prevalence")

    safe_group = np.where(group_of_indicator >= 0, group_of_indicator, len(sources))
    practice_register = np.where(adjusted, group_register[:, safe_group], 1).ravel()
    national_register = grid.per_indicator(np.where(adjusted, register_total[safe_group], 1))
    national_population = grid.per_indicator(np.where(adjusted, population_total[safe_group], 1))
    practice_population = np.where(grid.per_indicator(adjusted), grid.per_practice(population), 1)
    no_national_register = national_register == 0
    practice_register = np.where(no_national_register, 0, practice_register)
    national_register = np.where(no_national_register, 1, national_register)
    return [practice_register, national_population], [practice_population, national_register]
