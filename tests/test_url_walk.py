"""Walk every portal URL as a user of every role and check nothing outside their organisations is reachable.

New pages join the walk automatically; a URL parameter the walk does not know how to fill fails the test, so
whoever adds one must teach the walk what values it takes and who may see them.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import CATALOGUE
from tests.factories import one_offer_per_practice, user_with_roles
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


# Pages that need a permission beyond seeing the organisation: a role without it gets 404 even in scope.
REQUIRED_PERMISSION = {
    "calculation:practice_summary": "view_achievement",
    "calculation:provider_report": "view_achievement",
    "calculation:publication_export": "view_achievement",
    "calculation:achieved_points_export": "view_achievement",
    "calculation:recalculate_practice": "support",
    "calculation:run_detail": "support",
    "calculation:run_progress": "support",
    "calculation:retry_run": "support",
    "achievement:extract_detail": "support",
    "achievement:manual_entry_years": "view_achievement",
    "achievement:manual_entry": "view_achievement",
    "achievement:set_missing_answers": "manage_services",
}
# Calculation pages about one kind of organisation; any other kind is a 404 whoever asks.
ORGANISATION_TYPES = {
    "calculation:practice_summary": {"practice"},
    "calculation:recalculate_practice": {"practice"},
    "calculation:provider_report": {"national", "icb", "sub_icb"},
    "achievement:manual_entry_years": {"practice"},
    "achievement:manual_entry": {"practice"},
}


def role_grants(role: str, name: str) -> bool:
    permission = REQUIRED_PERMISSION.get(name)
    return permission is None or permission in CATALOGUE[role].all_permissions()


def calculation_urls(name, parameters, tree):
    if parameters == ["pk"]:
        from achievement.calculation import actions
        from achievement.models import CalculationRun
        from tests.factories import service_year

        year = service_year()
        run = CalculationRun.objects.filter(service_year=year).first() or actions.start_run(
            service_year=year, achievement_date=year.end_date, kind="year_end", by=None
        )
        return [(reverse(name, kwargs={"pk": run.pk}), tree["ENG"])]
    types = ORGANISATION_TYPES.get(name)
    return [
        (
            reverse(name, kwargs={"code": code}),
            organisation if types is None or organisation.type in types else None,
        )
        for code, organisation in tree.items()
    ]


def achievement_urls(name, parameters, tree):
    """Extract pages are national (Support); manual entry belongs to a practice taking part in the year."""
    from achievement.actions import load_extract
    from achievement.models import Extract
    from tests.achievement.achievement_helpers import participate, practice_rows, write_extract
    from tests.factories import service_year

    # A year of its own: the participation pages' walk leaves offers standing in the factory's default year.
    year = service_year("QOF2223")
    practices = [code for code, organisation in tree.items() if organisation.type == "practice"]
    if not year.participations.exists():
        participate(practices, year)
    if parameters == ["pk"]:
        extract = Extract.objects.first()
        if extract is None:
            import tempfile
            from pathlib import Path

            with tempfile.TemporaryDirectory() as directory:
                rows = [
                    row.replace("QOF2324", year.code).replace("20240331", "20230331")
                    for row in practice_rows("A00001")
                ]
                path = write_extract(Path(directory), rows)
                extract = load_extract(path=path, file_name="walk.csv", by=None, service_year=year).extract
        return [(reverse(name, kwargs={"pk": extract.pk}), tree["ENG"])]
    if parameters == ["year"]:
        return [(reverse(name, kwargs={"year": year.code}), tree["ENG"])]
    assert parameters in (["code"], ["code", "year"]), parameters
    extra = {"year": year.code} if "year" in parameters else {}
    return [
        (
            reverse(name, kwargs={"code": code, **extra}),
            organisation if organisation.type in ORGANISATION_TYPES[name] else None,
        )
        for code, organisation in tree.items()
    ]


def urls_for(name, parameters, tree):
    """Every URL of this pattern over the test tree, each with the organisation whose scope it lies in."""
    if not parameters:
        return [(reverse(name), None)]
    if name.startswith("calculation:"):
        return calculation_urls(name, parameters, tree)
    if name.startswith("achievement:"):
        return achievement_urls(name, parameters, tree)
    if parameters == ["code"]:
        return [(reverse(name, kwargs={"code": code}), organisation) for code, organisation in tree.items()]
    if name.startswith("participation:offer") and parameters == ["pk"]:
        # One offer per practice: each offer's page lies in its practice's scope.
        return [
            (reverse(name, kwargs={"pk": offer.pk}), offer.practice) for offer in one_offer_per_practice(tree)
        ]
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
            elif organisation.code in visible and role_grants(role, name):
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
