"""Every write of a calculation run: start, the stages, publish, fail, retry; and the list sizes runs read.

A run moves queued → running → published (or failed; a failed run may be retried, which makes it queued
again with a new attempt number). Stage work is in `pipeline`. Actions never queue work: `tasks` chains
the stages, and whoever starts or retries a run queues it with `tasks.queue_run`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.models import Organisation, OrganisationType, PcnMembership, in_force_on
from accounts.permissions import Permission, at, either, guarded, nationally, system_step
from accounts.roles import Role
from accounts.selectors import current_holders
from engine import national_prevalence
from extracts import store
from extracts.models import Extract
from notifications.actions import Recipient, notify_each
from participation.actions import end_participation
from participation.models import NominatedPayee, Participation, ServiceYear

from . import pipeline, prevalence_checks, service_runs
from .models import (
    ACTIVE_STATUSES,
    CalculationRun,
    FrozenPrevalence,
    IndicatorResult,
    PracticeListSize,
    PracticeResult,
    PrevalenceResult,
    PrevalenceReview,
    Publication,
    RunLease,
    ServiceLine,
)
from .publication import run_publication_hooks
from .selectors import run_kind_for

Status = CalculationRun.Status
Stage = CalculationRun.Stage
# Runs that only some practices' figures change, and that practices are told about.
NOTIFYING_KINDS = {CalculationRun.Kind.YEAR_END, CalculationRun.Kind.RECALCULATION}
ERROR_TEXT_LIMIT = 4000


class RunUnderWay(ValidationError):
    """A run of the same service year, achievement date and scope is already queued, running or held: the
    request joins it (`run`) rather than starting a second one."""

    def __init__(self, run: CalculationRun):
        super().__init__(
            f"Run {run.pk} for this year, date and scope is already under way "
            f"({run.get_status_display().lower()}): no second run was started; its results are published "
            "when it finishes."
        )
        self.run = run


def _scope_for(organisation: Organisation | None) -> str:
    if organisation is None or organisation.type == OrganisationType.NATIONAL:
        return CalculationRun.Scope.NATIONAL
    if organisation.type == OrganisationType.PRACTICE:
        return CalculationRun.Scope.PRACTICE
    if organisation.is_commissioner:
        return CalculationRun.Scope.COMMISSIONER
    raise ValidationError(f"{organisation} cannot be calculated on its own")


@guarded(nationally(Permission.SUPPORT))
@transaction.atomic
def start_run(
    *,
    service_year: ServiceYear,
    achievement_date: dt.date,
    by,
    reason: str = "",
    organisation: Organisation | None = None,
    kind: str | None = None,
) -> CalculationRun:
    """Record a queued run. Its kind follows from the date and scope unless given; the caller queues it
    (tasks.queue_run) so that a worker picks it up once this transaction commits."""
    scope = _scope_for(organisation)
    kind = kind or run_kind_for(service_year, achievement_date, organisation)
    if kind == CalculationRun.Kind.RECALCULATION and not reason.strip():
        raise ValidationError("Give the reason for the recalculation.")
    if not service_year.start_date <= achievement_date <= service_year.end_date:
        raise ValidationError(f"{achievement_date:%-d %B %Y} is outside {service_year.name}.")
    paid_in_points = service_year.payment_kind == ServiceYear.PaymentKind.POINTS
    if not paid_in_points and scope != CalculationRun.Scope.NATIONAL:
        raise ValidationError(
            f"{service_year.name} is calculated for every practice at once (it takes seconds): start a "
            "national run."
        )
    # A capitation month is calculated from list sizes and PCN memberships, not from an extract.
    needs_extract = service_year.payment_kind != ServiceYear.PaymentKind.CAPITATION
    if (
        needs_extract
        and not Extract.objects.filter(service_year=service_year, achievement_date=achievement_date).exists()
    ):
        raise ValidationError(
            f"There is no extract data for {service_year.name} at {achievement_date:%-d %B %Y}, so there is "
            "nothing to calculate. Load the extract first."
        )
    organisation = None if scope == CalculationRun.Scope.NATIONAL else organisation
    same_scope = {
        "service_year": service_year,
        "achievement_date": achievement_date,
        "scope": scope,
        "organisation": organisation,
    }
    active = CalculationRun.objects.filter(**same_scope, status__in=ACTIVE_STATUSES).first()
    if active is not None:
        raise RunUnderWay(active)
    try:
        # The database's one_active_run_per_scope decides a race: the loser waits for the winner's commit,
        # then fails here and is shown the winner's run instead of starting a second one.
        with transaction.atomic():
            run = CalculationRun.objects.create(
                **same_scope, kind=kind, triggered_by=by, reason=reason.strip()
            )
    except IntegrityError:
        active = CalculationRun.objects.filter(**same_scope, status__in=ACTIVE_STATUSES).first()
        if active is None:
            raise
        raise RunUnderWay(active) from None
    audit.record(actor=by, action="calculation.start_run", obj=run, after=_state(run))
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


@system_step
@transaction.atomic
def begin_run(*, run_id: int, attempt: int) -> list[int] | None:
    """Stage 1: freeze (or reuse) the national prevalence and list the commissioner chunks to calculate
    (none: publish at once). None when this attempt is no longer the run's, or when the run is held for
    Support to confirm a prevalence that looks wrong against last year's."""
    run = _locked_run(run_id, attempt)
    if run is None:
        return None
    now = timezone.now()
    run.status, run.stage, run.started_at, run.heartbeat_at = Status.RUNNING, Stage.PREVALENCE, now, now
    if service_runs.is_service_run(run):
        return _calculate_service_run(run)
    store.refresh_current_statistics(run.service_year_id, run.achievement_date)
    pipeline.refresh_planner_statistics(PracticeListSize)
    run.prevalence_run = _frozen_prevalence_run(run)
    if run.prevalence_run is None:
        _hold_for_confirmation(run)
        return None
    chunks = pipeline.commissioner_chunks(run)
    pipeline.materialise_inputs(run, chunks)
    run.stage, run.progress_done, run.progress_total = Stage.ACHIEVEMENT, 0, len(chunks)
    run.save()
    audit.record(actor=None, action="calculation.begin_run", obj=run, after=_state(run))
    # Each chunk is named by its first commissioner (pipeline.practice_codes_in_chunk).
    return [chunk[0] for chunk in chunks]


