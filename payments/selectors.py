"""Reads of the payments ledger: what a release would take, the ledger's totals, statements and pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Organisation, OrganisationType
from calculation.models import Publication
from participation.models import ServiceYear

from . import schedule
from .models import AspirationAmount, PaymentBatch, PaymentLine

L = PaymentLine
# Lines replaced by a reissue are not money owed twice: every other line counts towards the ledger.
NOT_IN_LEDGER = (L.Status.REISSUED,)
PENNY = Decimal("0.01")


def practices_of(commissioner: Organisation):
    """The practices a commissioner pays: its own (a sub-ICB location) or its sub-ICB locations' (an ICB)."""
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    if commissioner.type == OrganisationType.ICB:
        return practices.filter(parent__parent=commissioner)
    return practices.filter(parent=commissioner)


def year_end_publication(service_year: ServiceYear) -> Publication | None:
    return Publication.objects.filter(
        service_year=service_year, achievement_date=service_year.end_date
    ).first()


def previous_year(service_year: ServiceYear) -> ServiceYear | None:
    return ServiceYear.objects.filter(
        service_id=service_year.service_id, financial_year=service_year.financial_year - 1
    ).first()


def current_aspiration_amounts(service_year: ServiceYear):
    """The amounts set by hand that are in force for a year: one at most per practice."""
    return AspirationAmount.objects.filter(service_year=service_year, superseded_at__isnull=True)


def calculated_aspiration(
    practice: Organisation, service_year: ServiceYear
) -> tuple[Decimal, Publication] | None:
    """The formula's annual aspiration (§4.9), from last year's published year end, with that publication."""
    from calculation.models import PracticeResult

    base_year = previous_year(service_year)
    publication = base_year and year_end_publication(base_year)
    if publication is None:
        return None
    annual = (
        PracticeResult.objects.filter(run_id=publication.run_id, practice=practice)
        .values_list("aspiration_annual", flat=True)
        .first()
    )
    return (annual, publication) if annual is not None else None


def aspiration_in_ledger(practice: Organisation, service_year: ServiceYear) -> Decimal | None:
    """What the ledger holds for a practice's aspiration: its instalments and the adjustments that replaced
    an amount. None before any instalment is written."""
    lines = (
        L.objects.filter(payee=practice, service_year=service_year)
        .exclude(status__in=NOT_IN_LEDGER)
        .filter(Q(component=L.Component.ASPIRATION) | Q(aspiration_amount__isnull=False))
        .aggregate(total=Sum("amount"), instalments=Count("id", filter=Q(component=L.Component.ASPIRATION)))
    )
    if not lines["instalments"]:
        return None
    return Decimal(lines["total"]).quantize(PENNY)


def aspiration_page(practice: Organisation, service_year: ServiceYear) -> dict:
    """The practice's aspiration for a year: the formula's amount, the amount in force, its history, and
    what the ledger already holds."""
    history = list(
        AspirationAmount.objects.filter(practice=practice, service_year=service_year).select_related("set_by")
    )
    current = next((amount for amount in history if amount.superseded_at is None), None)
    calculated = calculated_aspiration(practice, service_year)
    return {
        "calculated": calculated[0] if calculated else None,
        "base_publication": calculated[1] if calculated else None,
        "current": current,
        "history": history,
        "in_ledger": aspiration_in_ledger(practice, service_year),
        "year_end_approved": L.objects.filter(
            payee=practice, service_year=service_year, component=L.Component.ACHIEVEMENT_BALANCE
        ).exists(),
        "adjustments": list(
            L.objects.filter(
                payee=practice,
                service_year=service_year,
                component=L.Component.ADJUSTMENT,
                aspiration_amount__isnull=False,
            ).order_by("created_at", "reference")
        ),
    }


