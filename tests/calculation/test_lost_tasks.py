"""A queued run whose task never reaches a worker: the broker lost the message, or a worker took it and was
killed before starting it. The watchdog notices within CALCULATION_LOST_TASK_SECONDS (not the 15-minute
stall limit), fails the run so Support can retry it, and leaves alone a run whose task is still waiting in
the queue, however long it waits."""

import subprocess
import sys
import time

import pytest

from calculation import actions, tasks
from calculation.models import CalculationRun, Publication
from cqrs_portal.celery import app
from tests.calculation.helpers import YEAR_END, example_tree, expected_totals, load_worked_example
from tests.calculation.worker_helpers import published_totals, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
Status = CalculationRun.Status
LOST_AFTER = 1

# What a worker SIGKILLed between taking a message and starting it leaves: the message taken from the queue
# (late acknowledgement keeps it in Redis's unacknowledged set until the 1-hour visibility timeout) and no
# task, no lease.
TAKE_AND_DIE = """
import os, signal, sys
from kombu import Connection

with Connection(sys.argv[1]) as broker:
    message = broker.default_channel.basic_get(sys.argv[2], no_ack=False)
    assert message is not None, "nothing was queued"
    print(message.headers["task"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def lost_after(settings):
    settings.CALCULATION_LOST_TASK_SECONDS = LOST_AFTER


def queued_year_end() -> CalculationRun:
    example_tree()
    year = load_worked_example()
    run = actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)
    tasks.queue_run(run)  # no worker is listening yet: the task waits in the queue
    return run


def past_the_limit() -> None:
    time.sleep(LOST_AFTER + 0.5)


def test_a_task_waiting_in_the_queue_is_left_alone_and_one_the_broker_lost_fails_its_run(
    workers_on_test_database, lost_after
):
    run = queued_year_end()
    past_the_limit()
    # Waiting behind a busy queue is not being lost, however long it waits.
    assert tasks.fail_stalled_calculation_runs() == []
    assert tasks._stages_waiting_in_broker() == {(run.pk, 1)}

    with app.connection_for_write() as broker:
        channel = broker.default_channel
        for priority in channel.priority_steps:
            channel.client.delete(channel._q_for_pri(workers_on_test_database.queue, priority))

    # Seen waiting a moment ago: a task between the queue and its worker's lease is in neither place.
    assert tasks.fail_stalled_calculation_runs() == []
    past_the_limit()
    assert tasks.fail_stalled_calculation_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == Status.FAILED and "task was lost" in run.error, run.error
    assert "to start" in run.error
    retried = actions.retry_run(run=run, by=None)
    assert retried.status == Status.QUEUED and retried.attempt == 2


def test_a_task_taken_by_a_worker_killed_before_starting_it_fails_its_run_and_the_retry_publishes(
    workers_on_own_redis, own_redis, lost_after
):
    run = queued_year_end()
    taker = subprocess.run(
        [sys.executable, "-c", TAKE_AND_DIE, own_redis.url, workers_on_own_redis.queue],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert taker.returncode == -9 and taker.stdout.strip() == "calculation.begin_run", taker.stderr
    assert tasks._stages_waiting_in_broker() == set()

    past_the_limit()
    assert tasks.fail_stalled_calculation_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == Status.FAILED and "task was lost" in run.error, run.error
    assert not Publication.objects.exists()

    # Retryable at once, and the retry gives the worked example's figures.
    tasks.queue_run(actions.retry_run(run=run, by=None))
    workers_on_own_redis.start()
    wait_for(run, lambda run: run.is_finished, timeout=120)
    assert run.status == Status.PUBLISHED and run.attempt == 2, run.error
    assert published_totals(run) == sorted(expected_totals())
