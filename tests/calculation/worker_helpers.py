"""For tests with real Celery workers: waiting on a run, and catching a chunk mid-way every time."""

import time
from contextlib import contextmanager

import psycopg2
import pytest
from django.db import connection

from calculation.models import PracticeResult


def wait_for(run, condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if condition(run):
            return run
        time.sleep(0.05)
    pytest.fail(f"run {run.pk} is still {run.status} ({run.progress_done}/{run.progress_total}): {run.error}")


def published_totals(run):
    rows = PracticeResult.objects.filter(run=run).values_list("practice__code", "points", "payment")
    return sorted((code, f"{points:.2f}", f"{payment:.2f}") for code, points, payment in rows)


@contextmanager
def a_chunk_held_before_it_commits(run):
    """Hold the run's row from another connection once the run is under way: the next chunk to finish then
    computes, writes its results and blocks on the lock before it can commit, so a fault lands mid-chunk every
    time. (A chunk may already have committed before the hold was taken.)
    Yields the process id of the chunk's blocked database backend; the lock is let go on leaving."""
    settings = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"] or None,
        host=settings["HOST"] or "localhost", port=settings["PORT"] or 5432,
    )  # fmt: skip
    try:
        with blocker.cursor() as cursor:
            # NO KEY UPDATE: it stops the chunk's commit (FOR UPDATE) but not its lease (which only needs
            # the run to go on existing).
            cursor.execute(
                "SELECT id FROM calculation_calculationrun WHERE id = %s FOR NO KEY UPDATE", [run.pk]
            )
            deadline = time.monotonic() + 60
            while True:
                cursor.execute(
                    "SELECT pid FROM pg_locks WHERE NOT granted AND %s = ANY(pg_blocking_pids(pid))",
                    [blocker.get_backend_pid()],
                )
                waiting = cursor.fetchone()
                if waiting:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"no chunk of run {run.pk} reached its commit within a minute")
                time.sleep(0.05)
        yield waiting[0]
    finally:
        blocker.rollback()
        blocker.close()