def _calculate_service_run(run: CalculationRun) -> list[int]:
    """A service paid by item or capitation: no prevalence and no chunks; the whole run is calculated here
    and published next (ADR 0015)."""
    run.stage = Stage.ACHIEVEMENT
    lines = service_runs.calculate_service_run(run)
    run.progress_done = run.progress_total = 0
    run.save()
    audit.record(actor=None, action="calculation.begin_run", obj=run, after={**_state(run), "lines": lines})
    return []


def _frozen_prevalence_run(run: CalculationRun) -> CalculationRun | None:
    """National prevalence is calculated once per service year and achievement date and then reused, so
    every later run and recalculation of that date pays on the same national figures (DOMAIN.md §4.7).

    Before it is frozen it is checked against last year's (prevalence_checks); with outliers nothing is
    frozen and None says the run must wait for Support. Confirming freezes this run's figures."""
    frozen = FrozenPrevalence.objects.filter(
        service_year=run.service_year, achievement_date=run.achievement_date
    ).first()
    if frozen is not None:
        return frozen.run
    rules, registers, practices = pipeline.national_prevalence_inputs(run)
    prevalence = national_prevalence(rules, registers, practices)
    PrevalenceResult.objects.filter(run=run).delete()  # figures of an earlier attempt, never frozen
    pipeline.write_prevalence(run, prevalence)
    review = prevalence_checks.review_prevalence(
        run, registers=registers, practices=practices, prevalence=prevalence
    )
    if review.decision == PrevalenceReview.Decision.PENDING:
        return None
    return _freeze_prevalence(run)


def _freeze_prevalence(run: CalculationRun) -> CalculationRun:
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


