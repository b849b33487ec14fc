"""One line of a result explained from its inputs, in exact fractions (DOMAIN.md §4), and "what if".

`qof.calculate_qof` calculates every practice × indicator at once, in integers. This module calculates one
line again, on its own, with Python's exact `Fraction`s, and keeps every step a reader may want to see: the
achievement, where it lies between the thresholds, the points before rounding, CPI, APDF, the value of a point
at this practice, and the payment before rounding. The two must agree to the hundredth of a point and to the
penny (a property test holds this for every result of a run), so the explanation a practice reads is the
calculation that paid it. Called with changed inputs, the same function answers "what if".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from .qof import YearParameters
from .ruleset import INFORMATION, MANUAL, PERCENTAGE, REGISTER

# A count above this is not a practice's: what-if input is refused beyond it (the extract's own bound).
MAX_COUNT = 10**9


class Outcome(StrEnum):
    """Why the line earned what it did, in the words a reader needs."""

    INCOME_PROTECTED = "income_protected"
    NO_DENOMINATOR = "no_denominator"
    AT_OR_BELOW_LOWER = "at_or_below_lower"
    BETWEEN_THRESHOLDS = "between_thresholds"
    AT_OR_ABOVE_UPPER = "at_or_above_upper"
    REGISTER_HELD = "register_held"
    NO_REGISTER = "no_register"
    ANSWERED_YES = "answered_yes"
    ANSWERED_NO = "answered_no"
    NOT_PAID = "not_paid"


@dataclass(frozen=True)
class Rule:
    """The ruleset row: kind, maximum points G, thresholds LT and UT (percent), prevalence adjustment."""

    kind: str
    points: Decimal
    lower_threshold: Decimal | None = None
    upper_threshold: Decimal | None = None
    prevalence_adjusted: bool = False


@dataclass(frozen=True)
class Counts:
    """What the practice's data gave this line. `credited_points` are the base-year points of an
    income-protected line (they replace the calculation from this year's counts)."""

    numerator: int | None = None
    denominator: int | None = None
    register: int | None = None
    manual_answer: bool | None = None
    credited_points: Decimal | None = None


@dataclass(frozen=True)
class PracticeFactors:
    """The practice's list sizes (1 January for CPI; the achievement date for prevalence) and the register
    of the line's indicator group (for APDF)."""

    list_size_cpi: int
    list_size_prevalence: int
    group_register: int | None = None


@dataclass(frozen=True)
class National:
    """The frozen national totals of the line's group: Σ registers and Σ registered populations."""

    register_total: int
    population_total: int


@dataclass(frozen=True)
class Explanation:
    outcome: Outcome
    maximum: Fraction
    achievement: Fraction | None  # percent; None when there is no denominator
    share: Fraction | None  # how far from the lower to the upper threshold, clamped to [0, 1]
    points_exact: Fraction
    points: Decimal  # rounded half-up to 2 places from points_exact
    cpi: Fraction
    apdf: Fraction  # 1 for a line that is not prevalence adjusted
    practice_prevalence: Fraction | None  # register ÷ list size, for prevalence-adjusted lines
    national_prevalence: Fraction | None
    pounds_per_point: Fraction  # £ per point × CPI × APDF: what one point of this line pays here
    payment_exact: Fraction  # rounded points × pounds_per_point
    payment: Decimal  # rounded half-up to the penny

    @property
    def rounding(self) -> Fraction:
        """What rounding the points added (+) or took away (−)."""
        return Fraction(self.points) - self.points_exact


def round_half_up(value: Fraction, places: int = 2) -> Decimal:
    """Half-up rounding of a non-negative exact value: 2.675 → 2.68."""
    scale = 10**places
    return Decimal((value * scale + Fraction(1, 2)).__floor__()).scaleb(-places)


def check_counts(rule: Rule, counts: Counts) -> list[tuple[str, str]]:
    """(field, message) for counts no extract could hold: what a what-if form shows beside its fields."""
    problems = []
    for name in ("numerator", "denominator", "register"):
        value = getattr(counts, name)
        if value is not None and not 0 <= value <= MAX_COUNT:
            problems.append((name, f"must be a whole number from 0 to {MAX_COUNT:,}"))
    if rule.kind == PERCENTAGE and not problems:
        numerator, denominator = counts.numerator, counts.denominator
        if (numerator is None) != (denominator is None):
            problems.append(("denominator", "give both the numerator and the denominator, or neither"))
        elif numerator is not None and numerator > denominator:
            problems.append(("numerator", "cannot be more than the denominator"))
    return problems


def explain_line(
    rule: Rule,
    counts: Counts,
    practice: PracticeFactors,
    parameters: YearParameters,
    national: National | None = None,
) -> Explanation:
    """The points and payment of one line, every step exact. `national` is needed for prevalence-adjusted
    lines. Raises ValueError for counts that check_counts refuses."""
    problems = check_counts(rule, counts)
    if problems:
        raise ValueError("; ".join(f"{name} {message}" for name, message in problems))
    maximum = Fraction(rule.points)
    achievement = share = None
    if counts.credited_points is not None:
        outcome, points_exact = Outcome.INCOME_PROTECTED, Fraction(counts.credited_points)
    elif rule.kind == PERCENTAGE:
        outcome, achievement, share, points_exact = _percentage(rule, counts)
    elif rule.kind == REGISTER:
        held = bool(counts.register)
        outcome = Outcome.REGISTER_HELD if held else Outcome.NO_REGISTER
        points_exact = maximum if held else Fraction(0)
    elif rule.kind == MANUAL:
        outcome = Outcome.ANSWERED_YES if counts.manual_answer else Outcome.ANSWERED_NO
        points_exact = maximum if counts.manual_answer else Fraction(0)
    elif rule.kind == INFORMATION:
        outcome, points_exact = Outcome.NOT_PAID, Fraction(0)
    else:
        raise ValueError(f"unknown indicator kind {rule.kind!r}")

    points = round_half_up(points_exact)
    cpi = Fraction(practice.list_size_cpi) / Fraction(parameters.average_list_size)
    apdf, practice_prevalence, national_prevalence = _apdf(rule, practice, national)
    pounds_per_point = Fraction(parameters.point_value) * cpi * apdf
    payment_exact = Fraction(points) * pounds_per_point
    return Explanation(
        outcome=outcome,
        maximum=maximum,
        achievement=achievement,
        share=share,
        points_exact=points_exact,
        points=points,
        cpi=cpi,
        apdf=apdf,
        practice_prevalence=practice_prevalence,
        national_prevalence=national_prevalence,
        pounds_per_point=pounds_per_point,
        payment_exact=payment_exact,
        payment=round_half_up(payment_exact),
    )


def _percentage(rule: Rule, counts: Counts) -> tuple[Outcome, Fraction | None, Fraction | None, Fraction]:
    if not counts.denominator:
        return Outcome.NO_DENOMINATOR, None, None, Fraction(0)
    lower, upper = Fraction(rule.lower_threshold), Fraction(rule.upper_threshold)
    achievement = Fraction(100 * counts.numerator, counts.denominator)
    share = min(max((achievement - lower) / (upper - lower), Fraction(0)), Fraction(1))
    if achievement <= lower:
        outcome = Outcome.AT_OR_BELOW_LOWER
    elif achievement >= upper:
        outcome = Outcome.AT_OR_ABOVE_UPPER
    else:
        outcome = Outcome.BETWEEN_THRESHOLDS
    return outcome, achievement, share, Fraction(rule.points) * share


def _apdf(
    rule: Rule, practice: PracticeFactors, national: National | None
) -> tuple[Fraction, Fraction | None, Fraction | None]:
    """APDF = (R / P) / (ΣR / ΣP); 0 when the group has no register anywhere, as in qof._apdf_factors."""
    if not rule.prevalence_adjusted:
        return Fraction(1), None, None
    if national is None:
        raise ValueError("a prevalence-adjusted line needs the national totals of its group")
    register = practice.group_register or 0
    practice_prevalence = Fraction(register, practice.list_size_prevalence)
    if national.register_total == 0:
        return Fraction(0), practice_prevalence, Fraction(0)
    national_prevalence = Fraction(national.register_total, national.population_total)
    return practice_prevalence / national_prevalence, practice_prevalence, national_prevalence


def decimal_places(value: Fraction, places: int = 6) -> str:
    """An exact value written to `places` decimals (truncated, with … when it goes on): for showing the
    unrounded figures without pretending they end there."""
    scale = 10**places
    whole = value * scale
    truncated = whole.__floor__()
    text = f"{Decimal(truncated).scaleb(-places):f}"
    if whole != truncated:
        return text + "…"
    return text.rstrip("0").rstrip(".") if "." in text else text
