"""Reads of calculation runs, scoped to who is asking (runs are national: Support only; else 404)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Organisation, OrganisationType, PcnMembership, in_force_on
from accounts.permissions import Permission, may, may_nationally
from accounts.selectors import organisation_for
from extracts.models import Extract
from participation.models import NominatedPayee, Participation, ServiceYear

from .models import (
    CalculationRun,
    IndicatorResult,
    PracticeResult,
    PrevalenceFlag,
    PrevalenceResult,
    PrevalenceReview,
)


def may_run_calculations(user) -> bool:
    return may_nationally(user, Permission.SUPPORT)


def require_calculation_rights(user) -> None:
    """The forms that start runs are for Support; to anyone else they do not exist. (Their POSTs go to the
    actions, which refuse anyone else themselves.)"""
    if not may_run_calculations(user):
        raise Http404


def may_read_runs(user) -> bool:
    """Runs are national work: Support runs them; Service Management watches them."""
    return may_run_calculations(user) or may_nationally(user, Permission.MANAGE_SERVICES)


def runs_for(user) -> QuerySet[CalculationRun]:
    if not may_read_runs(user):
        raise Http404
    return CalculationRun.objects.select_related("service_year", "organisation", "triggered_by")


def run_for(user, pk: int) -> CalculationRun:
    return get_object_or_404(runs_for(user), pk=pk)


def run_kind_for(
    service_year: ServiceYear, achievement_date: dt.date, organisation: Organisation | None
) -> str:
    """A run of part of the country is a recalculation; a national one is the year end on the year's last
    day and in-year before it."""
    if organisation is not None and organisation.type != OrganisationType.NATIONAL:
        return CalculationRun.Kind.RECALCULATION
    if achievement_date == service_year.end_date:
        return CalculationRun.Kind.YEAR_END
    return CalculationRun.Kind.IN_YEAR


def dates_with_data() -> list[tuple[str, str, dt.date]]:
    """(service year code, its name, achievement date) that have extract data, newest first: what may be
    calculated."""
    rows = (
        Extract.objects.values_list(
            "service_year__financial_year", "service_year__code", "service_year__name", "achievement_date"
        )
        .distinct()
        .order_by("-service_year__financial_year", "service_year__code", "-achievement_date")
    )
    return [(code, name, on) for _, code, name, on in rows]


def published_indicator_results(run_id: int) -> QuerySet[IndicatorResult]:
    """The indicator results a published run shows: its own and those it carries forward, one query."""
    shown = PracticeResult.objects.filter(
        run_id=run_id, indicator_run_id=OuterRef("run_id"), practice_id=OuterRef("practice_id")
    )
    return IndicatorResult.objects.filter(Exists(shown))


@dataclass(frozen=True)
class GroupComparison:
    group_code: str
    register_total: int
    population_total: int
    prevalence: float
    previous_prevalence: float | None
    flagged: bool

    @property
    def change(self) -> float | None:
        if not self.previous_prevalence:
            return None
        return (self.prevalence - self.previous_prevalence) / self.previous_prevalence

    # Shown as percentages; a ratio of the integer totals (never used in a payment).
    @property
    def prevalence_percent(self) -> float:
        return 100 * self.prevalence

    @property
    def previous_percent(self) -> float | None:
        return None if self.previous_prevalence is None else 100 * self.previous_prevalence

    @property
    def change_percent(self) -> float | None:
        change = self.change
        return None if change is None else 100 * change


@dataclass
class PrevalenceReviewPage:
    run: CalculationRun
    review: PrevalenceReview | None
    outliers: list[PrevalenceFlag]
    groups: list[GroupComparison]
    missing_by_commissioner: list[dict]
    missing: list[PrevalenceFlag]
    missing_count: int


MISSING_LISTED = 500


def prevalence_review_page(run: CalculationRun) -> PrevalenceReviewPage:
    """What Support reads before confirming a held run's prevalence: the outliers, every group's national
    prevalence against last year's, and the practices that sent nothing, by commissioner. Six queries."""
    review = PrevalenceReview.objects.filter(run=run).select_related("compared_with", "decided_by").first()
    if review is None:
        return PrevalenceReviewPage(run, None, [], [], [], [], 0)
    flags = PrevalenceFlag.objects.filter(review=review).select_related("practice__parent")
    outliers = list(flags.filter(outlier=True))
    missing_flags = flags.filter(kind=PrevalenceFlag.Kind.MISSING_PRACTICE).order_by("practice__code")
    by_commissioner = list(
        missing_flags.values("practice__parent__code", "practice__parent__name")
        .annotate(practices=Count("pk"), patients=Sum("previous"))
        .order_by("-patients", "practice__parent__code")
    )
    previous = {}
    if review.compared_with_id:
        previous = {
            row.group_code: row.register_total / row.population_total if row.population_total else 0.0
            for row in PrevalenceResult.objects.filter(run_id=review.compared_with.prevalence_run_id)
        }
    flagged_groups = {flag.group_code for flag in outliers if flag.kind == PrevalenceFlag.Kind.GROUP_CHANGE}
    groups = [
        GroupComparison(
            row.group_code,
            row.register_total,
            row.population_total,
            row.register_total / row.population_total if row.population_total else 0.0,
            previous.get(row.group_code),
            row.group_code in flagged_groups,
        )
        for row in PrevalenceResult.objects.filter(run=run)
    ]
    missing_count = sum(row["practices"] for row in by_commissioner)
    return PrevalenceReviewPage(
        run, review, outliers, groups, by_commissioner, list(missing_flags[:MISSING_LISTED]), missing_count
    )