def batch_reference(cutoff: dt.datetime) -> str:
    """PAY-20240408-1200 for the scheduled cut-off at noon UK time; a cut-off given to the second or finer
    (from the command) carries it, so every cut-off has its own reference."""
    local = timezone.localtime(cutoff)
    finer = (
        f"{local:%S}" + (f"{local.microsecond:06d}" if local.microsecond else "")
        if local.second or local.microsecond
        else ""
    )
    return f"PAY-{local:%Y%m%d-%H%M}{finer}"


def releasable(cutoff: dt.datetime, payment_date: dt.date):
    """The lines a release at this cut-off takes: approved by the cut-off, due by its payment date, and in
    no batch yet."""
    return L.objects.filter(
        status=L.Status.APPROVED, batch__isnull=True, approved_at__lte=cutoff, due_date__lte=payment_date
    )


def due_cutoff(now: dt.datetime) -> dt.datetime | None:
    """This month's cut-off if it has passed and was not released yet."""
    local = timezone.localtime(now)
    current = schedule.release_for_month(local.year, local.month)
    if current.cutoff <= now and not PaymentBatch.objects.filter(cutoff=current.cutoff).exists():
        return current.cutoff
    return None


def ledger_totals(service_year: ServiceYear) -> dict[int, Decimal]:
    rows = (
        L.objects.filter(service_year=service_year)
        .exclude(status__in=NOT_IN_LEDGER)
        .values("payee_id")
        .annotate(total=Sum("amount"), lines=Count("id"))
    )
    # Quantized: SQLite sums decimals as binary floats (PostgreSQL's numeric is exact already).
    return {row["payee_id"]: Decimal(row["total"]).quantize(PENNY) for row in rows}


def payment_years(practices) -> list[ServiceYear]:
    return list(
        ServiceYear.objects.filter(payment_lines__payee__in=practices).distinct().order_by("-financial_year")
    )


def chosen_year(years: list[ServiceYear], code: str | None) -> ServiceYear | None:
    return next((year for year in years if year.code == code), years[0] if years else None)


@dataclass(frozen=True)
class StatementRow:
    line: PaymentLine
    running_total: Decimal
    when: str  # paid on, expected on, on hold until, awaiting approval


def expectation(line: PaymentLine, now: dt.datetime, next_up: schedule.Release) -> str:
    """What will happen to a line next, in words."""
    status = L.Status
    if line.status == status.PAID:
        return f"Paid {line.batch.payment_date:%-d %B %Y}" if line.batch else "Paid"
    if line.status == status.RELEASED:
        return f"Released, payment expected {line.batch.payment_date:%-d %B %Y}"
    if line.status == status.APPROVED:
        if line.due_date > next_up.payment_date:
            return f"Expected {line.due_date:%-d %B %Y}"
        if line.due_date < next_up.payment_date:
            # Its own month's cut-off passed before it was approved (or released): it waits for the next.
            return f"On hold until the next release on {next_up.payment_date:%-d %B %Y}"
        return f"In the next release: payment {next_up.payment_date:%-d %B %Y}"
    if line.status == status.REJECTED:
        return f"Rejected by the payment agency: {line.rejection_reason}"
    if line.status == status.WRITTEN_OFF:
        return f"Written off: {line.write_off_reason}"
    return line.get_status_display()


def statement(practice: Organisation, service_year: ServiceYear) -> dict:
    """Every line of a practice's year with a running total, what was paid and what is expected, against
    its latest published achievement payment."""
    lines = list(
        L.objects.filter(payee=practice, service_year=service_year)
        .exclude(status__in=NOT_IN_LEDGER)
        .select_related("batch", "run")
        .order_by("due_date", "reference")
    )
    now = timezone.now()
    next_up = schedule.next_release(now)
    rows, running = [], Decimal("0.00")
    for line in lines:
        running += line.amount
        rows.append(StatementRow(line, running, expectation(line, now, next_up)))
    publication = year_end_publication(service_year)
    achievement = None
    if publication is not None:
        from calculation.models import PracticeResult

        achievement = (
            PracticeResult.objects.filter(run_id=publication.run_id, practice=practice)
            .values_list("payment", flat=True)
            .first()
        )
    paid = sum((line.amount for line in lines if line.status == L.Status.PAID), Decimal("0.00"))
    return {
        "rows": rows,
        "total": running,
        "paid": paid,
        "expected": running - paid,
        "achievement": achievement,
        "publication": publication,
        "next_release": next_up,
    }


