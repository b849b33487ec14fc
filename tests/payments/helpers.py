"""A published year end without running the calculation: the rows a run would leave, then the pointer moved
and the publication hooks run, exactly as calculation.actions.publish_run does."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from django.db import transaction

from accounts.models import Organisation
from calculation.models import CalculationRun, PracticeResult, Publication
from calculation.publication import run_publication_hooks
from engine import split_into_instalments
from participation.models import ServiceYear
from tests.factories import service_year


def years() -> tuple[ServiceYear, ServiceYear]:
    """QOF 2023/24 (whose year end pays 2024/25's aspiration) and 2024/25 at 80% and £220.62 a point."""
    first = service_year("QOF2324")
    second = service_year("QOF2425")
    ServiceYear.objects.filter(pk=second.pk).update(
        aspiration_rate=Decimal("0.80"), point_value=Decimal("220.62")
    )
    second.refresh_from_db()
    return first, second


@transaction.atomic
def publish_year_end(
    year: ServiceYear,
    payments: dict[Organisation, Decimal],
    aspiration: dict[Organisation, Decimal] | None = None,
) -> CalculationRun:
    """Publish a year end with these payments (and next year's annual aspiration, if given)."""
    run = CalculationRun.objects.create(
        kind=CalculationRun.Kind.YEAR_END, scope=CalculationRun.Scope.NATIONAL, service_year=year,
        achievement_date=year.end_date, status=CalculationRun.Status.PUBLISHED,
    )  # fmt: skip
    rows = []
    for practice, payment in payments.items():
        annual = (aspiration or {}).get(practice)
        monthly = last = None
        if annual is not None:
            pence = np.array([int(annual * 100)])
            monthly_pence, last_pence = split_into_instalments(pence)
            monthly, last = Decimal(int(monthly_pence[0])) / 100, Decimal(int(last_pence[0])) / 100
        rows.append(
            PracticeResult(
                run=run, practice=practice, indicator_run=run, list_size_cpi=10000,
                list_size_prevalence=10000,
                points=Decimal("500"), payment=payment, aspiration_annual=annual, aspiration_monthly=monthly,
                aspiration_last_month=last,
            )
        )  # fmt: skip
    PracticeResult.objects.bulk_create(rows)
    publication = Publication.objects.filter(service_year=year, achievement_date=year.end_date).first()
    replaced = publication.run_id if publication else None
    if publication is None:
        Publication.objects.create(service_year=year, achievement_date=year.end_date, run=run)
    else:
        Publication.objects.filter(pk=publication.pk).update(run=run)
    run_publication_hooks(run=run, replaced_run_id=replaced)
    return run


def aware(text: str) -> dt.datetime:
    from django.utils import timezone

    return timezone.make_aware(dt.datetime.fromisoformat(text))
