"""The year the issue is judged by, end to end through the shell and the agency files: aspiration paid in
instalments (one practice on a provisional amount later replaced), the year end declared and financially
approved, a release, a recalculation after payment that becomes adjustments, a second release. The two
agency files are then checked as the payment agency would check them."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from declarations import actions as declaration_actions
from declarations.models import Declaration
from payments import actions, schedule
from payments.models import AspirationAmount, PaymentBatch, PaymentLine
from tests.factories import user_with_roles
from tests.payments.helpers import publish_year_end, years

pytestmark = pytest.mark.django_db
L = PaymentLine
CODES = ("A00001", "A00002", "A00003", "B00001")


def release(tmp_path, cutoff: dt.datetime, name: str) -> tuple[str, list[list[str]]]:
    out = tmp_path / f"{name}.csv"
    printed = io.StringIO()
    call_command("release_payments", "--cutoff", timezone.localtime(cutoff).isoformat(), "--out", out,
                 stdout=printed)  # fmt: skip
    raw = out.read_bytes()
    assert raw.decode("utf-8") and b"\r\n" in raw
    return printed.getvalue(), list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))


def check_file(rows: list[list[str]]) -> list[list[str]]:
    """The header, a row a line, and a trailer whose count and sum are the rows'."""
    assert ",".join(rows[0]) == (
        "BATCH_REFERENCE,LINE_REFERENCE,PAYEE_ODS_CODE,COMMISSIONER_ODS_CODE,SERVICE_YEAR,ACHIEVEMENT_DATE,"
        "COMPONENT,AMOUNT_GBP,PAYMENT_DATE"
    )
    body, trailer = rows[1:-1], rows[-1]
    assert trailer[0] == "TRAILER" and trailer[1] == body[0][0] and int(trailer[2]) == len(body)
    assert Decimal(trailer[3]) == sum((Decimal(row[7]) for row in body), Decimal("0.00"))
    for row in body:
        amount = row[7]
        assert len(row) == 9 and amount.lstrip("-").count(".") == 1 and len(amount.split(".")[1]) == 2
        assert row[0] == trailer[1]
    return body


def walk_declarations(year, practices, tree) -> None:
    """Each practice declares, its ICB approves, then ICB finance approves."""
    for practice in practices:
        icb = practice.parent.parent
        declaration = Declaration.objects.get(
            practice=practice, service_year=year, achievement_date=year.end_date
        )
        declaration = declaration_actions.declare(
            declaration=declaration, statement_accepted=True,
            by=user_with_roles(practice, "declaration_management"),
        )  # fmt: skip
        declaration = declaration_actions.approve(
            declaration=declaration, by=user_with_roles(icb, "approval_management")
        )
        declaration_actions.financially_approve(
            declaration=declaration, by=user_with_roles(icb, "finance_management")
        )


