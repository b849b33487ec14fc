"""Every write of a calculation run: start, the stages, publish, fail, retry; list sizes; notifications.

A run moves queued → running → published (or failed; a failed run may be retried, which makes it queued
again with a new attempt number). Stage work is in `pipeline`; enqueuing is in `achievement.tasks`, always
after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.models import Membership, Organisation, OrganisationType
from achievement.models import (
    CalculationRun,
    Extract,
    ExtractValue,
    FrozenPrevalence,
    IndicatorResult,
    Notification,
    PracticeListSize,
    PracticeResult,
    Publication,
)
from participation.models import ServiceYear

from . import pipeline

Status = CalculationRun.Status
Stage = CalculationRun.Stage
# Runs that only some practices' figures change, and that practices are told about.
NOTIFYING_KINDS = {CalculationRun.Kind.YEAR_END, CalculationRun.Kind.RECALCULATION}
ERROR_TEXT_LIMIT = 4000


def _enqueue(task_name: str, *args) -> None:
    from achievement import tasks

    # robust: with tasks run in-process, one chunk's failure must not stop the others being queued.
    transaction.on_commit(lambda: getattr(tasks, task_name).delay(*args), robust=True)


def _scope_for(organisation: Organisation | None) -> str:
    if organisation is None or organisation.type == OrganisationType.NATIONAL:
        return CalculationRun.Scope.NATIONAL
    if organisation.type == OrganisationType.PRACTICE:
        return CalculationRun.Scope.PRACTICE
    if organisation.is_commissioner:
        return CalculationRun.Scope.COMMISSIONER
    raise ValidationError(f"{organisation} cannot be calculated on its own")


@transaction.atomic
def start_run(
    *,
    service_year: ServiceYear,
    achievement_date: dt.date,
    kind: str,
    by,
    reason: str = "",
    organisation: Organisation | None = None,
) -> CalculationRun:
    """Queue a run; a worker picks it up once this transaction commits."""
    scope = _scope_for(organisation)
    if kind == CalculationRun.Kind.RECALCULATION and not reason.strip():
        raise ValidationError("Give the reason for the recalculation.")
    if not service_year.start_date <= achievement_date <= service_year.end_date:
        raise ValidationError(f"{achievement_date} is outside {service_year.code}.")
    if CalculationRun.objects.filter(
        service_year=service_year,
        achievement_date=achievement_date,
        organisation=None if scope == CalculationRun.Scope.NATIONAL else organisation,
        status__in=[Status.QUEUED, Status.RUNNING],
    ).exists():
        raise ValidationError("A run for this year, date and scope is already under way.")
    run = CalculationRun.objects.create(
        kind=kind,
        scope=scope,
        organisation=None if scope == CalculationRun.Scope.NATIONAL else organisation,
        service_year=service_year,
        achievement_date=achievement_date,
        triggered_by=by,
        reason=reason.strip(),
    )
    audit.record(actor=by, action="calculation.start_run", obj=run, after=_state(run))
    _enqueue("begin_calculation_run", run.pk, run.attempt)
    return run


def _state(run: CalculationRun) -> dict:
    return {
        "kind": run.kind,
        "scope": run.scope,
        "organisation": run.organisation.code if run.organisation_id else None,
        "service_year": run.service_year.code,
        "achievement_date": run.achievement_date.isoformat(),
        "status": run.status,
        "attempt": run.attempt,
        "reason": run.reason,
    }


def _locked_run(run_id: int, attempt: int) -> CalculationRun | None:
    """The run, locked, if this attempt of it is still running; None tells a stale task to stop quietly."""
    run = CalculationRun.objects.select_for_update().select_related("service_year").get(pk=run_id)
    if run.attempt != attempt or run.status not in {Status.QUEUED, Status.RUNNING}:
        return None
    return run


@transaction.atomic
def begin_run(*, run_id: int, attempt: int) -> list[int]:
    """Stage 1: freeze (or reuse) the national prevalence and list the commissioner chunks to calculate."""
    run = _locked_run(run_id, attempt)
    if run is None:
        return []
    now = timezone.now()
    run.status, run.stage, run.started_at, run.heartbeat_at = Status.RUNNING, Stage.PREVALENCE, now, now
    pipeline.refresh_planner_statistics(ExtractValue, PracticeListSize)
    run.prevalence_run = _frozen_prevalence_run(run)
    commissioners = pipeline.commissioners_to_calculate(run)
    run.stage, run.progress_done, run.progress_total = Stage.ACHIEVEMENT, 0, len(commissioners)
    run.save()
    audit.record(actor=None, action="calculation.begin_run", obj=run, after=_state(run))
    for commissioner_id in commissioners:
        _enqueue("calculate_commissioner", run.pk, attempt, commissioner_id)
    if not commissioners:
        _enqueue("publish_calculation_run", run.pk, attempt)
    return commissioners


def _frozen_prevalence_run(run: CalculationRun) -> CalculationRun:
    """National prevalence is calculated once per service year and achievement date and then reused, so
    every later run and recalculation of that date pays on the same national figures (DOMAIN.md §4.7)."""
    frozen = FrozenPrevalence.objects.filter(
        service_year=run.service_year, achievement_date=run.achievement_date
    ).first()
    if frozen is not None:
        return frozen.run
    pipeline.write_prevalence(run, pipeline.national_prevalence_frame(run))
    try:
        with transaction.atomic():
            FrozenPrevalence.objects.create(
                service_year=run.service_year, achievement_date=run.achievement_date, run=run
            )
    except IntegrityError:
        # Another run froze it first: use theirs, so that there is only ever one.
        return FrozenPrevalence.objects.get(
            service_year=run.service_year, achievement_date=run.achievement_date
        ).run
    return run


def calculate_commissioner(*, run_id: int, attempt: int, commissioner_id: int) -> None:
    """Stage 2, one chunk: achievement, payments and aspiration for one commissioner's practices.

    The engine runs outside the transaction; the results and the progress count commit together, and the
    chunk that completes the count queues publication.
    """
    run = CalculationRun.objects.select_related("service_year").get(pk=run_id)
    if run.attempt != attempt or run.status != Status.RUNNING:
        return
    results = pipeline.calculate_practices(run, pipeline.practice_codes_in_chunk(run, commissioner_id))
    with transaction.atomic():
        if results is not None:
            pipeline.write_results(results)
        run = _locked_run(run_id, attempt)
        if run is None:
            transaction.set_rollback(True)
            return
        if results is not None:
            held = PracticeResult.objects.filter(run_id=run_id, practice__parent_id=commissioner_id).count()
            if held != len(results.practices):
                raise RuntimeError(f"commissioner {commissioner_id} of run {run_id} was calculated twice")
        CalculationRun.objects.filter(pk=run_id).update(
            progress_done=F("progress_done") + 1, heartbeat_at=timezone.now()
        )
        if run.progress_done + 1 == run.progress_total:
            _enqueue("publish_calculation_run", run_id, attempt)


@transaction.atomic
def publish_run(*, run_id: int, attempt: int) -> CalculationRun | None:
    """Stage 3: move the publication pointer to this run, in one transaction with everything it needs."""
    run = _locked_run(run_id, attempt)
    if run is None:
        return None
    if run.progress_done != run.progress_total:
        raise RuntimeError(f"run {run_id} has {run.progress_done} of {run.progress_total} chunks")
    run.stage = Stage.PUBLISHING
    publication = (
        Publication.objects.select_for_update()
        .filter(service_year=run.service_year, achievement_date=run.achievement_date)
        .first()
    )
    if run.scope != CalculationRun.Scope.NATIONAL and publication is not None:
        run.replaces_id = publication.run_id
        pipeline.carry_forward_practices(run, publication.run_id)
    now = timezone.now()
    before = {"run": publication.run_id} if publication else None
    if publication is None:
        publication = Publication.objects.create(
            service_year=run.service_year, achievement_date=run.achievement_date, run=run, published_at=now
        )
    else:
        publication.run, publication.published_at = run, now
        publication.save(update_fields=["run", "published_at"])
    run.status, run.stage, run.finished_at, run.published_at = Status.PUBLISHED, Stage.DONE, now, now
    run.save()
    if run.scope == CalculationRun.Scope.NATIONAL:
        # Readers have the results already; fresh statistics for the new rows can follow.
        _enqueue("analyse_calculation_results")
    audit.record(
        actor=None, action="calculation.publish", obj=publication, before=before, after={"run": run.pk}
    )
    if run.kind in NOTIFYING_KINDS:
        notify_declarers(run=run)
    return run


def calculate_in_process(*, run: CalculationRun) -> CalculationRun:
    """Every stage of a queued run, here and now, without a worker: for the demo and the embedded mode.
    Tasks queued on the way find the run already finished and do nothing."""
    for commissioner_id in begin_run(run_id=run.pk, attempt=run.attempt):
        calculate_commissioner(run_id=run.pk, attempt=run.attempt, commissioner_id=commissioner_id)
    run.refresh_from_db()
    if run.status == Status.RUNNING:
        publish_run(run_id=run.pk, attempt=run.attempt)
        run.refresh_from_db()
    return run


@transaction.atomic
def fail_run(*, run_id: int, attempt: int, error: str) -> CalculationRun | None:
    """Mark the attempt failed; nothing it wrote is published, and a retry clears it."""
    run = _locked_run(run_id, attempt)
    if run is None:
        return None
    run.status, run.finished_at, run.error = Status.FAILED, timezone.now(), error[:ERROR_TEXT_LIMIT]
    run.save(update_fields=["status", "finished_at", "error"])
    audit.record(actor=None, action="calculation.fail", obj=run, after={"error": run.error})
    return run


@transaction.atomic
def retry_run(*, run: CalculationRun, by) -> CalculationRun:
    run = CalculationRun.objects.select_for_update().get(pk=run.pk)
    if run.status != Status.FAILED:
        raise ValidationError("Only a failed run can be retried.")
    IndicatorResult.objects.filter(run=run).delete()
    PracticeResult.objects.filter(run=run).delete()
    run.status, run.stage, run.attempt = Status.QUEUED, Stage.WAITING, run.attempt + 1
    run.progress_done = run.progress_total = 0
    run.error, run.finished_at = "", None
    run.save()
    audit.record(actor=by, action="calculation.retry", obj=run, after=_state(run))
    _enqueue("begin_calculation_run", run.pk, run.attempt)
    return run


def fail_stalled_runs(*, stalled_for: dt.timedelta) -> list[int]:
    """Fail runs with no progress for `stalled_for`: a worker was killed (or lost) holding one of their
    chunks, whose result will then never arrive. Chunks have a shorter hard time limit than this."""
    cutoff = timezone.now() - stalled_for
    stalled = CalculationRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).values_list(
        "pk", "attempt", "progress_done", "progress_total"
    )
    failed = []
    for run_id, attempt, done, total in stalled:
        message = (
            f"No progress since {cutoff:%Y-%m-%d %H:%M:%S %Z} ({done} of {total} commissioners done): a "
            "worker stopped while calculating. Nothing was published; retry the run."
        )
        if fail_run(run_id=run_id, attempt=attempt, error=message):
            failed.append(run_id)
    return failed


@transaction.atomic
def notify_declarers(*, run: CalculationRun) -> int:
    """Tell every Declaration Management user of the recalculated practices that their achievement is ready,
    in the portal now and by email after commit."""
    practices = PracticeResult.objects.filter(run=run, indicator_run=run).values("practice_id")
    memberships = Membership.objects.filter(
        role="declaration_management",
        ended_at__isnull=True,
        organisation_id__in=practices,
        user__is_active=True,
        user__retired_at__isnull=True,
    ).values_list("user_id", "user__email", "organisation_id", "organisation__code", "organisation__name")
    year = run.service_year
    notifications, emails = [], []
    for user_id, email, organisation_id, code, name in memberships:
        link = reverse("calculation:practice_summary", kwargs={"code": code})
        message = (
            f"{year.name} achievement at {run.achievement_date:%-d %B %Y} for {name} ({code}) is available "
            "to view and declare."
        )
        notifications.append(
            Notification(
                user_id=user_id, organisation_id=organisation_id, run=run, message=message, link=link
            )
        )
        emails.append((email, message, link))
    Notification.objects.bulk_create(notifications, batch_size=pipeline.INSERT_BATCH_ROWS)
    if emails:
        _enqueue("email_achievement_available", run.pk)
    return len(notifications)


def achievement_available_emails(*, run_id: int) -> list[tuple[str, str, str, list[str]]]:
    rows = Notification.objects.filter(run_id=run_id).values_list("user__email", "message", "link")
    subject = "Your QOF achievement is available to view and declare"
    return [
        (subject, f"{message}\n\nSign in to the portal and open {link} to review and declare it.",
         settings.DEFAULT_FROM_EMAIL, [email])
        for email, message, link in rows
    ]  # fmt: skip


def start_nightly_runs(*, today: dt.date) -> list[CalculationRun]:
    """In-year runs for every open service year, at the latest achievement date it has extract values for.
    The year end itself is started by support staff once the year-end timetable allows (DOMAIN.md §8)."""
    open_years = ServiceYear.objects.filter(
        start_date__lte=today, end_date__gte=today - dt.timedelta(days=31)
    )
    latest = (
        Extract.objects.filter(service_year__in=open_years, achievement_date__lte=today)
        .values("service_year_id")
        .annotate(latest=Max("achievement_date"))
        .values_list("service_year_id", "latest")
    )
    years = {year.pk: year for year in open_years}
    started = []
    for service_year_id, achievement_date in latest:
        year = years[service_year_id]
        if achievement_date >= year.end_date:
            continue
        try:
            run = start_run(
                service_year=year,
                achievement_date=achievement_date,
                kind=CalculationRun.Kind.IN_YEAR,
                by=None,
                reason="Nightly in-year calculation",
            )
        except ValidationError:
            continue  # the previous night's run is still going
        started.append(run)
    return started


@transaction.atomic
def mark_notifications_read(*, user, notification_ids: Iterable[int] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=timezone.now())


@transaction.atomic
def load_list_sizes(*, service_year: ServiceYear, rows: list[tuple[str, int, int]], by) -> int:
    """Store PRACTICE_CODE, LIST_SIZE_CPI, LIST_SIZE_PREVALENCE for a service year: the CPI list at 1 January
    before the year and the prevalence list at its end. Unknown practices reject the whole file."""
    codes = [code for code, _, _ in rows]
    ids = dict(
        Organisation.objects.filter(type=OrganisationType.PRACTICE, code__in=codes).values_list("code", "pk")
    )
    unknown = sorted(set(codes) - set(ids))
    if unknown:
        raise ValidationError(f"unknown practice code(s): {', '.join(unknown[:10])}")
    cpi_date, prevalence_date = pipeline.cpi_list_date(service_year), service_year.end_date
    sizes = [
        PracticeListSize(practice_id=ids[code], list_date=on, registered_patients=patients)
        for code, cpi, prevalence in rows
        for on, patients in ((cpi_date, cpi), (prevalence_date, prevalence))
    ]
    PracticeListSize.objects.bulk_create(
        sizes,
        batch_size=pipeline.INSERT_BATCH_ROWS,
        update_conflicts=True,
        unique_fields=["practice", "list_date"],
        update_fields=["registered_patients", "loaded_at"],
    )
    audit.record(
        actor=by,
        action="calculation.load_list_sizes",
        obj=service_year,
        after={
            "practices": len(rows),
            "cpi_date": cpi_date.isoformat(),
            "prevalence": prevalence_date.isoformat(),
        },
    )
    return len(rows)
