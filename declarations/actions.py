"""Every write of a declaration: declare, approve, financially approve, reject, send for payment; what a
publication does to declarations; freezes. Keyword-only, atomic, audited, guarded.

Each transition locks the declaration's row (SELECT … FOR UPDATE) and checks its state after the lock, so
two approvers or a double-clicked button make exactly one transition and the other caller is told who got
there first. Bulk transitions and the publication hook work on whole sets in a fixed number of queries,
however many declarations they touch (pinned in tests/declarations/test_query_counts.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.models import Organisation
from accounts.permissions import (
    Permission,
    at,
    either,
    guarded,
    may,
    nationally,
    organisations_reachable,
    system_step,
)
from accounts.roles import Role
from accounts.selectors import current_holders
from calculation.models import CalculationRun, PracticeResult, ServiceLine
from calculation.publication import on_publication
from notifications.actions import Recipient, notify_each
from participation.models import NominatedPayee, ServiceYear

from .models import (
    REJECTERS,
    Declaration,
    DeclarationRevision,
    Freeze,
    follows_declarations,
    past_unneeded_steps,
    pounds,
)
from .selectors import declaring_practice, standing_freezes

State = Declaration.State
# States a recalculation sends back to the practice; a declaration sent for payment is flagged instead.
REVERTIBLE = (
    State.AWAITING_NETWORK,
    State.AWAITING_PRACTICE,
    State.AWAITING_COMMISSIONER,
    State.AWAITING_FINANCE,
    State.APPROVED,
)
BULK_ROWS = 2000


# Links are made for thousands of rows at once; resolving each through reverse() cost seconds nationally.
_PLACEHOLDER = 987654321


def _links(name: str):
    template = reverse(name, kwargs={"pk": _PLACEHOLDER})
    return lambda pk: template.replace(str(_PLACEHOLDER), str(pk))


# ---- Freezes --------------------------------------------------------------------------------------------


def _refuse_while_frozen(service_year_ids: Iterable[int]) -> None:
    freezes = standing_freezes(service_year_ids)
    if freezes:
        freeze = freezes[0]
        raise ValidationError(
            f"Declarations and approvals for {freeze.scope_label} are frozen: {freeze.reason} "
            "Nothing was changed; try again once the freeze is lifted."
        )


MANAGES_FREEZES = either(nationally(Permission.MANAGE_SERVICES), nationally(Permission.SUPPORT))


@guarded(MANAGES_FREEZES)
@transaction.atomic
def freeze(*, service_year: ServiceYear | None, reason: str, by) -> Freeze:
    """Stop every declaration and approval of one service year (or of all, with None) until lifted."""
    if not reason.strip():
        raise ValidationError("Say why declarations and approvals are frozen: every affected user sees it.")
    try:
        with transaction.atomic():
            frozen = Freeze.objects.create(service_year=service_year, reason=reason.strip(), frozen_by=by)
    except IntegrityError:
        scope = service_year.name if service_year else "all services"
        raise ValidationError(f"Declarations and approvals for {scope} are already frozen.") from None
    audit.record(
        actor=by,
        action="declarations.freeze",
        obj=frozen,
        after={"service_year": service_year.code if service_year else None, "reason": frozen.reason},
    )
    return frozen


@guarded(MANAGES_FREEZES)
@transaction.atomic
def unfreeze(*, freeze: Freeze, by) -> Freeze:
    frozen = Freeze.objects.select_for_update(of=("self",)).select_related("service_year").get(pk=freeze.pk)
    if frozen.lifted_at is not None:
        raise ValidationError("This freeze has already been lifted.")
    frozen.lifted_at, frozen.lifted_by = timezone.now(), by
    frozen.save(update_fields=["lifted_at", "lifted_by"])
    audit.record(
        actor=by,
        action="declarations.unfreeze",
        obj=frozen,
        before={"lifted": False},
        after={"lifted": True, "scope": frozen.scope_label},
    )
    return frozen


# ---- Who is told ----------------------------------------------------------------------------------------


def _commissioner_ids(practice_ids: Iterable[int]) -> dict[int, list[int]]:
    """practice id → the commissioners above it (sub-ICB location and ICB), in one query."""
    rows = Organisation.objects.filter(pk__in=set(practice_ids)).values_list(
        "pk", "parent_id", "parent__parent_id"
    )
    return {pk: [o for o in (parent, grandparent) if o is not None] for pk, parent, grandparent in rows}


class Audience:
    """The holders of some roles at practices and their commissioners, fetched once for a whole set."""

    def __init__(self, practice_ids: Iterable[int], roles: Iterable[Role]):
        self.above = _commissioner_ids(practice_ids)
        # A PCN's declaration is acted on at its nominated payee practice: every nomination of these PCNs.
        self.nominations = defaultdict(list)
        for pcn_id, payee_id, start, end in NominatedPayee.objects.filter(
            pcn_id__in=set(self.above)
        ).values_list("pcn_id", "payee_id", "start_date", "end_date"):
            self.nominations[pcn_id].append((payee_id, start, end))
        payees = {payee for rows in self.nominations.values() for payee, _, _ in rows}
        organisations = set(self.above) | payees | {o for ids in self.above.values() for o in ids}
        self.by_organisation: dict[tuple[int, str], list[Recipient]] = defaultdict(list)
        rows = current_holders(roles=roles, organisations=organisations).values_list(
            "user_id", "organisation_id", "role"
        )
        for user_id, organisation_id, role in rows:
            self.by_organisation[organisation_id, role].append(Recipient(user_id, organisation_id))

    def at_practice(self, practice_id: int, role: Role, on=None) -> list[Recipient]:
        """The holders at the practice, or for a PCN at the payee it nominated for the date `on`."""
        for payee_id, start, end in self.nominations.get(practice_id, []):
            if on is not None and start <= on and (end is None or on <= end):
                practice_id = payee_id
                break
        return self.by_organisation.get((practice_id, role), [])

    def above_practice(self, practice_id: int, role: Role) -> list[Recipient]:
        return [r for o in self.above.get(practice_id, []) for r in self.by_organisation.get((o, role), [])]


# The role that acts next in each state, and whether it sits at the practice or above it.
NEXT_ACTOR = {
    State.AWAITING_PRACTICE: (Role.DECLARATION_MANAGEMENT, False),
    State.AWAITING_COMMISSIONER: (Role.APPROVAL_MANAGEMENT, True),
    State.AWAITING_FINANCE: (Role.FINANCE_MANAGEMENT, True),
}
NEXT_STEP = {
    State.AWAITING_NETWORK: "It can be declared once its PCN's achievement for the date is published.",
    State.AWAITING_PRACTICE: "Review and declare it.",
    State.AWAITING_COMMISSIONER: "It is awaiting your approval.",
    State.AWAITING_FINANCE: "It is awaiting your financial approval.",
    State.APPROVED: "It will be paid in the next payment batch.",
    State.SENT: "It has been sent for payment.",
}


def _describe(declaration: Declaration, practice_code: str, practice_name: str, year_name: str) -> str:
    return (
        f"{year_name} achievement at {declaration.achievement_date:%-d %B %Y} for {practice_name} "
        f"({practice_code}): {pounds(declaration.payment)}, {declaration.points} points"
    )


def _tell_next_actors(
    declarations: list[Declaration], *, event: str, audience: Audience | None = None
) -> int:
    """Notify whoever acts next on each declaration (and the practice, once it is approved or sent)."""
    if not declarations:
        return 0
    roles = [Role.DECLARATION_MANAGEMENT, Role.APPROVAL_MANAGEMENT, Role.FINANCE_MANAGEMENT]
    audience = audience or Audience({d.practice_id for d in declarations}, roles)
    rows, link = [], _links("declarations:detail")
    for declaration in declarations:
        practice, year = declaration.practice, declaration.service_year
        state = State(declaration.state)
        subject = f"{year.name} declaration for {practice.code}: {state.label}"
        message = (
            f"{_describe(declaration, practice.code, practice.name, year.name)} {event}. {NEXT_STEP[state]}"
        )
        on = declaration.achievement_date
        if state in NEXT_ACTOR and NEXT_ACTOR[state][1]:
            people = audience.above_practice(practice.pk, NEXT_ACTOR[state][0])
        else:
            role = NEXT_ACTOR[state][0] if state in NEXT_ACTOR else Role.DECLARATION_MANAGEMENT
            people = audience.at_practice(practice.pk, role, on)
        rows.extend((person, subject, message, link(declaration.pk)) for person in people)
    return notify_each(notifications=rows)


# ---- Transitions ----------------------------------------------------------------------------------------


def _locked(declaration: Declaration) -> Declaration:
    return (
        Declaration.objects.select_for_update(of=("self",))
        .select_related("practice", "service_year")
        .get(pk=declaration.pk)
    )


def _locked_set(ids) -> list[Declaration]:
    """Many declarations locked in one query, in id order so that two bulk requests cannot deadlock."""
    return list(
        Declaration.objects.select_for_update(of=("self",))
        .filter(pk__in=ids)
        .select_related("practice", "service_year")
        .order_by("pk")
    )


def _already(declaration: Declaration) -> ValidationError:
    """The message for the caller who lost a race (or clicked twice): where it is now, and nothing done."""
    return ValidationError(
        f"This declaration is now {declaration.get_state_display()}, so nothing was changed: someone has "
        "already dealt with it. Reload the page to see where it has got to."
    )


def _audit_skips(declaration: Declaration, skipped: list[str], before: dict) -> None:
    for setting in skipped:
        audit.record(
            actor=None,
            action="declarations.skip_step",
            obj=declaration,
            before=before,
            after={**declaration.figures(), "setting": setting},
        )


def _may_declare(by, kwargs) -> bool:
    """A practice's users declare its achievement; a PCN's, its nominated payee's (ADR 0018)."""
    declarer = declaring_practice(kwargs["declaration"])
    return declarer is not None and may(by, Permission.DECLARE_ACHIEVEMENT, declarer)


