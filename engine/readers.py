"""The engine's only I/O: reading CSV inputs into validated frames, with line- and field-level errors.

Encoding: a file is read as UTF-8 (a leading byte-order mark is dropped) when it decodes as UTF-8, and as
Windows-1252 otherwise. Text in Windows-1252 with any non-ASCII character is practically never valid UTF-8
(an accented letter is a lone byte ≥ 0xC0 not followed by continuation bytes), so trying UTF-8 first is a
safe detector; a file that is neither is rejected. Line ends may be CRLF or LF. Line numbers are file lines
with the header as line 1: line breaks inside a quoted field are rejected, so records and lines coincide.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd
import pyarrow as pa
from pyarrow import csv as pa_csv

from .errors import InputError, Problem, ProblemCollector
from .extract import EXTRACT_COLUMNS, Extract, parse_extract
from .qof import YearParameters
from .ruleset import MANUAL, RULESET_COLUMNS, validate_ruleset

ENCODINGS = ("utf-8-sig", "cp1252")
MAX_LIST_SIZE = 10**7
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
SHIPPED_RULESETS = {"2023/24": REFERENCE_DIR / "qof_2023_24_indicators.csv"}
SHIPPED_PCA_REFERENCE = REFERENCE_DIR / "pca_reference.csv"
SHIPPED_YEAR_PARAMETERS = REFERENCE_DIR / "year_parameters.csv"


def decode(data: bytes, source: str) -> str:
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as error:
            failure = error
    line = data[: failure.start].count(b"\n") + 1
    raise InputError(source, [Problem(line, "(encoding)", "the file is neither UTF-8 nor Windows-1252")])


def read_csv_text(
    path: Path | str, required_columns: Sequence[str], source: str | None = None
) -> pd.DataFrame:
    """A small CSV as a frame of stripped strings ('' for blank); the header must hold required_columns."""
    source = source or str(path)
    text = decode(Path(path).read_bytes(), source)
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=False
        )
    except pd.errors.ParserError as error:
        raise InputError(source, [Problem(_parser_error_line(error), "(row)", str(error))]) from error
    except pd.errors.EmptyDataError as error:
        raise InputError(source, [Problem(1, "(header)", "the file is empty")]) from error
    missing = [column for column in required_columns if column not in frame.columns]
    if missing:
        raise InputError(source, [Problem(1, ",".join(missing), "missing column(s) in the header")])
    frame = frame.fillna("")
    embedded = frame.apply(lambda column: column.str.contains("[\r\n]", regex=True)).any(axis=1)
    if embedded.any():
        problems = [
            Problem(int(row) + 2, "(row)", "line break inside a field") for row in embedded[embedded].index
        ]
        raise InputError(source, problems)
    return frame.apply(lambda column: column.str.strip())


def _parser_error_line(error: Exception) -> int:
    words = str(error).replace(",", " ").split()
    if "line" in words:
        following = words[words.index("line") + 1]
        if following.isdigit():
            return int(following)
    return 1


def load_ruleset(path: Path | str) -> pd.DataFrame:
    return validate_ruleset(read_csv_text(path, RULESET_COLUMNS), source=str(path))


def load_pca_codes(path: Path | str = SHIPPED_PCA_REFERENCE) -> frozenset[str]:
    frame = read_csv_text(path, ("SHORT_NAME", "TYPE"))
    return frozenset(frame.loc[frame["TYPE"] == "PCA", "SHORT_NAME"])


def load_practices(path: Path | str) -> pd.DataFrame:
    """PRACTICE_CODE,LIST_SIZE_CPI,LIST_SIZE_PREVALENCE → snake_case columns."""
    source = str(path)
    frame = read_csv_text(path, ("PRACTICE_CODE", "LIST_SIZE_CPI", "LIST_SIZE_PREVALENCE"))
    problems = ProblemCollector(source)
    _check_blank(frame, ["PRACTICE_CODE"], problems)
    _check_duplicates(frame, ["PRACTICE_CODE"], problems)
    sizes = {
        column: _whole_numbers(frame, column, problems, minimum=1, maximum=MAX_LIST_SIZE)
        for column in ("LIST_SIZE_CPI", "LIST_SIZE_PREVALENCE")
    }
    if frame.empty:
        problems.add(1, "PRACTICE_CODE", "no practices")
    problems.raise_if_any()
    return pd.DataFrame(
        {
            "practice_code": frame["PRACTICE_CODE"],
            "list_size_cpi": sizes["LIST_SIZE_CPI"],
            "list_size_prevalence": sizes["LIST_SIZE_PREVALENCE"],
        }
    )


def load_manual_answers(path: Path | str, ruleset: pd.DataFrame, practice_codes) -> pd.DataFrame:
    """PRACTICE_CODE,INDICATOR_CODE,VALUE (Yes/No) → practice_code, indicator_code, answer."""
    source = str(path)
    frame = read_csv_text(path, ("PRACTICE_CODE", "INDICATOR_CODE", "VALUE"))
    problems = ProblemCollector(source)
    _check_blank(frame, ["PRACTICE_CODE", "INDICATOR_CODE", "VALUE"], problems)
    _check_duplicates(frame, ["PRACTICE_CODE", "INDICATOR_CODE"], problems)
    manual_codes = set(ruleset.loc[ruleset["kind"] == MANUAL, "indicator_code"])
    for position in _rows_where(
        ~frame["PRACTICE_CODE"].isin(list(practice_codes)) & (frame["PRACTICE_CODE"] != "")
    ):
        problems.add(
            position + 2, "PRACTICE_CODE", f"practice {frame['PRACTICE_CODE'].iat[position]} is not known"
        )
    for position in _rows_where(
        ~frame["INDICATOR_CODE"].isin(manual_codes) & (frame["INDICATOR_CODE"] != "")
    ):
        problems.add(
            position + 2,
            "INDICATOR_CODE",
            f"{frame['INDICATOR_CODE'].iat[position]} is not a manual indicator",
        )
    answer = frame["VALUE"].str.lower()
    for position in _rows_where(~answer.isin(["yes", "no"]) & (answer != "")):
        problems.add(position + 2, "VALUE", f"{frame['VALUE'].iat[position]!r} must be Yes or No")
    problems.raise_if_any()
    return pd.DataFrame(
        {
            "practice_code": frame["PRACTICE_CODE"],
            "indicator_code": frame["INDICATOR_CODE"],
            "answer": (answer == "yes").to_numpy(dtype=bool),
        }
    )


def load_year_parameters(year: str, path: Path | str = SHIPPED_YEAR_PARAMETERS) -> YearParameters:
    frame = read_csv_text(path, ("year", "point_value_gbp", "national_average_list_size"))
    row = frame[frame["year"] == year]
    if row.empty:
        raise InputError(str(path), [Problem(1, "year", f"no parameters for {year}")])
    line = int(row.index[0]) + 2
    try:
        point_value = Decimal(row["point_value_gbp"].iat[0])
        average = Decimal(row["national_average_list_size"].iat[0])
    except InvalidOperation as error:
        raise InputError(str(path), [Problem(line, "point_value_gbp", "not a number")]) from error
    return YearParameters(point_value=point_value, average_list_size=average)


def _read_extract_quickly(path: Path | str) -> pd.DataFrame | None:
    """The extract as categoricals through Arrow's CSV reader (both cores: a national file in under half
    pandas' time), or None when the file is anything but UTF-8 with whole rows and no line break inside a
    field: then pandas reads it again, to name the line and field of any problem. The header, checked by
    the caller, is skipped; every value is read as text and empty stays empty, as pandas reads it below."""
    text = pa.dictionary(pa.int32(), pa.string())
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=list(EXTRACT_COLUMNS), skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(EXTRACT_COLUMNS, text),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, UnicodeError):
        return None
    return table.to_pandas()


def read_extract_frame(path: Path | str, source: str | None = None) -> pd.DataFrame:
    """The extract as a frame of categoricals (cheap for millions of repetitive strings), header checked."""
    source = source or str(path)
    with open(path, "rb") as handle:
        header_bytes = handle.readline()
    header = decode(header_bytes, source).lstrip("\ufeff").rstrip("\r\n")
    if header != ",".join(EXTRACT_COLUMNS):
        raise InputError(
            source, [Problem(1, "(header)", f"expected {','.join(EXTRACT_COLUMNS)!r}, found {header!r}")]
        )
    frame = _read_extract_quickly(path)
    if frame is not None:
        return frame
    for encoding in ENCODINGS:
        try:
            frame = pd.read_csv(
                path, dtype="category", keep_default_na=False, na_filter=False, encoding=encoding, engine="c"
            )
        except UnicodeDecodeError:
            continue
        except pd.errors.ParserError as error:
            raise InputError(source, [Problem(_parser_error_line(error), "(row)", str(error))]) from error
        break
    else:
        decode(Path(path).read_bytes(), source)  # raises with the line of the undecodable byte
    problems = ProblemCollector(source)
    for name in EXTRACT_COLUMNS:
        categories = frame[name].cat.categories.astype(str)
        broken = categories.str.contains("[\r\n]", regex=True)
        if broken.any():
            rows = frame[name].isin(categories[broken]).to_numpy().nonzero()[0]
            problems.add_rows(rows + 2, name, lambda _: "line break inside a field")
    problems.raise_if_any()
    return frame


def read_extract(
    path: Path | str,
    *,
    practice_codes,
    ruleset: pd.DataFrame,
    pca_codes: frozenset[str],
    quality_service: str | None = None,
    achievement_date: dt.date | None = None,
) -> Extract:
    return parse_extract(
        read_extract_frame(path),
        practice_codes=practice_codes,
        ruleset=ruleset,
        pca_codes=pca_codes,
        quality_service=quality_service,
        achievement_date=achievement_date,
        source=str(path),
    )


def _rows_where(mask: pd.Series) -> list[int]:
    return list(mask.to_numpy().nonzero()[0])


def _check_blank(frame: pd.DataFrame, columns: Sequence[str], problems: ProblemCollector) -> None:
    for column in columns:
        for position in _rows_where(frame[column] == ""):
            problems.add(position + 2, column, "is blank")


def _check_duplicates(frame: pd.DataFrame, columns: Sequence[str], problems: ProblemCollector) -> None:
    for position in _rows_where(frame.duplicated(subset=list(columns), keep="first")):
        problems.add(
            position + 2, columns[-1], f"{' '.join(frame[list(columns)].iloc[position])} appears twice"
        )


def _whole_numbers(
    frame: pd.DataFrame, column: str, problems: ProblemCollector, minimum: int, maximum: int
) -> pd.Series:
    text = frame[column]
    valid = text.str.fullmatch(r"[0-9]{1,12}")
    numbers = pd.to_numeric(text.where(valid, "0")).astype("int64")
    for position in _rows_where(~valid | (numbers < minimum) | (numbers > maximum)):
        problems.add(
            position + 2, column, f"{text.iat[position]!r} must be a whole number from {minimum} to {maximum}"
        )
    return numbers
