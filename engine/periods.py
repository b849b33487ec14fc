"""Achievement dates of a service year (DOMAIN.md §5, §7a): month ends, quarter ends or the year end.

A financial year runs 1 April–31 March, so month 1 is April and the last achievement date of every period
is 31 March.
"""

from __future__ import annotations

import calendar
from datetime import date

PERIODS = ("monthly", "quarterly", "annual")
MONTHS_PER_PERIOD = {"monthly": 1, "quarterly": 3, "annual": 12}


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def achievement_dates(start_year: int, period: str) -> list[date]:
    """The achievement dates of the financial year starting in April of ``start_year``."""
    if period not in MONTHS_PER_PERIOD:
        raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    step = MONTHS_PER_PERIOD[period]
    dates = []
    for month_of_year in range(step, 13, step):
        calendar_month = (month_of_year + 2) % 12 + 1
        dates.append(month_end(start_year + (calendar_month < 4), calendar_month))
    return dates


def month_of_year(start_year: int, on: date) -> int:
    """1 for April … 12 for March of the financial year starting in ``start_year``; the instalment number
    a monthly capitation payment for that month is."""
    months = (on.year - start_year) * 12 + on.month - 4
    if not 0 <= months < 12:
        raise ValueError(f"{on} is not in the financial year {start_year}/{(start_year + 1) % 100:02d}")
    return months + 1
