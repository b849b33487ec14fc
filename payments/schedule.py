"""Payment dates and cut-offs: a payment date each month, a cut-off some working days before it.

Working days exclude weekends and the dates in settings.PAYMENTS_NON_WORKING_DAYS (bank holidays, which
change each year and so are configuration, not code).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from participation.models import ServiceYear

from .models import ReleaseSchedule


@dataclass(frozen=True)
class Rule:
    payment_day: int
    working_days_before: int
    cutoff_time: dt.time


@dataclass(frozen=True)
class Release:
    cutoff: dt.datetime  # aware
    payment_date: dt.date


def default_rule() -> Rule:
    configured = settings.PAYMENTS_SCHEDULE
    return Rule(
        payment_day=int(configured["payment_day"]),
        working_days_before=int(configured["working_days_before"]),
        cutoff_time=dt.time.fromisoformat(configured["cutoff_time"]),
    )


def rule_for(on: dt.date) -> Rule:
    """The schedule of the service year the payment date falls in, or the default one."""
    schedule = (
        ReleaseSchedule.objects.filter(service_year__start_date__lte=on, service_year__end_date__gte=on)
        .order_by("service_year__service_id")
        .first()
    )
    if schedule is None:
        return default_rule()
    return Rule(schedule.payment_day, schedule.working_days_before, schedule.cutoff_time)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day.isoformat() not in settings.PAYMENTS_NON_WORKING_DAYS


def payment_date(year: int, month: int, rule: Rule | None = None) -> dt.date:
    """The month's payment date: its payment day (the month's last day if shorter), moved back to a
    working day so money never arrives late."""
    rule = rule or rule_for(dt.date(year, month, 1))
    day = dt.date(year, month, min(rule.payment_day, calendar.monthrange(year, month)[1]))
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def cutoff_before(paid_on: dt.date, rule: Rule) -> dt.datetime:
    day, left = paid_on, rule.working_days_before
    while left:
        day -= dt.timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return timezone.make_aware(dt.datetime.combine(day, rule.cutoff_time))


def release_for_month(year: int, month: int) -> Release:
    rule = rule_for(dt.date(year, month, 1))
    paid_on = payment_date(year, month, rule)
    return Release(cutoff_before(paid_on, rule), paid_on)


def next_release(after: dt.datetime) -> Release:
    """The first scheduled release whose cut-off is at or after `after`."""
    local = timezone.localtime(after)
    year, month = local.year, local.month
    for _ in range(14):
        release = release_for_month(year, month)
        if release.cutoff >= after:
            return release
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("a release is scheduled every month")  # pragma: no cover


def instalment_months(service_year: ServiceYear) -> list[tuple[int, int]]:
    """(year, month) of the twelve months of a financial year, April first."""
    start = service_year.start_date
    return [(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1) for i in range(12)]


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])
