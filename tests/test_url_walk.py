"""Walk every portal URL, GET and POST (with a valid CSRF token), as a user of every role at every kind of
organisation that may hold it, over objects of their own organisations and of others, and require the exact
status `tests.walk_routes` gives for that role.

A URL the walk does not know fails the test, so whoever adds a page must say in `tests/walk_routes.py` who
may see it and who may post to it. Each POST runs in a savepoint that is rolled back, so every request meets
the same world. The last test proves the walk catches the removal of any one action's permission check.
"""

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.permissions import GUARDED_ACTIONS, guard_lifted
from accounts.roles import CATALOGUE
from tests.factories import user_with_roles
from tests.scopes import HOLDER
from tests.walk_routes import ROUTES, Walker

# Pages anyone may open (signing in and the password reset steps) and the Django admin, which has its own
# staff check (test_admin_is_only_for_national_staff).
PUBLIC = {
    "login", "logout", "password_reset", "password_reset_done", "password_reset_complete",
    "password_reset_confirm", "invitation_confirm", "accessibility", "contact", "cookies",
    "second_factor_verify", "second_factor_set_up",
    # A calendar app reads a user's deadlines with no session: the secret in its address is the key
    # (tests/home/test_calendar.py: an unknown or stopped secret is a 404).
    "calendar_ics",
}  # fmt: skip
SKIPPED_NAMESPACES = {"admin"}
ROLE_AT_HOLDER = [(role.key, holder) for role in CATALOGUE.values() for holder in sorted(role.holders)]


def portal_url_names(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in SKIPPED_NAMESPACES:
                continue
            yield from portal_url_names(entry, f"{entry.namespace}:" if entry.namespace else namespace)
        elif isinstance(entry, URLPattern) and entry.name and entry.name not in PUBLIC:
            yield f"{namespace}{entry.name}"


def signed_in(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("home:index"))  # sets the CSRF cookie, as any page does
    return client, client.cookies["csrftoken"].value


def walk(world, walker: Walker, routes=ROUTES, *, methods=("GET", "POST"), stop_at_first=False) -> list[str]:
    """Every request of `routes` as `walker`; the mismatches with the expected statuses (empty: all as
    expected)."""
    client, token = signed_in(walker.user)
    mismatches = []
    for route in routes:
        for target in route.targets(world):
            if "GET" in methods:
                expected = route.get(walker, target)
                status = client.get(target.url).status_code
                if status != expected:
                    mismatches.append(f"GET {target.url} answered {status}, not {expected}")
            if "POST" not in methods:
                continue
            for post in route.posts or [None]:
                expected = 405 if post is None else post.expect(walker, target)
                data = {} if post is None else post.data(world, walker, target)
                with transaction.atomic():
                    status = client.post(target.url, {**data, "csrfmiddlewaretoken": token}).status_code
                    transaction.set_rollback(True)
                if status != expected:
                    action = f" ({post.action})" if post and post.action else ""
                    mismatches.append(f"POST {target.url}{action} answered {status}, not {expected}")
            if stop_at_first and mismatches:
                return mismatches
    return mismatches


def walker_for(world, role, holder) -> Walker:
    organisation = world.tree[HOLDER[holder][0]]
    return Walker(role, organisation, user_with_roles(organisation, role))


def test_the_walk_knows_every_portal_url():
    known = {route.name for route in ROUTES}
    unknown = sorted(set(portal_url_names()) - known)
    assert not unknown, f"teach the URL walk (tests/walk_routes.py) who may GET and POST: {unknown}"
    assert len(known) == len(ROUTES), "a route is specified twice"


@pytest.mark.parametrize(("role", "holder"), ROLE_AT_HOLDER)
def test_every_url_answers_each_role_exactly(world, role, holder):
    walker = walker_for(world, role, holder)
    mismatches = walk(world, walker)
    assert not mismatches, f"{role} at {walker.holder.code}:\n" + "\n".join(mismatches)


def test_every_portal_page_asks_an_anonymous_visitor_to_sign_in(client, world):
    for route in ROUTES:
        for target in route.targets(world):
            for response in (client.get(target.url), client.post(target.url)):
                assert response.status_code == 302 and response.url.startswith(reverse("login")), target.url


def test_admin_is_only_for_national_staff(client, tree):
    client.force_login(user_with_roles(tree["QAA"], "commissioning_management", "advanced_user_admin"))
    assert client.get("/admin/").status_code == 302
    client.force_login(user_with_roles(tree["ENG"], "support"))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/auditevent/").status_code == 200


WALKED_ACTIONS = sorted({post.action for route in ROUTES for post in route.posts if post.action})


@pytest.mark.parametrize("action", WALKED_ACTIONS)
def test_the_walk_fails_when_an_actions_own_permission_check_is_removed(world, action):
    """Lift one action's guard (as if its check were deleted) and walk the routes that reach it as every
    role: some request must then answer differently from what the walk expects."""
    guarded = GUARDED_ACTIONS[action]
    routes = [route for route in ROUTES if any(post.action == action for post in route.posts)]
    with guard_lifted(guarded):
        for role, holder in ROLE_AT_HOLDER:
            if walk(world, walker_for(world, role, holder), routes, methods=("POST",), stop_at_first=True):
                return
    pytest.fail(f"removing the permission check of {action} went unnoticed by the walk")
