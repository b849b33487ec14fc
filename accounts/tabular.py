"""One rule for figures in tables and one way to download a table, for every app's pages.

It sits in the lowest app so that every app's tables and views can use it. Figures are shown as a person
reads them (£84,244.84, 512.35 points, 83.4%) and right-aligned; downloads carry the same figures as
numbers a spreadsheet can add up (with a currency or percentage format in Excel), dates as dates, and no
markup. CSVs start with a UTF-8 byte-order mark so that Excel reads "£" and names with accents correctly.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from decimal import Decimal

import django_tables2 as tables
from django.db.models import QuerySet, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import strip_tags
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .exports import neutralise

NUMERIC = "portal-numeric"
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
EXCEL_FORMATS = {
    "pounds": '"£"#,##0.00;[Red]-"£"#,##0.00',
    "points": "#,##0.00",
    "percentage": "0.0%",
    "count": "#,##0",
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
}


# The formatting rule, used by the columns below and by the `figures` template filters.


def pounds(value) -> str:
    """£1,234.56 to the penny; a negative amount as −£1,234.56 (a true minus sign)."""
    if value is None or value == "":
        return ""
    amount = Decimal(value).quantize(Decimal("0.01"))
    return f"{'−' if amount < 0 else ''}£{abs(amount):,.2f}"


def points(value) -> str:
    """Points to two decimals with thousands separated: 1,234.50."""
    if value is None or value == "":
        return ""
    amount = Decimal(value).quantize(Decimal("0.01"))
    return f"{'−' if amount < 0 else ''}{abs(amount):,.2f}"


def percentage(value, places: int = 1) -> str:
    """A fraction (0.834) as 83.4%."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value) * 100:.{int(places)}f}%"


def count(value) -> str:
    if value is None or value == "":
        return ""
    return f"{int(value):,}"


SHOWN = {"pounds": pounds, "points": points, "percentage": percentage, "count": count}


class FigureColumn(tables.Column):
    """A right-aligned figure shown by the formatting rule and downloaded as a number; `total=True` adds
    the column's sum to the table's totals row."""

    kind = "count"

    def __init__(self, *args, total: bool = False, **kwargs):
        attrs = kwargs.pop("attrs", {})
        for part in ("th", "td", "tf"):
            attrs.setdefault(part, {})
            attrs[part]["class"] = f"{attrs[part].get('class', '')} {NUMERIC}".strip()
        if total:
            kwargs["footer"] = self._total
        super().__init__(*args, attrs=attrs, **kwargs)
        self.total = total

    def render(self, value):
        return SHOWN[self.kind](value)

    def value(self, value):
        return value

    def _total(self, bound_column, table):
        return SHOWN[self.kind](column_total(table, bound_column))


class PoundsColumn(FigureColumn):
    kind = "pounds"


class PointsColumn(FigureColumn):
    kind = "points"


class PercentageColumn(FigureColumn):
    kind = "percentage"


class CountColumn(FigureColumn):
    kind = "count"


def column_total(table, bound_column):
    """The sum of a figure column over every row the table holds (all pages, after filtering); every
    total column of a table is summed by one query, once."""
    totals = getattr(table, "_portal_totals", None)
    if totals is None:
        columns = [c for c in table.columns if getattr(c.column, "total", False)]
        data = table.data.data
        if isinstance(data, QuerySet):
            sums = {c.name: Sum(str(c.accessor).replace(".", "__")) for c in columns}
            totals = {name: value or 0 for name, value in data.order_by().aggregate(**sums).items()}
        else:
            totals = {
                c.name: sum((c.accessor.resolve(row) or 0 for row in data), Decimal(0)) for c in columns
            }
        table._portal_totals = totals
    return totals[bound_column.name]


def has_totals(table) -> bool:
    return any(getattr(column.column, "total", False) for column in table.columns)


# Downloads.


def _kind(bound_column) -> str | None:
    column = bound_column.column
    if isinstance(column, FigureColumn):
        return column.kind
    if isinstance(column, tables.DateTimeColumn):
        return "datetime"
    if isinstance(column, tables.DateColumn):
        return "date"
    return None


def _cell(row, bound_column, kind):
    table, name = row.table, bound_column.name
    if hasattr(table, f"value_{name}"):
        value = row.get_cell_value(name)
    elif kind is not None:
        value = bound_column.accessor.resolve(row.record, quiet=True)
    else:
        value = row.get_cell_value(name)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, str):
        return html.unescape(strip_tags(value)).strip()
    return value


def table_rows(table) -> tuple[list[str], list[str | None], list[list]]:
    """The headers, each column's kind and every row (all pages) of a table, as plain values."""
    # Hidden columns exist for downloads only (a PCN's code beside its name, a period's two dates).
    columns = [c for c in table.columns.iterall() if not c.column.exclude_from_export]
    kinds = [_kind(c) for c in columns]
    headers = [html.unescape(strip_tags(str(c.header))) for c in columns]
    rows = [[_cell(row, c, k) for c, k in zip(columns, kinds, strict=True)] for row in table.rows]
    return headers, kinds, rows


def _csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_response(headers, rows, filename: str) -> HttpResponse:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in headers])
    writer.writerows([neutralise(_csv_text(v)) for v in row] for row in rows)
    response = HttpResponse(out.getvalue().encode("utf-8"), content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def xlsx_response(headers, kinds, rows, filename: str, title: str = "Data") -> HttpResponse:
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append([neutralise(h) for h in headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for row in rows:
        sheet.append([neutralise(v) for v in row])
    for index, kind in enumerate(kinds, start=1):
        letter = get_column_letter(index)
        if kind in EXCEL_FORMATS:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = EXCEL_FORMATS[kind]
        width = max([len(str(headers[index - 1]))] + [len(_csv_text(r[index - 1])) for r in rows[:200]])
        sheet.column_dimensions[letter].width = min(max(width + 2, 10), 60)
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(out.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response


def download(request, table, filename: str) -> HttpResponse | None:
    """The table as CSV or Excel when the request asks for `_export=csv|xlsx`, else None.

    Every row the table's filters keep is downloaded, not just the page shown."""
    export_format = request.GET.get("_export")
    if export_format not in FORMATS:
        return None
    headers, kinds, rows = table_rows(table)
    if export_format == "csv":
        return csv_response(headers, rows, filename)
    return xlsx_response(headers, kinds, rows, filename)
