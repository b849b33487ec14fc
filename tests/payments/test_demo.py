from decimal import Decimal

import pytest

from calculation.models import PracticeResult
from payments import selectors
from payments.models import PaymentBatch, PaymentLine

L = PaymentLine


def test_the_demo_pays_a_year_end_and_aspiration_then_adjusts_and_recovers_after_recalculation(db):
    from cqrs_portal.demo import load_demo

    load_demo()

    assert PaymentBatch.objects.count() == 1
    assert L.objects.filter(component=L.Component.ASPIRATION, status=L.Status.PAID).exists()
    assert L.objects.filter(component=L.Component.ACHIEVEMENT_BALANCE, status=L.Status.PAID).exists()
    adjustments = sorted(L.objects.filter(component=L.Component.ADJUSTMENT).values_list("amount", flat=True))
    assert len(adjustments) == 2 and adjustments[0] < 0 < adjustments[1]
    assert set(L.objects.filter(component=L.Component.ADJUSTMENT).values_list("status", flat=True)) == {
        "approved"
    }
    year = L.objects.filter(component=L.Component.ADJUSTMENT).first().service_year
    latest = selectors.year_end_publication(year).run_id
    payments = dict(PracticeResult.objects.filter(run_id=latest).values_list("practice_id", "payment"))
    assert selectors.ledger_totals(year) == {
        practice: Decimal(payment) for practice, payment in payments.items()
    }


pytestmark = pytest.mark.django_db
