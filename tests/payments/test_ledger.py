"""The ledger: aspiration instalments, year-end balances, adjustments, write-offs, releases, the agency
file and its acknowledgement."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from payments import actions, schedule, selectors
from payments.models import PaymentBatch, PaymentLine
from tests.factories import user_with_roles
from tests.payments.helpers import aware, publish_year_end, years

pytestmark = pytest.mark.django_db
L = PaymentLine
FAR_CUTOFF = "2031-01-06T12:00"


@pytest.fixture
def ledger(tree):
    """2023/24 published with next year's aspiration; 2024/25's aspiration approved nationally."""
    first, second = years()
    practices = [tree[code] for code in ("A00001", "A00002", "A00003", "B00001")]
    payments = [Decimal("41358.95"), Decimal("1000.00"), Decimal("0.00"), Decimal("5000")]
    aspiration = [Decimal("34201.80"), Decimal("1200.07"), Decimal("0"), Decimal("12")]
    publish_year_end(
        first,
        dict(zip(practices, payments, strict=True)),
        aspiration=dict(zip(practices, aspiration, strict=True)),
    )
    actions.approve_aspiration_nationally(service_year=second)
    return first, second, practices


def lines_of(practice, **filters):
    return list(L.objects.filter(payee=practice, **filters).order_by("reference"))


def test_approved_aspiration_is_twelve_monthly_lines_adding_up_to_the_annual(ledger):
    _, second, (big, small, zero, _tiny) = ledger

    instalments = lines_of(big, component=L.Component.ASPIRATION)
    assert [line.instalment for line in instalments] == list(range(1, 13))
    assert sum(line.amount for line in instalments) == Decimal("34201.80")
    assert {line.amount for line in instalments} == {Decimal("2850.15")}
    assert [line.reference for line in instalments][:2] == ["ASP-QOF2425-A00001-01", "ASP-QOF2425-A00001-02"]
    assert instalments[0].due_date == schedule.payment_date(2024, 4) == dt.date(2024, 4, 15)
    assert instalments[0].commissioner.code == "01A" and instalments[0].status == L.Status.APPROVED
    # £1,200.07: eleven of £100.00 and a last of £100.07; nothing at all is owed on a zero aspiration.
    assert [line.amount for line in lines_of(small)][-2:] == [Decimal("100.00"), Decimal("100.07")]
    assert lines_of(zero) == []
    # Approving again, nationally or by a commissioner, adds nothing.
    assert actions.approve_aspiration_nationally(service_year=second) == 0
    assert L.objects.count() == 12 * 3


def test_a_commissioner_approves_only_its_own_practices(tree):
    first, second = years()
    practices = [tree["A00001"], tree["B00001"]]
    publish_year_end(
        first, dict.fromkeys(practices, Decimal(100)), aspiration=dict.fromkeys(practices, Decimal(24))
    )
    finance = user_with_roles(tree["QAA"], "finance_management")

    assert actions.approve_aspiration(service_year=second, commissioner=tree["QAA"], by=finance) == 12
    assert set(L.objects.values_list("payee__code", flat=True)) == {"A00001"}
    with pytest.raises(PermissionDenied):
        actions.approve_aspiration(service_year=second, commissioner=tree["QBB"], by=finance)


def test_the_year_end_balance_is_the_payment_less_aspiration_and_may_be_negative(ledger):
    _, second, (big, small, zero, tiny) = ledger
    publish_year_end(
        second,
        {big: Decimal("30000.00"), small: Decimal("1200.07"), zero: Decimal("10.00"), tiny: Decimal("12")},
    )

    assert actions.approve_year_end_nationally(service_year=second) == 4
    balance = {line.payee: line for line in L.objects.filter(component=L.Component.ACHIEVEMENT_BALANCE)}
    assert balance[big].amount == Decimal("-4201.80") and balance[big].status == L.Status.APPROVED
    assert balance[big].reference == "BAL-QOF2425-A00001"
    assert balance[zero].amount == Decimal("10.00")
    # Paid exactly on account: the year is settled with a £0.00 line that is never sent.
    assert balance[small].amount == 0 and balance[small].status == L.Status.SETTLED
    assert actions.approve_year_end_nationally(service_year=second) == 0


def test_a_recalculation_after_the_year_end_adds_an_adjustment_and_the_ledger_still_adds_up(ledger):
    _, second, (big, small, zero, _tiny) = ledger
    publish_year_end(second, {big: Decimal("30000.00"), small: Decimal("900.00")})
    actions.approve_year_end_nationally(service_year=second)

    run = publish_year_end(second, {big: Decimal("30100.25"), small: Decimal("900.00"), zero: Decimal("5")})

    adjustments = list(L.objects.filter(component=L.Component.ADJUSTMENT))
    # Only a practice whose year end was approved and whose figure changed; zero has no balance yet.
    assert [(line.payee, line.amount) for line in adjustments] == [(big, Decimal("100.25"))]
    assert (
        adjustments[0].status == L.Status.AWAITING_APPROVAL
        and adjustments[0].reference == f"ADJ-QOF2425-A00001-R{run.pk}"
    )
    totals = selectors.ledger_totals(second)
    assert totals[big.pk] == Decimal("30100.25")
    assert totals[small.pk] == Decimal("900.00")


def test_release_takes_each_approved_line_once_and_a_second_release_adds_nothing(ledger):
    _, _second, (_big, *_) = ledger
    cutoff = aware(FAR_CUTOFF)

    batch, created = actions.release(cutoff=cutoff, by=None)
    again, created_again = actions.release(cutoff=cutoff, by=None)

    assert created and not created_again and again.pk == batch.pk
    assert batch.line_count == 36 == L.objects.filter(batch=batch, status=L.Status.RELEASED).count()
    later, _ = actions.release(cutoff=cutoff + dt.timedelta(days=30), by=None)
    assert later.line_count == 0 and later.total == 0
    assert PaymentBatch.objects.count() == 2


def test_a_line_approved_after_the_cutoff_waits_for_the_next_release(ledger):
    _, _second, (big, *_) = ledger
    line = lines_of(big)[0]
    approved_at = line.approved_at

    before, _ = actions.release(cutoff=approved_at - dt.timedelta(microseconds=1), by=None)
    at, _ = actions.release(cutoff=approved_at, by=None)

    assert before.line_count == 0
    assert at.line_count == 36
    line.refresh_from_db()
    assert line.batch == at


def test_instalments_not_yet_due_stay_for_a_later_release(ledger):
    # The April 2024 cut-off is before approval in this test, so move approval back to see the due dates act.
    L.objects.update(approved_at=aware("2024-01-01T09:00"))
    april = schedule.release_for_month(2024, 4)

    batch, _ = actions.release(cutoff=april.cutoff, by=None)

    assert april.cutoff == aware("2024-04-08T12:00") and batch.payment_date == dt.date(2024, 4, 15)
    assert sorted(batch.lines.values_list("instalment", flat=True)) == [1, 1, 1]


def test_the_agency_file_lists_every_line_then_a_trailer_and_is_stored_with_its_sha256(ledger):
    _, second, (big, *_) = ledger
    publish_year_end(second, {big: Decimal("30000.00")})
    actions.approve_year_end_nationally(service_year=second)

    batch, _ = actions.release(cutoff=aware(FAR_CUTOFF), by=None)

    stored = batch.agency_file
    assert stored.sha256 == hashlib.sha256(stored.content.encode("utf-8")).hexdigest()
    rows = list(csv.reader(io.StringIO(stored.content)))
    assert rows[0] == [
        "BATCH_REFERENCE", "LINE_REFERENCE", "PAYEE_ODS_CODE", "COMMISSIONER_ODS_CODE", "SERVICE_YEAR",
        "ACHIEVEMENT_DATE", "COMPONENT", "AMOUNT_GBP", "PAYMENT_DATE",
    ]  # fmt: skip
    body, trailer = rows[1:-1], rows[-1]
    assert len(body) == 37 and len({row[1] for row in body}) == 37
    recovery = next(row for row in body if row[1] == "BAL-QOF2425-A00001")
    assert recovery == [
        batch.reference, "BAL-QOF2425-A00001", "A00001", "01A", "QOF2425", "2025-03-31",
        "ACHIEVEMENT_BALANCE", "-4201.80", batch.payment_date.isoformat(),
    ]  # fmt: skip
    total = sum(Decimal(row[7]) for row in body)
    assert trailer == ["TRAILER", batch.reference, "37", f"{total:.2f}"]
    assert stored.content.endswith("\r\n") and "\r\n" in stored.content


def test_the_acknowledgement_marks_lines_paid_or_rejected_and_a_reimport_changes_nothing(ledger):
    _, _, (big, _small, *_) = ledger
    _batch, _ = actions.release(cutoff=aware(FAR_CUTOFF), by=None)
    first, second = lines_of(big)[:2]
    text = (
        f"LINE_REFERENCE,STATUS,REASON\r\n{first.reference},PAID,\r\n"
        f"{second.reference},REJECTED,Bank details closed\r\n"
    )

    record = actions.import_acknowledgement(text=text, by=None)
    again = actions.import_acknowledgement(text=text, by=None)

    first.refresh_from_db(), second.refresh_from_db()
    assert (record.paid, record.rejected, record.unchanged) == (1, 1, 0)
    assert (again.paid, again.rejected, again.unchanged) == (0, 0, 2)
    assert first.status == L.Status.PAID and first.paid_at is not None
    assert second.status == L.Status.REJECTED and second.rejection_reason == "Bank details closed"
    # Finance sends it again as a new line in the next batch; the rejected one keeps its batch.
    finance = user_with_roles(big.parent, "finance_management")
    reissued = actions.reissue(line=second, by=finance)
    assert reissued.reference == f"{second.reference}-RE1" and reissued.status == L.Status.APPROVED
    assert selectors.ledger_totals(second.service_year)[big.pk] == Decimal("34201.80")
    later, _ = actions.release(cutoff=aware(FAR_CUTOFF) + dt.timedelta(days=31), by=None)
    assert list(later.lines.all()) == [reissued]
    # Rejected again, its reissue counts on from the original line's reference.
    actions.import_acknowledgement(
        text=f"LINE_REFERENCE,STATUS,REASON\r\n{reissued.reference},REJECTED,Bank details closed\r\n", by=None
    )
    assert actions.reissue(line=reissued, by=finance).reference == f"{second.reference}-RE2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("REF,STATUS\r\n", "header"),
        ("LINE_REFERENCE,STATUS,REASON\r\nASP-QOF2425-A00001-01,MAYBE,\r\n", "PAID or REJECTED"),
        ("LINE_REFERENCE,STATUS,REASON\r\nASP-QOF2425-A00001-01,REJECTED,\r\n", "needs a REASON"),
        ("LINE_REFERENCE,STATUS,REASON\r\nNOPE,PAID,\r\n", "no payment line"),
        ("LINE_REFERENCE,STATUS,REASON\r\nASP-QOF2425-A00001-01,PAID,\r\n", "approved, awaiting release"),
    ],
)
def test_a_bad_acknowledgement_changes_nothing_and_names_its_line(ledger, text, message):
    with pytest.raises(ValidationError, match=message):
        actions.import_acknowledgement(text=text, by=None)
    assert not L.objects.filter(status=L.Status.PAID).exists()


def test_finance_writes_off_only_small_recoveries_with_a_reason(ledger, settings):
    _, second, (big, _small, _zero, tiny) = ledger
    settings.PAYMENTS_WRITE_OFF_LIMIT = Decimal("50.00")
    publish_year_end(second, {big: Decimal("30000.00"), tiny: Decimal("0.00")})
    actions.approve_year_end_nationally(service_year=second)
    finance = user_with_roles(tree_of(tiny), "finance_management")
    big_recovery = L.objects.get(reference="BAL-QOF2425-A00001")
    small_recovery = L.objects.get(reference="BAL-QOF2425-B00001")
    assert small_recovery.amount == Decimal("-12.00")

    with pytest.raises(ValidationError, match="reason"):
        actions.write_off(line=small_recovery, reason=" ", by=finance)
    with pytest.raises(PermissionDenied):
        actions.write_off(line=big_recovery, reason="Too small to chase", by=finance)
    written = actions.write_off(line=small_recovery, reason="Below the cost of recovery", by=finance)

    assert written.status == L.Status.WRITTEN_OFF
    national = user_with_roles(big.parent.parent.parent.parent, "finance_management")
    with pytest.raises(ValidationError, match=r"£50\.00 or less"):
        actions.write_off(line=big_recovery, reason="Too large", by=national)
    batch, _ = actions.release(cutoff=aware(FAR_CUTOFF), by=None)
    assert not batch.lines.filter(pk=small_recovery.pk).exists()
    # Written off stays in the ledger: the year still adds up to the achievement payment.
    assert selectors.ledger_totals(second)[tiny.pk] == 0


def tree_of(practice):
    return practice.parent


def test_finance_approves_adjustments_into_the_next_release(ledger):
    _, second, (big, *_) = ledger
    publish_year_end(second, {big: Decimal("30000.00")})
    actions.approve_year_end_nationally(service_year=second)
    publish_year_end(second, {big: Decimal("29990.00")})
    adjustment = L.objects.get(component=L.Component.ADJUSTMENT)
    outsider = user_with_roles(big.parent.parent, "view")  # the ICB, without finance

    batch, _ = actions.release(cutoff=aware(FAR_CUTOFF), by=None)
    assert not batch.lines.filter(pk=adjustment.pk).exists()
    with pytest.raises(PermissionDenied):
        actions.approve_lines(commissioner=tree_of(big), lines=[adjustment], by=outsider)
    finance = user_with_roles(tree_of(big), "finance_management")
    assert actions.approve_lines(commissioner=tree_of(big), lines=[adjustment], by=finance) == 1
    adjustment.refresh_from_db()
    assert adjustment.status == L.Status.APPROVED and adjustment.amount == Decimal("-10.00")
    assert adjustment.due_date == schedule.next_release(adjustment.approved_at).payment_date
    later, _ = actions.release(cutoff=timezone.now() + dt.timedelta(days=400), by=None)
    assert list(later.lines.all()) == [adjustment]


def test_release_payments_command_prints_the_batch_and_writes_its_file(ledger, tmp_path):
    out = io.StringIO()
    path = tmp_path / "batch.csv"

    call_command("release_payments", "--cutoff", FAR_CUTOFF, "--out", str(path), stdout=out)
    call_command("release_payments", "--cutoff", FAR_CUTOFF, stdout=out)

    batch = PaymentBatch.objects.get()
    printed = out.getvalue().splitlines()
    assert printed[0].startswith(f"{batch.reference} 36 lines £{batch.total:.2f}")
    assert "already released" in printed[-1]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == batch.agency_file.sha256


def test_the_beat_releases_this_months_cutoff_once_it_has_passed(ledger, settings):
    from payments import tasks

    assert "payments-release-at-cutoff" in settings.CELERY_BEAT_SCHEDULE
    now = timezone.now()
    current = schedule.release_for_month(timezone.localtime(now).year, timezone.localtime(now).month)
    result = tasks.release_due()
    if current.cutoff <= now:
        assert result == selectors.batch_reference(current.cutoff)
        assert tasks.release_due() is None
    else:
        assert result is None and not PaymentBatch.objects.exists()


def test_payment_dates_move_back_to_a_working_day_and_cutoffs_count_working_days(settings):
    settings.PAYMENTS_NON_WORKING_DAYS = frozenset({"2024-04-12"})
    # 15 June 2024 is a Saturday: paid on Friday 14th; 5 working days before is Friday 7th.
    june = schedule.release_for_month(2024, 6)
    assert june.payment_date == dt.date(2024, 6, 14) and june.cutoff == aware("2024-06-07T12:00")
    # 15 April 2024 is a Monday; with Friday 12th a bank holiday the cut-off moves to Friday 5th.
    assert schedule.release_for_month(2024, 4).cutoff == aware("2024-04-05T12:00")