def _hold_for_confirmation(run: CalculationRun) -> None:
    """Stop the run before any practice is calculated, and tell Support what to look at."""
    run.status, run.stage, run.progress_done, run.progress_total = Status.HELD, Stage.CONFIRMATION, 0, 0
    run.save()
    outliers = run.prevalence_review.flags.filter(outlier=True).count()
    audit.record(
        actor=None,
        action="calculation.hold_for_prevalence",
        obj=run,
        after={**_state(run), "outliers": outliers},
    )
    national = Organisation.objects.filter(type=OrganisationType.NATIONAL).values("pk")
    holders = current_holders(roles=[Role.SUPPORT], organisations=national).values_list(
        "user_id", "organisation_id"
    )
    when = f"{run.service_year.name} at {run.achievement_date:%-d %B %Y}"
    found = f"{outliers} outlier{'s' if outliers != 1 else ''}"
    notify_each(
        notifications=[
            (
                Recipient(user_id, organisation_id),
                f"Confirm the national prevalence of {when}",
                f"Run {run.pk} found {found} against last year's national prevalence and is held: "
                "nothing will be frozen or calculated until Support confirms or rejects the figures.",
                reverse("calculation:prevalence_review", kwargs={"pk": run.pk}),
            )
            for user_id, organisation_id in holders
        ]
    )


@guarded(nationally(Permission.SUPPORT))
@transaction.atomic
def confirm_prevalence(*, run: CalculationRun, by, note: str) -> CalculationRun:
    """Support has looked at the outliers and the figures are right: freeze them and let the run go on. The
    run is queued again (the caller queues it, tasks.queue_run); its first stage finds the frozen figures."""
    run = _held_run(run)
    if not note.strip():
        raise ValidationError("Say why the figures are right (for example, which practices closed).")
    review = run.prevalence_review
    review.decision, review.decided_by, review.decided_at = (
        PrevalenceReview.Decision.CONFIRMED,
        by,
        timezone.now(),
    )
    review.note = note.strip()
    review.save()
    frozen = _freeze_prevalence(run)
    run.status, run.stage = Status.QUEUED, Stage.WAITING
    run.save()
    audit.record(
        actor=by,
        action="calculation.confirm_prevalence",
        obj=run,
        before={"status": Status.HELD},
        after={**_state(run), "note": review.note, "frozen_by_run": frozen.pk},
    )
    return run


@guarded(nationally(Permission.SUPPORT))
@transaction.atomic
def reject_prevalence(*, run: CalculationRun, by, reason: str) -> CalculationRun:
    """The outliers are real faults (data missing, registers lost): fail the run, freezing nothing. Once the
    extract is put right, retrying the run calculates and checks the prevalence again."""
    run = _held_run(run)
    if not reason.strip():
        raise ValidationError("Say what is wrong with the figures, so that it can be put right.")
    review = run.prevalence_review
    review.decision, review.decided_by, review.decided_at = (
        PrevalenceReview.Decision.REJECTED,
        by,
        timezone.now(),
    )
    review.note = reason.strip()
    review.save()
    run.status, run.finished_at = Status.FAILED, timezone.now()
    run.error = f"National prevalence rejected by Support: {review.note}"[:ERROR_TEXT_LIMIT]
    run.save()
    audit.record(
        actor=by,
        action="calculation.reject_prevalence",
        obj=run,
        before={"status": Status.HELD},
        after={**_state(run), "reason": review.note},
    )
    return run


def _held_run(run: CalculationRun) -> CalculationRun:
    run = CalculationRun.objects.select_for_update().select_related("service_year").get(pk=run.pk)
    if run.status != Status.HELD:
        raise ValidationError("This run is not waiting for its national prevalence to be confirmed.")
    return run


@system_step
def calculate_commissioner(*, run_id: int, attempt: int, commissioner_id: int) -> bool:
    """Stage 2, one chunk: achievement, payments and aspiration for the practices of the chunk named by
    `commissioner_id`, its first commissioner (pipeline.commissioner_chunks).

    The engine runs outside the transaction; the results and the progress count commit together (a chunk
    written twice is refused by one_practice_result_per_run). True for the chunk that completes the count:
    the run is ready to publish.
    """
    run = CalculationRun.objects.select_related("service_year").get(pk=run_id)
    if run.attempt != attempt or run.status != Status.RUNNING:
        return False
    results = pipeline.calculate_practices(run, pipeline.practice_codes_in_chunk(run, commissioner_id))
    with transaction.atomic():
        if results is not None:
            pipeline.write_results(results)
        run = _locked_run(run_id, attempt)
        if run is None:
            transaction.set_rollback(True)
            return False
        CalculationRun.objects.filter(pk=run_id).update(
            progress_done=F("progress_done") + 1, heartbeat_at=timezone.now()
        )
        return run.progress_done + 1 == run.progress_total


