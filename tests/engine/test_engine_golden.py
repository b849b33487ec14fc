"""The worked example in ../shared/examples reproduced byte for byte."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from engine import YearParameters, calculate_qof, outputs, readers

EXAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "examples" / "qof_2023_24_small"
PARAMETERS = YearParameters(point_value=Decimal("213.43"), average_list_size=Decimal(9639))


@pytest.fixture(scope="module")
def example(ruleset, pca_codes):
    practices = readers.load_practices(EXAMPLE / "practices.csv")
    extract = readers.read_extract(
        EXAMPLE / "INDICATOR_VALUES.csv",
        practice_codes=set(practices["practice_code"]),
        ruleset=ruleset,
        pca_codes=pca_codes,
    )
    return practices, extract, calculate_qof(ruleset, extract.values, practices, PARAMETERS)


def expected(name: str) -> bytes:
    return (EXAMPLE / "expected" / f"{name}.csv").read_bytes()


def test_achievement_matches_the_worked_example(example, ruleset):
    _, _, result = example
    table = outputs.achievement_table(result.indicators, ruleset)

    assert outputs.to_csv_text(table).encode() == expected("ACHIEVEMENT")


def test_payment_lines_match_the_worked_example(example):
    _, _, result = example

    assert outputs.to_csv_text(outputs.payment_lines_table(result.indicators)).encode() == expected(
        "PAYMENT_LINES"
    )


def test_practice_totals_match_the_worked_example(example):
    _, _, result = example
    table = outputs.practice_totals_table(result.practice_totals)

    assert outputs.to_csv_text(table).encode() == expected("PRACTICE_TOTALS")


def test_management_information_codes_in_the_example_are_warned_about(example):
    _, extract, _ = example

    assert [warning.split()[1] for warning in extract.warnings] == ["COPD009MI1", "COPD009MI2", "COPD009MI3"]


def test_single_practice_recalculation_with_frozen_prevalence_reproduces_national_lines(example, ruleset):
    practices, extract, national = example
    one = practices[practices["practice_code"] == "Z72003"]
    values = extract.values[extract.values["practice_code"] == "Z72003"]

    alone = calculate_qof(ruleset, values, one, PARAMETERS, prevalence=national.prevalence)

    columns = ["indicator_code", "points_hundredths", "payment_pence"]
    national_lines = national.indicators[national.indicators["practice_code"] == "Z72003"][columns]
    pd.testing.assert_frame_equal(alone.indicators[columns], national_lines.reset_index(drop=True))


def test_prevalence_of_one_practice_alone_differs_from_the_national_figure(example, ruleset):
    practices, extract, national = example
    one = practices[practices["practice_code"] == "Z72003"]
    values = extract.values[extract.values["practice_code"] == "Z72003"]

    alone = calculate_qof(ruleset, values, one, PARAMETERS)

    assert (
        alone.practice_totals["payment_pence"].iat[0]
        != national.practice_totals.set_index("practice_code").loc["Z72003", "payment_pence"]
    )
