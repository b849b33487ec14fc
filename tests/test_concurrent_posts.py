"""Every state-changing POST of the portal, fired eight times at once on PostgreSQL, by a user allowed to
make it: no request may end in a server error, and the database's rules hold afterwards.

The POSTs and who may make them come from the URL walk's specification (tests/walk_routes.py), so a new
page's POST is raced as soon as the walk knows it.
"""

import threading
import traceback

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.db import connection
from django.db.models import Count
from django.test import Client

from accounts.models import Membership
from accounts.roles import CATALOGUE
from tests.factories import user_with_roles
from tests.scopes import HOLDER
from tests.walk_routes import REDIRECT, ROUTES, Walker

pytestmark = [pytest.mark.django_db(transaction=True)]
COPIES = 8
ROLE_AT_HOLDER = [(role.key, holder) for role in CATALOGUE.values() for holder in sorted(role.holders)]


def races(world):
    """(route, post, target, walker) for each POST with an action: a target and a role it succeeds for."""
    found = []
    for route in ROUTES:
        for post in route.posts:
            if post.action is None:
                continue
            chosen = next(
                (
                    (target, Walker(role, world.tree[HOLDER[holder][0]]))
                    for target in route.targets(world)
                    for role, holder in ROLE_AT_HOLDER
                    if post.expect(Walker(role, world.tree[HOLDER[holder][0]]), target) == REDIRECT
                ),
                None,
            )
            assert chosen, f"nobody may make {post.action} in the walk's world"
            found.append((route, post, *chosen))
    return found


def copy_of(data: dict) -> dict:
    """The same form data again, with a fresh copy of any file in it (a file is read once)."""
    return {
        name: SimpleUploadedFile(value.name, value.read() if not value.seek(0) else b"")
        if isinstance(value, SimpleUploadedFile)
        else value
        for name, value in data.items()
    }


def fire(user, url: str, data: dict) -> list:
    """POST the same data COPIES times at once, each from its own signed-in session and connection: each
    request's status code, or, for a server error, what that request raised.

    The test client's own way of re-raising a request's exception listens to a signal every thread's
    requests send, so with eight clients at once one request's exception was reported by several clients
    (and one raised in any other thread of the process, by any client listening then). Each client here
    returns its response, and the exception is taken from the thread that raised it.
    """
    clients, bodies = [], []
    for _ in range(COPIES):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        clients.append(client)
        bodies.append(copy_of(data))
    barrier = threading.Barrier(COPIES)
    outcomes = [None] * COPIES
    raised = {}

    def record(sender, request, **kwargs):
        raised[threading.current_thread().name] = traceback.format_exc()

    def send(index):
        try:
            barrier.wait()
            outcomes[index] = clients[index].post(url, bodies[index]).status_code
            if outcomes[index] >= 500:
                outcomes[index] = raised.get(threading.current_thread().name, outcomes[index])
        except Exception:  # any exception here is a server error to report
            outcomes[index] = traceback.format_exc()
        finally:
            connection.close()

    got_request_exception.connect(record, dispatch_uid="concurrent-posts")
    threads = [threading.Thread(target=send, args=(index,), name=f"post-{index}") for index in range(COPIES)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        got_request_exception.disconnect(dispatch_uid="concurrent-posts")
    return outcomes


def test_every_post_fired_eight_times_at_once_gives_no_server_error(postgresql, world):
    failures = []
    for _route, post, target, walker in races(world):
        user = user_with_roles(walker.holder, walker.role)
        walker.user = user
        data = post.data(world, walker, target)
        outcomes = fire(user, target.url, data)
        errors = [outcome for outcome in outcomes if not isinstance(outcome, int) or outcome >= 500]
        if errors:
            failures.append(f"{post.action} at {target.url}, {len(errors)} of {COPIES}: {set(errors)}")
    assert not failures, "\n".join(failures)
    # The rules the database keeps held through it all: one active role of a kind per user and organisation.
    duplicates = (
        Membership.objects.filter(ended_at__isnull=True)
        .values("user", "organisation", "role")
        .order_by()
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not duplicates.exists()


def test_notice_and_calendar_posts_fired_eight_times_at_once_leave_one_of_each(postgresql, world):
    """The POSTs the walk cannot race by action (their pages refuse the same people as their actions): a
    double-clicked dismissal, archive or new calendar link ends in one row, never a server error."""
    from django.urls import reverse

    from home.models import CalendarFeed
    from notices.models import Dismissal, Notice

    reader = user_with_roles(world.tree["A00001"], "view")
    manager = user_with_roles(world.tree["ENG"], "service_management")
    posts = [
        (reader, reverse("notices:dismiss", kwargs={"pk": world.notice.pk})),
        (reader, reverse("home:calendar_feed")),
        (manager, reverse("notices:archive_notice", kwargs={"pk": world.notice.pk})),
    ]
    for user, url in posts:
        outcomes = fire(user, url, {})
        assert all(isinstance(outcome, int) and outcome < 500 for outcome in outcomes), (url, outcomes)
    assert Dismissal.objects.filter(notice=world.notice, user=reader).count() == 1
    assert CalendarFeed.objects.filter(user=reader).count() == 1
    archived = Notice.objects.get(pk=world.notice.pk)
    assert archived.archived_at is not None and archived.archived_by == manager