@system_step
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
    if publication is not None:
        newer = _practices_published_from_later_runs(run, publication.run_id)
        calculated = set(PracticeResult.objects.filter(run=run).values_list("practice_id", flat=True))
        if newer and calculated <= newer:
            return _supersede(run, publication)
        # Publication is monotonic per practice: figures from a run started after this one stay published.
        PracticeResult.objects.filter(run=run, practice_id__in=newer).delete()
        if run.scope != CalculationRun.Scope.NATIONAL:
            run.replaces_id = publication.run_id
            pipeline.carry_forward_practices(run, publication.run_id)
        elif newer:
            run.replaces_id = publication.run_id
            pipeline.carry_forward_practices(run, publication.run_id, practices=newer)
    now = timezone.now()
    replaced_run_id = publication.run_id if publication else None
    before = {"run": replaced_run_id} if publication else None
    if publication is None:
        publication = Publication.objects.create(
            service_year=run.service_year, achievement_date=run.achievement_date, run=run, published_at=now
        )
    else:
        publication.run, publication.published_at = run, now
        publication.save(update_fields=["run", "published_at"])
    run.status, run.stage, run.finished_at, run.published_at = Status.PUBLISHED, Stage.DONE, now, now
    run.save()
    audit.record(
        actor=None, action="calculation.publish", obj=publication, before=before, after={"run": run.pk}
    )
    # At the year's end date the declarations app tells practices (through the hook below), since only it
    # knows whose figures changed; in-year recalculations are told here.
    if run.kind in NOTIFYING_KINDS and run.achievement_date != run.service_year.end_date:
        notify_declarers(run=run)
    if run.scope == CalculationRun.Scope.NATIONAL:
        # The hooks look up each practice's new figures; planned on statistics from before the chunks wrote
        # 6,410 of them, each lookup scanned the table (reverting a national year end's declarations took 9
        # to 19 s instead of 0.3 s).
        pipeline.refresh_planner_statistics(PracticeResult)
    run_publication_hooks(run=run, replaced_run_id=replaced_run_id)
    return run


def _practices_published_from_later_runs(run: CalculationRun, published_run_id: int) -> set[int]:
    """Practices whose published figures come from a run created after this one. Runs are ordered by id
    (creation order): a later run read its inputs no earlier than this one started."""
    return set(
        PracticeResult.objects.filter(run_id=published_run_id, indicator_run_id__gt=run.pk).values_list(
            "practice_id", flat=True
        )
    )


def _supersede(run: CalculationRun, publication: Publication) -> CalculationRun:
    """Finish a run without publishing it: a later run already published every practice it calculated
    (say, an older failed run retried after a newer one published). Nobody is notified."""
    now = timezone.now()
    run.status, run.stage, run.finished_at = Status.SUCCEEDED, Stage.DONE, now
    run.superseded_by_id = publication.run_id
    run.save()
    audit.record(
        actor=None,
        action="calculation.supersede",
        obj=run,
        after={**_state(run), "superseded_by": publication.run_id},
    )
    return run


@system_step
def calculate_in_process(*, run: CalculationRun) -> CalculationRun:
    """Every stage of a queued run, here and now, without a worker: for the demo and the embedded mode.
    Tasks queued on the way find the run already finished and do nothing."""
    for commissioner_id in begin_run(run_id=run.pk, attempt=run.attempt) or []:
        calculate_commissioner(run_id=run.pk, attempt=run.attempt, commissioner_id=commissioner_id)
    run.refresh_from_db()
    if run.status == Status.RUNNING:
        publish_run(run_id=run.pk, attempt=run.attempt)
        run.refresh_from_db()
    return run


