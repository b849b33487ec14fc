"""Releases racing on PostgreSQL: at the same cut-off and at different ones, no line is paid twice."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from payments import actions
from payments.models import AgencyFile, PaymentBatch, PaymentLine
from tests.payments.helpers import aware, publish_year_end, years

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
RACERS = 6


def _race(cutoffs):
    barrier = threading.Barrier(len(cutoffs))
    errors = []

    def run(cutoff):
        try:
            barrier.wait()
            actions.release(cutoff=cutoff, by=None)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(cutoff,)) for cutoff in cutoffs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.fixture
def approved_lines(tree, postgresql):
    first, second = years()
    practices = [tree[code] for code in ("A00001", "A00002", "A00003", "B00001")]
    publish_year_end(
        first, dict.fromkeys(practices, Decimal("1000")), aspiration=dict.fromkeys(practices, Decimal("1200"))
    )
    actions.approve_aspiration_nationally(service_year=second)
    return PaymentLine.objects.count()


def test_concurrent_releases_at_one_cutoff_make_one_batch(approved_lines):
    _race([aware("2031-01-06T12:00")] * RACERS)

    batch = PaymentBatch.objects.get()
    assert batch.line_count == approved_lines == 48
    assert PaymentLine.objects.filter(batch=batch).count() == 48


def test_concurrent_releases_at_different_cutoffs_share_the_lines_without_overlap(approved_lines):
    _race([aware("2031-01-06T12:00") + dt.timedelta(minutes=minute) for minute in range(RACERS)])

    assert sum(PaymentBatch.objects.values_list("line_count", flat=True)) == approved_lines
    sent = [row.split(",")[1] for file in AgencyFile.objects.all() for row in file.content.splitlines()[1:-1]]
    assert sorted(sent) == sorted(PaymentLine.objects.values_list("reference", flat=True))
