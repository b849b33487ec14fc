"""Every spreadsheet the portal hands out (CSV and XLSX) goes through here, so that no cell becomes a live
formula when opened: text starting with = + - @, a tab or a carriage return is prefixed with an apostrophe
(OWASP's advice for CSV injection). A plain number, such as -12.50, is left as it is: it cannot be a formula,
and people sort and sum these columns."""

import re

import tablib
from django_tables2.export import TableExport

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeTableExport(TableExport):
    """django-tables2's export, with every cell and header neutralised before tablib writes it."""

    def __init__(self, export_format, table, exclude_columns=None, dataset_kwargs=None):
        super().__init__(export_format, table, exclude_columns=exclude_columns, dataset_kwargs=dataset_kwargs)
        original = self.dataset
        safe = tablib.Dataset(
            *[tuple(neutralise(value) for value in row) for row in original],
            headers=[neutralise(header) for header in original.headers or []],
            title=original.title,
        )
        self.dataset = safe


def table_export(export_format: str, table, filename: str, **kwargs):
    return SafeTableExport(export_format, table, **kwargs).response(filename)


def is_export_format(export_format) -> bool:
    return TableExport.is_valid_format(export_format)
