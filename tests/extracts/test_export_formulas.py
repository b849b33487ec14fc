"""Issue 11 item 8: an upload named like a formula stays text in every export (CSV and XLSX)."""

import io

import openpyxl
import pytest

from accounts.exports import neutralise
from tests.extracts.test_extract_pages import LIST, csv_file, practice_rows, support, upload  # noqa: F401

FORMULA_NAME = "=1+1+cmd|calc!A0.csv"


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-12.50", "-12.50"), ("+44", "+44"), ("A00001", "A00001"),
     (-3, -3), (None, None)],
)  # fmt: skip
def test_neutralise(value, safe):
    assert neutralise(value) == safe


def test_a_formula_file_name_is_text_in_the_xlsx_and_csv_exports(client, support, upload):  # noqa: F811
    upload(csv_file(practice_rows("A00001"), name=FORMULA_NAME))
    xlsx = client.get(LIST, {"_export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value and "cmd" in str(cell.value)]
    assert cells and all(cell.data_type == "s" and cell.value == "'" + FORMULA_NAME for cell in cells)
    csv_text = client.get(LIST, {"_export": "csv"}).content.decode()
    assert f",'{FORMULA_NAME}," in csv_text and f",{FORMULA_NAME}," not in csv_text
