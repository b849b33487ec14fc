"""The year-end checklist (DOMAIN.md §8): what each practice must have done before the year ends, read
from participation, offers and manual answers in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from manual_entry.models import ManualAnswer
from participation.models import Indicator, Offer, Participation, ServiceYear, financial_year_label


@dataclass(frozen=True)
class ChecklistItem:
    label: str
    done: bool
    # What to do about it: a sentence, and where to go (both optional).
    next_step: str = ""
    link: str = ""
    link_text: str = ""


@dataclass(frozen=True)
class YearEndChecklist:
    """Before year end a practice must take part in this year's QOF, agree to next year's and complete its
    manual indicators by the deadline."""

    practice_code: str
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
    def items(self) -> list[ChecklistItem]:
        year = self.service_year
        participating = ChecklistItem(
            f"Participating in QOF {year.label}",
            self.participating,
            link="" if self.participating else reverse("participation:offer_list"),
            link_text="see your offers",
        )
        respond_by = self.next_year_response_date
        next_year = ChecklistItem(
            f"Agreed to take part in QOF {self.next_year_label}",
            self.next_year_agreed,
            next_step=f"respond by {respond_by:%-d %B %Y}"
            if respond_by and not self.next_year_agreed
            else "",
        )
        manual = ChecklistItem(
            f"Manual indicators entered ({self.manual_entered} of {self.manual_total})",
            self.manual_complete,
            next_step=f"complete by {year.manual_entry_deadline:%-d %B %Y}",
            link=reverse("manual_entry:manual_entry", args=[self.practice_code, year.code])
            if self.participating
            else "",
            link_text="manual indicators",
        )
        return [participating, next_year, manual]

    @property
    def outstanding(self) -> list[ChecklistItem]:
        return [item for item in self.items if not item.done]

    @property
    def done_count(self) -> int:
        return sum(item.done for item in self.items)

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
            practice_code=practice.code,
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
