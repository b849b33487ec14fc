"""Open downloads as a person's spreadsheet would: CSV as Excel reads it, XLSX with openpyxl."""

import csv
import io

from openpyxl import load_workbook

BOM = b"\xef\xbb\xbf"


def csv_rows(response) -> list[list[str]]:
    """The rows of a CSV download, after checking it starts with the byte-order mark Excel needs for £."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.startswith(BOM), "a CSV without a UTF-8 byte-order mark shows £ as Â£ in Excel"
    rows = list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"))))
    assert not any("<" in cell and ">" in cell for row in rows for cell in row), "markup in a cell"
    return rows


def xlsx_sheet(response):
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert not any(
        isinstance(cell.value, str) and "<" in cell.value and ">" in cell.value
        for row in sheet.iter_rows()
        for cell in row
    ), "markup in a cell"
    return sheet


def column(sheet, header: str) -> list:
    """The cells under a header, below the header row."""
    headers = [cell.value for cell in sheet[1]]
    index = headers.index(header) + 1
    return [row[0] for row in sheet.iter_rows(min_row=2, min_col=index, max_col=index)]
