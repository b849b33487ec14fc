"""Reads of manual answers: what the entry page shows, what is still missing, and the answers a
calculation uses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Organisation
from accounts.permissions import Permission, may, organisations_granting
from participation.models import Indicator, ServiceYear

from .models import ManualAnswer


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
    return practice.pk in organisations_granting(user, Permission.ENTER_ACHIEVEMENT)


def holds_entry_above_practice(user, practice: Organisation) -> bool:
    """Achievement Entry held at a commissioner of the practice (it may enter on the practice's behalf)."""
    return practice.parent_id is not None and may(user, Permission.ENTER_ACHIEVEMENT, practice.parent)


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
    may_enter = may(user, Permission.ENTER_ACHIEVEMENT, practice)
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
