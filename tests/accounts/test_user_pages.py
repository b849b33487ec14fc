"""User administration: who may manage whose users, walked over every role, and the actions behind it."""

import pytest
from django.urls import reverse

from accounts.models import Membership, Organisation, User
from accounts.roles import CATALOGUE
from tests.factories import user_with_roles
from tests.scopes import HOLDER
from tests.walk_routes import ROUTES

USER_ADMINISTRATION = {
    route.name for route in ROUTES if route.name.split(":")[1] in {
        "invite_user", "user_detail", "grant_role", "end_role", "lock_user", "unlock_user", "retire_user",
    }
}  # fmt: skip


def visible_codes(tree, holder_code):
    """The holder and every organisation below it."""
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


# A target user per organisation that can hold a role, each with one role there.
TARGET_ROLE = {"practice": "view", "sub_icb": "view", "icb": "view", "national": "support"}
ROLE_AT_HOLDER = [(role.key, holder) for role in CATALOGUE.values() for holder in sorted(role.holders)]


def managed_codes(tree, role, holder_code):
    """Who each role may administer, stated independently of the code under test."""
    if role == "user_admin":
        return {holder_code}
    if role == "advanced_user_admin":
        return visible_codes(tree, holder_code)
    if role == "support":
        return set(tree)
    return set()


def targets(tree):
    return {
        code: user_with_roles(
            organisation, TARGET_ROLE[organisation.type], email=f"target.{code.lower()}@nhs.net"
        )
        for code, organisation in tree.items()
        if organisation.type in TARGET_ROLE
    }


@pytest.mark.parametrize(("role", "holder"), ROLE_AT_HOLDER)
def test_user_pages_reach_only_the_users_an_administrator_manages(client, tree, role, holder):
    holder_code = HOLDER[holder][0]
    client.force_login(user_with_roles(tree[holder_code], role))
    managed = managed_codes(tree, role, holder_code)
    for code, target in targets(tree).items():
        membership = target.memberships.get()
        detail = client.get(reverse("accounts:user_detail", args=[target.pk]))
        invite = client.get(reverse("accounts:invite_user", args=[code]))
        posts = [
            reverse("accounts:grant_role", args=[target.pk]),
            reverse("accounts:end_role", args=[target.pk, membership.pk]),
            reverse("accounts:lock_user", args=[target.pk]),
            reverse("accounts:unlock_user", args=[target.pk]),
            reverse("accounts:retire_user", args=[target.pk]),
        ]
        if code in managed:
            assert detail.status_code == 200 and invite.status_code == 200, (role, code)
        else:
            assert detail.status_code == 404, (role, code)
            assert invite.status_code in {403, 404}, (role, code)
            for url in posts:
                assert client.post(url).status_code == 404, (role, url)
            target.refresh_from_db()
            assert target.is_active and target.memberships.get().ended_at is None


def test_walk_covers_every_user_administration_page():
    names = {name.split(":")[1] for name in USER_ADMINISTRATION}
    assert names == {
        "invite_user",
        "user_detail",
        "grant_role",
        "end_role",
        "lock_user",
        "unlock_user",
        "retire_user",
    }


