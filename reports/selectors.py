"""Reads behind the achievement reports: published results, scoped to the organisation asked about.
Out of scope is a 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Organisation, OrganisationType
from accounts.permissions import ANCESTOR_LOOKUPS
from calculation.models import PracticeResult, PrevalenceResult, Publication, ServiceLine
from calculation.selectors import published_indicator_results
from participation.models import Indicator, ServiceYear


def publications_for(practice: Organisation | None = None) -> QuerySet[Publication]:
    """Published service years and dates, newest first (for a practice: those that calculated it)."""
    publications = Publication.objects.select_related("service_year", "run")
    if practice is not None:
        # A PCN's nominated payee also sees the years of points at PCN level it was paid for: it has no
        # result of its own in them (ADR 0019). Few runs are of such years, so the lines are found by run.
        paid_as_payee = ServiceLine.objects.filter(
            payee=practice,
            practice__isnull=True,
            run__service_year__payment_kind=ServiceYear.PaymentKind.NETWORK_POINTS,
        ).values("run_id")
        publications = publications.filter(
            Q(run__in=PracticeResult.objects.filter(practice=practice).values("run_id"))
            | Q(run__in=paid_as_payee)
        )
    return publications.order_by("-service_year__financial_year", "service_year__code", "-achievement_date")


def chosen_publication(
    publications: QuerySet[Publication], pk: str | None, listed: list[Publication] | None = None
) -> Publication | None:
    """The publication asked for by `?publication=`, else the newest; a bad id is a 404, not a default.
    `listed`: the publications already read (for the picker), to choose from without reading them again."""
    if pk:
        if not pk.isdigit():
            raise Http404
        if listed is None:
            return get_object_or_404(publications, pk=pk)
        return next((publication for publication in listed if publication.pk == int(pk)), None) or _404()
    if listed is None:
        return publications.first()
    return listed[0] if listed else None


def _404():
    raise Http404


def practices_under(organisation: Organisation) -> Q:
    """PracticeResult rows whose practice is the organisation or lies anywhere below it.

    Walked down a level at a time (children, their children, …), each level an indexed lookup on
    `parent`: filtering on the practice's ancestors instead joins every organisation to its parent four
    times over for every row (75 ms for one sub-ICB at national scale, against under 5 ms)."""
    if organisation.type == OrganisationType.NATIONAL:
        return Q()
    condition = Q(practice=organisation)
    level = Organisation.objects.filter(parent=organisation).values("pk")
    for _ in ANCESTOR_LOOKUPS:
        condition |= Q(practice__in=level)
        level = Organisation.objects.filter(parent__in=level).values("pk")
    return condition


def provider_results(organisation: Organisation, publication: Publication | None) -> QuerySet[PracticeResult]:
    if publication is None:
        return PracticeResult.objects.none()
    return (
        PracticeResult.objects.filter(practices_under(organisation), run_id=publication.run_id)
        .select_related("practice__parent", "indicator_run")
        .order_by("practice__code")
    )


@dataclass
class IndicatorLine:
    indicator: Indicator
    result: object  # IndicatorResult

    @property
    def protected(self) -> bool:
        return self.result.income_protected


@dataclass
class Subtotal:
    code: str
    description: str
    points: Decimal = Decimal(0)
    available: Decimal = Decimal(0)
    payment: Decimal = Decimal(0)
    children: list = field(default_factory=list)
    practice_prevalence: float | None = None
    national_prevalence: float | None = None

    @property
    def percent(self) -> Decimal:
        return (100 * self.points / self.available).quantize(Decimal("0.1")) if self.available else Decimal(0)

    def add(self, points: Decimal, available: Decimal, payment: Decimal) -> None:
        self.points += points
        self.available += available
        self.payment += payment


@dataclass
class PracticeSummary:
    practice: Organisation
    publication: Publication
    totals: PracticeResult
    service: Subtotal
    domains: list[Subtotal]
    prevalence: dict[str, PrevalenceResult]
    trend: list[PracticeResult]
    # A service paid by item or capitation: the lines paid to the practice (None for a points service).
    lines: list[ServiceLine] | None = None


DOMAIN_NAMES = {
    "CL": "Clinical",
    "PH": "Public health",
    "PHAS": "Public health additional services",
    "QI": "Quality improvement",
}


def practice_summary(practice: Organisation, publication: Publication) -> PracticeSummary | None:
    """The Achievement Summary Report: service → domain → indicator group → indicator. Six queries."""
    totals = (
        PracticeResult.objects.filter(run_id=publication.run_id, practice=practice)
        .select_related("indicator_run")
        .first()
    )
    if totals is None and publication.service_year.payment_kind == ServiceYear.PaymentKind.NETWORK_POINTS:
        # Points at PCN level: the payee has no result of its own; it sees its PCN's (ADR 0019).
        pcn_ids = ServiceLine.objects.filter(run_id=publication.run_id, payee=practice).values("pcn_id")
        totals = (
            PracticeResult.objects.filter(run_id=publication.run_id, practice_id__in=pcn_ids)
            .select_related("indicator_run")
            .order_by("practice__code")
            .first()
        )
    if totals is None:
        return None
    if publication.service_year.payment_kind != ServiceYear.PaymentKind.POINTS:
        return _service_summary(practice, publication, totals)
    results = {
        result.indicator_code: result
        for result in totals.indicator_run.indicator_results.filter(practice=practice)
    }
    indicators = Indicator.objects.filter(service_year_id=publication.service_year_id).order_by(
        "domain_code", "group_code", "code"
    )
    prevalence_run = totals.indicator_run.prevalence_run_id
    prevalence = {row.group_code: row for row in PrevalenceResult.objects.filter(run_id=prevalence_run)}
    service = Subtotal(publication.service_year.code, publication.service_year.name)
    domains: dict[str, Subtotal] = {}
    groups: dict[tuple[str, str], Subtotal] = {}
    for indicator in indicators:
        result = results.get(indicator.code)
        if result is None:
            continue
        domain = domains.setdefault(
            indicator.domain_code,
            Subtotal(indicator.domain_code, DOMAIN_NAMES.get(indicator.domain_code, indicator.domain_code)),
        )
        group = groups.get((indicator.domain_code, indicator.group_code))
        if group is None:
            group = groups[(indicator.domain_code, indicator.group_code)] = Subtotal(
                indicator.group_code, indicator.group_description
            )
            domain.children.append(group)
            national_figures = prevalence.get(indicator.group_code)
            if national_figures is not None:
                group.national_prevalence = 100 * national_figures.national_prevalence
        if (
            group.national_prevalence is not None
            and result.register is not None
            and totals.list_size_prevalence
        ):
            group.practice_prevalence = 100 * result.register / totals.list_size_prevalence
        group.children.append(IndicatorLine(indicator, result))
        for subtotal in (service, domain, group):
            subtotal.add(result.points, indicator.points, result.payment)
    return PracticeSummary(
        practice=practice,
        publication=publication,
        totals=totals,
        service=service,
        domains=list(domains.values()),
        prevalence=prevalence,
        trend=practice_trend(practice, publication),
    )


def _service_summary(
    practice: Organisation, publication: Publication, totals: PracticeResult
) -> PracticeSummary:
    """The summary of a service with no points (ADR 0015): the practice's payment lines — counts × fees, or
    capitation on a population, its own and, as a PCN's nominated payee, the PCN's."""
    lines = list(
        ServiceLine.objects.filter(
            Q(payee=practice) | Q(pcn=practice, practice__isnull=True), run_id=totals.indicator_run_id
        )
        .select_related("payee", "practice", "pcn")
        .order_by("pcn__code", "practice__code", "component")
    )
    service = Subtotal(publication.service_year.code, publication.service_year.name)
    available = {}
    if publication.service_year.payment_kind == ServiceYear.PaymentKind.NETWORK_POINTS:
        available = dict(
            Indicator.objects.filter(service_year_id=publication.service_year_id).values_list(
                "code", "points"
            )
        )
    for line in lines:
        # Points at PCN level (the IIF) carry points per indicator; other kinds none.
        line.available = available.get(line.component)
        service.add(line.points or Decimal(0), line.available or Decimal(0), line.amount)
    return PracticeSummary(
        practice=practice, publication=publication, totals=totals, service=service, domains=[],
        prevalence={}, trend=practice_trend(practice, publication), lines=lines,
    )  # fmt: skip


def practice_trend(practice: Organisation, publication: Publication) -> list[PracticeResult]:
    """The practice's published totals at every achievement date of the year: its progress through it."""
    return list(
        PracticeResult.objects.filter(
            practice=practice, run__publications__service_year_id=publication.service_year_id
        )
        .select_related("run")
        .order_by("run__achievement_date")
    )


