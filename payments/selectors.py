"""Reads of the payments ledger: what a release would take, the ledger's totals, statements and pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils import timezone

from calculation.models import Publication
from participation.models import ServiceYear

from . import schedule
from .models import PaymentBatch, PaymentLine

L = PaymentLine
# Lines replaced by a reissue are not money owed twice: every other line counts towards the ledger.
NOT_IN_LEDGER = (L.Status.REISSUED,)


def year_end_publication(service_year: ServiceYear) -> Publication | None:
    return Publication.objects.filter(
        service_year=service_year, achievement_date=service_year.end_date
    ).first()


def previous_year(service_year: ServiceYear) -> ServiceYear | None:
    return ServiceYear.objects.filter(
        service_id=service_year.service_id, financial_year=service_year.financial_year - 1
    ).first()


def batch_reference(cutoff: dt.datetime) -> str:
    """PAY-20240408-1200 for the scheduled cut-off at noon UK time; a cut-off given to the second or finer
    (from the command) carries it, so every cut-off has its own reference."""
    local = timezone.localtime(cutoff)
    finer = (
        f"{local:%S}" + (f"{local.microsecond:06d}" if local.microsecond else "")
        if local.second or local.microsecond
        else ""
    )
    return f"PAY-{local:%Y%m%d-%H%M}{finer}"


def releasable(cutoff: dt.datetime, payment_date: dt.date):
    """The lines a release at this cut-off takes: approved by the cut-off, due by its payment date, and in
    no batch yet."""
    return L.objects.filter(
        status=L.Status.APPROVED, batch__isnull=True, approved_at__lte=cutoff, due_date__lte=payment_date
    )


def due_cutoff(now: dt.datetime) -> dt.datetime | None:
    """This month's cut-off if it has passed and was not released yet."""
    local = timezone.localtime(now)
    current = schedule.release_for_month(local.year, local.month)
    if current.cutoff <= now and not PaymentBatch.objects.filter(cutoff=current.cutoff).exists():
        return current.cutoff
    return None


def ledger_totals(service_year: ServiceYear) -> dict[int, Decimal]:
    rows = (
        L.objects.filter(service_year=service_year)
        .exclude(status__in=NOT_IN_LEDGER)
        .values("payee_id")
        .annotate(total=Sum("amount"), lines=Count("id"))
    )
    return {row["payee_id"]: row["total"] for row in rows}