@guarded(_may_declare)
@transaction.atomic
def declare(*, declaration: Declaration, by, statement_accepted: bool, notes: str = "") -> Declaration:
    """The practice declares the achievement true and complete; commissioners are told to approve it."""
    declaration = _locked(declaration)
    _refuse_while_frozen([declaration.service_year_id])
    if declaration.state == State.AWAITING_NETWORK:
        raise ValidationError(
            "This achievement is Awaiting Network Achievement: it can be declared once its PCN's network "
            "achievement for the date is published."
        )
    if declaration.state != State.AWAITING_PRACTICE:
        raise _already(declaration)
    if not statement_accepted:
        raise ValidationError("Tick the declaration statement to declare this achievement.")
    before = declaration.figures()
    now = timezone.now()
    declaration.state, skipped = past_unneeded_steps(declaration.service_year, State.AWAITING_COMMISSIONER)
    declaration.statement_accepted, declaration.notes = True, notes.strip()
    declaration.declared_at, declaration.declared_by, declaration.updated_at = now, by, now
    declaration.save()
    audit.record(
        actor=by,
        action="declarations.declare",
        obj=declaration,
        before=before,
        after={**declaration.figures(), "notes": declaration.notes},
    )
    _audit_skips(declaration, skipped, before)
    _tell_next_actors([declaration], event="was declared by the practice")
    return declaration