@system_step
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


@guarded(nationally(Permission.SUPPORT))
@transaction.atomic
def retry_run(*, run: CalculationRun, by) -> CalculationRun:
    """Make a failed run queued again, as a new attempt; the caller queues it (tasks.queue_run)."""
    run = CalculationRun.objects.select_for_update().get(pk=run.pk)
    if run.status != Status.FAILED:
        raise ValidationError("Only a failed run can be retried.")
    IndicatorResult.objects.filter(run=run).delete()
    PracticeResult.objects.filter(run=run).delete()
    ServiceLine.objects.filter(run=run).delete()
    run.status, run.stage, run.attempt = Status.QUEUED, Stage.WAITING, run.attempt + 1
    # The new attempt's first sign of life, for the lost-task check (fail_runs_with_lost_tasks).
    run.heartbeat_at = timezone.now()
    run.progress_done = run.progress_total = 0
    run.error, run.finished_at = "", None
    run.save()
    audit.record(actor=by, action="calculation.retry", obj=run, after=_state(run))
    return run


@system_step
def take_lease(*, run_id: int, attempt: int, stage: str, holder: str, lasting: dt.timedelta) -> int:
    """Claim a stage of a run for this worker (see RunLease); the id is renewed and released by it."""
    lease = RunLease.objects.create(
        run_id=run_id, attempt=attempt, stage=stage, holder=holder, expires_at=timezone.now() + lasting
    )
    return lease.pk


@system_step
def renew_lease(*, lease_id: int, lasting: dt.timedelta) -> bool:
    # Only the lease row: the run's own row is locked by the stage while it commits.
    return bool(RunLease.objects.filter(pk=lease_id).update(expires_at=timezone.now() + lasting))


@system_step
def release_lease(*, lease_id: int) -> None:
    RunLease.objects.filter(pk=lease_id).delete()


@system_step
def fail_lost_runs() -> list[int]:
    """Fail the runs one of whose leases expired: the worker holding it was killed or cut off mid-stage and
    its result will never arrive. Nothing of the run was published; it can be retried at once."""
    now = timezone.now()
    failed = []
    expired = RunLease.objects.filter(expires_at__lt=now).select_related("run")
    for lease in expired:
        message = (
            f"The worker {lease.holder} stopped renewing its lease on {lease.stage} (it expired at "
            f"{lease.expires_at:%Y-%m-%d %H:%M:%S %Z}): it was killed or lost its connection. Nothing was "
            "published; retry the run."
        )
        if fail_run(run_id=lease.run_id, attempt=lease.attempt, error=message):
            failed.append(lease.run_id)
        lease.delete()
    return failed


@system_step
def fail_runs_with_lost_tasks(
    *, alive: set[tuple[int, int]], last_seen: dict[tuple[int, int], dt.datetime], lost_after: dt.timedelta
) -> list[int]:
    """Fail the queued and running runs whose next task is neither waiting in the broker nor held by a live
    worker (`alive`, as (run id, attempt), read from the broker and the leases just now), and have not been
    seen alive for `lost_after`: the broker lost the message, or a worker took it and died before starting
    it. Such a run would otherwise wait for the stall limit (15 minutes) with its scope blocked."""
    now = timezone.now()
    cutoff = now - lost_after
    active = CalculationRun.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).values_list(
        "pk", "attempt", "status", "created_at", "heartbeat_at"
    )
    failed = []
    for run_id, attempt, status, created_at, heartbeat_at in active:
        signs = (created_at, heartbeat_at, last_seen.get((run_id, attempt)))
        seen = max(moment for moment in signs if moment)
        if (run_id, attempt) in alive or seen >= cutoff:
            continue
        # A worker may have taken the task since the broker was read: its lease says so.
        if RunLease.objects.filter(run_id=run_id, attempt=attempt, expires_at__gte=now).exists():
            continue
        waiting = "to start" if status == Status.QUEUED else "for its next stage"
        message = (
            f"Its task was lost: the run waited {waiting} with nothing queued for it and no worker on it "
            f"since {seen:%Y-%m-%d %H:%M:%S %Z} (the broker lost the message, or a worker took it and "
            "stopped before starting it). Nothing was published; retry the run."
        )
        if fail_run(run_id=run_id, attempt=attempt, error=message):
            failed.append(run_id)
    return failed


