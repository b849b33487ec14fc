"""Validation of a CQRS field-level extract (DOMAIN.md §5), reduced to one row per practice × indicator.

The frame comes from readers.read_extract_frame: every column categorical, row i on file line i + 2. Rules
are checked on the (few) distinct values of each column and mapped back to rows through the category
codes, so a national extract of millions of rows costs a handful of array operations per rule.

Submissions: rows with LAST_SUBMISSION = N are older submissions kept for audit, superseded by the rows
with Y for the same practice and indicator. They must still be well-formed (service, date, practice,
value) but take no part in the calculation, the duplicate check, or the numerator ≤ denominator check. A
practice × indicator that has N rows but no Y row has lost its current submission, and is an error.

Besides the reduced values the parser returns the validated field rows themselves (``Extract.fields``, current
and superseded) so that they can be stored; ``reduce_fields`` turns stored current rows back into the same
reduced values.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import ProblemCollector
from .ruleset import INFORMATION, MANUAL, PERCENTAGE, REGISTER

EXTRACT_COLUMNS = (
    "QUALITY_SERVICE",
    "NAME",
    "ORG_CODE",
    "ACH_DATE",
    "IND_CODE",
    "FIELD_NAME",
    "VALUE",
    "DEFAULT_VALUES_USED",
    "SUBMIT_USER_ID",
    "SUBMIT_DATE",
    "SUBMIT_TIME",
    "LAST_SUBMISSION",
)
REQUIRED_COLUMNS = (
    "QUALITY_SERVICE",
    "ORG_CODE",
    "ACH_DATE",
    "IND_CODE",
    "FIELD_NAME",
    "VALUE",
    "LAST_SUBMISSION",
)
NUMERATOR_FIELD = "Numerator"
DENOMINATOR_FIELD = "Denominator"
YES_NO_FIELD = "Yes/No Flag"
# No count of patients in one practice comes near this; the bound keeps every factor exact in float64.
MAX_VALUE = 10**9
FIRST_DATA_LINE = 2
SUBMITTED_AT_FORMAT = "%d/%m/%Y %H:%M:%S"
FIELD_COLUMNS = (
    "line",
    "practice_code",
    "indicator_code",
    "field_name",
    "value",
    "last_submission",
    "submitted_at",
)
VALUE_COLUMNS = (
    "practice_code",
    "indicator_code",
    "register",
    "numerator",
    "denominator",
    "pcas",
    "manual_answer",
)

_OTHER, _NUMERATOR, _DENOMINATOR, _REGISTER, _YES_NO, _PCA = range(6)


@dataclass
class Extract:
    """A valid extract. ``values``: practice_code, indicator_code, register, numerator, denominator, pcas
    (nullable Int64) and manual_answer (nullable boolean), one row per practice × ruleset indicator that
    has a current submission.

    ``fields``: every row of a ruleset indicator, current and superseded, in file order: line, practice_code,
    indicator_code, field_name (categoricals), value (int64), last_submission (True for Y) and submitted_at
    (naive local datetime64 from SUBMIT_DATE and SUBMIT_TIME; NaT when blank or unreadable)."""

    quality_service: str
    achievement_date: dt.date
    values: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    row_count: int = 0
    fields: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FIELD_COLUMNS)))


def parse_extract(
    frame: pd.DataFrame,
    *,
    practice_codes: set[str] | frozenset[str] | pd.Index,
    ruleset: pd.DataFrame,
    pca_codes: set[str] | frozenset[str],
    quality_service: str | None = None,
    achievement_date: dt.date | None = None,
    source: str = "extract",
) -> Extract:
    """Validate the whole extract and reduce it; raise InputError listing problems by line and field."""
    problems = ProblemCollector(source)
    columns, service, date = check_file(frame, practice_codes, quality_service, achievement_date, problems)
    organisation, submission = columns["ORG_CODE"], columns["LAST_SUBMISSION"]

    indicator = columns["IND_CODE"]
    ruleset_codes = pd.Index(ruleset["indicator_code"])
    indicator_position = ruleset_codes.get_indexer(indicator.categories)
    warnings = _unknown_indicator_warnings(indicator, indicator_position)

    field_name = columns["FIELD_NAME"]
    role_of_category = _field_roles(field_name.categories, pca_codes)
    role = np.append(role_of_category, _OTHER)[field_name.codes]
    value = _parse_values(columns["VALUE"], role, problems)
    problems.raise_if_any()

    practice_index = pd.Index(sorted(practice_codes))
    practice_position = practice_index.get_indexer(organisation.categories)
    row_practice = practice_position[organisation.codes]
    row_indicator = np.append(indicator_position, -1)[indicator.codes]
    current = submission.rows_mask(submission.categories == "Y") & (row_indicator >= 0)
    superseded = submission.rows_mask(submission.categories == "N") & (row_indicator >= 0)
    n_indicators = len(ruleset_codes)
    pair = row_practice.astype(np.int64) * n_indicators + row_indicator

    _check_duplicates(pair, field_name.codes, current, field_name, organisation, indicator, problems)
    _check_single_register(pair, role, current, problems)
    _check_current_submission_exists(pair, current, superseded, problems)
    problems.raise_if_any()

    values = _reduce(pair, role, value, current, practice_index, ruleset, problems)
    problems.raise_if_any()
    submitted_at, unreadable = _submitted_at(columns["SUBMIT_DATE"], columns["SUBMIT_TIME"])
    if unreadable:
        warnings.append(
            f"{unreadable} row(s) have a SUBMIT_DATE and SUBMIT_TIME not in the form DD/MM/YYYY HH:MM:SS; "
            "their submission time is unknown"
        )
    kept = np.flatnonzero(current | superseded)
    fields = pd.DataFrame(
        {
            "line": _lines(kept),
            "practice_code": _categorical_rows(organisation, kept),
            "indicator_code": _categorical_rows(indicator, kept),
            "field_name": _categorical_rows(field_name, kept),
            "value": value[kept],
            "last_submission": current[kept],
            "submitted_at": submitted_at[kept],
        }
    )
    return Extract(service, date, values, warnings, len(frame), fields)


def reduce_fields(
    fields: pd.DataFrame, *, ruleset: pd.DataFrame, pca_codes: set[str] | frozenset[str]
) -> pd.DataFrame:
    """Reduce current field rows (practice_code, indicator_code, field_name, value) to the values layout of
    ``Extract.values``, as ``parse_extract`` does. Rows of indicators outside the ruleset are ignored.

    Meant for rows that were validated when they came in (stored extracts), so a cross-field rule broken
    here means the stored rows were tampered with: it raises InputError naming the row position.
    """
    problems = ProblemCollector("stored extract values")
    practice = _sorted_categorical(fields["practice_code"])
    practice_index = pd.Index(practice.categories)
    ruleset_codes = pd.Index(ruleset["indicator_code"])
    indicator = _sorted_categorical(fields["indicator_code"])
    row_indicator = np.append(ruleset_codes.get_indexer(indicator.categories), -1)[indicator.codes]
    names = _sorted_categorical(fields["field_name"])
    role = _field_roles(pd.Index(names.categories), pca_codes)[names.codes]
    known = row_indicator >= 0
    pair = practice.codes.astype(np.int64) * len(ruleset_codes) + row_indicator
    value = fields["value"].to_numpy(dtype=np.int64)
    values = _reduce(pair, role, value, known, practice_index, ruleset, problems)
    problems.raise_if_any()
    return values


# What a calculation reads of a submission: the total of its fields of each role, missing where it has none.
ROLE_TOTALS = ("register", "numerator", "denominator", "pcas", "answer")
_ROLE_OF_TOTAL = dict(zip(ROLE_TOTALS, (_REGISTER, _NUMERATOR, _DENOMINATOR, _PCA, _YES_NO), strict=True))


def role_totals(
    field_names: pd.Categorical, values: np.ndarray, starts: np.ndarray, pca_codes: set[str] | frozenset[str]
) -> dict[str, pd.arrays.IntegerArray]:
    """Per group of consecutive field rows (a submission, `starts` its first rows), the total of its fields of
    each role in ROLE_TOTALS: stored with the submission when it is loaded, so that a calculation reads five
    numbers per submission instead of unnesting its fields (docs/adr/0010)."""
    role = np.append(_field_roles(pd.Index(field_names.categories.astype(str)), pca_codes), _OTHER)[
        field_names.codes
    ]
    totals = {}
    for column, wanted in _ROLE_OF_TOTAL.items():
        hit = role == wanted
        if len(starts):
            count = np.add.reduceat(hit.astype(np.int64), starts)
            total = np.add.reduceat(np.where(hit, values, 0).astype(np.int64), starts)
        else:
            count = total = np.zeros(0, dtype=np.int64)
        totals[column] = pd.arrays.IntegerArray(total, count == 0)
    return totals


def reduce_role_totals(totals: pd.DataFrame, *, ruleset: pd.DataFrame) -> pd.DataFrame:
    """Reduce current submissions' role totals (practice_code, indicator_code and ROLE_TOTALS, one row per
    submission) to the values layout of ``Extract.values``, exactly as ``reduce_fields`` does from their field
    rows: each total stands for its fields as one row (a submission holds one field of each role but PCAs,
    which are summed anyway), and each submission has one more row of no role, so that a submission with no
    fields of any role is kept as it would be. Same checks; a problem names the row position."""
    problems = ProblemCollector("stored extract values")
    practice = _sorted_categorical(totals["practice_code"])
    ruleset_codes = pd.Index(ruleset["indicator_code"])
    indicator = _sorted_categorical(totals["indicator_code"])
    submission_indicator = np.append(ruleset_codes.get_indexer(indicator.categories), -1)[indicator.codes]
    submissions, roles, values = [np.arange(len(totals))], [np.full(len(totals), _OTHER, np.int8)], []
    values.append(np.zeros(len(totals), dtype=np.int64))
    for column, wanted in _ROLE_OF_TOTAL.items():
        present = np.flatnonzero(totals[column].notna().to_numpy())
        submissions.append(present)
        roles.append(np.full(len(present), wanted, np.int8))
        values.append(totals[column].to_numpy(dtype=np.int64, na_value=0)[present])
    submission, role, value = (np.concatenate(parts) for parts in (submissions, roles, values))
    row_indicator = submission_indicator[submission]
    pair = practice.codes[submission].astype(np.int64) * len(ruleset_codes) + row_indicator
    values_layout = _reduce(
        pair, role, value, row_indicator >= 0, pd.Index(practice.categories), ruleset, problems
    )
    problems.raise_if_any()
    return values_layout


def _sorted_categorical(column: pd.Series) -> pd.Categorical:
    """The column as a categorical of text with sorted categories. A categorical column is recoded through
    its few categories: converting millions of rows to text first takes seconds at national scale."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical(column.astype(str))
    categories = column.cat.categories.astype(str)
    order = np.argsort(categories.to_numpy(dtype=object), kind="stable")
    position = np.empty(len(order) + 1, dtype=np.int64)
    position[order] = np.arange(len(order))
    position[-1] = -1  # a missing value stays missing
    codes = position[column.cat.codes.to_numpy()]
    return pd.Categorical.from_codes(codes, categories=categories[order])


