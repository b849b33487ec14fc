"""Every spreadsheet the portal hands out (CSV and XLSX) goes through here, so that no cell becomes a live
formula when opened: text starting with = + - @, a tab or a carriage return is prefixed with an apostrophe
(OWASP's advice for CSV injection). A plain number, such as -12.50, is left as it is: it cannot be a formula,
and people sort and sum these columns."""

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
