"""Calculation runs: lifecycle, the worked example, frozen prevalence, failure and retry, re-runs."""

from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from calculation import actions, pipeline, tasks
from calculation.models import (
    CalculationRun,
    FrozenPrevalence,
    IndicatorResult,
    PracticeResult,
    PrevalenceResult,
    Publication,
    RunLease,
)
from declarations.models import Declaration
from notifications.models import Notification
from tests.calculation.helpers import (
    YEAR_END,
    example_tree,
    expected_totals,
    load_worked_example,
    run_to_the_end,
)
from tests.factories import user_with_roles

Status = CalculationRun.Status


@pytest.fixture
def example(db):
    tree = example_tree()
    return tree, load_worked_example()


def published_totals(run) -> list[tuple[str, str, str]]:
    rows = PracticeResult.objects.filter(run=run).order_by("practice__code")
    return [(row.practice.code, f"{row.points:.2f}", f"{row.payment:.2f}") for row in rows]


def indicator_rows(run) -> list[tuple]:
    fields = [f.attname for f in IndicatorResult._meta.fields if f.attname not in {"id", "run_id"}]
    return sorted(pipeline.published_indicator_results(run.pk).values_list(*fields))


def test_year_end_run_reproduces_the_worked_example_and_publishes(
    example, django_capture_on_commit_callbacks
):
    _, year = example
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)

    assert run.status == Status.PUBLISHED and run.stage == CalculationRun.Stage.DONE
    assert (run.progress_done, run.progress_total) == (3, 3)  # 01A, 01B, 02A; 02A holds B00001 too
    assert sorted(published_totals(run)) == sorted(expected_totals())
    assert Publication.objects.get(service_year=year, achievement_date=YEAR_END).run == run
    assert IndicatorResult.objects.filter(run=run).count() == 8 * 76
    assert FrozenPrevalence.objects.get(service_year=year).run == run
    assert run.prevalence_run == run and PrevalenceResult.objects.filter(run=run).exists()


def test_a_runs_page_counts_its_batches_of_commissioners_not_commissioners(
    client, example, django_capture_on_commit_callbacks, settings
):
    """A national run calculates its 106 commissioners in a few batches: the page must not call 7 batches
    "7 commissioners"."""
    settings.CALCULATION_CHUNK_PRACTICES = 100  # every commissioner in one batch
    tree, year = example
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    client.force_login(user_with_roles(tree["ENG"], "support"))
    html = client.get(reverse("calculation:run_detail", kwargs={"pk": run.pk})).content.decode()
    assert run.progress_total == 1 and "1 of 1 batch of commissioners calculated" in html


def test_results_are_typed_and_protect_nothing_in_a_year_without_income_protection(
    example, django_capture_on_commit_callbacks
):
    _, year = example
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    af006 = IndicatorResult.objects.get(run=run, practice__code="Z73000", indicator_code="AF006")
    assert isinstance(af006.points, Decimal) and isinstance(af006.payment, Decimal)
    assert af006.numerator is not None and af006.denominator >= af006.numerator
    assert 0 < af006.achievement <= 100 and af006.cpi > 0 and af006.apdf > 0
    assert not IndicatorResult.objects.filter(run=run, income_protected=True).exists()


def test_a_second_run_reuses_the_frozen_prevalence_and_gives_identical_results(
    example, django_capture_on_commit_callbacks
):
    _, year = example
    first = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    second = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)

    assert second.status == Status.PUBLISHED and second.prevalence_run == first
    assert not PrevalenceResult.objects.filter(run=second).exists()
    assert indicator_rows(first) == indicator_rows(second)
    assert published_totals(first) == published_totals(second)
    assert Publication.objects.get(service_year=year).run == second


def test_single_practice_recalculation_carries_the_others_forward(
    example, django_capture_on_commit_callbacks
):
    tree, year = example
    national = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    support = user_with_roles(tree["ENG"], "support")
    with pytest.raises(ValidationError):
        actions.start_run(
            service_year=year, achievement_date=YEAR_END, kind="recalculation", by=support,
            organisation=tree["Z10005"], reason=" ",
        )  # fmt: skip
    recalculation = run_to_the_end(
        django_capture_on_commit_callbacks,
        service_year=year,
        kind=CalculationRun.Kind.RECALCULATION,
        by=support,
        organisation=tree["Z10005"],
        reason="Corrected extract for Z10005",
    )

    assert recalculation.status == Status.PUBLISHED and recalculation.scope == CalculationRun.Scope.PRACTICE
    assert recalculation.prevalence_run == national and recalculation.replaces == national
    assert IndicatorResult.objects.filter(run=recalculation).values("practice").distinct().count() == 1
    assert published_totals(recalculation) == published_totals(national)
    assert indicator_rows(recalculation) == indicator_rows(national)
    sources = dict(
        PracticeResult.objects.filter(run=recalculation).values_list("practice__code", "indicator_run")
    )
    assert sources.pop("Z10005") == recalculation.pk and set(sources.values()) == {national.pk}


