"""A service year's ruleset as a frame: one row per indicator, validated before any calculation uses it.

Columns (as in fixtures/reference/qof_2023_24_indicators.csv): indicator_code, group_code,
group_description, domain_code, points, kind, carries_register, patient_list, additional_patient_list,
prevalence_adjusted, lower_threshold, upper_threshold, threshold_confidence; optionally income_protected.
After validation points and thresholds are Decimals (thresholds None outside percentage indicators),
flags are bools and kind is one of KINDS.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pandas as pd

from .errors import ProblemCollector

REGISTER = "register"
PERCENTAGE = "percentage"
MANUAL = "manual"
INFORMATION = "management_information"  # collected, reported, never paid (as participation.Indicator)
KINDS = (REGISTER, PERCENTAGE, MANUAL, INFORMATION)

RULESET_COLUMNS = (
    "indicator_code",
    "group_code",
    "group_description",
    "domain_code",
    "points",
    "kind",
    "carries_register",
    "patient_list",
    "additional_patient_list",
    "prevalence_adjusted",
    "lower_threshold",
    "upper_threshold",
    "threshold_confidence",
)
OPTIONAL_COLUMNS = ("income_protected",)

# Points and thresholds are scaled to integers with this many places for exact arithmetic.
DECIMAL_PLACES = 4
MAX_POINTS = Decimal(1000)


def validate_ruleset(frame: pd.DataFrame, source: str = "ruleset", first_line: int = 2) -> pd.DataFrame:
    """Check a ruleset frame and return it normalised; raise InputError naming line and column.

    ``first_line`` is the file line of the frame's first row (2 for a CSV with a header).
    """
    problems = ProblemCollector(source)
    missing = [column for column in RULESET_COLUMNS if column not in frame.columns]
    if missing:
        problems.add(1, ",".join(missing), "missing column(s)")
        problems.raise_if_any()

    rows = frame.reset_index(drop=True).copy()
    if "income_protected" not in rows.columns:
        rows["income_protected"] = "0"
    text = rows.astype(object).where(rows.notna(), "").map(lambda value: str(value).strip())
    records = []
    seen_codes: dict[str, int] = {}
    for position, row in enumerate(text.itertuples(index=False)):
        line = first_line + position
        record = _validate_indicator(row._asdict(), line, problems)
        code = record["indicator_code"]
        if code in seen_codes:
            problems.add(line, "indicator_code", f"{code} already defined on line {seen_codes[code]}")
        seen_codes.setdefault(code, line)
        records.append(record)
    _check_groups(records, first_line, problems)
    problems.raise_if_any()
    return pd.DataFrame.from_records(records, columns=[*RULESET_COLUMNS, *OPTIONAL_COLUMNS])


def _validate_indicator(row: dict[str, str], line: int, problems: ProblemCollector) -> dict:
    for column in ("indicator_code", "group_code", "kind", "patient_list"):
        if not row[column]:
            problems.add(line, column, "is blank")
    kind = row["kind"].lower()
    if row["kind"] and kind not in KINDS:
        problems.add(line, "kind", f"{row['kind']!r} is not one of {', '.join(KINDS)}")
    points = _decimal(row, "points", line, problems, required=True)
    if points is not None and not (0 <= points <= MAX_POINTS):
        problems.add(line, "points", f"{points} is outside 0..{MAX_POINTS}")
    if kind == INFORMATION and points:
        problems.add(line, "points", "management information indicators carry no points")
    flags = {
        column: _flag(row, column, line, problems)
        for column in ("carries_register", "prevalence_adjusted", "income_protected")
    }
    if flags["carries_register"] and kind != PERCENTAGE:
        problems.add(line, "carries_register", "only percentage indicators carry their group's register")

    lower = upper = None
    if kind == PERCENTAGE:
        lower = _decimal(row, "lower_threshold", line, problems, required=True)
        upper = _decimal(row, "upper_threshold", line, problems, required=True)
        if lower is not None and upper is not None and not (0 <= lower < upper <= 100):
            problems.add(
                line, "upper_threshold", f"thresholds {lower}..{upper} must satisfy 0 <= lower < upper <= 100"
            )
    return {
        **row,
        "kind": kind,
        "points": points,
        "lower_threshold": lower,
        "upper_threshold": upper,
        **flags,
    }


def _decimal(row: dict[str, str], column: str, line: int, problems: ProblemCollector, required: bool):
    text = row[column]
    if not text:
        if required:
            problems.add(line, column, "is blank")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        problems.add(line, column, f"{text!r} is not a number")
        return None
    if not value.is_finite() or value != value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES)):
        problems.add(line, column, f"{text!r} has more than {DECIMAL_PLACES} decimal places")
        return None
    return value


def _flag(row: dict[str, str], column: str, line: int, problems: ProblemCollector) -> bool:
    text = row[column] or "0"
    if text not in ("0", "1"):
        problems.add(line, column, f"{text!r} must be 0 or 1")
    return text == "1"


def _check_groups(records: list[dict], first_line: int, problems: ProblemCollector) -> None:
    """A group's register comes from exactly one indicator, and only groups with one can be adjusted."""
    register_source: dict[str, int] = {}
    for position, record in enumerate(records):
        if record["kind"] == REGISTER or record["carries_register"]:
            line = first_line + position
            group = record["group_code"]
            if group in register_source:
                problems.add(
                    line,
                    "group_code",
                    f"group {group} already has a register (line {register_source[group]})",
                )
            register_source.setdefault(group, line)
    for position, record in enumerate(records):
        if record["prevalence_adjusted"] and record["group_code"] not in register_source:
            problems.add(
                first_line + position,
                "prevalence_adjusted",
                f"group {record['group_code']} has no register, so cannot be prevalence adjusted",
            )


def register_source_indicators(ruleset: pd.DataFrame) -> pd.DataFrame:
    """The indicator whose register field is its group's register: group_code, indicator_code."""
    source = ruleset[(ruleset["kind"] == REGISTER) | ruleset["carries_register"]]
    return source[["group_code", "indicator_code", "patient_list"]].reset_index(drop=True)
