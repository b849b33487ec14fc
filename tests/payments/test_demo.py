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


def test_the_demo_pays_network_payments_to_payees_and_leaves_one_pcn_for_the_practice_manager(db):
    from cqrs_portal.demo import DEMO_NETWORK_MONTHS, DEMO_NETWORK_YEAR, load_demo
    from declarations.models import Declaration
    from participation.models import NominatedPayee

    load_demo()

    first = Declaration.objects.filter(
        service_year__code=DEMO_NETWORK_YEAR, achievement_date=DEMO_NETWORK_MONTHS[0], practice__type="pcn"
    )
    waiting = first.filter(state=Declaration.State.AWAITING_PRACTICE)
    # The practice manager's PCN, declared by their practice as its nominated payee (ADR 0018).
    assert waiting.count() == 1
    assert NominatedPayee.objects.filter(pcn=waiting.get().practice, end_date__isnull=True).exists()
    approved = first.exclude(pk=waiting.get().pk)
    assert approved and set(approved.values_list("state", flat=True)) == {Declaration.State.APPROVED}
    for declaration in approved:
        line = L.objects.get(declaration=declaration)
        payee = NominatedPayee.objects.get(pcn=declaration.practice).payee
        assert (line.component, line.payee, line.amount) == (
            L.Component.NETWORK_PAYMENT, payee, declaration.payment,
        )  # fmt: skip
