"""Thin Celery tasks for calculation runs: ids in, an action called, the next stage queued after commit.

The stages chain here, not in the actions: begin → one chunk per commissioner → publish. A stage that
raises fails its run (nothing is published). Every stage holds a lease on its run (RunLease) that a
heartbeat thread renews every CALCULATION_HEARTBEAT_SECONDS; a worker killed or cut off mid-stage stops
renewing, and the `fail_stalled_calculation_runs` watchdog (every CALCULATION_LEASE_CHECK_SECONDS from
beat, and when a worker starts) fails the run once the lease expires. A task lost before any worker took it
holds no lease: the watchdog looks for its message in the broker, and fails the run once it has been neither
waiting there nor leased for CALCULATION_LOST_TASK_SECONDS (CALCULATION_STALL_SECONDS without progress
where the broker cannot be looked into).
"""

import base64
import datetime as dt
import json
import logging
import os
import socket
import threading
from contextlib import contextmanager

from celery import current_app, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from notifications.tasks import email_after_commit

from . import actions, pipeline
from .models import CalculationRun, IndicatorResult, PracticeResult, RunLease

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
def _leased(run_id: int, attempt: int, stage: str):
    """Hold a lease on the run while this stage works, renewed from a thread of its own (its own database
    connection), and fail the run if the stage raises. Run in-process (the demo, unit tests) there is no
    worker to lose, so no heartbeat thread."""
    lasting = dt.timedelta(seconds=settings.CALCULATION_LEASE_SECONDS)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    stop = threading.Event()
    lease_id = heartbeat = None
    try:
        lease_id = actions.take_lease(
            run_id=run_id, attempt=attempt, stage=stage, holder=holder, lasting=lasting
        )
        if not current_app.conf.task_always_eager:
            heartbeat = threading.Thread(
                target=_renew_until, args=(stop, lease_id, lasting), name=f"lease-{lease_id}", daemon=True
            )
            heartbeat.start()
        yield
    except Exception as error:
        logger.exception("calculation run %s attempt %s failed in %s", run_id, attempt, stage)
        # A terminated database connection is unusable until closed; a fresh one records the failure. Inside
        # an outer transaction (a stage run in-process by a caller's atomic block) the connection is the
        # caller's to keep, so it is left alone.
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
        actions.fail_run(run_id=run_id, attempt=attempt, error=f"{type(error).__name__}: {error}")
        raise
    finally:
        stop.set()
        if heartbeat is not None:
            heartbeat.join()
        if lease_id is not None:
            actions.release_lease(lease_id=lease_id)


def _renew_until(stop: threading.Event, lease_id: int, lasting: dt.timedelta) -> None:
    try:
        while not stop.wait(settings.CALCULATION_HEARTBEAT_SECONDS):
            try:
                actions.renew_lease(lease_id=lease_id, lasting=lasting)
            except Exception:
                # The database is unreachable for now: try again next beat on a fresh connection. If it
                # stays away the lease expires, which is the point.
                logger.warning("could not renew calculation lease %s", lease_id, exc_info=True)
                connection.close()
    finally:
        connection.close()


@shared_task(name="calculation.begin_run", time_limit=STAGE_TIME_LIMIT, soft_time_limit=STAGE_TIME_LIMIT - 60)
def begin_calculation_run(run_id: int, attempt: int) -> None:
    with _leased(run_id, attempt, "national prevalence"):
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
    with _leased(run_id, attempt, f"commissioner {commissioner_id}"):
        complete = actions.calculate_commissioner(
            run_id=run_id, attempt=attempt, commissioner_id=commissioner_id
        )
    if complete:
        _after_commit(publish_calculation_run, run_id, attempt)


@shared_task(
    name="calculation.publish_run", time_limit=STAGE_TIME_LIMIT, soft_time_limit=STAGE_TIME_LIMIT - 60
)
def publish_calculation_run(run_id: int, attempt: int) -> None:
    with _leased(run_id, attempt, "publication"):
        run = actions.publish_run(run_id=run_id, attempt=attempt)
    if run is None:
        return
    email_after_commit()
    if run.scope == CalculationRun.Scope.NATIONAL:
        # Readers have the results already; fresh planner statistics for the new rows can follow.
        _after_commit(analyse_calculation_results)


