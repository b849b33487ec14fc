"""The calculation's published tables (DOMAIN.md §6), as frames of strings ready to be written as CSV.

Layout follows ../shared/examples/qof_2023_24_small/expected: rows by practice code then ruleset order;
counts as integers, points and money with two decimals; a missing count is blank. Management-information
indicators report like percentage ones; income-protected rows leave numerator and denominator blank.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .rounding import format_hundredths
from .ruleset import INFORMATION, PERCENTAGE, REGISTER

MEASURES = ("REGISTER", "NUMERATOR", "DENOMINATOR", "PCAS", "ACHIEVED_POINTS")
LINE_TERMINATOR = "\r\n"


def _counts_as_text(column: pd.Series) -> np.ndarray:
    text = column.astype("string").fillna("").to_numpy(dtype=object)
    return text


def achievement_table(indicators: pd.DataFrame, ruleset: pd.DataFrame) -> pd.DataFrame:
    """Publication long format: PRACTICE_CODE, INDICATOR_CODE, MEASURE, VALUE."""
    carries = dict(zip(ruleset["indicator_code"], ruleset["carries_register"], strict=True))
    kind = indicators["kind"].to_numpy(dtype=object)
    counted = (kind == PERCENTAGE) | (kind == INFORMATION)
    shows_register = (kind == REGISTER) | indicators["indicator_code"].map(carries).to_numpy(dtype=bool)
    shown = np.column_stack([shows_register, counted, counted, counted, np.ones(len(kind), dtype=bool)])
    text = np.column_stack(
        [
            _counts_as_text(indicators["register"]),
            _counts_as_text(indicators["numerator"]),
            _counts_as_text(indicators["denominator"]),
            _counts_as_text(indicators["pcas"]),
            format_hundredths(indicators["points_hundredths"].to_numpy()),
        ]
    )
    row = np.repeat(np.arange(len(kind)), len(MEASURES)).reshape(shown.shape)
    keep = shown.ravel()
    rows = row.ravel()[keep]
    return pd.DataFrame(
        {
            "PRACTICE_CODE": indicators["practice_code"].to_numpy(dtype=object)[rows],
            "INDICATOR_CODE": indicators["indicator_code"].to_numpy(dtype=object)[rows],
            "MEASURE": np.tile(np.array(MEASURES, dtype=object), len(kind))[keep],
            "VALUE": text.ravel()[keep],
        }
    )


def payment_lines_table(indicators: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "PRACTICE_CODE": indicators["practice_code"],
            "INDICATOR_CODE": indicators["indicator_code"],
            "ACHIEVED_POINTS": format_hundredths(indicators["points_hundredths"].to_numpy()),
            "PAYMENT_GBP": format_hundredths(indicators["payment_pence"].to_numpy()),
        }
    )


def practice_totals_table(practice_totals: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "PRACTICE_CODE": practice_totals["practice_code"],
            "ACHIEVED_POINTS": format_hundredths(practice_totals["points_hundredths"].to_numpy()),
            "ACHIEVEMENT_PAYMENT_GBP": format_hundredths(practice_totals["payment_pence"].to_numpy()),
        }
    )


def to_csv_text(table: pd.DataFrame) -> str:
    """CSV with CRLF line ends (RFC 4180, and what the published files use).

    Every value here is a code or a number we formatted, never free text, so nothing needs quoting; joining
    Python strings is about four times faster than DataFrame.to_csv for the national tables.
    """
    columns = [table[name].astype(str).tolist() for name in table.columns]
    if any(_needs_quoting(pd.unique(table[name].astype(str))) for name in table.columns):
        return table.to_csv(index=False, lineterminator=LINE_TERMINATOR)
    rows = (",".join(fields) for fields in zip(*columns, strict=True))
    return LINE_TERMINATOR.join([",".join(table.columns), *rows, ""])


def _needs_quoting(distinct: np.ndarray) -> bool:
    return bool(pd.Series(distinct, dtype=object).str.contains(r'[,"\r\n]', regex=True).any())