def _approve(declaration: Declaration, *, by, source: str, target: str, stamp: str, action: str, event: str):
    """One approval: from `source` to `target`, stamping `<stamp>_at` and `<stamp>_by`."""
    declaration = _locked(declaration)
    _refuse_while_frozen([declaration.service_year_id])
    if declaration.state != source:
        raise _already(declaration)
    before, now = declaration.figures(), timezone.now()
    declaration.state, declaration.updated_at = target, now
    setattr(declaration, f"{stamp}_at", now)
    setattr(declaration, f"{stamp}_by", by)
    declaration.save()
    audit.record(actor=by, action=action, obj=declaration, before=before, after=declaration.figures())
    _tell_next_actors([declaration], event=event)
    return declaration


@guarded(at(Permission.APPROVE_DECLARATIONS, "declaration.practice"))
@transaction.atomic
def approve(*, declaration: Declaration, by) -> Declaration:
    return _approve(
        declaration, by=by, source=State.AWAITING_COMMISSIONER, target=State.AWAITING_FINANCE,
        stamp="approved", action="declarations.approve", event="was approved by the commissioner",
    )  # fmt: skip


@guarded(at(Permission.MANAGE_FINANCE, "declaration.practice"))
@transaction.atomic
def financially_approve(*, declaration: Declaration, by) -> Declaration:
    return _approve(
        declaration, by=by, source=State.AWAITING_FINANCE, target=State.APPROVED,
        stamp="financially_approved", action="declarations.financially_approve",
        event="was financially approved",
    )  # fmt: skip


