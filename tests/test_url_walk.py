"""Walk every portal URL as a user of every role and check nothing outside their organisations is reachable.

New pages join the walk automatically; a URL parameter the walk does not know how to fill fails the test, so
whoever adds one must teach the walk what values it takes and who may see them.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import CATALOGUE
from tests.factories import user_with_roles
from tests.scopes import HOLDER

# Pages anyone may open: signing in and the password reset steps.
PUBLIC = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_complete",
    "accessibility",
}
SKIPPED_NAMESPACES = {"admin"}  # the Django admin has its own staff check, tested in test_admin_access
# User administration is scoped by who may manage users, not who may see; tests/accounts/test_user_pages.py
# walks these URLs the same way.
USER_ADMINISTRATION = {
    "accounts:invite_user",
    "accounts:user_detail",
    "accounts:grant_role",
    "accounts:end_role",
    "accounts:lock_user",
    "accounts:unlock_user",
    "accounts:retire_user",
}


def portal_patterns(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in SKIPPED_NAMESPACES:
                continue
            yield from portal_patterns(entry, f"{entry.namespace}:" if entry.namespace else namespace)
        elif isinstance(entry, URLPattern) and entry.name and entry.name not in PUBLIC:
            name = f"{namespace}{entry.name}"
            if name not in USER_ADMINISTRATION:
                yield name, sorted(entry.pattern.converters)


def urls_for(name, parameters, tree):
    """Every URL of this pattern over the test tree, each with the organisation whose scope it lies in."""
    if not parameters:
        return [(reverse(name), None)]
    if parameters == ["code"]:
        return [(reverse(name, kwargs={"code": code}), organisation) for code, organisation in tree.items()]
    if parameters == ["token", "uidb64"]:
        return []  # password reset confirmation: public, checked by its token
    raise AssertionError(f"teach the URL walk how to fill {name}({', '.join(parameters)})")


def visible_codes(tree, holder_code):
    """The holder, its descendants, and (for practices) nothing above."""
    holder = tree[holder_code]
    codes = set()
    for code, organisation in tree.items():
        node = organisation
        while node is not None:
            if node.pk == holder.pk:
                codes.add(code)
                break
            node = node.parent
    return codes


ROLE_AT_HOLDER = [(role.key, holder) for role in CATALOGUE.values() for holder in sorted(role.holders)]


@pytest.mark.parametrize(("role", "holder"), ROLE_AT_HOLDER)
def test_no_page_reaches_outside_the_users_organisations(client, tree, role, holder):
    holder_code = HOLDER[holder][0]
    user = user_with_roles(tree[holder_code], role)
    client.force_login(user)
    visible = visible_codes(tree, holder_code)
    walked = 0
    for name, parameters in portal_patterns():
        for url, organisation in urls_for(name, parameters, tree):
            response = client.get(url)
            walked += 1
            if organisation is None:
                # Pages without an organisation in the URL show only what selectors scope, or 404 when empty.
                assert response.status_code in {200, 404}, f"{url} answered {response.status_code}"
            elif organisation.code in visible:
                assert response.status_code == 200, f"{role} at {holder_code} could not open {url}"
            else:
                assert response.status_code == 404, f"{role} at {holder_code} reached {url}"
    assert walked > len(tree)


def test_every_portal_page_asks_an_anonymous_visitor_to_sign_in(client, tree):
    for name, parameters in portal_patterns():
        for url, _ in urls_for(name, parameters, tree):
            response = client.get(url)
            assert response.status_code == 302 and response.url.startswith(reverse("login")), url


def test_admin_is_only_for_national_staff(client, tree):
    client.force_login(user_with_roles(tree["QAA"], "commissioning_management", "advanced_user_admin"))
    assert client.get("/admin/").status_code == 302
    client.force_login(user_with_roles(tree["ENG"], "support"))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/auditevent/").status_code == 200
