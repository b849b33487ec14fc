"""Aspiration agreed with the commissioner or set provisionally (DOMAIN.md §4.9): the amount in force decides
the instalments, and replacing it once instalments are in the ledger adds an adjustment of the difference."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from payments import actions, selectors
from payments.models import AspirationAmount, PaymentLine
from tests.factories import user_with_roles
from tests.payments.helpers import aware, publish_year_end, years

pytestmark = pytest.mark.django_db
L = PaymentLine
KIND = AspirationAmount.Kind


def instalments(practice, year):
    return list(L.objects.filter(payee=practice, service_year=year, component=L.Component.ASPIRATION))


def test_a_provisional_amount_pays_instalments_and_its_replacement_is_an_adjustment_of_the_difference(tree):
    first, second = years()
    practice, other = tree["A00001"], tree["A00002"]
    finance = user_with_roles(tree["01A"], "finance_management")
    # April: last year is not calculated yet, so the commissioner sets a provisional amount.
    actions.set_aspiration_amount(
        practice=practice, service_year=second, kind=KIND.PROVISIONAL, annual=Decimal("12000.05"),
        reason="Last year not calculated yet", by=finance,
    )  # fmt: skip
    assert actions.approve_aspiration(service_year=second, commissioner=tree["01A"], by=finance) == 12
    lines = instalments(practice, second)
    assert sum(line.amount for line in lines) == Decimal("12000.05")
    assert lines[0].amount == Decimal("1000.00") and lines[-1].amount == Decimal("1000.05")
    assert (
        lines[0].reference == "ASP-QOF2425-A00001-01" and lines[0].aspiration_amount.kind == KIND.PROVISIONAL
    )
    first_batch, _ = actions.release(cutoff=aware("2030-01-07T12:00"), by=None)
    assert first_batch.line_count == 12  # the provisional instalments are paid

    # Last year is published: the formula's amount replaces the provisional one.
    publish_year_end(
        first, {practice: Decimal("41358.95"), other: Decimal("900")},
        aspiration={practice: Decimal("34201.80"), other: Decimal("720.00")},
    )  # fmt: skip
    amount, adjustment = actions.set_aspiration_amount(
        practice=practice, service_year=second, kind=KIND.CALCULATED, reason="2023/24 published", by=finance
    )
    assert amount.annual == Decimal("34201.80")
    assert adjustment.amount == Decimal("22201.75") and adjustment.status == L.Status.AWAITING_APPROVAL
    assert (
        adjustment.reference == f"ADJ-QOF2425-A00001-ASP{amount.pk}" and adjustment.component == "ADJUSTMENT"
    )
    assert selectors.aspiration_in_ledger(practice, second) == Decimal("34201.80")
    # Approving the aspiration again pays the other practice by the formula and leaves this one alone.
    assert actions.approve_aspiration(service_year=second, commissioner=tree["01A"], by=finance) == 12
    assert sum(line.amount for line in instalments(other, second)) == Decimal("720.00")
    assert len(instalments(practice, second)) == 12
    actions.approve_lines(commissioner=tree["01A"], lines=[adjustment], by=finance)
    adjustment.refresh_from_db()
    batch, _ = actions.release(cutoff=aware("2030-02-07T12:00"), by=None)
    assert adjustment.pk in set(batch.lines.values_list("pk", flat=True))

    # The year end settles it: aspiration + adjustments + balance = the achievement payment.
    publish_year_end(second, {practice: Decimal("30000.00"), other: Decimal("800.00")})
    actions.approve_year_end_nationally(service_year=second)
    assert selectors.ledger_totals(second)[practice.pk] == Decimal("30000.00")
    balance = L.objects.get(payee=practice, service_year=second, component=L.Component.ACHIEVEMENT_BALANCE)
    assert balance.amount == Decimal("30000.00") - Decimal("34201.80")
    with pytest.raises(ValidationError, match="year end is approved"):
        actions.set_aspiration_amount(
            practice=practice, service_year=second, kind=KIND.AGREED, annual=Decimal("1"), reason="Late",
            by=finance,
        )  # fmt: skip
    assert AuditEvent.objects.filter(action="payments.set_aspiration_amount").count() == 2


def test_an_agreed_amount_replaces_the_formula_and_only_commissioner_finance_may_set_it(tree):
    first, second = years()
    practice = tree["A00001"]
    publish_year_end(first, {practice: Decimal("41358.95")}, aspiration={practice: Decimal("34201.80")})
    finance = user_with_roles(tree["01A"], "finance_management")
    for outsider in (
        user_with_roles(practice, "finance_view"),
        user_with_roles(tree["01B"], "finance_management"),
    ):
        with pytest.raises(PermissionDenied):
            actions.set_aspiration_amount(
                practice=practice, service_year=second, kind=KIND.AGREED, annual=Decimal("1"), reason="No",
                by=outsider,
            )  # fmt: skip
    with pytest.raises(ValidationError, match="reason"):
        actions.set_aspiration_amount(
            practice=practice, service_year=second, kind=KIND.AGREED, annual=Decimal("1"), reason=" ",
            by=finance,
        )  # fmt: skip
    with pytest.raises(ValidationError, match="already the one in force"):
        actions.set_aspiration_amount(
            practice=practice, service_year=second, kind=KIND.CALCULATED, reason="Formula", by=finance
        )
    amount, adjustment = actions.set_aspiration_amount(
        practice=practice, service_year=second, kind=KIND.AGREED, annual=Decimal("30000.00"),
        reason="Practice merger agreed with the ICB", by=finance,
    )  # fmt: skip
    assert adjustment is None  # nothing in the ledger yet: the agreed amount just decides the instalments
    actions.approve_aspiration_nationally(service_year=second)
    assert sum(line.amount for line in instalments(practice, second)) == Decimal("30000.00")
    # A second agreement after instalments are written: only the difference, once.
    again, adjustment = actions.set_aspiration_amount(
        practice=practice, service_year=second, kind=KIND.AGREED, annual=Decimal("29000.00"),
        reason="Revised", by=finance,
    )  # fmt: skip
    assert adjustment.amount == Decimal("-1000.00")
    amount.refresh_from_db()
    assert amount.superseded_at is not None and again.superseded_at is None
    assert selectors.aspiration_in_ledger(practice, second) == Decimal("29000.00")


def test_the_aspiration_page_shows_the_amounts_and_lets_commissioner_finance_agree_one(client, tree):
    first, second = years()
    practice = tree["A00001"]
    publish_year_end(first, {practice: Decimal("41358.95")}, aspiration={practice: Decimal("34201.80")})
    url = reverse("payments:aspiration", kwargs={"code": practice.code})
    client.force_login(user_with_roles(practice, "finance_view"))
    html = client.get(url, {"year": second.code}).content.decode()
    assert "£34,201.80" in html and "Record this amount" not in html
    assert (
        client.post(url, {"year": second.code, "kind": "agreed", "annual": "1", "reason": "x"}).status_code
        == 403
    )

    client.force_login(user_with_roles(tree["01A"], "finance_management"))
    response = client.post(
        url, {"year": second.code, "kind": "agreed", "annual": "33000.00", "reason": "Agreed at the meeting"}
    )
    assert response.status_code == 302
    html = client.get(url, {"year": second.code}).content.decode()
    assert "£33,000.00: agreed with the commissioner (Agreed at the meeting)" in html
    assert "Record this amount" in html and 'data-testid="aspiration-history"' in html
    assert AspirationAmount.objects.get(superseded_at__isnull=True).annual == Decimal("33000.00")