def _may_reject(by, kwargs) -> bool:
    """The approver rejects what awaits approval; finance what awaits financial approval."""
    declaration = kwargs["declaration"]
    permission = REJECTERS.get(declaration.state, Permission.APPROVE_DECLARATIONS)
    return may(by, permission, declaration.practice)


@guarded(_may_reject)
@transaction.atomic
def reject(*, declaration: Declaration, by, reason: str) -> Declaration:
    """Send it back to the practice with a reason it sees. The guard judged the state the caller saw, so a
    declaration that has moved on since is refused rather than rejected by someone no longer entitled."""
    seen = declaration.state
    declaration = _locked(declaration)
    _refuse_while_frozen([declaration.service_year_id])
    if declaration.state not in REJECTERS or declaration.state != seen:
        raise _already(declaration)
    if not reason.strip():
        raise ValidationError("Say why it is rejected: the practice sees the reason.")
    before, now = declaration.figures(), timezone.now()
    declaration.state = State.AWAITING_PRACTICE
    declaration.rejection_reason, declaration.rejected_at, declaration.rejected_by = reason.strip(), now, by
    declaration.statement_accepted, declaration.updated_at = False, now
    declaration.save()
    audit.record(
        actor=by, action="declarations.reject", obj=declaration, before=before,
        after={**declaration.figures(), "reason": declaration.rejection_reason},
    )  # fmt: skip
    _tell_next_actors([declaration], event=f"was rejected: {declaration.rejection_reason}")
    return declaration


def _at_each_declarer(permission: Permission):
    """`by` holds `permission` for every selected declaration's organisation, practice or PCN (one query
    however many are selected; the accounts helper counts practices only)."""

    def check(by, kwargs) -> bool:
        ids = {declaration.practice_id for declaration in kwargs["declarations"]}
        within = organisations_reachable(by, permission, Organisation.objects.filter(pk__in=ids))
        return ids <= set(within.values_list("pk", flat=True))

    return check


@dataclass(frozen=True)
class BulkOutcome:
    done: int
    # Selected but no longer in the state the step starts from: somebody else got there first.
    skipped: int