@dataclass(frozen=True)
class PaymentState:
    """Where the payment of one practice's achievement on one date stands, for exports and reports."""

    code: str  # PAYMENT_STATUS in the achieved-points export
    label: str
    on: dt.date | None  # paid on, or expected on; None while it is not approved

    def __str__(self):
        return f"{self.label}, {self.on:%-d %b %Y}" if self.on else self.label


# Least advanced first: a practice's achievement is only as far along as its least advanced line.
PAYMENT_STATES = {
    "AWAITING_FINANCIAL_APPROVAL": "Awaiting financial approval",
    "REJECTED": "Rejected by the payment agency",
    "ON_HOLD": "On hold until the next release",
    "APPROVED": "Approved, awaiting release",
    "SENT_TO_SSD": "SENT TO SSD",
    "PAID": "Paid",
    "NOTHING_TO_PAY": "Nothing to pay",
}
NOT_APPROVED = PaymentState("NOT_APPROVED", "Not financially approved", None)
# An in-year date of a service paid at the year end (QOF): its achievement is not paid as such.
NOT_PAID_ON_THIS_DATE = PaymentState("NOT_PAID_ON_THIS_DATE", "No payment for this achievement date", None)


def _line_state(status: str, due_date, batch_date, next_up) -> tuple[str, dt.date | None]:
    if status == L.Status.AWAITING_APPROVAL:
        return "AWAITING_FINANCIAL_APPROVAL", None
    if status == L.Status.REJECTED:
        return "REJECTED", None
    if status == L.Status.APPROVED:
        release = next_up()
        if due_date < release.payment_date:
            return "ON_HOLD", release.payment_date
        return "APPROVED", due_date
    if status == L.Status.RELEASED:
        return "SENT_TO_SSD", batch_date
    if status == L.Status.PAID:
        return "PAID", batch_date
    return "NOTHING_TO_PAY", None  # settled at £0.00, or a recovery written off


def payment_states(
    service_year: ServiceYear, achievement_date: dt.date, practice_ids=None
) -> dict[int, PaymentState]:
    """Per practice, where the payment of its achievement on this date stands: the year end's balance and
    its adjustments (aspiration is paid on account, not for an achievement date). One query, and one for
    the schedule when a line awaits release."""
    lines = (
        L.objects.filter(
            service_year=service_year, achievement_date=achievement_date, aspiration_amount__isnull=True
        )
        .exclude(component=L.Component.ASPIRATION)
        .exclude(status__in=NOT_IN_LEDGER)
    )
    if practice_ids is not None:
        lines = lines.filter(payee_id__in=practice_ids)
    release: list[schedule.Release] = []

    def next_up() -> schedule.Release:
        if not release:
            release.append(schedule.next_release(timezone.now()))
        return release[0]

    order = list(PAYMENT_STATES)
    found: dict[int, tuple[str, dt.date | None]] = {}
    rows = lines.values_list("payee_id", "status", "due_date", "batch__payment_date")
    for payee, status, due_date, batch_date in rows:
        code, on = _line_state(status, due_date, batch_date, next_up)
        held = found.get(payee)
        if held is None or order.index(code) < order.index(held[0]):
            found[payee] = (code, on)
        elif code == held[0] and on and (held[1] is None or on > held[1]):
            found[payee] = (code, on)  # the last of its lines to be paid
    return {payee: PaymentState(code, PAYMENT_STATES[code], on) for payee, (code, on) in found.items()}