def test_practice_administrator_invites_a_colleague(
    client, tree, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(user_with_roles(tree["A00001"], "user_admin"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:invite_user", args=["A00001"]),
            {"full_name": "Nina New", "email": "nina.new@nhs.net", "role": "declaration_management"},
        )
    user = User.objects.get(email="nina.new@nhs.net")
    assert response.status_code == 302
    assert response.url == reverse("accounts:organisation_detail", args=["A00001"])
    assert user.memberships.get().role == "declaration_management"
    assert mailoutbox[0].to == ["nina.new@nhs.net"]


def test_invitation_refuses_roles_the_organisation_cannot_hold_and_non_nhs_addresses(client, tree):
    client.force_login(user_with_roles(tree["A00001"], "user_admin"))
    url = reverse("accounts:invite_user", args=["A00001"])
    response = client.post(url, {"full_name": "X", "email": "x@nhs.net", "role": "approval_management"})
    assert response.status_code == 200 and "role" in response.context["form"].errors
    response = client.post(url, {"full_name": "X", "email": "x@example.com", "role": "view"})
    assert "NHS email address" in str(response.context["form"].errors)
    assert not User.objects.filter(email__in=["x@nhs.net", "x@example.com"]).exists()


def test_administrator_ends_a_role_locks_and_retires(client, tree):
    client.force_login(user_with_roles(tree["01A"], "advanced_user_admin"))
    target = user_with_roles(tree["A00002"], "view", "declaration_management")
    membership = target.memberships.get(role="declaration_management")
    client.post(reverse("accounts:end_role", args=[target.pk, membership.pk]))
    assert Membership.objects.get(pk=membership.pk).ended_at is not None
    client.post(reverse("accounts:lock_user", args=[target.pk]))
    target.refresh_from_db()
    assert not target.is_active
    client.post(reverse("accounts:retire_user", args=[target.pk]))
    target.refresh_from_db()
    assert target.retired_at is not None and not target.memberships.filter(ended_at__isnull=True).exists()
    # A retired user is nobody's member any more: the record stays in the audit trail, not on this page.
    assert client.get(reverse("accounts:user_detail", args=[target.pk])).status_code == 404


def test_giving_a_role_at_an_organisation_outside_the_administrators_reach_is_refused(client, tree):
    client.force_login(user_with_roles(tree["A00001"], "user_admin"))
    target = user_with_roles(tree["A00001"], "view")
    response = client.post(
        reverse("accounts:grant_role", args=[target.pk]),
        {"organisation": tree["A00002"].pk, "role": "view"},
    )
    assert response.status_code == 302
    assert not target.memberships.filter(organisation=tree["A00002"]).exists()


def test_an_icb_only_role_sees_its_sub_icb_locations_and_their_practices(client, tree):
    client.force_login(user_with_roles(tree["QAA"], "view"))
    response = client.get(reverse("accounts:organisation_detail", kwargs={"code": "QAA"}))
    below = {child.code: child.practice_count for child in response.context["below"]}
    expected = {
        child.code: Organisation.objects.filter(type="practice", parent=child).count()
        for child in tree["QAA"].children.filter(type="sub_icb")
    }
    assert below == expected and sum(below.values()) > 0
    html = response.content.decode()
    assert "Sub-ICB locations" in html and f"?sub_icb={next(iter(expected))}" in html
    sub_icb = client.get(reverse("accounts:organisation_detail", kwargs={"code": next(iter(expected))}))
    assert {child.type for child in sub_icb.context["below"]} == {"practice"}


def test_a_user_with_several_roles_is_one_row_with_every_role(client, tree):
    admin = user_with_roles(tree["A00001"], "user_admin")
    several = user_with_roles(tree["A00001"], "view", "achievement_entry", "declaration_management")
    client.force_login(admin)
    response = client.get(reverse("accounts:organisation_detail", kwargs={"code": "A00001"}))
    rows = dict(response.context["members"])
    assert len(rows[several]) == 3 and len(response.context["members"]) == 2
    assert response.content.decode().count(several.email) == 1


def test_give_a_role_offers_only_the_roles_the_organisation_can_hold_and_chooses_none(client, tree):
    from accounts.roles import roles_held_at

    admin = user_with_roles(tree["A00001"], "user_admin")
    member = user_with_roles(tree["A00001"], "view")
    client.force_login(admin)
    response = client.get(reverse("accounts:user_detail", kwargs={"pk": member.pk}))
    choices = response.context["grant_form"].fields["role"].choices
    assert choices[0] == ("", "Choose a role")
    assert [key for key, _ in choices[1:]] == [role.key for role in roles_held_at("practice")]
    assert len(choices) - 1 < len(CATALOGUE)
    html = response.content.decode()
    form = html.split("<h2>Give a role</h2>")[1].split("</form>")[0]
    assert "---------" not in form and form.count("selected") == 1
    assert 'value="" selected>Choose a role' in form
    # A role the practice cannot hold is refused with a reason, whatever is posted.
    client.post(
        reverse("accounts:grant_role", kwargs={"pk": member.pk}),
        {"organisation": tree["A00001"].pk, "role": "support"},
    )
    assert not member.memberships.filter(role="support").exists()


def test_retiring_an_account_asks_for_confirmation_on_its_own_page(client, tree):
    admin = user_with_roles(tree["A00001"], "user_admin")
    member = user_with_roles(tree["A00001"], "view")
    client.force_login(admin)
    detail = client.get(reverse("accounts:user_detail", kwargs={"pk": member.pk})).content.decode()
    lock_section = detail.split("<h2>Sign-in</h2>")[1].split("<h2>")[0]
    assert "Lock account" in lock_section and "Retire" not in lock_section
    url = reverse("accounts:retire_user", kwargs={"pk": member.pk})
    confirm = client.get(url)
    member.refresh_from_db()
    assert confirm.status_code == 200 and "This cannot be undone" in confirm.content.decode()
    assert member.retired_at is None
    client.post(url)
    member.refresh_from_db()
    assert member.retired_at is not None