@system_step
def fail_stalled_runs(*, stalled_for: dt.timedelta) -> list[int]:
    """Fail runs with no progress for `stalled_for` and no worker holding a lease on them: a task of theirs
    was lost before any worker took it (a broker restarted without its queue), so it will never run."""
    cutoff = timezone.now() - stalled_for
    stalled = (
        CalculationRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff)
        .exclude(leases__expires_at__gte=timezone.now())
        .values_list("pk", "attempt", "progress_done", "progress_total")
    )
    failed = []
    for run_id, attempt, done, total in stalled:
        message = (
            f"No progress since {cutoff:%Y-%m-%d %H:%M:%S %Z} ({done} of {total} commissioners done) and "
            "no worker holds it: a worker stopped or a queued task was lost. Nothing was published; retry "
            "the run."
        )
        if fail_run(run_id=run_id, attempt=attempt, error=message):
            failed.append(run_id)
    return failed


@system_step
def notify_declarers(*, run: CalculationRun) -> int:
    """Tell every Declaration Management user of the recalculated practices that their achievement is ready
    (in the portal now; by email from the outbox). Called inside publication's transaction."""
    practices = PracticeResult.objects.filter(run=run, indicator_run=run).values("practice_id")
    holders = current_holders(roles=[Role.DECLARATION_MANAGEMENT], organisations=practices).values_list(
        "user_id", "organisation_id", "organisation__code", "organisation__name"
    )
    year = run.service_year
    subject = f"Your {year.name} achievement is available to view and declare"
    return notify_each(
        notifications=[
            (
                Recipient(user_id, organisation_id),
                subject,
                f"{year.name} achievement at {run.achievement_date:%-d %B %Y} for {name} ({code}) is "
                "available to view and declare.",
                reverse("reports:practice_summary", kwargs={"code": code}),
            )
            for user_id, organisation_id, code, name in holders
        ]
    )


@system_step
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
                by=None,
                reason="Nightly in-year calculation",
            )
        except ValidationError:
            continue  # the previous night's run is still going
        started.append(run)
    return started


@guarded(nationally(Permission.SUPPORT))
@transaction.atomic
def load_list_sizes(
    *, service_year: ServiceYear, rows: list[tuple[str, int, int]], by, populations: dict | None = None
) -> int:
    """Store PRACTICE_CODE, LIST_SIZE_CPI, LIST_SIZE_PREVALENCE for a service year: the CPI list at 1 January
    before the year and the prevalence list at its end. Unknown practices reject the whole file.
    `populations`: practice code → (weighted, adjusted) at that 1 January, for capitation (ADR 0015)."""
    codes = [code for code, _, _ in rows]
    ids = dict(
        Organisation.objects.filter(type=OrganisationType.PRACTICE, code__in=codes).values_list("code", "pk")
    )
    unknown = sorted(set(codes) - set(ids))
    if unknown:
        raise ValidationError(f"unknown practice code(s): {', '.join(unknown[:10])}")
    cpi_date, prevalence_date = pipeline.cpi_list_date(service_year), service_year.end_date
    populations = populations or {}
    sizes = [
        PracticeListSize(
            practice_id=ids[code],
            list_date=on,
            registered_patients=patients,
            **dict(zip(["weighted_patients", "adjusted_patients"], weighted_adjusted, strict=True)),
        )
        for code, cpi, prevalence in rows
        for on, patients, weighted_adjusted in (
            (cpi_date, cpi, populations.get(code, (None, None))),
            (prevalence_date, prevalence, (None, None)),
        )
    ]
    updated = ["registered_patients", "loaded_at"]
    PracticeListSize.objects.bulk_create(
        sizes,
        batch_size=pipeline.INSERT_BATCH_ROWS,
        update_conflicts=True,
        unique_fields=["practice", "list_date"],
        update_fields=[*updated, "weighted_patients", "adjusted_patients"] if populations else updated,
    )
    audit.record(
        actor=by,
        action="calculation.load_list_sizes",
        obj=service_year,
        after={
            "practices": len(rows),
            "cpi_date": cpi_date.isoformat(),
            "prevalence": prevalence_date.isoformat(),
            "populations": len(populations),
        },
    )
    return len(rows)


