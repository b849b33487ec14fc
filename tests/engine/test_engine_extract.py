from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from engine import InputError, readers
from engine.errors import MAX_PROBLEMS
from tests.engine.engine_extract_helpers import HEADER, extract_row, valid_rows


def problems_of(excinfo) -> list[tuple[int, str]]:
    return [(problem.line, problem.field) for problem in excinfo.value.problems]


def test_valid_extract_reduces_to_one_row_per_practice_and_indicator(write_extract, parse):
    extract = parse(write_extract(valid_rows()))

    assert extract.quality_service == "QOF2324"
    assert extract.achievement_date == dt.date(2024, 3, 31)
    rows = extract.values.set_index("indicator_code")
    assert rows.loc["AF001", "register"] == 40
    assert (rows.loc["AF006", "numerator"], rows.loc["AF006", "denominator"]) == (30, 35)
    assert rows.loc["AF006", "pcas"] == 3 + 2 + 4
    assert bool(rows.loc["QI013", "manual_answer"]) is True
    assert extract.values["practice_code"].unique().tolist() == ["A10001"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_extract_is_read_in_each_encoding_and_line_ending(write_extract, parse, encoding, newline):
    rows = [row.replace("Quality and Outcomes", "Qualité and Outcomes") for row in valid_rows()]

    extract = parse(write_extract(rows, encoding=encoding, newline=newline))

    assert extract.values.set_index("indicator_code").loc["AF006", "numerator"] == 30


def test_extract_in_neither_encoding_is_rejected_with_its_line(tmp_path, parse):
    path = tmp_path / "values.csv"
    lines = "\r\n".join([HEADER, *valid_rows(), extract_row()]).encode()
    path.write_bytes(lines + b"\x81\r\n")

    with pytest.raises(InputError) as excinfo:
        parse(path)

    assert problems_of(excinfo) == [(10, "(encoding)")]


def test_extract_header_must_match_exactly(write_extract, parse):
    path = write_extract(valid_rows(), header=HEADER.replace("VALUE", "Value"))

    with pytest.raises(InputError) as excinfo:
        parse(path)

    assert problems_of(excinfo) == [(1, "(header)")]


@pytest.mark.parametrize(
    ("bad_row", "field"),
    [
        (extract_row(practice="Z99999"), "ORG_CODE"),
        (extract_row(value="-3"), "VALUE"),
        (extract_row(value="2.5"), "VALUE"),
        (extract_row(value="many"), "VALUE"),
        (extract_row(value=""), "VALUE"),
        (extract_row(value="10000000000"), "VALUE"),
        (extract_row(indicator="QI014", field="Yes/No Flag", value="2"), "VALUE"),
        (extract_row(service="QOF2223"), "QUALITY_SERVICE"),
        (extract_row(date="20240330"), "ACH_DATE"),
        (extract_row(practice=""), "ORG_CODE"),
        (extract_row(field=""), "FIELD_NAME"),
        (extract_row(last="X"), "LAST_SUBMISSION"),
    ],
)
def test_bad_row_rejects_the_whole_file_naming_line_and_field(write_extract, parse, bad_row, field):
    rows = [*valid_rows("A10002"), bad_row]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert (len(rows) + 1, field) in problems_of(excinfo)
    assert f"line {len(rows) + 1}, field {field}" in str(excinfo.value)


def test_numerator_above_denominator_names_the_numerator_line(write_extract, parse):
    rows = valid_rows()
    rows[2] = extract_row(field="Numerator", value="36")

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(4, "VALUE")]
    assert "exceeds Denominator 35" in str(excinfo.value)


def test_duplicated_field_in_current_submission_is_rejected(write_extract, parse):
    rows = [*valid_rows(), extract_row(field="Denominator", value="35")]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(10, "FIELD_NAME")]
    assert "repeats line 5" in str(excinfo.value)


def test_superseded_submission_rows_are_ignored_but_kept_valid(write_extract, parse):
    rows = [
        *valid_rows(),
        extract_row(field="Numerator", value="35", last="N"),
        extract_row(field="Denominator", value="40", last="N"),
    ]

    extract = parse(write_extract(rows))

    assert extract.values.set_index("indicator_code").loc["AF006", "numerator"] == 30