def test_a_failing_chunk_fails_the_run_publishes_nothing_and_a_retry_succeeds(
    example, django_capture_on_commit_callbacks, monkeypatch
):
    _, year = example
    real = pipeline.calculate_practices
    calls = []

    def second_chunk_breaks(run, codes):
        calls.append(codes)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(run, codes)

    monkeypatch.setattr(pipeline, "calculate_practices", second_chunk_breaks)
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)

    assert run.status == Status.FAILED and "disk full" in run.error
    assert not Publication.objects.exists()
    assert run.progress_done < run.progress_total

    with django_capture_on_commit_callbacks(execute=True):
        tasks.queue_run(actions.retry_run(run=run, by=None))
    run.refresh_from_db()
    assert run.status == Status.PUBLISHED and run.attempt == 2 and not run.error
    assert sorted(published_totals(run)) == sorted(expected_totals())
    assert IndicatorResult.objects.filter(run=run).count() == 8 * 76


def test_a_stale_chunk_of_an_earlier_attempt_writes_nothing(example, django_capture_on_commit_callbacks):
    _, year = example
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    before = IndicatorResult.objects.count()
    actions.calculate_commissioner(run_id=run.pk, attempt=run.attempt - 1 or 99, commissioner_id=1)
    assert IndicatorResult.objects.count() == before


def test_a_chunk_written_twice_is_refused_and_adds_nothing(example, django_capture_on_commit_callbacks):
    _, year = example
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    before = IndicatorResult.objects.count()
    results = pipeline.calculate_practices(run, ["Z73000", "Z92001"])
    with pytest.raises(IntegrityError), transaction.atomic():
        pipeline.write_results(results)
    assert IndicatorResult.objects.count() == before


def test_stalled_runs_are_failed_by_the_watchdog(example):
    _, year = example
    import datetime as dt

    from django.utils import timezone

    run = actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)
    CalculationRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert actions.fail_stalled_runs(stalled_for=dt.timedelta(minutes=15)) == [run.pk]
    run.refresh_from_db()
    assert run.status == Status.FAILED and "worker stopped" in run.error


def test_only_one_run_per_scope_at_a_time(example):
    _, year = example
    actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)
    with pytest.raises(ValidationError):
        actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)


def test_publishing_a_year_end_run_notifies_and_emails_declarers(example, django_capture_on_commit_callbacks):
    tree, year = example
    declarer = user_with_roles(tree["Z73000"], "declaration_management")
    viewer = user_with_roles(tree["Z73000"], "view")
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)

    notification = Notification.objects.get()
    assert notification.user == declarer and "Z73000" in notification.message
    assert run.status == Status.PUBLISHED and notification.created_at >= run.published_at
    # The year end's declarers are told by the declarations app, with a link to what they declare.
    declaration = Declaration.objects.get(practice=tree["Z73000"], run=run)
    assert notification.link == reverse("declarations:detail", args=[declaration.pk])
    assert not Notification.objects.filter(user=viewer).exists()
    assert [message.to for message in mail.outbox] == [[declarer.email]]
    assert "available to view and declare" in mail.outbox[0].body
    # A link a mail client can open, not a bare path.
    assert f"http://testserver{notification.link}" in mail.outbox[0].body
    assert Notification.objects.get().emailed_at is not None


def test_in_year_runs_do_not_notify(example, django_capture_on_commit_callbacks):
    tree, year = example
    user_with_roles(tree["Z73000"], "declaration_management")
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, kind=CalculationRun.Kind.IN_YEAR
    )
    assert run.status == Status.PUBLISHED
    assert not Notification.objects.exists() and not mail.outbox


def test_run_calculation_command_prints_the_run_and_its_status(example, django_capture_on_commit_callbacks):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    # Tasks queued by the command run when its transaction's callbacks do, after --wait gave up.
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(CommandError, match="queued"):
        call_command(
            "run_calculation", "--service", "QOF2324", "--achievement-date", "2024-03-31",
            "--practice", "Z10005", "--wait", "--timeout", "0", stdout=out,
        )  # fmt: skip
    recalculation = CalculationRun.objects.latest("pk")
    assert (
        recalculation.kind == CalculationRun.Kind.RECALCULATION and recalculation.status == Status.PUBLISHED
    )
    assert out.getvalue().splitlines()[-1] == f"run {recalculation.pk} queued"


def test_nightly_runs_calculate_the_latest_in_year_date_and_leave_the_year_end_to_support(
    example, django_capture_on_commit_callbacks, tmp_path
):
    import datetime as dt

    from tests.calculation.helpers import load_in_year_extract

    _, year = example
    load_in_year_extract(tmp_path, "20231231")
    with django_capture_on_commit_callbacks(execute=True):
        started = actions.start_nightly_runs(today=dt.date(2024, 1, 15))
        for run in started:  # as the nightly task does
            tasks.queue_run(run)
    assert [(run.kind, run.achievement_date) for run in started] == [("in_year", dt.date(2023, 12, 31))]
    assert Publication.objects.get(service_year=year).achievement_date == dt.date(2023, 12, 31)
    assert actions.start_nightly_runs(today=dt.date(2024, 4, 2)) == []  # 31 March is the year end


