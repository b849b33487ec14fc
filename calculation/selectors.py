"""Reads of calculation runs, scoped to who is asking (runs are national: Support only; else 404)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Organisation, OrganisationType
from accounts.permissions import Permission, may_nationally
from extracts.models import Extract
from participation.models import ServiceYear

from .models import CalculationRun, IndicatorResult, PracticeResult


def may_run_calculations(user) -> bool:
    return may_nationally(user, Permission.SUPPORT)


def require_calculation_rights(user) -> None:
    """The forms that start runs are for Support; to anyone else they do not exist. (Their POSTs go to the
    actions, which refuse anyone else themselves.)"""
    if not may_run_calculations(user):
        raise Http404


def may_read_runs(user) -> bool:
    """Runs are national work: Support runs them; Service Management watches them."""
    return may_run_calculations(user) or may_nationally(user, Permission.MANAGE_SERVICES)


def runs_for(user) -> QuerySet[CalculationRun]:
    if not may_read_runs(user):
        raise Http404
    return CalculationRun.objects.select_related("service_year", "organisation", "triggered_by")


def run_for(user, pk: int) -> CalculationRun:
    return get_object_or_404(runs_for(user), pk=pk)


def run_kind_for(
    service_year: ServiceYear, achievement_date: dt.date, organisation: Organisation | None
) -> str:
    """A run of part of the country is a recalculation; a national one is the year end on the year's last
    day and in-year before it."""
    if organisation is not None and organisation.type != OrganisationType.NATIONAL:
        return CalculationRun.Kind.RECALCULATION
    if achievement_date == service_year.end_date:
        return CalculationRun.Kind.YEAR_END
    return CalculationRun.Kind.IN_YEAR


def dates_with_data() -> list[tuple[str, str, dt.date]]:
    """(service year code, its name, achievement date) that have extract data, newest first: what may be
    calculated."""
    rows = (
        Extract.objects.values_list(
            "service_year__financial_year", "service_year__code", "service_year__name", "achievement_date"
        )
        .distinct()
        .order_by("-service_year__financial_year", "service_year__code", "-achievement_date")
    )
    return [(code, name, on) for _, code, name, on in rows]


def published_indicator_results(run_id: int) -> QuerySet[IndicatorResult]:
    """The indicator results a published run shows: its own and those it carries forward, one query."""
    shown = PracticeResult.objects.filter(
        run_id=run_id, indicator_run_id=OuterRef("run_id"), practice_id=OuterRef("practice_id")
    )
    return IndicatorResult.objects.filter(Exists(shown))
