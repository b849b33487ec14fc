"""Reads of declarations, scoped to the user: a declaration outside the user's practices is a 404."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize

from accounts.models import OrganisationType
from accounts.permissions import (
    Permission,
    may,
    may_nationally,
    organisations_granting,
    organisations_reachable,
)
from calculation.publication import describes_rerun_consequences

from .models import REJECTERS, STEPS, Declaration, DeclarationRevision, Freeze

State = Declaration.State
# Anyone who reads a practice's achievement or its payments may read its declarations.
READERS = (Permission.VIEW_ACHIEVEMENT, Permission.VIEW_FINANCE)


def declarations_visible_to(user) -> QuerySet[Declaration]:
    practices = organisations_reading(user)
    return Declaration.objects.filter(practice__in=practices.values("pk")).select_related(
        "practice", "service_year", "run"
    )


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
    steps = {
        name
        for name, (state, permission) in STEPS.items()
        if declaration.state == state and may(user, permission, declaration.practice)
    }
    permission = REJECTERS.get(declaration.state)
    if permission is not None and may(user, permission, declaration.practice):
        steps.add("reject")
    return steps


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
    return organisations_reachable(user, READERS[0]) | organisations_reachable(user, READERS[1])


def work_counts(user) -> dict[str, int]:
    """How many declarations wait for this user, by the step they wait for (a count per step)."""
    counts = {}
    for name, (state, permission) in STEPS.items():
        practices = organisations_reachable(user, permission)
        counts[name] = Declaration.objects.filter(state=state, practice__in=practices.values("pk")).count()
    return counts


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