@shared_task(name="calculation.fail_stalled_runs", time_limit=5 * 60, soft_time_limit=4 * 60)
def fail_stalled_calculation_runs() -> list[int]:
    lost = actions.fail_lost_runs()
    lost_tasks = _fail_runs_with_lost_tasks()
    stalled = actions.fail_stalled_runs(stalled_for=dt.timedelta(seconds=settings.CALCULATION_STALL_SECONDS))
    return lost + lost_tasks + stalled


STAGE_TASKS = frozenset(
    {begin_calculation_run.name, calculate_commissioner.name, publish_calculation_run.name}
)
SEEN_KEY = "calculation:run-seen:{}:{}"


def _fail_runs_with_lost_tasks() -> list[int]:
    """A run is alive while a stage task of its attempt waits in the broker's queue or a worker holds a live
    lease on it. With late acknowledgement and a prefetch of one, a worker only takes a message it starts
    at once (and leases), so a message in neither place was lost by the broker or taken by a worker that
    died before starting it. When each run was last seen alive is kept in the cache, because a task
    between the queue and its lease (or between one stage's lease and the next stage's message) is in
    neither place for a moment; only CALCULATION_LOST_TASK_SECONDS unseen fails the run."""
    waiting = _stages_waiting_in_broker()
    if waiting is None:
        return []
    now = timezone.now()
    leased = set(RunLease.objects.filter(expires_at__gte=now).values_list("run_id", "attempt"))
    alive = waiting | leased
    lost_after = dt.timedelta(seconds=settings.CALCULATION_LOST_TASK_SECONDS)
    remember_for = int(lost_after.total_seconds() * 10) + settings.CALCULATION_LEASE_CHECK_SECONDS
    cache.set_many({SEEN_KEY.format(*key): now for key in alive}, timeout=remember_for)
    active = CalculationRun.objects.filter(
        status__in=[CalculationRun.Status.QUEUED, CalculationRun.Status.RUNNING]
    ).values_list("pk", "attempt")
    keys = {SEEN_KEY.format(*key): key for key in active if key not in alive}
    last_seen = {keys[name]: moment for name, moment in cache.get_many(keys).items()}
    return actions.fail_runs_with_lost_tasks(alive=alive, last_seen=last_seen, lost_after=lost_after)


def _stages_waiting_in_broker() -> set[tuple[int, int]] | None:
    """(run id, attempt) of every calculation stage task waiting in the queue, read from Redis (kombu keeps a
    queue as a list per priority step); None when tasks run in-process or the broker is not Redis, where
    only the stall limit applies."""
    if current_app.conf.task_always_eager:
        return None
    queue = current_app.conf.task_default_queue
    with current_app.connection_for_read() as broker:
        if broker.transport.driver_type != "redis":
            return None
        channel = broker.default_channel
        raw = [
            message
            for priority in channel.priority_steps
            for message in channel.client.lrange(channel._q_for_pri(queue, priority), 0, -1)
        ]
    waiting = set()
    try:
        for message in raw:
            envelope = json.loads(message)
            if envelope.get("headers", {}).get("task") not in STAGE_TASKS:
                continue
            body = envelope["body"]
            if envelope.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            arguments = json.loads(body)[0]
            waiting.add((int(arguments[0]), int(arguments[1])))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        # A message this cannot read might be a run's: better the stall limit than failing a live run.
        logger.warning("unreadable calculation queue: lost tasks wait for the stall limit", exc_info=True)
        return None
    return waiting


@worker_ready.connect
def _check_for_lost_runs_when_a_worker_starts(**_) -> None:
    # A worker restarted after a crash (or a new machine) looks for runs its predecessor left behind at
    # once, through the queue, rather than waiting for beat.
    fail_stalled_calculation_runs.delay()


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
