from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine import InputError, readers

RULESET_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "reference" / "qof_2023_24_indicators.csv"


def problems_of(excinfo) -> list[tuple[int, str]]:
    return [(problem.line, problem.field) for problem in excinfo.value.problems]


def test_shipped_ruleset_has_76_indicators_and_635_points(ruleset):
    assert len(ruleset) == 76
    assert sum(ruleset["points"]) == 635


@pytest.mark.parametrize(
    ("indicator", "column", "value", "field"),
    [
        ("AF006", "lower_threshold", "95", "upper_threshold"),
        ("AF006", "points", "twelve", "points"),
        ("AF006", "points", "1.00001", "points"),
        ("AF006", "kind", "sliding", "kind"),
        ("AF006", "carries_register", "2", "carries_register"),
        ("AF006", "upper_threshold", "", "upper_threshold"),
        ("AF008", "indicator_code", "AF006", "indicator_code"),
        ("BP002", "prevalence_adjusted", "1", "prevalence_adjusted"),
    ],
)
def test_invalid_ruleset_names_line_and_column(tmp_path, indicator, column, value, field):
    frame = pd.read_csv(RULESET_PATH, dtype=str, keep_default_na=False)
    row = int(frame.index[frame["indicator_code"] == indicator][0])
    frame.loc[row, column] = value
    path = tmp_path / "ruleset.csv"
    frame.to_csv(path, index=False)

    with pytest.raises(InputError) as excinfo:
        readers.load_ruleset(path)

    assert (row + 2, field) in problems_of(excinfo)


def test_practices_file_rejects_bad_list_sizes_and_duplicates(tmp_path):
    path = tmp_path / "practices.csv"
    path.write_text(
        "PRACTICE_CODE,LIST_SIZE_CPI,LIST_SIZE_PREVALENCE\nA1,100,100\nA2,-5,100\nA1,100,1.5\n,1,1\n"
    )

    with pytest.raises(InputError) as excinfo:
        readers.load_practices(path)

    assert problems_of(excinfo) == [
        (3, "LIST_SIZE_CPI"),
        (4, "LIST_SIZE_PREVALENCE"),
        (4, "PRACTICE_CODE"),
        (5, "PRACTICE_CODE"),
    ]


def test_practices_file_in_windows_1252_with_bom_less_crlf_is_read(tmp_path):
    path = tmp_path / "practices.csv"
    path.write_bytes(
        "PRACTICE_CODE,LIST_SIZE_CPI,LIST_SIZE_PREVALENCE,NAME\r\nA1,100,120,Qualité\r\n".encode("cp1252")
    )

    practices = readers.load_practices(path)

    assert practices.to_dict("records") == [
        {"practice_code": "A1", "list_size_cpi": 100, "list_size_prevalence": 120}
    ]


def test_manual_answers_must_be_yes_or_no_for_known_manual_indicators(tmp_path, ruleset):
    path = tmp_path / "manual.csv"
    path.write_text(
        "PRACTICE_CODE,INDICATOR_CODE,VALUE\nA1,QI013,Yes\nA1,AF006,No\nA9,QI014,No\nA1,QI016,maybe\n"
    )

    with pytest.raises(InputError) as excinfo:
        readers.load_manual_answers(path, ruleset, {"A1"})

    assert problems_of(excinfo) == [(3, "INDICATOR_CODE"), (4, "PRACTICE_CODE"), (5, "VALUE")]


def test_pca_reference_is_read_as_windows_1252(pca_codes):
    assert {"AFIBINV1", "DIAG1_DAT"} <= pca_codes
    assert "CHAD_VAL2" not in pca_codes  # an exclusion, not a PCA
    assert len(pca_codes) == 132


def test_shipped_year_parameters_for_2023_24():
    parameters = readers.load_year_parameters("2023/24")

    assert (str(parameters.point_value), str(parameters.average_list_size)) == ("213.43", "9639")
