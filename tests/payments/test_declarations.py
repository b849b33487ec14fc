"""A financially approved year-end declaration is paid its balance, and reaches SENT TO SSD when released."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from declarations.models import Declaration
from payments import actions
from payments.models import PaymentLine
from tests.payments.helpers import aware, publish_year_end, years

pytestmark = pytest.mark.django_db
L = PaymentLine


def declaration(practice, year, state, approved_at=None):
    """The declaration the year end's publication opened, moved on as its workflow would have moved it."""
    Declaration.objects.filter(practice=practice, service_year=year).update(
        state=state, financially_approved_at=approved_at
    )
    return Declaration.objects.get(practice=practice, service_year=year)


def test_approving_a_year_end_declaration_approves_next_years_aspiration_from_it(tree):
    first, second = years()
    practice = tree["A00001"]
    publish_year_end(first, {practice: Decimal("41358.95")}, {practice: Decimal("34201.80")})
    declaration(practice, first, Declaration.State.APPROVED, timezone.now())

    actions.pay_approved_declarations()

    instalments = L.objects.filter(service_year=second, component=L.Component.ASPIRATION)
    assert instalments.count() == 12 and sum(line.amount for line in instalments) == Decimal("34201.80")
    assert L.objects.get(service_year=first).amount == Decimal("41358.95")  # nothing was paid on account


def test_an_approved_declaration_is_paid_its_balance_and_sent_to_ssd_by_the_release(tree):
    first, second = years()
    paid, waiting = tree["A00001"], tree["A00002"]
    publish_year_end(
        first, dict.fromkeys([paid, waiting], Decimal(1)), dict.fromkeys([paid, waiting], Decimal("1200"))
    )
    actions.approve_aspiration_nationally(service_year=second)
    publish_year_end(second, dict.fromkeys([paid, waiting], Decimal("30000.00")))
    approved_at = timezone.now() - dt.timedelta(days=1)
    approved = declaration(paid, second, Declaration.State.APPROVED, approved_at)
    pending = declaration(waiting, second, Declaration.State.AWAITING_FINANCE)

    batch, _ = actions.release(cutoff=aware("2031-01-06T12:00"), by=None)

    balance = L.objects.get(component=L.Component.ACHIEVEMENT_BALANCE)
    assert balance.payee == paid and balance.amount == Decimal("28800.00")
    assert balance.declaration == approved and balance.approved_at == approved_at and balance.batch == batch
    approved.refresh_from_db(), pending.refresh_from_db()
    assert approved.state == Declaration.State.SENT and approved.payment_reference == batch.reference
    assert pending.state == Declaration.State.AWAITING_FINANCE
    assert not L.objects.filter(payee=waiting, component=L.Component.ACHIEVEMENT_BALANCE).exists()
    # No 2025/26 yet, so no aspiration follows from this year end; QOF2425's came from 2023/24.
    assert not L.objects.exclude(service_year=second).exists()
    # A recalculation after it was sent adjusts the ledger, linked to the same declaration.
    publish_year_end(second, dict.fromkeys([paid, waiting], Decimal("30100.00")))
    actions.pay_approved_declarations()
    adjustment = L.objects.get(component=L.Component.ADJUSTMENT)
    assert adjustment.amount == Decimal("100.00") and adjustment.status == L.Status.AWAITING_APPROVAL
