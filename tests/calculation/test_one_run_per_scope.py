"""One active run per scope, however many requests race to start it; publication never goes back in time."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.urls import reverse

from calculation import actions, tasks
from calculation.models import CalculationRun, PracticeResult, Publication
from notifications.models import Notification
from tests.calculation.helpers import YEAR_END, example_tree, load_worked_example, run_to_the_end
from tests.factories import user_with_roles
from tests.test_concurrent_posts import fire

Status = CalculationRun.Status


@pytest.fixture
def example(db):
    return example_tree(), load_worked_example()


def notifications_per_user() -> dict[int, int]:
    return dict(Notification.objects.values("user").annotate(n=Count("pk")).values_list("user", "n"))


@pytest.mark.django_db(transaction=True)
def test_eight_year_end_starts_at_once_make_one_run_one_publication_one_notification_each(postgresql):
    tree, year = example_tree(), load_worked_example()
    declarers = [user_with_roles(tree[code], "declaration_management") for code in ("Z73000", "Z10005")]
    support = user_with_roles(tree["ENG"], "support")

    url = reverse("calculation:start_year_end_run")
    outcomes = fire(support, url, {"service_year": year.code, "confirm": "on"})

    assert outcomes == [302] * 8
    run = CalculationRun.objects.get()
    assert run.status == Status.PUBLISHED, run.error
    assert Publication.objects.get().run == run
    assert notifications_per_user() == {declarer.pk: 1 for declarer in declarers}


@pytest.mark.django_db(transaction=True)
def test_eight_recalculations_of_a_practice_at_once_make_one_run(postgresql):
    tree, year = example_tree(), load_worked_example()
    national = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None)
    tasks.queue_run(national)
    declarer = user_with_roles(tree["Z10005"], "declaration_management")
    support = user_with_roles(tree["ENG"], "support")
    url = reverse("calculation:recalculate_practice", args=["Z10005"])

    data = {"run_date": f"{year.code}|{YEAR_END}", "reason": "Corrected extract", "confirm": "on"}
    outcomes = fire(support, url, data)

    assert outcomes == [302] * 8
    recalculation = CalculationRun.objects.get(kind=CalculationRun.Kind.RECALCULATION)
    assert recalculation.status == Status.PUBLISHED, recalculation.error
    assert Publication.objects.get().run == recalculation and recalculation.replaces_id == national.pk
    # Figures unchanged by the recalculation may notify nobody (declarations decide); never anyone twice.
    assert set(notifications_per_user().values()) <= {1} and set(notifications_per_user()) <= {declarer.pk}


def test_a_second_request_is_shown_the_run_under_way(example, client):
    tree, year = example
    first = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None)
    client.force_login(user_with_roles(tree["ENG"], "support"))

    url = reverse("calculation:start_year_end_run")
    response = client.post(url, {"service_year": year.code}, follow=True)

    assert response.redirect_chain == [(reverse("calculation:run_detail", args=[first.pk]), 302)]
    assert f"Run {first.pk} for this year, date and scope is already under way" in response.content.decode()
    assert CalculationRun.objects.count() == 1
    with pytest.raises(actions.RunUnderWay) as under_way:
        actions.start_run(service_year=year, achievement_date=YEAR_END, by=None)
    assert under_way.value.run == first


def test_the_database_refuses_a_second_active_run_of_a_scope(example):
    tree, year = example
    first = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None)
    fields = {"service_year": year, "achievement_date": YEAR_END, "kind": first.kind}
    for status in (Status.QUEUED, Status.RUNNING, Status.HELD):
        CalculationRun.objects.filter(pk=first.pk).update(status=status)
        with pytest.raises(IntegrityError), transaction.atomic():
            CalculationRun.objects.create(**fields, scope=CalculationRun.Scope.NATIONAL)
    # Other scopes, and finished runs of this one, do not count.
    practice = {"scope": CalculationRun.Scope.PRACTICE, "organisation": tree["Z10005"]}
    CalculationRun.objects.create(**fields, **practice)
    CalculationRun.objects.filter(pk=first.pk).update(status=Status.FAILED)
    CalculationRun.objects.create(**fields, scope=CalculationRun.Scope.NATIONAL)


def sources(run) -> dict[str, int]:
    rows = PracticeResult.objects.filter(run=run).values_list("practice__code", "indicator_run")
    return dict(rows)


def test_an_older_run_never_replaces_figures_published_by_a_later_one(
    example, django_capture_on_commit_callbacks
):
    tree, year = example
    support = user_with_roles(tree["ENG"], "support")
    national = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    # An older recalculation of Z10005 fails; a newer one publishes; then the older one is retried.
    recalculate = {
        "service_year": year, "achievement_date": YEAR_END, "by": support, "organisation": tree["Z10005"],
        "reason": "Corrected extract",
    }  # fmt: skip
    older = actions.start_run(**recalculate)
    actions.fail_run(run_id=older.pk, attempt=older.attempt, error="worker lost")
    newer = run_to_the_end(django_capture_on_commit_callbacks, **recalculate)
    notified = Notification.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        tasks.queue_run(actions.retry_run(run=older, by=support))

    older.refresh_from_db()
    assert older.status == Status.SUCCEEDED and older.superseded_by == newer
    assert Publication.objects.get().run == newer and newer.replaces == national
    assert Notification.objects.count() == notified


def test_an_older_national_run_keeps_a_later_recalculations_practice(
    example, django_capture_on_commit_callbacks
):
    tree, year = example
    support = user_with_roles(tree["ENG"], "support")
    first = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    # A national run is started, and while it is under way a practice is recalculated and published.
    national = actions.start_run(service_year=year, achievement_date=YEAR_END, by=support)
    recalculation = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, by=support, organisation=tree["Z10005"],
        reason="Corrected extract",
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        tasks.queue_run(national)

    national.refresh_from_db()
    assert national.status == Status.PUBLISHED and Publication.objects.get().run == national
    published = sources(national)
    assert published.pop("Z10005") == recalculation.pk
    assert set(published.values()) == {national.pk} and national.replaces_id == recalculation.pk
    assert first.pk < national.pk < recalculation.pk