# ---- A practice joining or leaving a PCN (docs/adr/0018-network-declarations.md) -------------------------


@dataclass(frozen=True)
class MembershipChange:
    membership: PcnMembership | None
    # The recalculations started, one per published network date on or after the change, for the caller
    # to queue (tasks.queue_run); and the dates whose run was already under way, so not started again.
    runs: list[CalculationRun]
    under_way: list[CalculationRun]


def _day(on: dt.date) -> str:
    return f"{on:%-d %B %Y}"


@guarded(either(at(Permission.COMMISSION_SERVICES, "practice"), nationally(Permission.MANAGE_SERVICES)))
@transaction.atomic
def change_pcn_membership(
    *, practice: Organisation, pcn: Organisation | None, start_date: dt.date, by
) -> MembershipChange:
    """The practice joins `pcn` (or leaves its PCN, with None) from `start_date`, as ODS records it: the
    membership in force ends the day before. Every published date of a service aggregated to PCNs on or
    after the change is recalculated nationally, so its PCNs' aggregates follow the new membership; the
    publication then reverts (or, once sent for payment, flags) every declaration whose figures changed,
    the PCNs' first among them, as any recalculation does."""
    if practice.type != OrganisationType.PRACTICE:
        raise ValidationError(f"{practice.code} is not a GP practice.")
    if pcn is not None and pcn.type != OrganisationType.PCN:
        raise ValidationError(f"{pcn.code} is not a primary care network.")
    # One change at a time per practice: its memberships are read and rewritten under this lock.
    Organisation.objects.select_for_update().filter(pk=practice.pk).first()
    current = (
        PcnMembership.objects.filter(practice=practice, end_date__isnull=True).select_related("pcn").first()
    )
    if current is None and pcn is None:
        raise ValidationError(f"{practice.code} is in no PCN, so it cannot leave one.")
    if current is not None and current.pcn_id == getattr(pcn, "pk", None):
        raise ValidationError(f"{practice.code} is already in {pcn.code}.")
    if current is not None and current.start_date >= start_date:
        raise ValidationError(
            f"{practice.code} joined {current.pcn.code} on {_day(current.start_date)}: a change must start "
            "later (correct that membership instead)."
        )
    if current is not None:
        nominated = NominatedPayee.objects.filter(pcn=current.pcn, payee=practice).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=start_date)
        )
        if nominated.exists():
            raise ValidationError(
                f"{practice.code} is {current.pcn.code}'s nominated payee on {_day(start_date)}: nominate "
                "another member first, so that the PCN is still paid."
            )
    before = None
    if current is not None:
        before = {"pcn": current.pcn.code, "start_date": current.start_date.isoformat()}
        current.end_date = start_date - dt.timedelta(days=1)
        current.save(update_fields=["end_date"])
    membership = None
    if pcn is not None:
        membership = PcnMembership.objects.create(practice=practice, pcn=pcn, start_date=start_date)
    audit.record(
        actor=by,
        action="calculation.change_pcn_membership",
        obj=practice,
        before=before,
        after={"pcn": pcn.code if pcn else None, "start_date": start_date.isoformat()},
    )
    if pcn is None:
        _end_network_participation(practice=practice, last_day=start_date - dt.timedelta(days=1), by=by)
    moved = f"{practice.code} {'joined ' + pcn.code if pcn else 'left ' + current.pcn.code}"
    runs, under_way = _recalculate_network_dates(
        since=start_date, reason=f"PCN membership change: {moved} from {_day(start_date)}"
    )
    return MembershipChange(membership=membership, runs=runs, under_way=under_way)


