"""Every write to extracts and manual answers. Keyword-only, atomic, audited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Organisation, OrganisationType
from accounts.permissions import may
from participation.models import Indicator, ServiceYear
from participation.permissions import may_manage_services
from participation.selectors import participation_periods

from .engine import InputError, Problem, parse_extract, readers
from .engine.errors import ProblemCollector
from .engine.extract import FIRST_DATA_LINE
from .extract_store import store_fields
from .models import Extract, ManualAnswer
from .selectors import (
    engine_ruleset,
    enters_as_commissioner,
    entry_is_locked_for_practice,
    may_load_extracts,
    shipped_pca_codes,
)


class ExtractRejected(InputError):
    """The file was refused as a whole and nothing was stored; `problems` name line and field."""


@dataclass(frozen=True)
class LoadResult:
    extract: Extract
    # False when a file with the same SHA-256 had already been loaded: nothing was changed.
    created: bool

    @property
    def already_loaded(self) -> bool:
        return not self.created


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_extract(*, path: Path, file_name: str, by, service_year: ServiceYear | None = None) -> LoadResult:
    """Validate a CQRS extract file and store every value of it, or nothing (DOMAIN.md §5).

    The service year is the file's QUALITY_SERVICE unless given. A file already loaded (same SHA-256) is
    recognised and changes nothing. Raises ExtractRejected listing the problems by line and field.
    `by=None` is the system (the command line, the demo loader); a person must hold national Support.
    """
    if by is not None and not may_load_extracts(by):
        raise PermissionDenied
    path = Path(path)
    size = path.stat().st_size
    if size > settings.EXTRACT_MAX_BYTES:
        raise ExtractRejected(
            file_name,
            [
                Problem(
                    1, "(file)", f"the file is {size:,} bytes; the limit is {settings.EXTRACT_MAX_BYTES:,}"
                )
            ],
        )
    checksum = file_checksum(path)
    existing = Extract.objects.filter(checksum=checksum).select_related("service_year").first()
    if existing is not None:
        return LoadResult(extract=existing, created=False)

    # Parsing takes seconds to a minute at national scale: do it before taking any lock.
    practice_ids = _practice_ids()
    try:
        frame = readers.read_extract_frame(path, source=file_name)
        service_year = service_year or _service_year_of(frame, file_name)
        parsed = parse_extract(
            frame,
            practice_codes=practice_ids.keys(),
            ruleset=engine_ruleset(service_year),
            pca_codes=shipped_pca_codes(),
            quality_service=service_year.code,
            source=file_name,
        )
        del frame
        _check_date_in_year(parsed.achievement_date, service_year, file_name)
        _check_participation(parsed.fields, service_year, parsed.achievement_date, file_name)
    except ExtractRejected:
        raise
    except InputError as error:
        raise ExtractRejected(error.source, error.problems, error.total) from error
    return _store(
        parsed=parsed,
        service_year=service_year,
        file_name=file_name,
        checksum=checksum,
        practice_ids=practice_ids,
        by=by,
    )


@transaction.atomic
def _store(
    *, parsed, service_year: ServiceYear, file_name: str, checksum: str, practice_ids: dict[str, int], by
) -> LoadResult:
    # One load at a time per service year, so supersession sees every earlier extract of it.
    ServiceYear.objects.select_for_update().filter(pk=service_year.pk).first()
    existing = Extract.objects.filter(checksum=checksum).first()
    if existing is not None:
        return LoadResult(extract=existing, created=False)
    fields = parsed.fields
    extract = Extract.objects.create(
        service_year=service_year,
        achievement_date=parsed.achievement_date,
        file_name=Path(file_name).name[:255],
        checksum=checksum,
        uploaded_by=by if by is not None and by.is_authenticated else None,
        uploaded_at=timezone.now(),
        row_count=len(fields),
        practice_count=fields["practice_code"].nunique(),
        indicator_count=fields["indicator_code"].nunique(),
        warnings=list(parsed.warnings),
    )
    outcome = store_fields(extract=extract, fields=fields, practice_ids=practice_ids)
    warnings = list(parsed.warnings)
    if outcome.older_submission_count:
        warnings.append(
            f"{outcome.older_submission_count} practice × indicator submission(s) were older than the values "
            "already held; they are stored as superseded and the held values stay current"
        )
    extract.superseded_row_count = outcome.superseded_row_count
    extract.warnings = warnings
    extract.save(update_fields=["superseded_row_count", "warnings"])
    audit.record(
        actor=by,
        action="extract.loaded",
        obj=extract,
        after={
            "file_name": extract.file_name,
            "checksum": checksum,
            "service_year": service_year.code,
            "achievement_date": extract.achievement_date.isoformat(),
            "rows": extract.row_count,
            "practices": extract.practice_count,
            "superseded_rows": extract.superseded_row_count,
        },
    )
    return LoadResult(extract=extract, created=True)


def _practice_ids() -> dict[str, int]:
    """Every practice, open or closed: the parser's list of known codes and the store's code → id map."""
    return dict(
        Organisation.objects.filter(type=OrganisationType.PRACTICE).values_list("code", "pk").order_by("code")
    )


def _service_year_of(frame: pd.DataFrame, file_name: str) -> ServiceYear:
    services = frame["QUALITY_SERVICE"]
    counts = services.value_counts()
    code = str(counts.index[0]).strip() if len(counts) else ""
    service_year = ServiceYear.objects.filter(code=code).first() if code else None
    if service_year is None:
        line = int(services.eq(counts.index[0]).to_numpy().argmax()) + FIRST_DATA_LINE if code else 1
        raise ExtractRejected(
            file_name, [Problem(line, "QUALITY_SERVICE", f"{code!r} is not a service year known here")]
        )
    return service_year


def _check_date_in_year(achievement_date: date, service_year: ServiceYear, file_name: str) -> None:
    if not service_year.start_date <= achievement_date <= service_year.end_date:
        raise ExtractRejected(
            file_name,
            [
                Problem(
                    FIRST_DATA_LINE,
                    "ACH_DATE",
                    f"{achievement_date:%Y%m%d} is outside {service_year.code} "
                    f"({service_year.start_date:%d %B %Y} to {service_year.end_date:%d %B %Y})",
                )
            ],
        )


def _check_participation(fields: pd.DataFrame, service_year: ServiceYear, on: date, file_name: str) -> None:
    """Data flows only for practices participating on the achievement date (DOMAIN.md §5, §7)."""
    participating = [
        code
        for code, periods in participation_periods(service_year).items()
        if any(start <= on and (end is None or on <= end) for start, end in periods)
    ]
    refused = ~fields["practice_code"].isin(participating).to_numpy()
    if not refused.any():
        return
    problems = ProblemCollector(file_name)
    rows = fields.loc[refused, ["line", "practice_code"]]
    lines, codes = rows["line"].to_numpy(), rows["practice_code"].astype(str).to_numpy()
    problems.add_rows(
        lines,
        "ORG_CODE",
        lambda i: f"practice {codes[i]} is not participating in {service_year.code} on {on:%d %B %Y}",
    )
    raise ExtractRejected(file_name, problems.problems, problems.total)


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


@transaction.atomic
def enter_manual_answers(
    *, practice: Organisation, service_year: ServiceYear, answers: dict[str, bool | int | None], by
) -> list[ManualAnswer]:
    """Record a practice's answers to manual indicators: indicator code → True/False (Yes/No), a count for
    indicators answered with one, or None to leave unanswered. Unchanged answers are left alone.

    After the year's manual-entry deadline only an entry on the practice's behalf by a commissioner's
    Achievement Entry is accepted, and it is flagged as such.
    """
    if by is not None and not may(by, "enter_achievement", practice):
        raise PermissionDenied
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


@transaction.atomic
def set_missing_answers_to_yes(*, service_year: ServiceYear, by) -> int:
    """Answer Yes for every participating practice's unanswered Yes/No manual indicator of the year, as in
    2020/21 when every manual QI indicator counted as Yes. Service Management only; bulk and audited."""
    if by is not None and not may_manage_services(by):
        raise PermissionDenied
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
    created = ManualAnswer.objects.bulk_create(
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
    )
    audit.record_many(
        actor=by,
        action="manual_answer.missing_set_to_yes",
        changes=[(answer, None, _answer_snapshot(answer)) for answer in created],
    )
    return len(created)