def _bulk(declarations, *, by, source: str, target: str, stamp: dict, action: str, event: str) -> BulkOutcome:
    """One transition for a whole selection: a fixed number of queries however many are selected."""
    ids = {declaration.pk for declaration in declarations}
    if not ids:
        raise ValidationError("Select at least one declaration.")
    locked = _locked_set(ids)
    _refuse_while_frozen({declaration.service_year_id for declaration in locked})
    ready = [declaration for declaration in locked if declaration.state == source]
    if not ready:
        raise ValidationError(
            f"None of the {len(ids)} selected declarations is {State(source).label} any more, so nothing "
            "was changed: someone has already dealt with them."
        )
    now = timezone.now()
    befores = [declaration.figures() for declaration in ready]
    Declaration.objects.filter(pk__in=[d.pk for d in ready]).update(
        state=target,
        updated_at=now,
        **{name: now if value == "now" else value for name, value in stamp.items()},
    )
    for declaration in ready:
        declaration.state = target
    audit.write_many(
        actor=by,
        action=action,
        changes=[(d, before, d.figures()) for d, before in zip(ready, befores, strict=True)],
    )
    _tell_next_actors(ready, event=event)
    return BulkOutcome(done=len(ready), skipped=len(ids) - len(ready))


@guarded(_at_each_declarer(Permission.APPROVE_DECLARATIONS))
@transaction.atomic
def bulk_approve(*, declarations: Iterable[Declaration], by) -> BulkOutcome:
    return _bulk(
        declarations, by=by, source=State.AWAITING_COMMISSIONER, target=State.AWAITING_FINANCE,
        stamp={"approved_at": "now", "approved_by": by}, action="declarations.approve",
        event="was approved by the commissioner",
    )  # fmt: skip


@guarded(_at_each_declarer(Permission.MANAGE_FINANCE))
@transaction.atomic
def bulk_financially_approve(*, declarations: Iterable[Declaration], by) -> BulkOutcome:
    return _bulk(
        declarations, by=by, source=State.AWAITING_FINANCE, target=State.APPROVED,
        stamp={"financially_approved_at": "now", "financially_approved_by": by},
        action="declarations.financially_approve", event="was financially approved",
    )  # fmt: skip


@guarded(
    either(
        at(Permission.APPROVE_DECLARATIONS, "revision.declaration.practice"),
        at(Permission.MANAGE_FINANCE, "revision.declaration.practice"),
    )
)
@transaction.atomic
def confirm_adjustment(*, revision: DeclarationRevision, by, note: str = "") -> DeclarationRevision:
    """The commissioner has looked at a payment a recalculation changed after it was sent, and confirms
    that the difference is to be paid or recovered as an adjustment (the payments app pays confirmed ones)."""
    revision = (
        DeclarationRevision.objects.select_for_update(of=("self",))
        .select_related("declaration__practice", "declaration__service_year")
        .get(pk=revision.pk)
    )
    if revision.outcome != DeclarationRevision.Outcome.FLAGGED:
        raise ValidationError("Only a payment changed after it was sent needs commissioner action.")
    if revision.resolved_at is not None:
        raise ValidationError("This adjustment has already been confirmed, so nothing was changed.")
    revision.resolved_at, revision.resolved_by, revision.resolution_note = timezone.now(), by, note.strip()
    revision.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    audit.record(
        actor=by,
        action="declarations.confirm_adjustment",
        obj=revision.declaration,
        before={"revision": revision.pk, "confirmed": False},
        after={
            "revision": revision.pk,
            "confirmed": True,
            "difference": str(revision.difference),
            "note": revision.resolution_note,
        },
    )
    return revision