def may_change_pcn_membership(user, practice: Organisation) -> bool:
    """The practice's commissioner, or national Service Management (the action checks again)."""
    return may(user, Permission.COMMISSION_SERVICES, practice) or may_nationally(
        user, Permission.MANAGE_SERVICES
    )


def pcn_memberships_of(practice: Organisation) -> QuerySet[PcnMembership]:
    return PcnMembership.objects.filter(practice=practice).select_related("pcn").order_by("-start_date")


def pcn_choices() -> list[tuple[str, str]]:
    return [
        (code, f"{name} ({code})")
        for code, name in Organisation.objects.filter(type=OrganisationType.PCN)
        .order_by("code")
        .values_list("code", "name")
    ]


def network_participation_of(practice: Organisation) -> QuerySet[Participation]:
    """The practice's participation in the network years (paid by capitation), newest first: with its PCN
    membership on a date, what says whether it is paid for that date (ADR 0018, "Participation")."""
    return (
        Participation.objects.filter(
            practice=practice, service_year__payment_kind=ServiceYear.PaymentKind.CAPITATION
        )
        .select_related("service_year")
        .order_by("-service_year__financial_year", "-start_date")
    )


# ---- A PCN's nominated payee (docs/adr/0018-network-declarations.md) -------------------------------------


def pcn_for(user, code: str) -> Organisation:
    """A PCN the user sees (its commissioners, their ancestors, national), else 404."""
    pcn = organisation_for(user, code)
    if pcn.type != OrganisationType.PCN:
        raise Http404
    return pcn


def may_nominate_payee(user, pcn: Organisation) -> bool:
    """The PCN's commissioner, or national Service Management (the action checks again)."""
    return may(user, Permission.COMMISSION_SERVICES, pcn) or may_nationally(user, Permission.MANAGE_SERVICES)


def payee_nominations_of(pcn: Organisation) -> QuerySet[NominatedPayee]:
    return NominatedPayee.objects.filter(pcn=pcn).select_related("payee").order_by("-start_date")


def _members_on(pcn: Organisation, on: dt.date) -> QuerySet[Organisation]:
    return Organisation.objects.filter(
        in_force_on(on, via="pcn_memberships__"), pcn_memberships__pcn=pcn
    ).order_by("name", "code")


def pcn_member_choices(pcn: Organisation, on: dt.date) -> list[tuple[str, str]]:
    """The PCN's member practices on `on`, by name (the code is the value sent)."""
    return list(_members_on(pcn, on).values_list("code", "name"))


@dataclass(frozen=True)
class MemberTakingPart:
    practice: Organisation
    taking_part: bool


@dataclass(frozen=True)
class NetworkMembers:
    """The PCN's members on `on` and whether each takes part in `year` then; `year` is the network year
    covering `on`, else the latest before it (None: no network year yet)."""

    year: ServiceYear | None
    on: dt.date
    members: list[MemberTakingPart]


def network_members(pcn: Organisation, today: dt.date) -> NetworkMembers:
    """Two or three queries: the year, the members, the participating ones among them."""
    year = (
        ServiceYear.objects.filter(
            payment_kind=ServiceYear.PaymentKind.CAPITATION, financial_year__lte=_financial_year(today)
        )
        .order_by("-financial_year")
        .first()
    )
    on = today if year is None else min(today, year.end_date)
    members = list(_members_on(pcn, on))
    taking_part = set()
    if year is not None and members:
        taking_part = set(
            Participation.objects.filter(
                service_year=year, practice__in=members, start_date__lte=on, end_date__gte=on
            ).values_list("practice_id", flat=True)
        )
    return NetworkMembers(year, on, [MemberTakingPart(m, m.pk in taking_part) for m in members])


def _financial_year(on: dt.date) -> int:
    return on.year if on.month >= 4 else on.year - 1