def check_file(
    frame: pd.DataFrame,
    practice_codes,
    quality_service: str | None,
    achievement_date: dt.date | None,
    problems: ProblemCollector,
) -> tuple[dict[str, _CategoricalColumn], str, dt.date]:
    """What every field-level file is checked for, whatever its indicators carry (an extract, or the claims
    of an item-of-service year): required fields present, one service and one month-end date, known
    practices, LAST_SUBMISSION Y or N. Returns the columns, the service and the date."""
    columns = {name: _CategoricalColumn(frame[name]) for name in EXTRACT_COLUMNS}
    for name in REQUIRED_COLUMNS:
        blank = columns[name].rows_where(columns[name].categories.str.strip() == "", missing=True)
        problems.add_rows(_lines(blank), name, lambda _: "is blank")

    service = _single_value(columns["QUALITY_SERVICE"], quality_service, "QUALITY_SERVICE", problems)
    date_text = _single_value(
        columns["ACH_DATE"],
        achievement_date.strftime("%Y%m%d") if achievement_date else None,
        "ACH_DATE",
        problems,
    )
    date = _month_end(date_text, columns["ACH_DATE"], problems)

    organisation = columns["ORG_CODE"]
    unknown_practice = organisation.rows_where(
        ~organisation.categories.isin(list(practice_codes)) & (organisation.categories.str.strip() != "")
    )
    problems.add_rows(
        _lines(unknown_practice),
        "ORG_CODE",
        lambda i: f"practice {organisation.value_at(unknown_practice[i])} is not known for this service",
    )

    submission = columns["LAST_SUBMISSION"]
    bad_submission = submission.rows_where(~submission.categories.isin(["Y", "N", ""]))
    problems.add_rows(
        _lines(bad_submission),
        "LAST_SUBMISSION",
        lambda i: f"{submission.value_at(bad_submission[i])!r} must be Y or N",
    )
    return columns, service, date


