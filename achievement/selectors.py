"""Reads of extracts, manual answers and the year-end checklist, for the calculation and for pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache

import pandas as pd
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Organisation, OrganisationType
from accounts.permissions import may, organisations_granting, organisations_reachable
from participation.models import Indicator, Offer, Participation, ServiceYear, financial_year_label
from participation.selectors import ruleset_frame

from .engine import readers, reduce_fields, validate_ruleset
from .extract_store import current_field_rows
from .models import Extract, ExtractValue, ManualAnswer

# ---- For the calculation (helper contract: keyword-only, frames in the engine's layouts) ----


def current_extract_values(
    *, service_year: ServiceYear, achievement_date: dt.date, practice_codes=None
) -> pd.DataFrame:
    """The current stored extract values of a year and achievement date in the engine's values layout:
    practice_code, indicator_code, register, numerator, denominator, pcas (nullable Int64), manual_answer
    (nullable boolean), one row per practice × ruleset indicator with values. One query for the values,
    one for the ruleset."""
    fields = current_field_rows(
        service_year_id=service_year.pk, achievement_date=achievement_date, practice_codes=practice_codes
    )
    return reduce_fields(fields, ruleset=engine_ruleset(service_year), pca_codes=shipped_pca_codes())


def manual_answers_frame(*, service_year: ServiceYear, practice_codes=None) -> pd.DataFrame:
    """Yes/No answers entered in the portal: practice_code, indicator_code, answer (bool), one query.

    Missing answers are absent: the engine counts them as the year's default (YearParameters.manual_default).
    Indicators answered with a count are not Yes/No and are left out; they are not QOF points.
    """
    answers = ManualAnswer.objects.filter(service_year_id=service_year.pk, answer__isnull=False)
    if practice_codes is not None:
        answers = answers.filter(practice__code__in=list(practice_codes))
    rows = answers.order_by("practice__code", "indicator__code").values_list(
        "practice__code", "indicator__code", "answer"
    )
    frame = pd.DataFrame.from_records(list(rows), columns=["practice_code", "indicator_code", "answer"])
    return frame.astype({"practice_code": object, "indicator_code": object, "answer": bool})


def engine_ruleset(service_year: ServiceYear) -> pd.DataFrame:
    """The year's indicators as a validated engine ruleset (participation.selectors.ruleset_frame, one query,
    written back into the text form the engine validates)."""
    frame = ruleset_frame(service_year)

    def as_text(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    return validate_ruleset(frame.astype(object).map(as_text), source=f"ruleset {service_year.code}")


@cache
def shipped_pca_codes() -> frozenset[str]:
    return readers.load_pca_codes(readers.SHIPPED_PCA_REFERENCE)


# ---- Extracts, for support staff ----


def extracts_list() -> QuerySet[Extract]:
    return Extract.objects.select_related("service_year", "uploaded_by").order_by("-uploaded_at", "-id")


def extract_for(user, pk: int) -> Extract:
    """An extract for national support staff; 404 for anyone else, as for anything out of scope."""
    if not may_load_extracts(user):
        raise Http404
    return get_object_or_404(extracts_list(), pk=pk)


def values_superseded_later(extract: Extract) -> int:
    """How many of this extract's values a later extract has replaced (its own N rows not counted)."""
    return (
        ExtractValue.objects.filter(extract=extract, superseded_by__isnull=False)
        .exclude(superseded_by=extract)
        .count()
    )


@dataclass(frozen=True)
class MissingAnswers:
    indicator_count: int
    participating: int
    missing: int


def missing_manual_answers(service_year: ServiceYear) -> MissingAnswers:
    """Yes/No manual answers not yet given by the practices taking part in the year."""
    indicators = manual_indicators(service_year).filter(answered_with_count=False)
    practice_ids = service_year.participations.values("practice")
    participating = practice_ids.distinct().count()
    answered = ManualAnswer.objects.filter(
        service_year=service_year, indicator__in=indicators, practice__in=practice_ids
    ).count()
    indicator_count = indicators.count()
    return MissingAnswers(indicator_count, participating, max(participating * indicator_count - answered, 0))


def may_load_extracts(user) -> bool:
    national = Organisation.objects.filter(type=OrganisationType.NATIONAL).first()
    return national is not None and may(user, "support", national)


# ---- Manual entry ----


def manual_indicators(service_year: ServiceYear) -> QuerySet[Indicator]:
    return Indicator.objects.filter(service_year=service_year, kind=Indicator.Kind.MANUAL).order_by("code")


