"""Thin Celery tasks for calculation runs: ids in, an action called, the next step queued after commit.

A chunk that raises fails its run (nothing is published). A chunk whose worker is killed never reports; the
`fail_stalled_calculation_runs` watchdog fails its run once nothing has moved for CALCULATION_STALL_SECONDS,
which is longer than a chunk's hard time limit.
"""

import datetime as dt
import logging
from contextlib import contextmanager

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mass_mail
from django.utils import timezone

from achievement.calculation import actions, pipeline
from achievement.models import IndicatorResult, PracticeResult

logger = logging.getLogger(__name__)

CHUNK_TIME_LIMIT = 10 * 60
STAGE_TIME_LIMIT = 30 * 60


@contextmanager
def _failing_the_run(run_id: int, attempt: int):
    try:
        yield
    except Exception as error:
        logger.exception("calculation run %s attempt %s failed", run_id, attempt)
        actions.fail_run(run_id=run_id, attempt=attempt, error=f"{type(error).__name__}: {error}")
        raise


@shared_task(
    name="achievement.begin_calculation_run",
    time_limit=STAGE_TIME_LIMIT,
    soft_time_limit=STAGE_TIME_LIMIT - 60,
)
def begin_calculation_run(run_id: int, attempt: int) -> None:
    with _failing_the_run(run_id, attempt):
        actions.begin_run(run_id=run_id, attempt=attempt)


@shared_task(
    name="achievement.calculate_commissioner",
    time_limit=CHUNK_TIME_LIMIT,
    soft_time_limit=CHUNK_TIME_LIMIT - 30,
)
def calculate_commissioner(run_id: int, attempt: int, commissioner_id: int) -> None:
    with _failing_the_run(run_id, attempt):
        actions.calculate_commissioner(run_id=run_id, attempt=attempt, commissioner_id=commissioner_id)


@shared_task(
    name="achievement.publish_calculation_run",
    time_limit=STAGE_TIME_LIMIT,
    soft_time_limit=STAGE_TIME_LIMIT - 60,
)
def publish_calculation_run(run_id: int, attempt: int) -> None:
    with _failing_the_run(run_id, attempt):
        actions.publish_run(run_id=run_id, attempt=attempt)


@shared_task(name="achievement.fail_stalled_calculation_runs", time_limit=5 * 60, soft_time_limit=4 * 60)
def fail_stalled_calculation_runs() -> list[int]:
    return actions.fail_stalled_runs(stalled_for=dt.timedelta(seconds=settings.CALCULATION_STALL_SECONDS))


@shared_task(name="achievement.start_nightly_calculation_runs", time_limit=5 * 60, soft_time_limit=4 * 60)
def start_nightly_calculation_runs() -> list[int]:
    """Nightly in-year runs: every open service year with extract values, at its latest achievement date."""
    return [run.pk for run in actions.start_nightly_runs(today=timezone.localdate())]


@shared_task(name="achievement.email_achievement_available", time_limit=15 * 60, soft_time_limit=14 * 60)
def email_achievement_available(run_id: int) -> int:
    messages = actions.achievement_available_emails(run_id=run_id)
    return send_mass_mail(messages, fail_silently=False)


@shared_task(name="achievement.analyse_calculation_results", time_limit=10 * 60, soft_time_limit=9 * 60)
def analyse_calculation_results() -> None:
    pipeline.refresh_planner_statistics(IndicatorResult, PracticeResult)