def _categorical_rows(column: _CategoricalColumn, rows: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(column.codes[rows], categories=column.categories)


def _submitted_at(date: _CategoricalColumn, time: _CategoricalColumn) -> tuple[np.ndarray, int]:
    """Each row's submission time, parsed once per distinct (date, time) pair; and how many rows had a
    non-blank one that could not be read."""
    key = (date.codes.astype(np.int64) + 1) * (len(time.categories) + 1) + (time.codes + 1)
    row_key, distinct = pd.factorize(key)  # a handful of distinct times: hashing beats sorting 3.5 million
    date_text = np.append([""], date.categories.to_numpy(dtype=object))[
        distinct // (len(time.categories) + 1)
    ]
    time_text = np.append([""], time.categories.to_numpy(dtype=object))[distinct % (len(time.categories) + 1)]
    text = pd.Series(date_text).str.strip() + " " + pd.Series(time_text).str.strip()
    parsed = pd.to_datetime(text, format=SUBMITTED_AT_FORMAT, errors="coerce").to_numpy()
    unreadable = np.asarray(parsed != parsed) & np.asarray(text.str.strip() != "")  # NaT != NaT
    counts = np.bincount(row_key, minlength=len(distinct))
    return parsed[row_key], int(counts[unreadable].sum())


class _CategoricalColumn:
    """A categorical column with helpers that evaluate a predicate once per distinct value."""

    def __init__(self, series: pd.Series) -> None:
        categorical = series.astype("category") if series.dtype != "category" else series
        self.categories = pd.Index(categorical.cat.categories.astype(str))
        self.codes = categorical.cat.codes.to_numpy()

    def rows_mask(self, category_mask, missing: bool = False) -> np.ndarray:
        # Code -1 (a missing field on a short row) indexes the appended last element.
        return np.append(np.asarray(category_mask, dtype=bool), missing)[self.codes]

    def rows_where(self, category_mask, missing: bool = False) -> np.ndarray:
        return np.flatnonzero(self.rows_mask(category_mask, missing))

    def value_at(self, row: int) -> str:
        code = self.codes[row]
        return "" if code < 0 else self.categories[code]


def _lines(rows: np.ndarray) -> np.ndarray:
    return rows + FIRST_DATA_LINE


def _single_value(
    column: _CategoricalColumn, expected: str | None, name: str, problems: ProblemCollector
) -> str:
    """One file holds one value of this column: the expected one, or else the most common one."""
    counts = np.bincount(column.codes[column.codes >= 0], minlength=len(column.categories))
    present = [
        (count, value)
        for count, value in zip(counts, column.categories, strict=True)
        if count and value.strip()
    ]
    if expected is None:
        expected = max(present)[1] if present else ""
    wrong = column.rows_where((column.categories != expected) & (column.categories.str.strip() != ""))
    problems.add_rows(
        _lines(wrong), name, lambda i: f"{column.value_at(wrong[i])!r} differs from this file's {expected!r}"
    )
    return expected


def _month_end(text: str, column: _CategoricalColumn, problems: ProblemCollector) -> dt.date:
    first_line = int(_lines(column.rows_where(column.categories == text))[:1].sum()) or FIRST_DATA_LINE
    try:
        if not re.fullmatch(r"\d{8}", text):
            raise ValueError
        date = dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        problems.add(first_line, "ACH_DATE", f"{text!r} is not a date in the form YYYYMMDD")
        return dt.date.min
    if (date + dt.timedelta(days=1)).day != 1:
        problems.add(first_line, "ACH_DATE", f"{text} is not the last day of a month")
    return date


def _unknown_indicator_warnings(indicator: _CategoricalColumn, position: np.ndarray) -> list[str]:
    counts = np.bincount(indicator.codes[indicator.codes >= 0], minlength=len(indicator.categories))
    return [
        f"indicator {code} is not in the ruleset; its {count} row(s) were ignored"
        for code, count, known in zip(indicator.categories, counts, position >= 0, strict=True)
        if count and not known and code.strip()
    ]


def _field_roles(names: pd.Index, pca_codes: set[str] | frozenset[str]) -> np.ndarray:
    role = np.full(len(names), _OTHER, dtype=np.int8)
    role[np.asarray(names.isin(list(pca_codes)))] = _PCA
    role[np.asarray(names.str.lower().str.endswith("register"))] = _REGISTER
    role[np.asarray(names == NUMERATOR_FIELD)] = _NUMERATOR
    role[np.asarray(names == DENOMINATOR_FIELD)] = _DENOMINATOR
    role[np.asarray(names == YES_NO_FIELD)] = _YES_NO
    return role


def _parse_values(column: _CategoricalColumn, role: np.ndarray, problems: ProblemCollector) -> np.ndarray:
    """Each distinct VALUE is judged once; a row's value is then a lookup by its category code."""
    text = column.categories
    is_integer = np.asarray(text.str.fullmatch(r"[0-9]+"))
    parsed = np.zeros(len(text) + 1, dtype=np.int64)
    # Leading zeros and absurd lengths are caught by the bound below; cap the digits before converting.
    short = is_integer & np.asarray(text.str.len() <= 12)
    parsed[:-1][short] = pd.to_numeric(text[short]).to_numpy(dtype=np.int64) if short.any() else []
    too_large = is_integer & ((~short) | (parsed[:-1] > MAX_VALUE))
    blank = np.asarray(text.str.strip() == "")
    negative = np.asarray(text.str.fullmatch(r"-\s*[0-9]+(\.[0-9]*)?"))
    fractional = np.asarray(text.str.fullmatch(r"[0-9]*\.[0-9]+|[0-9]+\.[0-9]*"))

    rules = [
        (negative, "is negative"),
        (fractional & ~negative, "is not a whole number"),
        (~is_integer & ~negative & ~fractional & ~blank, "is not a number"),
        (too_large, f"is larger than {MAX_VALUE}"),
    ]
    row_value = parsed[column.codes]
    for category_mask, message in rules:
        rows = column.rows_where(category_mask)
        problems.add_rows(
            _lines(rows), "VALUE", lambda i, rows=rows, m=message: f"{column.value_at(rows[i])!r} {m}"
        )
    not_flag = np.flatnonzero((role == _YES_NO) & column.rows_mask(is_integer) & (row_value > 1))
    problems.add_rows(
        _lines(not_flag),
        "VALUE",
        lambda i: f"Yes/No Flag {column.value_at(not_flag[i])!r} must be 1 (Yes) or 0 (No)",
    )
    return row_value


def _check_duplicates(
    pair: np.ndarray,
    field_codes: np.ndarray,
    current: np.ndarray,
    field_name: _CategoricalColumn,
    organisation: _CategoricalColumn,
    indicator: _CategoricalColumn,
    problems: ProblemCollector,
) -> None:
    rows = np.flatnonzero(current)
    key = pair[rows] * (len(field_name.categories) + 1) + field_codes[rows]
    if not _has_repeats(key):
        return
    duplicated = pd.Series(key).duplicated(keep="first").to_numpy()
    first_row_of_key = pd.Series(rows, index=key).groupby(level=0).first()
    repeats = rows[duplicated]
    repeated_keys = key[duplicated]

    def message(i: int) -> str:
        row = repeats[i]
        first_line = first_row_of_key[repeated_keys[i]] + FIRST_DATA_LINE
        return (
            f"practice {organisation.value_at(row)} indicator {indicator.value_at(row)} field "
            f"{field_name.value_at(row)!r} repeats line {first_line} "
            "in the current submission"
        )

    problems.add_rows(_lines(repeats), "FIELD_NAME", message)


def _has_repeats(keys: np.ndarray) -> bool:
    """Whether any key occurs twice. An extract lists its rows practice by practice and indicator by
    indicator, so its keys come in long sorted runs, which a stable sort merges in a few hundredths of a
    second where hashing 3.5 million keys takes most of one."""
    ordered = np.sort(keys, kind="stable")
    return bool((ordered[1:] == ordered[:-1]).any())


def _check_single_register(
    pair: np.ndarray, role: np.ndarray, current: np.ndarray, problems: ProblemCollector
):
    rows = np.flatnonzero(current & (role == _REGISTER))
    if not _has_repeats(pair[rows]):
        return
    repeats = rows[pd.Series(pair[rows]).duplicated().to_numpy()]
    problems.add_rows(_lines(repeats), "FIELD_NAME", lambda _: "a second register field for this indicator")


def _check_current_submission_exists(
    pair: np.ndarray, current: np.ndarray, superseded: np.ndarray, problems: ProblemCollector
) -> None:
    superseded_rows = np.flatnonzero(superseded)
    orphan = ~np.isin(pair[superseded_rows], pair[current])
    orphan_rows = superseded_rows[orphan]
    orphan_rows = orphan_rows[~pd.Series(pair[orphan_rows]).duplicated().to_numpy()]
    problems.add_rows(
        _lines(orphan_rows),
        "LAST_SUBMISSION",
        lambda _: (
            "only superseded (N) rows for this practice and indicator: the current (Y) submission is missing"
        ),
    )


def _reduce(
    pair: np.ndarray,
    role: np.ndarray,
    value: np.ndarray,
    current: np.ndarray,
    practice_index: pd.Index,
    ruleset: pd.DataFrame,
    problems: ProblemCollector,
) -> pd.DataFrame:
    """Scatter the current rows onto a dense practice × indicator grid, check the cross-field rules there,
    and return the pairs that have any current row, in the layout of ``Extract.values``."""
    n_indicators, n_practices = len(ruleset), len(practice_index)
    size = n_practices * n_indicators
    has_rows = np.bincount(pair[current], minlength=size) > 0

    def scatter(wanted_role: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.flatnonzero(current & (role == wanted_role))
        dense = np.zeros(size, dtype=np.int64)
        line = np.zeros(size, dtype=np.int64)
        dense[pair[rows]] = value[rows]
        line[pair[rows]] = _lines(rows)
        return dense, line > 0, line

    numerator, has_numerator, numerator_line = scatter(_NUMERATOR)
    denominator, has_denominator, denominator_line = scatter(_DENOMINATOR)
    register, has_register, _ = scatter(_REGISTER)
    answer, has_answer, _ = scatter(_YES_NO)
    pca_rows = np.flatnonzero(current & (role == _PCA))
    # Float weights are exact here: each value is at most 1e9 and a pair has few PCA fields.
    pcas = np.bincount(pair[pca_rows], weights=value[pca_rows], minlength=size).astype(np.int64)

    kind = np.tile(ruleset["kind"].to_numpy(dtype=object), n_practices)
    holds_register = np.tile(
        ((ruleset["kind"] == REGISTER) | ruleset["carries_register"]).to_numpy(dtype=bool), n_practices
    )
    # Management-information indicators carry counts like percentage ones, though they score nothing.
    percentage = (kind == PERCENTAGE) | (kind == INFORMATION)

    over = np.flatnonzero(has_numerator & has_denominator & (numerator > denominator))
    problems.add_rows(
        numerator_line[over],
        "VALUE",
        lambda i: f"Numerator {numerator[over[i]]} exceeds Denominator {denominator[over[i]]}",
    )
    lone_numerator = np.flatnonzero(percentage & has_numerator & ~has_denominator)
    problems.add_rows(
        numerator_line[lone_numerator], "FIELD_NAME", lambda _: "Numerator without a Denominator"
    )
    lone_denominator = np.flatnonzero(percentage & has_denominator & ~has_numerator)
    problems.add_rows(
        denominator_line[lone_denominator], "FIELD_NAME", lambda _: "Denominator without a Numerator"
    )
    no_register = np.flatnonzero(has_rows & holds_register & ~has_register)
    if no_register.size:
        first_line_of_pair = _first_line_per_pair(pair, current, size)
        problems.add_rows(
            first_line_of_pair[no_register], "FIELD_NAME", lambda _: "the register field is missing"
        )

    keep = np.flatnonzero(has_rows)
    manual = kind == MANUAL
    answered = has_answer & manual
    return pd.DataFrame(
        {
            "practice_code": practice_index[keep // n_indicators].to_numpy(),
            "indicator_code": ruleset["indicator_code"].to_numpy()[keep % n_indicators],
            "register": pd.arrays.IntegerArray(register[keep], ~has_register[keep]),
            "numerator": pd.arrays.IntegerArray(numerator[keep], ~(has_numerator & percentage)[keep]),
            "denominator": pd.arrays.IntegerArray(denominator[keep], ~(has_denominator & percentage)[keep]),
            "pcas": pd.arrays.IntegerArray(pcas[keep], ~percentage[keep]),
            "manual_answer": pd.arrays.BooleanArray(answer[keep] == 1, ~answered[keep]),
        }
    )


def _first_line_per_pair(pair: np.ndarray, current: np.ndarray, size: int) -> np.ndarray:
    rows = np.flatnonzero(current)
    first = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, pair[rows], _lines(rows))
    return first