@system_step
@transaction.atomic
def mark_sent_for_payment(*, declaration_ids: Iterable[int], reference: str) -> int:
    """Approved → Sent for payment ("SENT TO SSD"), called by the payments app when it releases the money
    of these declarations under a batch `reference`. Every one must be Approved: all move or none."""
    ids = set(declaration_ids)
    if not reference.strip():
        raise ValueError("a payment reference is required")
    locked = _locked_set(ids)
    not_approved = sorted(d.pk for d in locked if d.state != State.APPROVED) + sorted(
        ids - {d.pk for d in locked}
    )
    if not_approved:
        raise ValidationError(
            f"Only approved declarations can be sent for payment (not {not_approved[:10]})."
        )
    befores = [d.figures() for d in locked]
    now = timezone.now()
    Declaration.objects.filter(pk__in=ids).update(
        state=State.SENT, sent_at=now, payment_reference=reference.strip(), updated_at=now
    )
    for declaration in locked:
        declaration.state = State.SENT
    audit.write_many(
        actor=None,
        action="declarations.send_for_payment",
        changes=[
            (d, before, {**d.figures(), "reference": reference.strip()})
            for d, before in zip(locked, befores, strict=True)
        ],
    )
    _tell_next_actors(locked, event=f"was sent for payment ({reference.strip()})")
    return len(locked)


# ---- What a publication does to declarations ------------------------------------------------------------


@dataclass(frozen=True)
class Consequences:
    created: int = 0
    unchanged: int = 0
    reverted: int = 0
    flagged: int = 0
    withdrawn: int = 0


@on_publication
@system_step
def follow_publication(*, run: CalculationRun, replaced_run_id: int | None) -> Consequences:
    """Inside publication's transaction: a declaration for every practice newly in the run; unchanged
    figures left alone; changed ones sent back to the practice (or, once sent for payment, flagged with the
    difference); practices no longer in the run withdrawn. Bulk SQL throughout: a national re-run that
    changes every practice makes a fixed number of queries."""
    if not follows_declarations(run):
        return Consequences()
    year, now = run.service_year, timezone.now()
    figures = {
        practice_id: (points, payment)
        for practice_id, points, payment in PracticeResult.objects.filter(run=run).values_list(
            "practice_id", "points", "payment"
        )
    }
    waiting = _awaiting_network(run, figures)
    # Every live declaration is locked, but only the ones this run moves are built as objects (changed
    # figures, or released from waiting for their network): a national re-run that changes few practices
    # then reads thousands of small tuples, not models.
    live_here = Declaration.objects.filter(
        service_year=year, achievement_date=run.achievement_date, state__in=Declaration.LIVE_STATES
    )
    held = {
        practice_id: (points, payment, state)
        for practice_id, points, payment, state in live_here.select_for_update().values_list(
            "practice_id", "points", "payment", "state"
        )
    }
    moved = [
        practice_id
        for practice_id, (points, payment, state) in held.items()
        if figures.get(practice_id) != (points, payment)
        or (state == State.AWAITING_NETWORK and practice_id not in waiting)
    ]
    live = {
        declaration.practice_id: declaration
        for declaration in live_here.filter(practice_id__in=moved).select_related("practice", "service_year")
    } if moved else {}  # fmt: skip
    first_state, skipped = past_unneeded_steps(year, State.AWAITING_PRACTICE)
    created = [
        Declaration(
            practice_id=practice_id, service_year=year, achievement_date=run.achievement_date,
            state=State.AWAITING_NETWORK if practice_id in waiting else first_state, run=run,
            points=points, payment=payment, created_at=now, updated_at=now,
        )
        for practice_id, (points, payment) in figures.items()
        if practice_id not in held
    ]  # fmt: skip
    Declaration.objects.bulk_create(created, batch_size=BULK_ROWS)
    revisions, withdrawn, released, unchanged = [], [], [], len(held) - len(live)
    for practice_id, declaration in live.items():
        if practice_id not in figures:
            if declaration.state == State.SENT:
                revisions.append(_revision(declaration, run, Decimal(0), Decimal(0), now))
            else:
                withdrawn.append(declaration)
            continue
        points, payment = figures[practice_id]
        if (points, payment) == (declaration.points, declaration.payment):
            released.append(declaration)
            continue
        revisions.append(_revision(declaration, run, points, payment, now))
    DeclarationRevision.objects.bulk_create(revisions, batch_size=BULK_ROWS)
    reverted_ids = [r.declaration_id for r in revisions if r.outcome == DeclarationRevision.Outcome.REVERTED]
    flagged_ids = [r.declaration_id for r in revisions if r.outcome == DeclarationRevision.Outcome.FLAGGED]
    # One row per run and practice (a unique constraint): the model's default ordering would join the
    # organisations and sort for each row.
    new_figures = PracticeResult.objects.filter(run=run, practice_id=OuterRef("practice_id")).order_by()
    new_points, new_payment = (
        Subquery(new_figures.values("points")[:1]),
        Subquery(new_figures.values("payment")[:1]),
    )
    if reverted_ids:
        Declaration.objects.filter(pk__in=reverted_ids).update(
            state=first_state, run=run, updated_at=now, statement_accepted=False,
            points=new_points, payment=new_payment,
            declared_at=None, declared_by=None, approved_at=None, approved_by=None,
            financially_approved_at=None, financially_approved_by=None,
            rejection_reason="", rejected_at=None, rejected_by=None,
        )  # fmt: skip
    if reverted_ids and waiting:
        Declaration.objects.filter(pk__in=reverted_ids, practice_id__in=waiting).update(
            state=State.AWAITING_NETWORK
        )
    if released:
        released_ids = [d.pk for d in released]
        Declaration.objects.filter(pk__in=released_ids).update(state=first_state, updated_at=now)
    if flagged_ids:
        # Paid on the old figures; the revision holds the difference, and the snapshot now follows the
        # new run so that a later recalculation is compared with what the adjustment brings it to.
        Declaration.objects.filter(pk__in=flagged_ids, practice_id__in=figures).update(
            run=run, updated_at=now,
            points=new_points, payment=new_payment,
        )  # fmt: skip
    if withdrawn:
        Declaration.objects.filter(pk__in=[d.pk for d in withdrawn]).update(
            state=State.WITHDRAWN, updated_at=now
        )
    _audit_publication(run, created, revisions, withdrawn, skipped, first_state, waiting)
    _notify_publication(run, created, revisions)
    _release_from_network_wait(run, released, first_state)
    return Consequences(
        created=len(created), unchanged=unchanged, reverted=len(reverted_ids), flagged=len(flagged_ids),
        withdrawn=len(withdrawn),
    )  # fmt: skip


