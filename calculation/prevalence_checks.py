"""The prevalence stage's checks against last year (engine.prevalence_checks), read and recorded in bulk.

Called by `actions.begin_run` inside its transaction, after the national prevalence of a year and date is
calculated and before it is frozen. Last year means the previous service year of the same service: its
frozen year-end prevalence, and its published year end's practices and registers. A review with outliers
holds the run until Support confirms or rejects the figures (actions.confirm_prevalence,
actions.reject_prevalence). A handful of queries, whatever the number of practices.
"""

from __future__ import annotations

import pandas as pd
from django.db.models import Sum

from accounts.models import Organisation
from engine.prevalence_checks import LastYear, prevalence_flags
from engine.ruleset import register_source_indicators
from participation.models import ServiceYear
from participation.selectors import engine_ruleset, participating_practice_codes

from . import pipeline
from .models import (
    CalculationRun,
    FrozenPrevalence,
    PracticeResult,
    PrevalenceFlag,
    PrevalenceReview,
    Publication,
)
from .selectors import published_indicator_results


def last_year_of(service_year: ServiceYear) -> tuple[LastYear, CalculationRun] | None:
    """The previous year's frozen year-end figures and its published year-end run; None when it has none."""
    previous = ServiceYear.objects.filter(
        service_id=service_year.service_id, financial_year=service_year.financial_year - 1
    ).first()
    if previous is None:
        return None
    frozen = FrozenPrevalence.objects.filter(
        service_year=previous, achievement_date=previous.end_date
    ).first()
    publication = (
        Publication.objects.filter(service_year=previous, achievement_date=previous.end_date)
        .select_related("run")
        .first()
    )
    if frozen is None or publication is None:
        return None
    sources = register_source_indicators(engine_ruleset(previous))["indicator_code"]
    registers = (
        published_indicator_results(publication.run_id)
        .filter(indicator_code__in=list(sources))
        .values("practice__code")
        .annotate(register=Sum("register"))
        .values_list("practice__code", "register")
    )
    practices = PracticeResult.objects.filter(run_id=publication.run_id).values_list(
        "practice__code", "list_size_prevalence"
    )
    figures = LastYear(
        registers=pd.DataFrame.from_records(list(registers), columns=["practice_code", "register"]).fillna(0),
        practices=pd.DataFrame.from_records(
            list(practices), columns=["practice_code", "list_size_prevalence"]
        ),
        prevalence=pipeline.frozen_prevalence(frozen.run_id),
    )
    return figures, publication.run


def review_prevalence(
    run: CalculationRun, *, registers: pd.DataFrame, practices: pd.DataFrame, prevalence: pd.DataFrame
) -> PrevalenceReview:
    """Compare the run's national prevalence with last year's and record the review and its flags (a run
    checked again, after a retry, replaces its earlier review)."""
    PrevalenceReview.objects.filter(run=run).delete()
    last_year = last_year_of(run.service_year)
    if last_year is None:
        return PrevalenceReview.objects.create(run=run, decision=PrevalenceReview.Decision.NO_COMPARISON)
    figures, compared_with = last_year
    flags = prevalence_flags(
        registers=registers,
        practices=practices,
        prevalence=prevalence,
        last_year=figures,
        participating=participating_practice_codes(run.service_year, on=run.achievement_date),
    )
    outliers = bool(flags["outlier"].any())
    review = PrevalenceReview.objects.create(
        run=run,
        compared_with=compared_with,
        decision=PrevalenceReview.Decision.PENDING if outliers else PrevalenceReview.Decision.PASSED,
    )
    practice_ids = dict(
        Organisation.objects.filter(code__in=set(flags["practice_code"]) - {""}).values_list("code", "pk")
    )
    PrevalenceFlag.objects.bulk_create(
        [
            PrevalenceFlag(
                review=review,
                kind=row.kind,
                outlier=bool(row.outlier),
                group_code=row.group_code,
                practice_id=practice_ids.get(row.practice_code),
                current=None if pd.isna(row.current) else float(row.current),
                previous=None if pd.isna(row.previous) else float(row.previous),
                message=row.message,
            )
            for row in flags.itertuples(index=False)
        ],
        batch_size=pipeline.INSERT_BATCH_ROWS,
    )
    return review
