"""Every write to manual answers. Keyword-only, atomic, audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Organisation
from accounts.permissions import Permission, at, guarded, nationally
from participation.models import Indicator, ServiceYear

from .models import ManualAnswer
from .selectors import enters_as_commissioner, entry_is_locked_for_practice

# ---- Manual entry (DOMAIN.md §3: manual indicators; §8: complete them by the deadline) ----


def _answer_snapshot(answer: ManualAnswer | None) -> dict | None:
    if answer is None:
        return None
    return {
        "answer": answer.answer,
        "count": answer.count,
        "entered_by_commissioner": answer.entered_by_commissioner,
        "set_by_default": answer.set_by_default,
    }


@guarded(at(Permission.ENTER_ACHIEVEMENT, "practice"))
@transaction.atomic
def enter_manual_answers(
    *, practice: Organisation, service_year: ServiceYear, answers: dict[str, bool | int | None], by
) -> list[ManualAnswer]:
    """Record a practice's answers to manual indicators: indicator code → True/False (Yes/No), a count for
    indicators answered with one, or None to leave unanswered. Unchanged answers are left alone.

    After the year's manual-entry deadline only an entry on the practice's behalf by a commissioner's
    Achievement Entry is accepted, and it is flagged as such.
    """
    # One entry at a time per practice, so two saves of the same sheet cannot both insert an answer.
    Organisation.objects.select_for_update().filter(pk=practice.pk).first()
    if not service_year.participations.filter(practice=practice).exists():
        raise ValidationError(f"{practice.code} does not take part in {service_year}.")
    locked = entry_is_locked_for_practice(service_year)
    by_commissioner = by is not None and enters_as_commissioner(by, practice, locked_for_practice=locked)
    if locked and by is not None and not by_commissioner:
        raise ValidationError(
            f"Manual entry for {service_year} closed on {service_year.manual_entry_deadline:%d %B %Y}. "
            "Your commissioner can still enter answers on your behalf.",
            code="locked",
        )
    indicators = {
        indicator.code: indicator
        for indicator in Indicator.objects.filter(service_year=service_year, kind=Indicator.Kind.MANUAL)
    }
    unknown = sorted(set(answers) - set(indicators))
    if unknown:
        raise ValidationError(f"Not manual indicators of {service_year}: {', '.join(unknown)}.")
    held = {
        answer.indicator_id: answer
        for answer in ManualAnswer.objects.select_for_update()
        .filter(service_year=service_year, practice=practice)
        .select_related("practice", "indicator")
    }
    now, user = timezone.now(), by if by is not None and by.is_authenticated else None
    changed = []
    for code, value in sorted(answers.items()):
        if value is None:
            continue
        indicator = indicators[code]
        if indicator.answered_with_count:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{code} is answered with a count of zero or more.")
            wanted = {"answer": None, "count": value}
        else:
            if not isinstance(value, bool):
                raise ValidationError(f"{code} is answered Yes or No.")
            wanted = {"answer": value, "count": None}
        answer = held.get(indicator.pk)
        if answer is not None and (answer.answer, answer.count) == (wanted["answer"], wanted["count"]):
            continue
        before = _answer_snapshot(answer)
        if answer is None:
            answer = ManualAnswer(service_year=service_year, practice=practice, indicator=indicator)
        answer.answer, answer.count = wanted["answer"], wanted["count"]
        answer.entered_by, answer.entered_at = user, now
        answer.entered_by_commissioner = by_commissioner
        answer.set_by_default = False
        answer.save()
        changed.append((answer, before, _answer_snapshot(answer)))
    audit.record_many(actor=by, action="manual_answer.entered", changes=changed)
    return [answer for answer, _, _ in changed]


@guarded(nationally(Permission.MANAGE_SERVICES))
@transaction.atomic
def set_missing_answers_to_yes(*, service_year: ServiceYear, by) -> int:
    """Answer Yes for every participating practice's unanswered Yes/No manual indicator of the year, as in
    2020/21 when every manual QI indicator counted as Yes. Service Management only; bulk and audited.

    One at a time per year (the year's row is locked), and an answer a practice gives at the same moment
    wins over the default: conflicting rows are skipped, not an error."""
    ServiceYear.objects.select_for_update().filter(pk=service_year.pk).first()
    indicators = list(
        Indicator.objects.filter(
            service_year=service_year, kind=Indicator.Kind.MANUAL, answered_with_count=False
        ).order_by("code")
    )
    practices = Organisation.objects.in_bulk(
        set(service_year.participations.values_list("practice_id", flat=True))
    )
    answered = set(
        ManualAnswer.objects.filter(service_year=service_year).values_list("practice_id", "indicator_id")
    )
    now, user = timezone.now(), by if by is not None and by.is_authenticated else None
    ManualAnswer.objects.bulk_create(
        [
            ManualAnswer(
                service_year=service_year,
                practice=practices[practice_id],
                indicator=indicator,
                answer=True,
                entered_by=user,
                entered_at=now,
                set_by_default=True,
            )
            for practice_id in sorted(practices)
            for indicator in indicators
            if (practice_id, indicator.pk) not in answered
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )
    created = list(
        ManualAnswer.objects.filter(service_year=service_year, set_by_default=True, entered_at=now)
        .select_related("practice", "indicator")
        .order_by("pk")
    )
    audit.record_many(
        actor=by,
        action="manual_answer.missing_set_to_yes",
        changes=[(answer, None, _answer_snapshot(answer)) for answer in created],
    )
    return len(created)