def test_superseded_rows_must_still_be_well_formed(write_extract, parse):
    rows = [*valid_rows(), extract_row(field="Numerator", value="-1", last="N")]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(10, "VALUE")]


def test_superseded_rows_without_a_current_submission_are_rejected(write_extract, parse):
    rows = [*valid_rows(), extract_row(indicator="AF008", field="Numerator", value="1", last="N")]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(10, "LAST_SUBMISSION")]


def test_numerator_without_denominator_is_rejected(write_extract, parse):
    rows = [row for row in valid_rows() if ",Denominator," not in row]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(4, "FIELD_NAME")]


def test_register_indicator_without_register_field_is_rejected(write_extract, parse):
    rows = [*valid_rows(), extract_row(indicator="AST005", field="ASTINVITE1", value="1")]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(10, "FIELD_NAME")]


def test_unknown_indicator_is_a_warning_and_ignored(write_extract, parse):
    rows = [*valid_rows(), extract_row(indicator="COPD009MI1", field="Numerator", value="4")]

    extract = parse(write_extract(rows))

    assert extract.warnings == ["indicator COPD009MI1 is not in the ruleset; its 1 row(s) were ignored"]
    assert "COPD009MI1" not in set(extract.values["indicator_code"])


def test_expected_service_and_date_are_enforced(write_extract, parse):
    path = write_extract(valid_rows())

    with pytest.raises(InputError) as excinfo:
        parse(path, quality_service="QOF2425", achievement_date=dt.date(2025, 3, 31))

    assert {field for _, field in problems_of(excinfo)} == {"QUALITY_SERVICE", "ACH_DATE"}


@pytest.mark.parametrize("date", ["20240230", "2024-03-31", "20240229"])
def test_achievement_date_must_be_a_real_month_end(write_extract, parse, date):
    rows = [extract_row(indicator="AF001", field="Atrial Fibrillation Register", value="1", date=date)]

    if date == "20240229":
        assert parse(write_extract(rows)).achievement_date == dt.date(2024, 2, 29)
        return
    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(2, "ACH_DATE")]


def test_many_problems_are_reported_up_to_a_cap(write_extract, parse):
    rows = [extract_row(practice="Z99999", indicator="AF001", field=f"F{i}", value="1") for i in range(150)]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert len(excinfo.value.problems) == MAX_PROBLEMS
    assert excinfo.value.total == 150
    assert "and 50 more problem(s)" in str(excinfo.value)


def test_short_row_is_reported_as_blank_fields(write_extract, parse):
    rows = [*valid_rows(), "QOF2324,Quality,A10001,20240331,AF008"]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert (10, "FIELD_NAME") in problems_of(excinfo)


def test_row_with_too_many_fields_is_rejected_with_its_line(write_extract, parse):
    rows = [*valid_rows(), extract_row() + ",extra"]

    with pytest.raises(InputError) as excinfo:
        parse(write_extract(rows))

    assert problems_of(excinfo) == [(10, "(row)")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_the_quick_reader_reads_what_pandas_reads_or_leaves_the_file_to_it(write_extract, encoding):
    rows = [row.replace("Quality and Outcomes", "Qualité and Outcomes") for row in valid_rows()]
    rows.append(extract_row("A10002", "AF006", "Numerator", ""))
    path = write_extract(rows, encoding=encoding)

    quick = readers._read_extract_quickly(path)

    if encoding == "cp1252":
        assert quick is None  # not UTF-8: pandas reads it, in its own encoding
        return
    slow = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
    assert list(quick.columns) == list(slow.columns)
    assert all(isinstance(quick[name].dtype, pd.CategoricalDtype) for name in quick.columns)
    assert_frame_equal(quick.astype(str), slow)
    broken = write_extract([*valid_rows(), '"A10001,AF006\n"', extract_row("A10001", "AF006", "x", "1,2")])
    assert readers._read_extract_quickly(broken) is None  # pandas names the line and field