def _awaiting_network(run: CalculationRun, figures: dict) -> set[int]:
    """The member practices of this run whose PCN has no aggregate in it (no payee nominated on the date,
    so nobody can declare or be paid it): their declarations wait in Awaiting Network Achievement until a
    run of the date publishes it (ADR 0018). Only capitation runs aggregate to PCNs."""
    if run.service_year.payment_kind != ServiceYear.PaymentKind.CAPITATION:
        return set()
    members = ServiceLine.objects.filter(run=run, practice__isnull=False, pcn__isnull=False).values_list(
        "practice_id", "pcn_id"
    )
    return {practice_id for practice_id, pcn_id in members.distinct() if pcn_id not in figures}


def _release_from_network_wait(run: CalculationRun, released: list[Declaration], first_state: str) -> None:
    """Their PCN's aggregate is published now: audited and the practices told they can declare."""
    if not released:
        return
    changes = []
    for declaration in released:
        before = declaration.figures()
        declaration.state = first_state
        changes.append((declaration, before, {**declaration.figures(), "network_run": run.pk}))
    audit.write_many(actor=None, action="declarations.network_achievement_published", changes=changes)
    _tell_next_actors(released, event="has its PCN's network achievement published")


def _revision(declaration: Declaration, run: CalculationRun, points, payment, now) -> DeclarationRevision:
    sent = declaration.state == State.SENT
    return DeclarationRevision(
        declaration=declaration,
        outcome=DeclarationRevision.Outcome.FLAGGED if sent else DeclarationRevision.Outcome.REVERTED,
        previous_run_id=declaration.run_id, run=run, previous_state=declaration.state,
        previous_points=declaration.points, points=points,
        previous_payment=declaration.payment, payment=payment, difference=payment - declaration.payment,
        created_at=now,
    )  # fmt: skip


