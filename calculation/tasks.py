"""Thin Celery tasks for calculation runs: ids in, an action called, the next stage queued after commit.

The stages chain here, not in the actions: begin → one chunk per commissioner → publish. A chunk that
raises fails its run (nothing is published). A chunk whose worker is killed never reports; the
`fail_stalled_calculation_runs` watchdog fails its run once nothing has moved for CALCULATION_STALL_SECONDS,
which is longer than a chunk's hard time limit.
"""

import datetime as dt
import logging
from contextlib import contextmanager

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.tasks import email_after_commit

from . import actions, pipeline
from .models import CalculationRun, IndicatorResult, PracticeResult

logger = logging.getLogger(__name__)

CHUNK_TIME_LIMIT = 10 * 60
STAGE_TIME_LIMIT = 30 * 60


def _after_commit(task, *args) -> None:
    # robust: with tasks run in-process, one chunk's failure must not stop the others being queued.
    transaction.on_commit(lambda: task.delay(*args), robust=True)


def queue_run(run: CalculationRun) -> None:
    """Start a queued (or retried) run's first stage once the caller's transaction commits."""
    _after_commit(begin_calculation_run, run.pk, run.attempt)


@contextmanager
def _failing_the_run(run_id: int, attempt: int):
    try:
        yield
    except Exception as error:
        logger.exception("calculation run %s attempt %s failed", run_id, attempt)
        actions.fail_run(run_id=run_id, attempt=attempt, error=f"{type(error).__name__}: {error}")
        raise


@shared_task(name="calculation.begin_run", time_limit=STAGE_TIME_LIMIT, soft_time_limit=STAGE_TIME_LIMIT - 60)
def begin_calculation_run(run_id: int, attempt: int) -> None:
    with _failing_the_run(run_id, attempt):
        commissioners = actions.begin_run(run_id=run_id, attempt=attempt)
    if commissioners is None:
        return  # a stale delivery of an earlier attempt
    if not commissioners:
        _after_commit(publish_calculation_run, run_id, attempt)
    for commissioner_id in commissioners:
        _after_commit(calculate_commissioner, run_id, attempt, commissioner_id)


@shared_task(
    name="calculation.calculate_commissioner",
    time_limit=CHUNK_TIME_LIMIT,
    soft_time_limit=CHUNK_TIME_LIMIT - 30,
)
def calculate_commissioner(run_id: int, attempt: int, commissioner_id: int) -> None:
    with _failing_the_run(run_id, attempt):
        complete = actions.calculate_commissioner(
            run_id=run_id, attempt=attempt, commissioner_id=commissioner_id
        )
    if complete:
        _after_commit(publish_calculation_run, run_id, attempt)


@shared_task(
    name="calculation.publish_run", time_limit=STAGE_TIME_LIMIT, soft_time_limit=STAGE_TIME_LIMIT - 60
)
def publish_calculation_run(run_id: int, attempt: int) -> None:
    with _failing_the_run(run_id, attempt):
        run = actions.publish_run(run_id=run_id, attempt=attempt)
    if run is None:
        return
    email_after_commit()
    if run.scope == CalculationRun.Scope.NATIONAL:
        # Readers have the results already; fresh planner statistics for the new rows can follow.
        _after_commit(analyse_calculation_results)


@shared_task(name="calculation.fail_stalled_runs", time_limit=5 * 60, soft_time_limit=4 * 60)
def fail_stalled_calculation_runs() -> list[int]:
    return actions.fail_stalled_runs(stalled_for=dt.timedelta(seconds=settings.CALCULATION_STALL_SECONDS))


@shared_task(name="calculation.start_nightly_runs", time_limit=5 * 60, soft_time_limit=4 * 60)
def start_nightly_calculation_runs() -> list[int]:
    """Nightly in-year runs: every open service year with extract values, at its latest achievement date."""
    with transaction.atomic():
        runs = actions.start_nightly_runs(today=timezone.localdate())
        for run in runs:
            queue_run(run)
    return [run.pk for run in runs]


@shared_task(name="calculation.analyse_results", time_limit=10 * 60, soft_time_limit=9 * 60)
def analyse_calculation_results() -> None:
    pipeline.refresh_planner_statistics(IndicatorResult, PracticeResult)