def test_a_year_through_aspiration_year_end_recalculation_and_two_releases(tree, tmp_path):
    first, second = years()
    practices = [tree[code] for code in CODES]
    a1, a2, a3, b1 = practices
    finance = {code: user_with_roles(tree[code], "finance_management") for code in ("QAA", "QBB")}

    # April 2024/25: 2023/24 not calculated yet; A00003's commissioner sets a provisional aspiration.
    actions.set_aspiration_amount(
        practice=a3, service_year=second, kind=AspirationAmount.Kind.PROVISIONAL, annual=Decimal("6000.00"),
        reason="2023/24 not calculated yet", by=finance["QAA"],
    )  # fmt: skip
    publish_year_end(
        first,
        {a1: Decimal("41358.95"), a2: Decimal("1500.00"), a3: Decimal("9000.00"), b1: Decimal("15.00")},
        aspiration={a1: Decimal("34201.80"), a2: Decimal("1200.07"), a3: Decimal("7200"), b1: Decimal("12")},
    )  # fmt: skip
    for icb in ("QAA", "QBB"):
        actions.approve_aspiration(service_year=second, commissioner=tree[icb], by=finance[icb])
    # 2023/24 is known: the provisional amount is replaced by the calculated one, with an adjustment.
    _, replaced = actions.set_aspiration_amount(
        practice=a3, service_year=second, kind=AspirationAmount.Kind.CALCULATED, reason="2023/24 published",
        by=finance["QAA"],
    )  # fmt: skip
    assert replaced.amount == Decimal("1200.00")
    actions.approve_lines(commissioner=tree["QAA"], lines=[replaced], by=finance["QAA"])

    # The year end: published, declared, approved and financially approved; A00001 was overpaid on account.
    year_end = {a1: Decimal("30000.00"), a2: Decimal("1200.07"), a3: Decimal("8000.50"), b1: Decimal("20.00")}
    publish_year_end(second, year_end)
    walk_declarations(second, practices, tree)

    now = timezone.now()
    first_release = schedule.next_release(now)
    printed, first_file = release(tmp_path, first_release.cutoff, "first")
    first_body = check_file(first_file)
    assert printed.startswith(f"{first_file[-1][1]} {len(first_body)} lines £{first_file[-1][3]}")
    # Every instalment, the replacement and every non-zero balance; A00002's balance is £0.00, never sent.
    assert len(first_body) == 12 * 4 + 1 + 3
    assert {row[0] for row in first_body} == {first_file[-1][1]}
    assert not L.objects.filter(status=L.Status.APPROVED, batch__isnull=True).exists()
    assert set(Declaration.objects.filter(service_year=second).values_list("state", flat=True)) == {
        Declaration.State.SENT
    }
    # A second release at the same cut-off adds nothing.
    again, _ = release(tmp_path, first_release.cutoff, "again")
    assert "nothing added" in again
    ack = [f"{row[1]},PAID," for row in first_body]
    actions.import_acknowledgement(text="\r\n".join(["LINE_REFERENCE,STATUS,REASON", *ack, ""]), by=None)

    # A recalculation after payment: each changed practice gets an adjustment, approved by finance.
    year_end = {a1: Decimal("30012.34"), a2: Decimal("1100.07"), a3: Decimal("8000.50"), b1: Decimal("19.99")}
    publish_year_end(second, year_end)
    awaiting = list(L.objects.filter(status=L.Status.AWAITING_APPROVAL).order_by("payee__code"))
    assert [(line.payee.code, line.amount) for line in awaiting] == [
        ("A00001", Decimal("12.34")), ("A00002", Decimal("-100.00")), ("B00001", Decimal("-0.01")),
    ]  # fmt: skip
    for icb in ("QAA", "QBB"):
        actions.approve_lines(commissioner=tree[icb], lines=awaiting, by=finance[icb])
    second_release = schedule.next_release(first_release.cutoff + dt.timedelta(minutes=1))
    _, second_file = release(tmp_path, second_release.cutoff, "second")
    second_body = check_file(second_file)
    assert len(second_body) == 3 and second_file[-1][1] != first_file[-1][1]

    # Across both files: every line exactly once, references unique, signs as the ledger's.
    sent = first_body + second_body
    references = [row[1] for row in sent]
    assert len(references) == len(set(references))
    ledger = {line.reference: line for line in L.objects.select_related("payee", "commissioner", "batch")}
    assert set(references) == {ref for ref, line in ledger.items() if line.status != L.Status.SETTLED}
    for row in sent:
        line = ledger[row[1]]
        assert (row[2], row[3], row[4], row[6]) == (
            line.payee.code,
            line.commissioner.code,
            "QOF2425",
            line.component,
        )
        assert Decimal(row[7]) == line.amount and row[8] == f"{line.batch.payment_date:%Y-%m-%d}"
    balances = {row[2]: Decimal(row[7]) for row in first_body if row[6] == "ACHIEVEMENT_BALANCE"}
    assert balances["A00001"] == Decimal("-4201.80") and balances["A00003"] == Decimal("800.50")
    # Per practice: aspiration paid + balance + adjustments = the latest achievement payment, to the penny.
    paid = defaultdict(Decimal)
    for row in sent:
        paid[row[2]] += Decimal(row[7])
    assert {practice.code: paid[practice.code] for practice in practices} == {
        practice.code: payment for practice, payment in year_end.items()
    }


def test_release_payments_without_a_cutoff_releases_what_is_approved_by_now_and_later_what_follows(tree):
    """From a shell, as from finance's Release button: the first run takes every line approved and due, a
    run after a recalculation takes only its adjustment, and nothing is sent twice."""
    first, second = years()
    practice = tree["A00001"]
    publish_year_end(first, {practice: Decimal("41358.95")}, aspiration={practice: Decimal("34201.80")})
    actions.approve_aspiration_nationally(service_year=second)
    publish_year_end(second, {practice: Decimal("30000.00")})
    actions.approve_year_end_nationally(service_year=second)
    call_command("release_payments", stdout=io.StringIO())
    publish_year_end(second, {practice: Decimal("30000.01")})
    actions.approve_lines(
        commissioner=tree["01A"], lines=list(L.objects.filter(status="awaiting_approval")), by=None
    )
    call_command("release_payments", stdout=io.StringIO())

    batches = list(PaymentBatch.objects.order_by("cutoff"))
    assert [batch.line_count for batch in batches] == [13, 1]
    assert batches[1].lines.get().amount == Decimal("0.01")
    assert not L.objects.filter(batch__isnull=True).exclude(status=L.Status.SETTLED).exists()