def _audit_publication(run, created, revisions, withdrawn, skipped, first_state, waiting) -> None:
    changes = [
        (d, None, {**d.figures(), "settings": skipped}) for d in created
    ]  # created rows have their ids on PostgreSQL and SQLite alike (RETURNING)
    for revision in revisions:
        declaration = revision.declaration
        reverted_to = State.AWAITING_NETWORK if declaration.practice_id in waiting else first_state
        after = {
            "state": reverted_to if revision.outcome == DeclarationRevision.Outcome.REVERTED else State.SENT,
            "run": run.pk, "points": str(revision.points), "payment": str(revision.payment),
            "outcome": revision.outcome, "difference": str(revision.difference),
        }  # fmt: skip
        changes.append((declaration, declaration.figures(), after))
    changes.extend((d, d.figures(), {"state": State.WITHDRAWN, "run": run.pk}) for d in withdrawn)
    audit.write_many(actor=None, action="declarations.follow_publication", changes=changes)


def _notify_publication(run, created, revisions) -> None:
    """New declarations: whoever acts first. Changed ones: the practice and its commissioners, with the old
    and new figures and the run's reason. Unchanged ones: nobody."""
    practice_ids = {d.practice_id for d in created} | {r.declaration.practice_id for r in revisions}
    if not practice_ids:
        return
    roles = [Role.DECLARATION_MANAGEMENT, Role.APPROVAL_MANAGEMENT, Role.FINANCE_MANAGEMENT]
    audience = Audience(practice_ids, roles)
    practices = {
        o.pk: o
        for o in Organisation.objects.filter(pk__in=practice_ids).only("pk", "code", "name", "parent_id")
    }
    year = run.service_year
    for declaration in created:
        declaration.practice, declaration.service_year = practices[declaration.practice_id], year
    _tell_next_actors(created, event="is available to view and declare", audience=audience)
    why = run.reason or run.get_kind_display()
    rows, revision_link = [], _links("declarations:revision")
    for revision in revisions:
        declaration = revision.declaration
        practice = practices[declaration.practice_id]
        change = (
            f"{year.name} achievement at {run.achievement_date:%-d %B %Y} for {practice.name} "
            f"({practice.code}) changed in run {run.pk} ({why}): "
            f"{revision.previous_points} → {revision.points} points, "
            f"{pounds(revision.previous_payment)} → {pounds(revision.payment)}."
        )
        link = revision_link(revision.pk)
        if revision.outcome == DeclarationRevision.Outcome.REVERTED:
            subject = f"{year.name} achievement for {practice.code} changed: declare and approve again"
            message = (
                f"{change} The declaration has returned to {State.AWAITING_PRACTICE.label}: the practice "
                "must declare it again and the commissioner approve it again."
            )
            people = [
                *audience.at_practice(practice.pk, Role.DECLARATION_MANAGEMENT, run.achievement_date),
                *audience.above_practice(practice.pk, Role.APPROVAL_MANAGEMENT),
            ]
        else:
            subject = f"{year.name} payment for {practice.code} needs commissioner action"
            direction = "to pay the practice" if revision.difference > 0 else "to recover"
            message = (
                f"{change} It had already been sent for payment, so the difference of "
                f"{pounds(revision.difference)} ({direction}) is an adjustment for the commissioner "
                "to act on."
            )
            people = [
                *audience.at_practice(practice.pk, Role.DECLARATION_MANAGEMENT, run.achievement_date),
                *audience.above_practice(practice.pk, Role.APPROVAL_MANAGEMENT),
                *audience.above_practice(practice.pk, Role.FINANCE_MANAGEMENT),
            ]
        rows.extend((person, subject, message, link) for person in dict.fromkeys(people))
    notify_each(notifications=rows)
