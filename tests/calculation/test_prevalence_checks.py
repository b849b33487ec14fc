"""Before national prevalence is frozen it is checked against last year's; outliers hold the run for Support.

Last year is the worked example's 2023/24 year end; this year is the same data as 2024/25's, with a planted
fault: one supplier's practices (every other practice, across commissioners) sent nothing.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from calculation import actions
from calculation.models import CalculationRun, FrozenPrevalence, PrevalenceFlag, PrevalenceReview, Publication
from notifications.models import Notification
from tests.calculation.helpers import (
    NEXT_YEAR_END,
    example_tree,
    load_next_year,
    load_worked_example,
    run_to_the_end,
)
from tests.factories import user_with_roles

Status = CalculationRun.Status
Decision = PrevalenceReview.Decision
ONE_SUPPLIER = ("Z92001", "Z72003", "Z10005", "Z90007")


@pytest.fixture
def last_year(db, django_capture_on_commit_callbacks):
    tree = example_tree()
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=load_worked_example())
    assert run.status == Status.PUBLISHED
    assert run.prevalence_review.decision == Decision.NO_COMPARISON
    return tree


def test_a_year_like_the_last_passes_its_checks_and_publishes(
    last_year, tmp_path, django_capture_on_commit_callbacks
):
    year = load_next_year(tmp_path)
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=NEXT_YEAR_END
    )
    assert run.status == Status.PUBLISHED
    review = run.prevalence_review
    assert review.decision == Decision.PASSED and review.compared_with.service_year.code == "QOF2324"
    assert not review.flags.filter(outlier=True).exists()


def test_one_suppliers_practices_missing_hold_the_run_before_prevalence_is_frozen(
    last_year, tmp_path, django_capture_on_commit_callbacks
):
    support = user_with_roles(last_year["ENG"], "support")
    year = load_next_year(tmp_path, without=ONE_SUPPLIER)
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=NEXT_YEAR_END
    )

    assert (run.status, run.stage) == (Status.HELD, CalculationRun.Stage.CONFIRMATION)
    assert not FrozenPrevalence.objects.filter(service_year=year).exists()
    assert not Publication.objects.filter(service_year=year).exists()
    assert not run.practice_results.exists()
    review = run.prevalence_review
    assert review.decision == Decision.PENDING
    summary = review.flags.get(kind=PrevalenceFlag.Kind.PRACTICES_MISSING)
    assert summary.outlier and summary.message.startswith("4 practices still taking part sent no data")
    missing = review.flags.filter(kind=PrevalenceFlag.Kind.MISSING_PRACTICE)
    assert sorted(missing.values_list("practice__code", flat=True)) == sorted(ONE_SUPPLIER)
    notice = Notification.objects.get(user=support)
    assert notice.link == reverse("calculation:prevalence_review", kwargs={"pk": run.pk})
    with pytest.raises(ValidationError, match="already under way"):
        actions.start_run(service_year=year, achievement_date=NEXT_YEAR_END, by=None)


def test_support_confirms_the_figures_and_the_run_freezes_them_and_publishes(
    last_year, tmp_path, client, django_capture_on_commit_callbacks
):
    year = load_next_year(tmp_path, without=ONE_SUPPLIER)
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=NEXT_YEAR_END
    )
    client.force_login(user_with_roles(last_year["ENG"], "support"))
    url = reverse("calculation:prevalence_review", kwargs={"pk": run.pk})
    page = client.get(url)
    assert page.status_code == 200 and b"4 practices still taking part sent no data" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"decision": "confirm", "note": "Those practices merged on 1 April."})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == Status.PUBLISHED and run.prevalence_run == run
    assert FrozenPrevalence.objects.get(service_year=year).run == run
    assert run.practice_results.count() == 4
    review = run.prevalence_review
    assert review.decision == Decision.CONFIRMED and review.note == "Those practices merged on 1 April."


def test_support_rejects_the_figures_the_run_fails_and_a_retry_checks_again(
    last_year, tmp_path, django_capture_on_commit_callbacks
):
    support = user_with_roles(last_year["ENG"], "support")
    year = load_next_year(tmp_path, zero_registers=("Z32002",))
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=NEXT_YEAR_END
    )
    assert run.status == Status.HELD
    zero = run.prevalence_review.flags.get(kind=PrevalenceFlag.Kind.REGISTERS_ZERO)
    assert zero.practice.code == "Z32002" and zero.outlier

    with pytest.raises(ValidationError, match="Say what is wrong"):
        actions.reject_prevalence(run=run, by=support, reason=" ")
    run = actions.reject_prevalence(run=run, by=support, reason="Z32002's registers were not extracted")
    assert run.status == Status.FAILED and "not extracted" in run.error
    assert not FrozenPrevalence.objects.filter(service_year=year).exists()

    with django_capture_on_commit_callbacks(execute=True):
        from calculation import tasks

        tasks.queue_run(actions.retry_run(run=run, by=support))
    run.refresh_from_db()
    assert run.status == Status.HELD and run.prevalence_review.decision == Decision.PENDING


def test_only_national_support_decides_and_only_on_a_held_run(
    last_year, tmp_path, django_capture_on_commit_callbacks
):
    year = load_next_year(tmp_path, without=ONE_SUPPLIER)
    run = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=NEXT_YEAR_END
    )
    service_manager = user_with_roles(last_year["ENG"], "service_management")
    with pytest.raises(PermissionDenied):
        actions.confirm_prevalence(run=run, by=service_manager, note="Fine")
    support = user_with_roles(last_year["ENG"], "support")
    actions.confirm_prevalence(run=run, by=support, note="Fine")
    with pytest.raises(ValidationError, match="not waiting"):
        actions.confirm_prevalence(run=run, by=support, note="Twice")
