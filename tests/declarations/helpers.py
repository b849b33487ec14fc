"""Published runs with chosen figures, made as publication makes them (publish_run and its hooks), so that
declaration tests need no extract or engine."""

from __future__ import annotations

from decimal import Decimal

from calculation import actions as calculation_actions
from calculation.models import CalculationRun, IndicatorResult, PracticeResult


def publish(
    year, figures: dict, *, kind=CalculationRun.Kind.YEAR_END, reason="", on=None, indicators=None
) -> CalculationRun:
    """Publish a national run of `year` whose practices have these (points, pounds): {practice: (p, £)};
    `indicators`: {practice: {indicator code: (numerator, denominator)}} for rows to compare."""
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
    IndicatorResult.objects.bulk_create(
        IndicatorResult(
            run=run, practice=practice, indicator_code=code, numerator=numerator, denominator=denominator,
            achievement=100 * numerator / denominator, points=Decimal(1), cpi=1, apdf=1, payment=Decimal(1),
        )
        for practice, rows in (indicators or {}).items()
        for code, (numerator, denominator) in rows.items()
    )  # fmt: skip
    return calculation_actions.publish_run(run_id=run.pk, attempt=run.attempt)
