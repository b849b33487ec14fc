"""Published runs with chosen figures, made as publication makes them (publish_run and its hooks), so that
declaration tests need no extract or engine."""

from __future__ import annotations

from decimal import Decimal

from calculation import actions as calculation_actions
from calculation.models import CalculationRun, PracticeResult


def publish(year, figures: dict, *, kind=CalculationRun.Kind.YEAR_END, reason="", on=None) -> CalculationRun:
    """Publish a national run of `year` whose practices have these (points, pounds): {practice: (p, £)}."""
    run = CalculationRun.objects.create(
        kind=kind, scope=CalculationRun.Scope.NATIONAL, service_year=year,
        achievement_date=on or year.end_date, status=CalculationRun.Status.RUNNING, reason=reason,
    )  # fmt: skip
    PracticeResult.objects.bulk_create(
        PracticeResult(
            run=run, practice=practice, indicator_run=run, list_size_cpi=9000, list_size_prevalence=9000,
            points=Decimal(points), payment=Decimal(payment),
        )
        for practice, (points, payment) in figures.items()
    )  # fmt: skip
    return calculation_actions.publish_run(run_id=run.pk, attempt=run.attempt)
