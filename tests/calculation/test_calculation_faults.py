"""Faults under a real worker mid-run: its database connection terminated, its Redis stopped and started.
In each, nothing partial is published, the run fails (and can be retried), and the retry publishes the same
figures as an undisturbed run."""

import time

import pytest
from django.db import connection

from calculation import actions, tasks
from calculation.models import CalculationRun, Publication, RunLease
from tests.calculation.helpers import YEAR_END, example_tree, expected_totals, load_worked_example
from tests.calculation.worker_helpers import a_chunk_held_before_it_commits, published_totals, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
Status = CalculationRun.Status


def started_year_end():
    example_tree()
    year = load_worked_example()
    run = actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)
    tasks.queue_run(run)
    return wait_for(run, lambda run: run.status == Status.RUNNING)


def nothing_published_by(run) -> bool:
    """Chunks that committed before the fault may keep their rows under the failed run (the retry starts
    afresh); figures become visible only through a publication, and none may exist."""
    return not Publication.objects.exists()


def retried_to_publication(run):
    tasks.queue_run(actions.retry_run(run=run, by=None))
    wait_for(run, lambda run: run.is_finished)
    assert run.status == Status.PUBLISHED and run.attempt == 2, run.error
    assert published_totals(run) == sorted(expected_totals())
    assert Publication.objects.get().run == run and not RunLease.objects.exists()


def test_a_workers_database_connection_terminated_mid_chunk(workers_on_test_database):
    workers_on_test_database.start()
    run = started_year_end()

    with a_chunk_held_before_it_commits(run) as chunk_backend, connection.cursor() as cursor:
        # Every connection the worker holds: the chunk's, about to commit, and its lease heartbeat's.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND (pid = %s OR application_name = '' AND state = 'idle')",
            [chunk_backend],
        )

    # The chunk fails on a fresh connection at once: no need to wait for its lease.
    wait_for(run, lambda run: run.is_finished, timeout=30)
    assert run.status == Status.FAILED and "terminat" in run.error.lower(), run.error
    assert nothing_published_by(run)
    retried_to_publication(run)


def test_redis_stopped_and_restarted_mid_run(workers_on_own_redis, own_redis):
    workers_on_own_redis.environment.update(CALCULATION_STALL_SECONDS="1")
    workers_on_own_redis.start()
    run = started_year_end()

    with a_chunk_held_before_it_commits(run):
        own_redis.stop()  # with the run's other chunks still queued in it, and no persistence
    own_redis.start()
    time.sleep(1.5)  # past the stall limit set above, counted from the chunk's progress

    # The chunk under way commits its results but the queued ones were lost with Redis: the run stalls,
    # and the next worker to start fails it.
    workers_on_own_redis.start()
    wait_for(run, lambda run: run.is_finished, timeout=60)
    assert run.status == Status.FAILED, run.error
    assert "queued task was lost" in run.error, run.error
    assert run.progress_done < run.progress_total and not Publication.objects.exists()
    retried_to_publication(run)