def payment_state(states: dict[int, PaymentState], practice_id: int, year_end: bool) -> PaymentState:
    """A practice's state, or what having no line means: not yet approved at the year end, nothing due in
    year."""
    return states.get(practice_id) or (NOT_APPROVED if year_end else NOT_PAID_ON_THIS_DATE)


def payment_state_of(practice: Organisation, publication: Publication) -> PaymentState:
    year = publication.service_year
    states = payment_states(year, publication.achievement_date, [practice.pk])
    return payment_state(states, practice.pk, publication.achievement_date == year.end_date)


def commissioner_payments(organisation: Organisation, service_year: ServiceYear | None) -> dict:
    """Totals by component, what the next release will take, lines on hold or awaiting approval, rejected
    lines, and the batches that carried this organisation's lines."""
    lines = (
        L.objects.all()
        if organisation.type == OrganisationType.NATIONAL
        else L.objects.filter(payee__in=practices_of(organisation))
    )
    if service_year is not None:
        lines = lines.filter(service_year=service_year)
    now = timezone.now()
    next_up = schedule.next_release(now)
    in_ledger = lines.exclude(status__in=NOT_IN_LEDGER)
    by_component = list(
        in_ledger.values("component").annotate(total=Sum("amount"), count=Count("id")).order_by("component")
    )
    labels = dict(L.Component.choices)
    for row in by_component:
        row["label"] = labels[row["component"]]
        row["total"] = Decimal(row["total"]).quantize(PENNY)
    coming = releasable(now, next_up.payment_date) & lines
    coming_totals = coming.aggregate(total=Sum("amount"), count=Count("id"))
    # On hold: due at a payment date whose cut-off passed before they were approved (or released), so the
    # next release carries them. Lines due at later payment dates are scheduled, not held.
    held = coming.filter(due_date__lt=next_up.payment_date)
    scheduled = lines.filter(status=L.Status.APPROVED, batch__isnull=True, due_date__gt=next_up.payment_date)
    batches = (
        PaymentBatch.objects.filter(lines__in=lines)
        .annotate(own_count=Count("lines"), own_total=Sum("lines__amount"))
        .order_by("-cutoff")[:24]
    )
    related = ("payee", "service_year")
    return {
        "by_component": by_component,
        "next_release": next_up,
        "coming_count": coming_totals["count"] or 0,
        "coming_total": Decimal(coming_totals["total"] or 0).quantize(PENNY),
        "held": list(held.select_related(*related).order_by("due_date", "reference")[:200]),
        "held_count": held.count(),
        "scheduled_count": scheduled.count(),
        "awaiting": list(lines.filter(status=L.Status.AWAITING_APPROVAL).select_related(*related)[:200]),
        "rejected": list(lines.filter(status=L.Status.REJECTED).select_related(*related)[:200]),
        "batches": list(batches),
    }


def release_preview(now: dt.datetime) -> dict:
    """What releasing now would send: lines, totals by component and by commissioner."""
    next_up = schedule.next_release(now)
    lines = releasable(now, next_up.payment_date)
    totals = lines.aggregate(total=Sum("amount"), count=Count("id"))
    by_component = list(
        lines.values("component").annotate(total=Sum("amount"), count=Count("id")).order_by("component")
    )
    by_commissioner = list(
        lines.values("commissioner__code", "commissioner__name")
        .annotate(total=Sum("amount"), count=Count("id"))
        .order_by("commissioner__code")
    )
    for row in [*by_component, *by_commissioner]:
        row["total"] = Decimal(row["total"]).quantize(PENNY)
    return {
        "next_release": next_up,
        "count": totals["count"] or 0,
        "total": Decimal(totals["total"] or 0).quantize(PENNY),
        "by_component": by_component,
        "by_commissioner": by_commissioner,
        "batches": list(PaymentBatch.objects.select_related("agency_file")[:24]),
        "awaiting": L.objects.filter(status=L.Status.AWAITING_APPROVAL).count(),
    }