def export_rows(organisation: Organisation, publication: Publication) -> QuerySet:
    """Every published indicator result under `organisation`, practice code then indicator code order."""
    condition = practices_under(organisation)
    return (
        published_indicator_results(publication.run_id)
        .filter(condition)
        .order_by("practice__code", "indicator_code")
    )


@dataclass(frozen=True)
class Band:
    label: str
    count: int


def achievement_distribution(results: QuerySet[PracticeResult], publication: Publication) -> list[Band]:
    """How many of `results`' practices achieved each tenth of the points the year makes available (the
    ruleset's total): one query for the total, one for the ten counts. A year without points (an item of
    service or capitation year) has no distribution."""
    available = Indicator.objects.filter(service_year_id=publication.service_year_id).aggregate(
        total=Sum("points")
    )["total"]
    if not available:
        return []
    edges = [available * tenth / 10 for tenth in range(11)]
    counts = results.aggregate(
        **{
            f"band{tenth}": Count(
                "pk",
                filter=Q(points__gte=edges[tenth])
                & (Q(points__lte=edges[10]) if tenth == 9 else Q(points__lt=edges[tenth + 1])),
            )
            for tenth in range(10)
        }
    )
    labels = [f"{tenth * 10}–{tenth * 10 + 9}%" for tenth in range(9)] + ["90–100%"]
    return [Band(label, counts[f"band{tenth}"]) for tenth, label in enumerate(labels)]