def service_years_of_practice(practice: Organisation) -> QuerySet[ServiceYear]:
    """Service years the practice takes part in on any day, with manual indicators to enter, newest first."""
    return (
        ServiceYear.objects.filter(participations__practice=practice)
        .annotate(manual_count=Count("indicators", filter=Q(indicators__kind=Indicator.Kind.MANUAL)))
        .filter(manual_count__gt=0)
        .select_related("service")
        .distinct()
        .order_by("-financial_year", "service__code")
    )


def participation_of(practice: Organisation, service_year: ServiceYear) -> list[Participation]:
    return list(
        Participation.objects.filter(practice=practice, service_year=service_year).order_by("start_date")
    )


@dataclass
class ManualEntrySheet:
    """What the manual-entry page of one practice and service year shows."""

    practice: Organisation
    service_year: ServiceYear
    rows: list[tuple[Indicator, ManualAnswer | None]]
    locked_for_practice: bool
    may_enter: bool
    entering_as_commissioner: bool
    deadline: dt.date = field(init=False)

    def __post_init__(self):
        self.deadline = self.service_year.manual_entry_deadline

    @property
    def locked(self) -> bool:
        return self.locked_for_practice and not self.entering_as_commissioner

    @property
    def missing_count(self) -> int:
        return sum(1 for _, answer in self.rows if answer is None)


def entry_is_locked_for_practice(service_year: ServiceYear, today: dt.date | None = None) -> bool:
    return (today or timezone.localdate()) > service_year.manual_entry_deadline


def holds_entry_at_practice(user, practice: Organisation) -> bool:
    return practice.pk in organisations_granting(user, "enter_achievement")


def holds_entry_above_practice(user, practice: Organisation) -> bool:
    """Achievement Entry held at a commissioner of the practice (it may enter on the practice's behalf)."""
    return practice.parent_id is not None and may(user, "enter_achievement", practice.parent)


def enters_as_commissioner(user, practice: Organisation, *, locked_for_practice: bool) -> bool:
    """Whether an entry by `user` now counts as the commissioner's: it holds the role only above the
    practice, or holds it at both and the practice's own entry has closed."""
    if not holds_entry_above_practice(user, practice):
        return False
    return locked_for_practice or not holds_entry_at_practice(user, practice)


def manual_entry_sheet(*, user, practice: Organisation, service_year: ServiceYear) -> ManualEntrySheet:
    answers = {
        answer.indicator_id: answer
        for answer in ManualAnswer.objects.filter(
            service_year=service_year, practice=practice
        ).select_related("entered_by")
    }
    indicators = list(manual_indicators(service_year))
    may_enter = may(user, "enter_achievement", practice)
    locked = entry_is_locked_for_practice(service_year)
    return ManualEntrySheet(
        practice=practice,
        service_year=service_year,
        rows=[(indicator, answers.get(indicator.pk)) for indicator in indicators],
        locked_for_practice=locked,
        may_enter=may_enter,
        entering_as_commissioner=may_enter
        and enters_as_commissioner(user, practice, locked_for_practice=locked),
    )


def service_year_for_practice(practice: Organisation, code: str) -> ServiceYear:
    """A service year the practice takes part in on any day, or 404."""
    years = ServiceYear.objects.filter(participations__practice=practice).select_related("service").distinct()
    return get_object_or_404(years, code=code)


def practices_for_manual_entry(user) -> QuerySet[Organisation]:
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    return organisations_reachable(user, "enter_achievement", practices)


# ---- The year-end checklist (DOMAIN.md §8) ----


@dataclass(frozen=True)
class YearEndChecklist:
    """Before year end a practice must take part in this year's QOF, agree to next year's and complete its
    manual indicators by the deadline."""

    service_year: ServiceYear
    next_year_label: str
    participating: bool
    next_year_agreed: bool
    next_year_response_date: dt.date | None
    manual_entered: int
    manual_total: int

    @property
    def manual_complete(self) -> bool:
        return self.manual_entered >= self.manual_total

    @property
    def items(self) -> list[tuple[str, bool]]:
        return [
            (f"Participating in QOF {self.service_year.label}", self.participating),
            (f"Agreed to take part in QOF {self.next_year_label}", self.next_year_agreed),
            (
                f"Manual indicators entered ({self.manual_entered} of {self.manual_total})",
                self.manual_complete,
            ),
        ]

    @property
    def done_count(self) -> int:
        return sum(done for _, done in self.items)

    @property
    def complete(self) -> bool:
        return self.done_count == len(self.items)

    @property
    def summary(self) -> str:
        return "Complete" if self.complete else f"{self.done_count} of {len(self.items)} done"


