"""Writes to the payments ledger: lines from aspiration, year ends and recalculations, financial approval,
write-offs, releases at the cut-off, and the agency's acknowledgements (docs/adr/0013-payments.md).

Lines are generated with one INSERT … SELECT per call (76,920 aspiration instalments nationally), keyed by a
deterministic reference with ON CONFLICT DO NOTHING, so generating twice adds nothing. A release moves
lines into its batch with one UPDATE that only takes lines with no batch: two releases racing take
disjoint lines, and a second release at the same cut-off finds the batch already there.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import audit
from accounts.models import Organisation, OrganisationType
from accounts.permissions import Permission, at, either, guarded, nationally, system_step
from calculation.publication import on_publication
from engine import split_into_instalments
from participation.models import ServiceYear

from . import agency, schedule
from .models import Acknowledgement, AgencyFile, AspirationAmount, PaymentBatch, PaymentLine
from .selectors import (
    NOT_IN_LEDGER,
    aspiration_in_ledger,
    batch_reference,
    calculated_aspiration,
    current_aspiration_amounts,
    practices_of,
    previous_year,
    releasable,
    year_end_publication,
)

# Table and column names in the SQL below are Django's own db_table and constants, never input: hence the
# S608 waivers.
P = Permission
L = PaymentLine
LINE_TABLE = L._meta.db_table
COLUMNS = (
    "reference, payee_id, commissioner_id, service_year_id, achievement_date, instalment, component, amount,"
    " due_date, status, description, run_id, created_at, approved_at, approved_by_id, batch_id, paid_at,"
    " rejection_reason, write_off_reason, reissue_of_id"
)


def _date(placeholder: str = "%s") -> str:
    # PostgreSQL types a parameter in a VALUES list as text; SQLite stores dates as text anyway.
    return f"CAST({placeholder} AS date)" if connection.vendor == "postgresql" else placeholder


def _practice_scope(commissioner: Organisation | None) -> tuple[str, list]:
    """SQL restricting `o` (the practice) to a commissioner's practices: its own or its sub-ICBs'."""
    if commissioner is None:
        return "", []
    if commissioner.type == OrganisationType.ICB:
        return " AND o.parent_id IN (SELECT id FROM accounts_organisation WHERE parent_id = %s)", [
            commissioner.pk
        ]
    return " AND o.parent_id = %s", [commissioner.pk]


def _execute_insert(sql: str, parameters: list) -> int:
    """Run an INSERT … SELECT and return how many rows it wrote (SQLite's rowcount misses a WITH clause)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        if connection.vendor == "sqlite":
            cursor.execute("SELECT changes()")
            return cursor.fetchone()[0]
        return max(cursor.rowcount, 0)


# ---- Aspiration -------------------------------------------------------------------------------------------


def _write_aspiration(
    service_year: ServiceYear, commissioner: Organisation | None, by, practice_ids: list[int] | None = None
) -> int:
    base_year = previous_year(service_year)
    publication = base_year and year_end_publication(base_year)
    overrides = current_aspiration_amounts(service_year)
    if commissioner is not None:
        overrides = overrides.filter(practice__in=practices_of(commissioner))
    if practice_ids is not None:
        overrides = overrides.filter(practice_id__in=practice_ids)
    overrides = list(overrides.select_related("practice"))
    if publication is None and not overrides:
        raise ValidationError(
            f"{service_year.name}'s aspiration follows from last year's published year end, not there yet."
        )
    written = _write_set_instalments(service_year, overrides, by)
    if publication is None:
        return written
    months = schedule.instalment_months(service_year)
    values, parameters = [], []
    for number, (year, month) in enumerate(months, start=1):
        values.append(f"(%s, %s, {_date()}, {_date()})")
        parameters += [
            number,
            f"{number:02d}",
            schedule.month_end(year, month),
            schedule.payment_date(year, month),
        ]
    scope, scope_parameters = _practice_scope(commissioner)
    if practice_ids is not None:
        scope += f" AND o.id IN ({', '.join(['%s'] * len(practice_ids))})"
        scope_parameters = [*scope_parameters, *practice_ids]
    # A practice whose amount was set by hand is paid that amount (above), not the formula's.
    scope += (
        f" AND NOT EXISTS (SELECT 1 FROM {AspirationAmount._meta.db_table} a"  # noqa: S608
        " WHERE a.practice_id = o.id AND a.service_year_id = %s AND a.superseded_at IS NULL)"
    )
    scope_parameters = [*scope_parameters, service_year.pk]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    amount = "CASE WHEN m.instalment = 12 THEN pr.aspiration_last_month ELSE pr.aspiration_monthly END"
    sql = f"""
        WITH m (instalment, label, achievement_date, due_date) AS (VALUES {", ".join(values)})
        INSERT INTO {LINE_TABLE} ({COLUMNS})
        SELECT %s || o.code || '-' || m.label, o.id, o.parent_id, %s, m.achievement_date, m.instalment,
               %s, {amount}, m.due_date, %s, %s || m.instalment || ' of 12', pr.run_id, %s, %s, %s,
               NULL, NULL, '', '', NULL
        FROM calculation_practiceresult pr
        JOIN accounts_organisation o ON o.id = pr.practice_id
        CROSS JOIN m
        WHERE pr.run_id = %s AND pr.aspiration_annual IS NOT NULL AND {amount} <> 0 {scope}
        ON CONFLICT (reference) DO NOTHING
    """  # noqa: S608
    parameters += [
        f"ASP-{service_year.code}-",
        service_year.pk,
        L.Component.ASPIRATION,
        L.Status.APPROVED,
        f"{service_year.name} aspiration, instalment ",
        now,
        now,
        getattr(by, "pk", None),
        publication.run_id,
        *scope_parameters,
    ]
    return written + _execute_insert(sql, parameters)


def _write_set_instalments(service_year: ServiceYear, amounts: list[AspirationAmount], by) -> int:
    """The twelve instalments of the amounts set by hand (few: one practice at a time), split as the formula's
    are. The same references as the formula's, so a practice's year has one set of instalments either way."""
    if not amounts:
        return 0
    existing = set(
        L.objects.filter(
            service_year=service_year,
            component=L.Component.ASPIRATION,
            payee_id__in=[amount.practice_id for amount in amounts],
        ).values_list("reference", flat=True)
    )
    now = timezone.now()
    months = schedule.instalment_months(service_year)
    monthly, last = split_into_instalments(np.array([int(amount.annual * 100) for amount in amounts]))
    lines = []
    for index, amount in enumerate(amounts):
        for number, (year, month) in enumerate(months, start=1):
            pence = int(last[index] if number == 12 else monthly[index])
            reference = f"ASP-{service_year.code}-{amount.practice.code}-{number:02d}"
            if pence == 0 or reference in existing:
                continue
            lines.append(
                L(
                    reference=reference, payee=amount.practice, commissioner_id=amount.practice.parent_id,
                    service_year=service_year, achievement_date=schedule.month_end(year, month),
                    instalment=number, component=L.Component.ASPIRATION, amount=Decimal(pence) / 100,
                    due_date=schedule.payment_date(year, month), status=L.Status.APPROVED,
                    description=f"{service_year.name} aspiration ({amount.get_kind_display().lower()}),"
                    f" instalment {number} of 12",
                    approved_at=now, approved_by=by, aspiration_amount=amount,
                )
            )  # fmt: skip
    L.objects.bulk_create(lines)
    return len(lines)


@guarded(either(at(P.MANAGE_FINANCE, "commissioner"), nationally(P.MANAGE_FINANCE)))
@transaction.atomic
def approve_aspiration(*, service_year: ServiceYear, commissioner: Organisation, by) -> int:
    """Finance approves a year's aspiration for its practices: each gets twelve instalment lines, due on
    the year's twelve payment dates, from last year's published year end. Approving twice adds nothing.
    Returns the number of lines written."""
    written = _write_aspiration(service_year, commissioner, by)
    audit.record(
        actor=by,
        action="payments.approve_aspiration",
        obj=commissioner,
        after={"service_year": service_year.code, "lines": written},
    )
    return written


@system_step
@transaction.atomic
def approve_aspiration_nationally(*, service_year: ServiceYear) -> int:
    """Every practice's aspiration at once, for loading a year (the demo, the benchmark, a migration)."""
    return _write_aspiration(service_year, None, None)


@guarded(at(P.MANAGE_FINANCE, "practice"))
@transaction.atomic
def set_aspiration_amount(
    *,
    practice: Organisation,
    service_year: ServiceYear,
    kind: str,
    reason: str,
    by,
    annual: Decimal | None = None,
) -> tuple[AspirationAmount, PaymentLine | None]:
    """Commissioner finance records a practice's annual aspiration for a year instead of the formula's: an
    amount agreed with the commissioner, or a provisional one (set in April, before last year is
    calculated); kind CALCULATED replaces the amount in force with the formula's once it is known. Before
    the year's instalments are written the amount just decides them; after, the difference between it and
    what the ledger holds becomes an adjustment awaiting finance's approval, released like any other (the
    instalments already sent stay as they were sent). After the year end is approved the balance has
    settled the year, and a change would be a recalculation. Returns (the amount, the adjustment or None)."""
    Kind = AspirationAmount.Kind
    # One change at a time per practice: the second waits, then sees the first's amount and ledger.
    Organisation.objects.select_for_update().filter(pk=practice.pk).first()
    if not reason.strip():
        raise ValidationError("Give the reason for this aspiration amount.")
    if kind not in Kind.values:
        raise ValidationError(f"Unknown kind of aspiration amount: {kind}.")
    current = current_aspiration_amounts(service_year).filter(practice=practice).first()
    publication = None
    if kind == Kind.CALCULATED:
        calculated = calculated_aspiration(practice, service_year)
        if calculated is None:
            raise ValidationError(
                f"Last year's year end has no aspiration for {practice.code}: no calculated amount yet."
            )
        if current is None:
            raise ValidationError("The calculated amount is already the one in force.")
        annual, publication = calculated
    elif annual is None or annual < 0 or annual != annual.quantize(Decimal("0.01")):
        raise ValidationError("Give the annual amount in pounds and pence, not negative.")
    if L.objects.filter(
        payee=practice, service_year=service_year, component=L.Component.ACHIEVEMENT_BALANCE
    ).exists():
        raise ValidationError(
            f"{service_year.name}'s year end is approved for {practice.code}: its balance already settled "
            "the aspiration, so the amount can no longer change."
        )
    now = timezone.now()
    if current is not None:
        AspirationAmount.objects.filter(pk=current.pk).update(superseded_at=now)
    amount = AspirationAmount.objects.create(
        practice=practice, service_year=service_year, kind=kind, annual=annual, reason=reason.strip(),
        set_at=now, set_by=by,
    )  # fmt: skip
    held = aspiration_in_ledger(practice, service_year)
    adjustment = None
    if held is not None and annual != held:
        was = f"£{current.annual:,.2f} {current.get_kind_display().lower()}" if current else f"£{held:,.2f}"
        adjustment = L.objects.create(
            reference=f"ADJ-{service_year.code}-{practice.code}-ASP{amount.pk}",
            payee=practice, commissioner_id=practice.parent_id, service_year=service_year,
            achievement_date=service_year.end_date, component=L.Component.ADJUSTMENT, amount=annual - held,
            due_date=schedule.next_release(now).payment_date, status=L.Status.AWAITING_APPROVAL,
            description=f"{service_year.name} aspiration {was} replaced by £{annual:,.2f} "
            f"{amount.get_kind_display().lower()}",
            run_id=publication.run_id if publication else None, aspiration_amount=amount,
        )  # fmt: skip
    audit.record(
        actor=by,
        action="payments.set_aspiration_amount",
        obj=amount,
        before={"kind": current.kind, "annual": str(current.annual)} if current else None,
        after={
            "service_year": service_year.code,
            "kind": kind,
            "annual": str(annual),
            "reason": amount.reason,
            "adjustment": adjustment.reference if adjustment else None,
        },
    )
    return amount, adjustment


# ---- Year-end balance and adjustments ----------------------------------------------------------------------


def _ledger_sql(service_year_id_placeholder: str = "%s") -> str:
    excluded = ", ".join(f"'{status}'" for status in NOT_IN_LEDGER)
    return f"""
        SELECT payee_id, SUM(amount) AS total FROM {LINE_TABLE}
        WHERE service_year_id = {service_year_id_placeholder} AND status NOT IN ({excluded})
        GROUP BY payee_id
    """  # noqa: S608


def _write_against_ledger(
    *,
    service_year: ServiceYear,
    run_id: int,
    component: str,
    reference_suffix: str,
    status: str,
    description: str,
    practice_ids: list[int] | None,
    only_with_balance: bool,
    by,
) -> int:
    """One line per practice of the run: its payment less what the ledger already holds for the year.
    The balance takes every practice (a zero one is recorded as settled); an adjustment only practices
    whose year end was already approved, and only a non-zero difference."""
    release = schedule.next_release(timezone.now())
    # Raw SQL: the value as Django stores it (SQLite keeps naive UTC text, which compares as text).
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # ROUND: SQLite adds decimals as binary floats; on PostgreSQL (numeric) it changes nothing.
    difference = "ROUND(pr.payment - COALESCE(ledger.total, 0), 2)"
    filters, parameters = "", []
    if practice_ids is not None:
        filters += f" AND pr.practice_id IN ({', '.join(['%s'] * len(practice_ids))})"
        parameters += list(practice_ids)
    if only_with_balance:
        filters += (
            f" AND EXISTS (SELECT 1 FROM {LINE_TABLE} b WHERE b.payee_id = pr.practice_id"  # noqa: S608
            " AND b.service_year_id = %s AND b.component = %s)"
            f" AND {difference} <> 0"
        )
        parameters += [service_year.pk, L.Component.ACHIEVEMENT_BALANCE]
    sql = f"""
        INSERT INTO {LINE_TABLE} ({COLUMNS})
        SELECT %s || o.code || %s, o.id, o.parent_id, %s, {_date()}, NULL, %s, {difference}, {_date()},
               CASE WHEN {difference} = 0 THEN %s ELSE %s END, %s, pr.run_id, %s,
               %s, %s, NULL, NULL, '', '', NULL
        FROM calculation_practiceresult pr
        JOIN accounts_organisation o ON o.id = pr.practice_id
        LEFT JOIN ({_ledger_sql()}) ledger ON ledger.payee_id = pr.practice_id
        WHERE pr.run_id = %s {filters}
        ON CONFLICT (reference) DO NOTHING
    """  # noqa: S608
    approved = status == L.Status.APPROVED
    head = [
        f"{'BAL' if component == L.Component.ACHIEVEMENT_BALANCE else 'ADJ'}-{service_year.code}-",
        reference_suffix,
        service_year.pk,
        service_year.end_date,
        component,
        release.payment_date,
        L.Status.SETTLED,
        status,
        description,
        now,
        now if approved else None,
        getattr(by, "pk", None) if approved else None,
        service_year.pk,
        run_id,
    ]
    return _execute_insert(sql, head + parameters)


def _write_balances(service_year: ServiceYear, practice_ids: list[int] | None, by) -> int:
    publication = year_end_publication(service_year)
    if publication is None:
        raise ValidationError(f"{service_year.name} has no published year end to pay a balance on.")
    return _write_against_ledger(
        service_year=service_year,
        run_id=publication.run_id,
        component=L.Component.ACHIEVEMENT_BALANCE,
        reference_suffix="",
        status=L.Status.APPROVED,
        description=f"{service_year.name} achievement less aspiration paid on account",
        practice_ids=practice_ids,
        only_with_balance=False,
        by=by,
    )


@guarded(at(P.MANAGE_FINANCE, "commissioner"))
@transaction.atomic
def approve_year_end(*, service_year: ServiceYear, commissioner: Organisation, by) -> int:
    """Finance approves the year-end payment of its practices: one balance line each, the published
    achievement payment less the aspiration on account (negative is a recovery). Approving again adds
    nothing. Returns lines written."""
    practice_ids = list(practices_of(commissioner).values_list("pk", flat=True))
    written = _write_balances(service_year, practice_ids, by) if practice_ids else 0
    audit.record(
        actor=by,
        action="payments.approve_year_end",
        obj=commissioner,
        after={"service_year": service_year.code, "lines": written},
    )
    return written


@system_step
@transaction.atomic
def approve_year_end_nationally(*, service_year: ServiceYear) -> int:
    """Every practice's balance at once, for loading a year (the demo, the benchmark)."""
    return _write_balances(service_year, None, None)


@system_step
@transaction.atomic
def pay_approved_declarations() -> int:
    """Year-end declarations financially approved since the last look get their balance line, approved
    when the declaration was, and the year's balance and adjustments are linked to the declaration.
    Declarations sit below payments, so they cannot call this: the release and the beat call it. A fixed
    number of statements per service year, however many declarations."""
    from declarations.models import Declaration

    written = _pay_service_declarations()
    approved = Declaration.objects.filter(
        state=Declaration.State.APPROVED,
        achievement_date=F("service_year__end_date"),
        service_year__payment_kind=ServiceYear.PaymentKind.POINTS,
    )
    for year in ServiceYear.objects.filter(pk__in=approved.values("service_year")):
        practice_ids = set(approved.filter(service_year=year).values_list("practice_id", flat=True))
        paid = set(
            L.objects.filter(
                service_year=year, component=L.Component.ACHIEVEMENT_BALANCE, payee_id__in=practice_ids
            ).values_list("payee_id", flat=True)
        )
        unpaid = sorted(practice_ids - paid)
        if unpaid and year_end_publication(year) is not None:
            written += _write_balances(year, unpaid, None)
            # The year end just approved also carries next year's aspiration (§4.9): financially approving
            # it approves the twelve instalments, as approve_aspiration does for years without declarations.
            following = ServiceYear.objects.filter(
                service_id=year.service_id, financial_year=year.financial_year + 1
            ).first()
            if following is not None:
                written += _write_aspiration(following, None, None, practice_ids=unpaid)
        declaration = approved.filter(service_year=year, practice_id=OuterRef("payee_id"))
        lines = L.objects.filter(service_year=year, payee_id__in=practice_ids, declaration__isnull=True)
        # Approved when finance approved the declaration, so the cut-off it met is the one it waits for.
        lines.filter(component=L.Component.ACHIEVEMENT_BALANCE, payee_id__in=unpaid).update(
            approved_at=Coalesce(
                Subquery(declaration.values("financially_approved_at")[:1]), Value(timezone.now())
            ),
            approved_by_id=Subquery(declaration.values("financially_approved_by_id")[:1]),
        )
        lines.exclude(component=L.Component.ASPIRATION).update(
            declaration_id=Subquery(declaration.values("pk")[:1])
        )
    return written


SERVICE_LINE_PREFIXES = {
    L.Component.ITEM_OF_SERVICE: "IOS",
    L.Component.CAPITATION: "CAP",
    L.Component.NETWORK_PAYMENT: "NET",
}


def _pay_service_declarations() -> int:
    """Approved declarations of services paid per achievement date (item of service, capitation) that have
    no line yet: one line per component kind from the declared run's payment lines, approved when the
    declaration was (ADR 0015). A practice's declaration pays its own lines to it; a PCN's pays its
    aggregate to the payee nominated on the date, the payee the run's lines name (ADR 0018). A reference per
    declaration and kind, so a second look adds nothing."""
    from calculation.models import ServiceLine
    from declarations.models import Declaration

    approved = list(
        Declaration.objects.filter(state=Declaration.State.APPROVED, payment_lines__isnull=True)
        .exclude(service_year__payment_kind=ServiceYear.PaymentKind.POINTS)
        .select_related("practice", "service_year")
    )
    if not approved:
        return 0
    runs = {(d.run_id, d.practice_id): d for d in approved}
    declarers = {d.practice_id for d in approved}
    sums: dict[tuple, Decimal] = {}
    rows = ServiceLine.objects.filter(
        Q(practice_id__in=declarers) | Q(practice__isnull=True, pcn_id__in=declarers),
        run_id__in={d.run_id for d in approved},
    ).values_list("run_id", "payee_id", "practice_id", "pcn_id", "count", "amount")
    for run_id, payee_id, practice_id, pcn_id, count, amount in rows:
        declaration = runs.get((run_id, practice_id if practice_id is not None else pcn_id))
        if declaration is None:
            continue
        if count is not None:
            component = L.Component.ITEM_OF_SERVICE
        elif practice_id is not None:
            component = L.Component.CAPITATION
        else:
            component = L.Component.NETWORK_PAYMENT
        key = (declaration.pk, component, payee_id)
        sums[key] = sums.get(key, Decimal(0)) + amount
    by_pk = {d.pk: d for d in approved}
    payees = Organisation.objects.in_bulk({payee_id for _, _, payee_id in sums})
    due = schedule.next_release(timezone.now()).payment_date
    lines = []
    for (declaration_pk, component, payee_id), amount in sorted(sums.items()):
        declaration, payee = by_pk[declaration_pk], payees[payee_id]
        year, on = declaration.service_year, declaration.achievement_date
        lines.append(
            L(
                reference=f"{SERVICE_LINE_PREFIXES[component]}-{year.code}-{on:%Y%m%d}-{declaration.practice.code}",
                payee=payee, commissioner_id=payee.parent_id, service_year=year,
                achievement_date=on, component=component, amount=amount, due_date=due,
                status=L.Status.APPROVED if amount else L.Status.SETTLED,
                description=f"{year.name} at {on:%-d %B %Y}: {L.Component(component).label.lower()}"
                + (f" for {declaration.practice.code}" if payee_id != declaration.practice_id else ""),
                run_id=declaration.run_id, approved_at=declaration.financially_approved_at,
                approved_by_id=declaration.financially_approved_by_id, declaration=declaration,
            )
        )  # fmt: skip
    created = L.objects.bulk_create(lines, ignore_conflicts=True)
    return len(created)


def _mark_declarations_sent(batch: PaymentBatch) -> int:
    """The declarations whose money this batch carries reach SENT TO SSD under the batch's reference."""
    from declarations.actions import mark_sent_for_payment
    from declarations.models import Declaration

    ids = set(
        batch.lines.filter(declaration__state=Declaration.State.APPROVED).values_list(
            "declaration_id", flat=True
        )
    )
    # A year that settled at exactly £0.00 has no line to send; its declaration completes with the release
    # that would have carried the line, so no declaration waits at Approved forever.
    ids |= set(
        L.objects.filter(
            status=L.Status.SETTLED,
            declaration__state=Declaration.State.APPROVED,
            approved_at__lte=batch.cutoff,
            due_date__lte=batch.payment_date,
        ).values_list("declaration_id", flat=True)
    )
    return mark_sent_for_payment(declaration_ids=ids, reference=batch.reference) if ids else 0


@on_publication
@system_step
def adjust_for_recalculation(*, run, replaced_run_id) -> int:
    """A year end republished after practices' balances were approved: each changed practice gets an
    adjustment line (awaiting finance's approval) for the difference, so the ledger again adds up to the
    latest achievement payment. Points at PCN level (the IIF) are paid per declaration and adjusted by
    adjust_services_for_recalculation instead."""
    if (
        run.achievement_date != run.service_year.end_date
        or replaced_run_id is None
        or run.service_year.payment_kind != ServiceYear.PaymentKind.POINTS
    ):
        return 0
    return _write_against_ledger(
        service_year=run.service_year,
        run_id=run.pk,
        component=L.Component.ADJUSTMENT,
        reference_suffix=f"-R{run.pk}",
        status=L.Status.AWAITING_APPROVAL,
        description=f"{run.service_year.name} recalculated (run {run.pk}) after its year end was approved",
        practice_ids=None,
        only_with_balance=True,
        by=None,
    )


@on_publication
@system_step
def adjust_services_for_recalculation(*, run, replaced_run_id) -> int:
    """A date of a service paid per achievement date republished after its declarations were sent for
    payment: each one whose figures changed gets a signed adjustment line (awaiting finance's approval,
    as for QOF) of the new figures less what its lines already hold, to whoever its lines paid: the
    practice, or a PCN's nominated payee (ADR 0018). A fixed number of queries however many changed."""
    from calculation.models import PracticeResult
    from declarations.models import Declaration

    kind = run.service_year.payment_kind
    if replaced_run_id is None or kind in (
        ServiceYear.PaymentKind.POINTS,
        ServiceYear.PaymentKind.PARTICIPATION_ONLY,
    ):
        return 0
    sent = {
        d.pk: d
        for d in Declaration.objects.filter(
            service_year=run.service_year, achievement_date=run.achievement_date, state=Declaration.State.SENT
        ).select_related("practice")
    }
    if not sent:
        return 0
    held: dict[int, Decimal] = {}
    payees: dict[int, int] = {}
    for declaration_id, payee_id, amount in (
        L.objects.filter(declaration_id__in=sent)
        .exclude(status__in=NOT_IN_LEDGER)
        .values_list("declaration_id", "payee_id", "amount")
    ):
        held[declaration_id] = held.get(declaration_id, Decimal(0)) + amount
        payees.setdefault(declaration_id, payee_id)
    totals = dict(
        PracticeResult.objects.filter(
            run=run, practice_id__in={d.practice_id for d in sent.values()}
        ).values_list("practice_id", "payment")
    )
    organisations = Organisation.objects.in_bulk(set(payees.values()))
    due, now = schedule.next_release(timezone.now()).payment_date, timezone.now()
    lines = []
    for pk, declaration in sorted(sent.items()):
        if pk not in payees:
            continue  # nothing was paid on it (a £0.00 date): nothing to adjust against
        difference = totals.get(declaration.practice_id, Decimal(0)) - held[pk]
        if not difference:
            continue
        payee, on, year = organisations[payees[pk]], run.achievement_date, run.service_year
        whose = (
            f": {declaration.practice.code}'s network payment" if payee.pk != declaration.practice_id else ""
        )
        why = f"{year.name} at {on:%-d %B %Y} recalculated (run {run.pk}) after it was paid{whose}"
        lines.append(
            L(
                reference=f"ADJ-{year.code}-{on:%Y%m%d}-{declaration.practice.code}-R{run.pk}",
                payee=payee, commissioner_id=payee.parent_id, service_year=year, achievement_date=on,
                component=L.Component.ADJUSTMENT, amount=difference, due_date=due,
                status=L.Status.AWAITING_APPROVAL, created_at=now, run=run, declaration=declaration,
                description=why,
            )
        )  # fmt: skip
    return len(L.objects.bulk_create(lines, ignore_conflicts=True))


@guarded(at(P.MANAGE_FINANCE, "commissioner"))
@transaction.atomic
def approve_lines(*, commissioner: Organisation, lines: list[PaymentLine], by) -> int:
    """Financial approval of adjustments: they go into the next release whose cut-off is still ahead.
    Only lines of the commissioner's own practices are approved."""
    own = set(practices_of(commissioner).values_list("pk", flat=True))
    lines = [line for line in lines if line.payee_id in own]
    ids = [line.pk for line in lines]
    now = timezone.now()
    release = schedule.next_release(now)
    approved = L.objects.filter(pk__in=ids, status=L.Status.AWAITING_APPROVAL).update(
        status=L.Status.APPROVED, approved_at=now, approved_by=by, due_date=release.payment_date
    )
    audit.record_many(
        actor=by,
        action="payments.approve_line",
        changes=[(line, {"status": line.status}, {"status": L.Status.APPROVED}) for line in lines],
    )
    return approved


@guarded(at(P.MANAGE_FINANCE, "line.payee"))
@transaction.atomic
def write_off(*, line: PaymentLine, reason: str, by) -> PaymentLine:
    """Finance decides not to recover a small recovery. It stays in the ledger (the amount was owed), so
    the year still adds up, but is never sent."""
    line = L.objects.select_for_update().get(pk=line.pk)
    limit = settings.PAYMENTS_WRITE_OFF_LIMIT
    if not reason.strip():
        raise ValidationError("Give the reason for writing this recovery off.")
    if line.amount >= 0:
        raise ValidationError("Only a recovery (a negative amount) can be written off.")
    if -line.amount > limit:
        raise ValidationError(
            f"Only recoveries of £{limit} or less can be written off; this is £{-line.amount}."
        )
    if line.status not in (L.Status.AWAITING_APPROVAL, L.Status.APPROVED, L.Status.REJECTED):
        raise ValidationError(
            f"This line is {line.get_status_display().lower()}: it can no longer be written off."
        )
    before = {"status": line.status}
    line.status, line.write_off_reason, line.batch = L.Status.WRITTEN_OFF, reason.strip(), None
    line.save(update_fields=["status", "write_off_reason", "batch"])
    audit.record(
        actor=by,
        action="payments.write_off",
        obj=line,
        before=before,
        after={"reason": line.write_off_reason},
    )
    return line


@guarded(at(P.MANAGE_FINANCE, "line.payee"))
@transaction.atomic
def reissue(*, line: PaymentLine, by) -> PaymentLine:
    """A line the agency rejected is sent again as a new line (new reference, next release); the rejected
    one stays as it was sent, marked reissued, so no batch ever changes."""
    line = L.objects.select_for_update().get(pk=line.pk)
    if line.status != L.Status.REJECTED:
        raise ValidationError("Only a line the payment agency rejected can be reissued.")
    now = timezone.now()
    # A line is reissued at most once (reissue_of is one-to-one and the line leaves REJECTED), so a reissue of
    # a reissue counts on from the original: X, X-RE1, X-RE2. No prefix search over every reference ever sent.
    root, _, number = line.reference.partition("-RE")
    copy = L.objects.create(
        reference=f"{root}-RE{int(number or 0) + 1}",
        payee=line.payee,
        commissioner=line.commissioner,
        service_year=line.service_year,
        achievement_date=line.achievement_date,
        instalment=line.instalment,
        component=line.component,
        amount=line.amount,
        due_date=schedule.next_release(now).payment_date,
        status=L.Status.APPROVED,
        description=f"{line.description} (reissue of {line.reference})",
        run=line.run,
        approved_at=now,
        approved_by=by,
        reissue_of=line,
        aspiration_amount_id=line.aspiration_amount_id,
    )
    L.objects.filter(pk=line.pk).update(status=L.Status.REISSUED)
    audit.record(actor=by, action="payments.reissue", obj=line, after={"reissue": copy.reference})
    return copy


# ---- Release ---------------------------------------------------------------------------------------------


@guarded(nationally(P.MANAGE_FINANCE))
@transaction.atomic
def release(*, cutoff: dt.datetime, by) -> tuple[PaymentBatch, bool]:
    """Release every releasable line into the cut-off's batch and write its agency file. A second release at
    the same cut-off returns the existing batch and adds nothing. Returns (batch, created)."""
    existing = PaymentBatch.objects.filter(cutoff=cutoff).first()
    if existing is not None:
        return existing, False
    pay_approved_declarations()
    payment_date = schedule.next_release(cutoff).payment_date
    reference = batch_reference(cutoff)
    try:
        with transaction.atomic():
            batch = PaymentBatch.objects.create(
                reference=reference, cutoff=cutoff, payment_date=payment_date, released_by=by
            )
    except IntegrityError:
        # A concurrent release at this cut-off committed first: it took the lines.
        return PaymentBatch.objects.get(cutoff=cutoff), False
    # One UPDATE: a line already taken by a racing release no longer has batch NULL when this one gets to it.
    releasable(cutoff, payment_date).update(batch=batch, status=L.Status.RELEASED)
    rows = (
        batch.lines.order_by("reference")
        .values_list(
            "reference",
            "payee__code",
            "commissioner__code",
            "service_year__code",
            "achievement_date",
            "component",
            "amount",
        )
        .iterator(chunk_size=5000)
    )
    content, count, total = agency.agency_csv(reference, payment_date, rows)
    batch.line_count, batch.total = count, total
    batch.save(update_fields=["line_count", "total"])
    AgencyFile.objects.create(
        batch=batch, filename=f"{reference}.csv", content=content, sha256=agency.sha256(content)
    )
    _mark_declarations_sent(batch)
    audit.record(actor=by, action="payments.release", obj=batch, after={"lines": count, "total": str(total)})
    return batch, True


# ---- The agency's acknowledgement --------------------------------------------------------------------------


@guarded(nationally(P.MANAGE_FINANCE))
@transaction.atomic
def import_acknowledgement(*, text: str, by) -> Acknowledgement:
    """Mark lines paid, or return rejected ones to finance with the agency's reason. The file is taken whole
    or not at all; a line already in the state the file gives is left alone, so a re-import changes
    nothing."""
    rows = agency.parse_acknowledgement(text)
    lines = {
        line.reference: line
        for line in L.objects.select_for_update().filter(reference__in=[row.reference for row in rows])
    }
    now = timezone.now()
    paid, rejected, unchanged = [], [], 0
    target = {agency.PAID: L.Status.PAID, agency.REJECTED: L.Status.REJECTED}
    for row in rows:
        line = lines.get(row.reference)
        if line is None:
            raise ValidationError(
                f"Line {row.line_number}: no payment line has the reference {row.reference}"
            )
        wanted = target[row.status]
        if line.status == wanted or (line.status == L.Status.REISSUED and wanted == L.Status.REJECTED):
            unchanged += 1
        elif line.status != L.Status.RELEASED:
            raise ValidationError(
                f"Line {row.line_number}: {row.reference} is {line.get_status_display().lower()}, "
                f"so cannot be {row.status.lower()}"
            )
        elif wanted == L.Status.PAID:
            paid.append(line.pk)
        else:
            line.status, line.rejection_reason = L.Status.REJECTED, row.reason
            rejected.append(line)
    L.objects.filter(pk__in=paid).update(status=L.Status.PAID, paid_at=now)
    L.objects.bulk_update(rejected, ["status", "rejection_reason"], batch_size=2000)
    record = Acknowledgement.objects.create(
        sha256=agency.sha256(text),
        imported_by=by,
        paid=len(paid),
        rejected=len(rejected),
        unchanged=unchanged,
    )
    audit.record(
        actor=by,
        action="payments.import_acknowledgement",
        obj=record,
        after={"paid": len(paid), "rejected": len(rejected), "unchanged": unchanged},
    )
    return record
