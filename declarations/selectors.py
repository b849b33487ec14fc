"""Reads of declarations, scoped to the user: a declaration outside the user's practices is a 404."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import Organisation, OrganisationType, in_force_on
from accounts.permissions import (
    Permission,
    may,
    may_nationally,
    organisations_below,
    organisations_granting,
    organisations_reachable,
)
from calculation.models import CalculationRun, IndicatorResult, PracticeResult
from calculation.publication import describes_rerun_consequences
from participation.models import NominatedPayee

from .models import REJECTERS, STEPS, Declaration, DeclarationRevision, Freeze, pounds

State = Declaration.State
# Anyone who reads a practice's achievement or its payments may read its declarations.
READERS = (Permission.VIEW_ACHIEVEMENT, Permission.VIEW_FINANCE)


def declared_by_payee_in(practices: QuerySet) -> Exists:
    """A PCN's declaration whose payee nominated on its achievement date is one of these practices: its
    users declare it and see it as their own (ADR 0018)."""
    return Exists(
        NominatedPayee.objects.filter(
            in_force_on(OuterRef("achievement_date")),
            pcn_id=OuterRef("practice_id"),
            payee__in=practices.values("pk"),
        )
    )


def declaring_practice(declaration: Declaration) -> Organisation | None:
    """Whose users declare it: the practice itself, or for a PCN its payee nominated on the achievement
    date (None while the PCN has none, when nobody can)."""
    if declaration.practice.type != OrganisationType.PCN:
        return declaration.practice
    nomination = (
        NominatedPayee.objects.filter(
            in_force_on(declaration.achievement_date), pcn_id=declaration.practice_id
        )
        .select_related("payee")
        .first()
    )
    return nomination.payee if nomination else None


def declarations_visible_to(user) -> QuerySet[Declaration]:
    practices = organisations_reading(user)
    return Declaration.objects.filter(
        Q(practice__in=practices.values("pk")) | declared_by_payee_in(practices)
    ).select_related("practice", "service_year", "run")


def declaration_for(user, pk: int) -> Declaration:
    return get_object_or_404(declarations_visible_to(user), pk=pk)


def revision_for(user, pk: int) -> DeclarationRevision:
    visible = DeclarationRevision.objects.filter(declaration__in=declarations_visible_to(user).values("pk"))
    return get_object_or_404(
        visible.select_related(
            "declaration__practice", "declaration__service_year", "run", "previous_run", "resolved_by"
        ),
        pk=pk,
    )


def steps_open_to(user, declaration: Declaration) -> set[str]:
    """The transitions the page offers this user now (the actions check again for themselves)."""
    declarer = declaring_practice(declaration)
    steps = {
        name
        for name, (state, permission) in STEPS.items()
        if declaration.state == state
        and (
            may(user, permission, declaration.practice)
            if name != "declare"
            else declarer is not None and may(user, permission, declarer)
        )
    }
    permission = REJECTERS.get(declaration.state)
    if permission is not None and may(user, permission, declaration.practice):
        steps.add("reject")
    return steps


def may_confirm_adjustment(user, revision: DeclarationRevision) -> bool:
    practice = revision.declaration.practice
    return may(user, Permission.APPROVE_DECLARATIONS, practice) or may(
        user, Permission.MANAGE_FINANCE, practice
    )


def revisions_of(declaration: Declaration) -> QuerySet[DeclarationRevision]:
    return declaration.revisions.select_related("run", "previous_run", "resolved_by")


def standing_freezes(service_year_ids: Iterable[int] | None) -> list[Freeze]:
    """The freezes that stop work on any of these service years, or every standing freeze for None (one
    query)."""
    standing = Freeze.objects.filter(lifted_at__isnull=True).select_related("service_year")
    if service_year_ids is not None:
        standing = standing.filter(
            Q(service_year__isnull=True) | Q(service_year_id__in=set(service_year_ids))
        )
    return list(standing)


def reads_declarations(user) -> bool:
    """Whether the user reads declarations anywhere: the declarations list is for them alone."""
    return bool(organisations_granting(user, READERS[0]) or organisations_granting(user, READERS[1]))


def organisations_reading(user) -> QuerySet:
    granted = organisations_granting(user, READERS[0]) | organisations_granting(user, READERS[1])
    return organisations_below(granted)


@dataclass(frozen=True)
class WorkItem:
    text: str
    href: str


PRACTICE_ITEMS = 10


def work_list(user) -> list[WorkItem]:
    """What waits for this user, with counts and links, for the home page: declarations to make, approve
    or pay, payments flagged by a recalculation, and for Support failed runs and freezes."""
    items = []
    declaring = organisations_reachable(user, Permission.DECLARE_ACHIEVEMENT)
    to_declare = (
        Declaration.objects.filter(
            Q(practice__in=declaring.values("pk")) | declared_by_payee_in(declaring),
            state=State.AWAITING_PRACTICE,
        )
        .select_related("service_year", "practice")
        .order_by("service_year__code", "practice__code")
    )
    several_practices = len({d.practice_id for d in to_declare[: PRACTICE_ITEMS + 1]}) > 1
    for declaration in to_declare[:PRACTICE_ITEMS]:
        whose = f" for {declaration.practice.code}" if several_practices else ""
        rejected = f" (returned: {declaration.rejection_reason})" if declaration.rejection_reason else ""
        items.append(
            WorkItem(
                f"Declare {declaration.service_year.name}{whose}: {pounds(declaration.payment)}, "
                f"{declaration.points} points{rejected}",
                reverse("declarations:detail", args=[declaration.pk]),
            )
        )
    waiting = [
        ("approve", State.AWAITING_COMMISSIONER, "awaiting your approval"),
        ("financially_approve", State.AWAITING_FINANCE, "awaiting your financial approval"),
    ]
    for name, state, phrase in waiting:
        permission = STEPS[name][1]
        if not organisations_granting(user, permission):
            continue
        count = Declaration.objects.filter(
            state=state, practice__in=organisations_reachable(user, permission).values("pk")
        ).count()
        if count:
            items.append(WorkItem(f"{count} declaration{pluralize(count)} {phrase}", _list_link(state=state)))
    flaggers = organisations_reachable(user, Permission.APPROVE_DECLARATIONS) | organisations_reachable(
        user, Permission.MANAGE_FINANCE
    )
    if may_nationally(user, Permission.SUPPORT):
        flaggers = organisations_reachable(user, Permission.SUPPORT)
    flagged = open_flags().filter(declaration__practice__in=flaggers.values("pk")).count()
    if flagged:
        items.append(
            WorkItem(
                f"{flagged} payment{pluralize(flagged)} changed by a recalculation after sending: "
                "commissioner action needed",
                _list_link(flagged="yes"),
            )
        )
    if may_nationally(user, Permission.SUPPORT):
        failed = CalculationRun.objects.filter(status=CalculationRun.Status.FAILED).count()
        if failed:
            items.append(
                WorkItem(
                    f"{failed} failed calculation run{pluralize(failed)}", reverse("calculation:run_list")
                )
            )
    if may_manage_freezes(user):
        frozen = Freeze.objects.filter(lifted_at__isnull=True).count()
        if frozen:
            items.append(
                WorkItem(f"{frozen} standing freeze{pluralize(frozen)}", reverse("declarations:freezes"))
            )
    return items


def open_flags() -> QuerySet[DeclarationRevision]:
    """Revisions of declarations already sent for payment that no commissioner has dealt with yet."""
    return DeclarationRevision.objects.filter(
        outcome=DeclarationRevision.Outcome.FLAGGED, resolved_at__isnull=True
    )


def _list_link(**query) -> str:
    return f"{reverse('declarations:list')}?{urlencode(query)}"


def may_manage_freezes(user) -> bool:
    return may_nationally(user, Permission.MANAGE_SERVICES) or may_nationally(user, Permission.SUPPORT)


def freezes_for(user) -> QuerySet[Freeze]:
    """Every freeze, newest first: national work (Service Management and Support), else 404."""
    if not may_manage_freezes(user):
        raise Http404
    return Freeze.objects.select_related("service_year", "frozen_by", "lifted_by")


@describes_rerun_consequences
def rerun_consequences(*, service_year, achievement_date, organisation=None) -> list[str]:
    """Before Support re-runs a year end or recalculates a practice: how many declarations the run would
    revert (declared or approved, not yet sent) or flag (sent for payment) if their figures change."""
    live = Declaration.objects.filter(
        service_year=service_year, achievement_date=achievement_date, state__in=Declaration.LIVE_STATES
    )
    if organisation is not None and organisation.type != OrganisationType.NATIONAL:
        live = live.filter(
            Q(practice=organisation)
            | Q(practice__parent=organisation)
            | Q(practice__parent__parent=organisation)
        )
    counts = dict(live.values_list("state").annotate(n=Count("pk")).order_by())
    moved_on = sum(
        counts.get(state, 0)
        for state in (State.AWAITING_COMMISSIONER, State.AWAITING_FINANCE, State.APPROVED)
    )
    sent = counts.get(State.SENT, 0)
    sentences = []
    if moved_on:
        sentences.append(
            f"{moved_on} declaration{pluralize(moved_on)} of {service_year.name} already declared or "
            f"approved would be reverted to {State.AWAITING_PRACTICE.label} if "
            f"{pluralize(moved_on, 'its,their')} figures change: practices would declare again and "
            "commissioners approve again."
        )
    if sent:
        sentences.append(
            f"{sent} declaration{pluralize(sent)} already sent for payment would be flagged for commissioner "
            "action with the difference in pounds if the figures change."
        )
    return sentences


# The inputs and results of an indicator compared between two runs: (label, field).
COMPARED = [
    ("Register", "register"),
    ("Numerator", "numerator"),
    ("Denominator", "denominator"),
    ("PCAs", "pcas"),
    ("Achievement %", "achievement"),
    ("Points", "points"),
    ("Payment", "payment"),
]


@dataclass(frozen=True)
class IndicatorChange:
    code: str
    # (label, before, after) for each compared value that differs.
    differences: list[tuple[str, object, object]]


def indicator_changes(
    practice_id: int, previous_run_id: int, run_id: int
) -> tuple[list[IndicatorChange], int]:
    """What changed for one practice between two published runs, indicator by indicator, and how many
    indicators stayed the same (two queries: where each run keeps the practice's rows, then the rows)."""
    holders = dict(
        PracticeResult.objects.filter(
            practice_id=practice_id, run_id__in=[previous_run_id, run_id]
        ).values_list("run_id", "indicator_run_id")
    )
    before_run, after_run = holders.get(previous_run_id), holders.get(run_id)
    fields = [name for _, name in COMPARED]
    rows = IndicatorResult.objects.filter(
        practice_id=practice_id, run_id__in={before_run, after_run} - {None}
    )
    before, after = {}, {}
    for run, code, *values in rows.values_list("run_id", "indicator_code", *fields):
        # A practice carried forward unchanged has both runs' rows in one run: before and after are equal.
        if run == before_run:
            before[code] = values
        if run == after_run:
            after[code] = values
    changes, unchanged = [], 0
    for code in sorted(before.keys() | after.keys()):
        old, new = before.get(code, [None] * len(fields)), after.get(code, [None] * len(fields))
        differences = [
            (label, was, now) for (label, _), was, now in zip(COMPARED, old, new, strict=True) if was != now
        ]
        if differences:
            changes.append(IndicatorChange(code, differences))
        else:
            unchanged += 1
    return changes, unchanged