@dataclass(frozen=True)
class ChecklistContext:
    """The year a checklist is about, and what reading one off an annotated practice needs besides it."""

    service_year: ServiceYear
    next_year_id: int | None
    manual_total: int

    @property
    def next_year_label(self) -> str:
        return financial_year_label(self.service_year.financial_year + 1)

    def of(self, practice) -> YearEndChecklist:
        """Read the checklist off a practice annotated by `with_year_end_checklist` (no query)."""
        return YearEndChecklist(
            service_year=self.service_year,
            next_year_label=self.next_year_label,
            participating=practice.checklist_participating,
            next_year_agreed=getattr(practice, "checklist_next_agreed", False),
            next_year_response_date=getattr(practice, "checklist_next_response_date", None),
            manual_entered=practice.checklist_manual_entered,
            manual_total=self.manual_total,
        )


def checklist_context(today: dt.date | None = None) -> ChecklistContext | None:
    """The QOF year whose year end the checklist is about — the one running today, else the newest started —
    with its successor and its count of manual indicators, in one query."""
    today = today or timezone.localdate()
    successor = ServiceYear.objects.filter(
        service_id=OuterRef("service_id"), financial_year=OuterRef("financial_year") + 1
    )
    manual = Indicator.objects.filter(service_year=OuterRef("pk"), kind=Indicator.Kind.MANUAL)
    year = (
        ServiceYear.objects.filter(service__kind="qof", start_date__lte=today)
        .annotate(
            running=Q(end_date__gte=today),
            next_year_id=Subquery(successor.values("pk")[:1]),
            manual_total=Coalesce(
                Subquery(manual.order_by().values("service_year").annotate(n=Count("pk")).values("n")[:1]),
                Value(0),
            ),
        )
        .order_by("-running", "-financial_year")
        .first()
    )
    if year is None:
        return None
    return ChecklistContext(service_year=year, next_year_id=year.next_year_id, manual_total=year.manual_total)


def with_year_end_checklist(practices: QuerySet, context: ChecklistContext) -> QuerySet:
    """Annotate a practice queryset with what the checklist needs, so a page of practices stays one query."""
    service_year = context.service_year
    year_end = service_year.end_date
    participating = Participation.objects.filter(
        service_year_id=service_year.pk,
        practice=OuterRef("pk"),
        start_date__lte=year_end,
        end_date__gte=year_end,
    )
    answered = (
        ManualAnswer.objects.filter(
            service_year_id=service_year.pk, practice=OuterRef("pk"), indicator__kind=Indicator.Kind.MANUAL
        )
        .order_by()
        .values("practice")
        .annotate(n=Count("pk"))
        .values("n")
    )
    annotations = {
        "checklist_participating": Exists(participating),
        "checklist_manual_entered": Coalesce(Subquery(answered[:1]), Value(0)),
    }
    if context.next_year_id is not None:
        next_year = context.next_year_id
        agreed = Offer.objects.filter(
            service_year_id=next_year,
            practice=OuterRef("pk"),
            state__in=[Offer.State.ACCEPTED, Offer.State.APPROVED],
        )
        live = Offer.objects.filter(
            service_year_id=next_year, practice=OuterRef("pk"), state__in=Offer.LIVE_STATES
        ).order_by("-offered_at")
        automatic = Participation.objects.filter(service_year_id=next_year, practice=OuterRef("pk"))
        annotations["checklist_next_agreed"] = Exists(agreed) | Exists(automatic)
        annotations["checklist_next_response_date"] = Subquery(live.values("response_date")[:1])
    return practices.annotate(**annotations)


def annotate_year_end_checklist(
    practices: QuerySet, *, today: dt.date | None = None
) -> tuple[QuerySet, ChecklistContext | None]:
    """A practice list annotated with this year's checklist: one query for the year, then none per row."""
    context = checklist_context(today)
    if context is None:
        return practices, None
    return with_year_end_checklist(practices, context), context


def year_end_checklists(practices: QuerySet, *, today: dt.date | None = None) -> dict[int, YearEndChecklist]:
    """The checklist of every practice in `practices` (a queryset), by practice id, in two queries however
    many practices there are."""
    annotated, context = annotate_year_end_checklist(practices, today=today)
    if context is None:
        return {}
    return {practice.pk: context.of(practice) for practice in annotated}
