"""Calculation runs on real Celery workers over Redis, against the test's PostgreSQL database."""

import datetime as dt
import os
import signal
import time

import pytest
from django.utils import timezone

from calculation import actions, tasks
from calculation.models import CalculationRun, Publication, RunLease
from tests.calculation.helpers import YEAR_END, example_tree, expected_totals, load_worked_example
from tests.calculation.worker_helpers import a_chunk_held_before_it_commits, published_totals, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
Status = CalculationRun.Status


def test_a_real_worker_runs_a_year_end_to_publication(workers_on_test_database):
    example_tree()
    year = load_worked_example()
    workers_on_test_database.start()
    workers_on_test_database.start()

    run = actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)
    tasks.queue_run(run)
    wait_for(run, lambda run: run.is_finished)

    assert run.status == Status.PUBLISHED, run.error
    assert published_totals(run) == sorted(expected_totals())


LEASE_SECONDS = 3


def test_a_worker_killed_mid_run_is_failed_once_its_lease_expires_and_the_retry_is_identical(
    workers_on_test_database,
):
    example_tree()
    year = load_worked_example()
    workers_on_test_database.environment.update(
        CALCULATION_LEASE_SECONDS=str(LEASE_SECONDS), CALCULATION_HEARTBEAT_SECONDS="0.5"
    )
    worker = workers_on_test_database.start()

    run = actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)
    tasks.queue_run(run)
    wait_for(run, lambda run: run.status == Status.RUNNING)
    with a_chunk_held_before_it_commits(run):
        # The chunk's heartbeat keeps its lease alive while it is blocked: a slow chunk is not a lost one.
        lease = RunLease.objects.get(run=run, stage__startswith="commissioner")
        assert lease.holder.endswith(f":{worker.pid}") and lease.expires_at > timezone.now()
        # A small run's first chunk may commit before the hold is taken, so count what had committed.
        done_when_killed = CalculationRun.objects.get(pk=run.pk).progress_done
        os.kill(worker.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        worker.wait(timeout=20)

    run.refresh_from_db()
    assert run.status == Status.RUNNING and run.progress_done == done_when_killed < run.progress_total
    assert not Publication.objects.exists()
    assert actions.fail_stalled_runs(stalled_for=dt.timedelta(0)) == []  # it holds a lease, for now
    # Once the lease has expired, the next worker to start notices the lost run itself, without beat.
    time.sleep(max(0, (RunLease.objects.get(pk=lease.pk).expires_at - timezone.now()).total_seconds()))
    workers_on_test_database.start()
    wait_for(run, lambda run: run.status == Status.FAILED, timeout=30)
    noticed_after = time.monotonic() - killed_at
    assert "stopped renewing its lease on commissioner" in run.error and str(worker.pid) in run.error
    assert not Publication.objects.exists() and not RunLease.objects.exists()
    # Within the lease and a worker's start-up, far inside the two minutes a lost worker may take.
    assert noticed_after < LEASE_SECONDS + 30, noticed_after

    tasks.queue_run(actions.retry_run(run=run, by=None))
    wait_for(run, lambda run: run.is_finished)
    assert run.status == Status.PUBLISHED and run.attempt == 2, run.error
    assert published_totals(run) == sorted(expected_totals())
    assert Publication.objects.get().run == run