def test_list_sizes_for_unknown_practices_reject_the_whole_file(example):
    from calculation.models import PracticeListSize

    _, year = example
    before = PracticeListSize.objects.count()
    with pytest.raises(ValidationError, match="NOPE01"):
        actions.load_list_sizes(service_year=year, rows=[("Z73000", 1, 1), ("NOPE01", 1, 1)], by=None)
    assert PracticeListSize.objects.count() == before


def test_publication_hooks_run_inside_publication_and_a_failing_one_publishes_nothing(
    example, django_capture_on_commit_callbacks, monkeypatch
):
    from calculation import publication

    _, year = example
    seen = []

    def record(*, run, replaced_run_id):
        seen.append((run.pk, replaced_run_id, Publication.objects.get(service_year=year).run_id))

    monkeypatch.setattr(publication, "_hooks", [record])
    first = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    assert seen == [(first.pk, None, first.pk)]  # the pointer has already moved when hooks run

    def refuse(*, run, replaced_run_id):
        raise RuntimeError("a hook failed")

    monkeypatch.setattr(publication, "_hooks", [record, refuse])
    second = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    assert second.status == Status.FAILED and "a hook failed" in second.error
    assert Publication.objects.get(service_year=year).run == first


@pytest.mark.parametrize(
    ("error", "says", "retry"),
    [
        ("CalculationInputError: no extract values for QOF2324 on 2023-05-31", "Load the extract", False),
        ("CalculationInputError: no list size for 1 practice(s) with extract values: Z1", "sizes", False),
        ("WorkerLostError: the worker was killed", "Retrying usually helps", True),
    ],
)
def test_a_failed_run_says_why_in_words_and_offers_a_retry_only_when_one_can_succeed(
    client, example, error, says, retry
):
    tree, year = example
    run = actions.start_run(service_year=year, achievement_date=year.end_date, by=None, reason="test")
    actions.fail_run(run_id=run.pk, attempt=run.attempt, error=error)
    client.force_login(user_with_roles(tree["ENG"], "support"))
    html = client.get(reverse("calculation:run_detail", kwargs={"pk": run.pk})).content.decode()
    reason = html.split('data-testid="failure-reason">')[1].split("</p>")[0]
    assert says in reason and "Error:" not in reason
    assert ("Retry the run" in html) is retry
    assert "Stage:" not in html  # no "Waiting for a worker" beside "Failed"


def test_a_run_whose_lease_expired_is_failed_and_a_live_lease_keeps_it_from_the_stall_limit(example):
    import datetime as dt

    from django.conf import settings
    from django.utils import timezone

    _, year = example
    run = actions.start_run(service_year=year, achievement_date=YEAR_END, kind="year_end", by=None)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    CalculationRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, heartbeat_at=long_ago)
    lease = actions.take_lease(
        run_id=run.pk, attempt=1, stage="commissioner 7", holder="host:42", lasting=dt.timedelta(minutes=1)
    )
    # A slow chunk still renewing its lease is not stalled, however long since the last progress.
    assert actions.fail_stalled_runs(stalled_for=dt.timedelta(minutes=15)) == []
    assert actions.fail_lost_runs() == []
    assert actions.renew_lease(lease_id=lease, lasting=dt.timedelta(seconds=-1))

    assert actions.fail_lost_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == Status.FAILED and "host:42 stopped renewing its lease on commissioner 7" in run.error
    assert not RunLease.objects.exists() and not Publication.objects.exists()
    assert actions.retry_run(run=run, by=None).status == Status.QUEUED
    # Beat checks often enough that a lost worker is noticed within two minutes.
    schedule = settings.CELERY_BEAT_SCHEDULE["calculation-fail-stalled-runs"]["schedule"]
    assert settings.CALCULATION_LEASE_SECONDS + schedule <= 120


def test_every_stage_holds_a_lease_while_it_works_and_releases_it(
    example, django_capture_on_commit_callbacks
):
    from calculation.models import RunLease

    _, year = example
    held = []
    real = pipeline.calculate_practices

    def watching(run, codes):
        held.append(list(RunLease.objects.values_list("run_id", "attempt", "stage")))
        return real(run, codes)

    pipeline.calculate_practices, saved = watching, real
    try:
        run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    finally:
        pipeline.calculate_practices = saved
    assert run.status == Status.PUBLISHED
    assert all(len(leases) == 1 and leases[0][:2] == (run.pk, 1) for leases in held) and held
    assert {leases[0][2] for leases in held} == {
        f"commissioner {c}" for c in pipeline.commissioners_to_calculate(run)
    }
    assert not RunLease.objects.exists()