def _end_network_participation(*, practice: Organisation, last_day: dt.date, by) -> None:
    """A practice in no PCN cannot take part in the Network Contract DES: its participation in a network
    year that runs past its last day in a PCN ends on that day (audited, and its offer ended, by the
    participation action). Periods that start later are left: it is not paid for them while in no PCN,
    and they apply again if it joins one in time (docs/adr/0018-network-declarations.md)."""
    running = Participation.objects.filter(
        practice=practice,
        service_year__payment_kind=ServiceYear.PaymentKind.CAPITATION,
        start_date__lte=last_day,
        end_date__gt=last_day,
        ended_at__isnull=True,
    ).order_by("pk")
    for participation in running:
        end_participation(participation=participation, ended_on=last_day, by=by)


def _recalculate_network_dates(*, since: dt.date, reason: str) -> tuple[list, list]:
    """One national recalculation per date of a service aggregated to PCNs already published on or after
    `since`, started by the system (the caller's audit event names the user: a commissioner may change
    a membership or a nomination without holding Support's right to start runs by hand), for the caller
    to queue; and the runs of dates already under way, not started again."""
    runs, under_way = [], []
    aggregated = [ServiceYear.PaymentKind.CAPITATION, ServiceYear.PaymentKind.NETWORK_POINTS]
    published = Publication.objects.filter(
        service_year__payment_kind__in=aggregated, achievement_date__gte=since
    ).select_related("service_year")
    for publication in published.order_by("service_year__code", "achievement_date"):
        try:
            runs.append(
                start_run(
                    service_year=publication.service_year, achievement_date=publication.achievement_date,
                    by=None, reason=reason, kind=CalculationRun.Kind.RECALCULATION,
                )
            )  # fmt: skip
        except RunUnderWay as error:
            under_way.append(error.run)
    return runs, under_way


# ---- A PCN's nominated payee (docs/adr/0018-network-declarations.md) ------------------------------------


@dataclass(frozen=True)
class Nomination:
    nomination: NominatedPayee
    runs: list[CalculationRun]  # as MembershipChange: for the caller to queue
    under_way: list[CalculationRun]


@guarded(either(at(Permission.COMMISSION_SERVICES, "pcn"), nationally(Permission.MANAGE_SERVICES)))
@transaction.atomic
def nominate_payee(*, pcn: Organisation, payee: Organisation, start_date: dt.date, by) -> Nomination:
    """Record the member practice a PCN nominated to be paid and to declare for it from `start_date`; the
    nomination in force ends the day before. Dated, so runs of earlier dates still pay the earlier payee,
    and a nomination back-dated behind one already made is refused (correct that one instead). It lives
    here, beside the membership change, because it too starts the re-aggregation: every network date
    already published on or after it is recalculated, so the PCN's aggregate is published to the new
    payee and its members' declarations waiting for it move on (ADR 0018)."""
    if pcn.type != OrganisationType.PCN:
        raise ValidationError(f"{pcn.code} is not a primary care network.")
    member = PcnMembership.objects.filter(in_force_on(start_date), pcn=pcn, practice=payee)
    if not member.exists():
        raise ValidationError(f"{payee.code} is not a member of {pcn.code} on {_day(start_date)}.")
    Organisation.objects.select_for_update().filter(pk=pcn.pk).first()  # one nomination at a time per PCN
    current = NominatedPayee.objects.filter(pcn=pcn, end_date__isnull=True).select_related("payee").first()
    if current is not None and current.start_date >= start_date:
        raise ValidationError(
            f"{pcn.code} already has a nomination from {_day(current.start_date)}: a new one must "
            "start later."
        )
    before = None
    if current is not None:
        before = {"payee": current.payee.code, "start_date": current.start_date.isoformat()}
        current.end_date = start_date - dt.timedelta(days=1)
        current.save(update_fields=["end_date"])
    nomination = NominatedPayee.objects.create(pcn=pcn, payee=payee, start_date=start_date)
    audit.record(
        actor=by,
        action="calculation.nominate_payee",
        obj=nomination,
        before=before,
        after={"pcn": pcn.code, "payee": payee.code, "start_date": start_date.isoformat()},
    )
    runs, under_way = _recalculate_network_dates(
        since=start_date, reason=f"{pcn.code} nominated {payee.code} as its payee from {_day(start_date)}"
    )
    return Nomination(nomination=nomination, runs=runs, under_way=under_way)
