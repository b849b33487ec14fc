import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import actions
from accounts.models import AuditEvent
from accounts.permissions import may, may_manage_users
from accounts.roles import CATALOGUE, Permission
from accounts.selectors import practices_visible_to
from tests.factories import user_with_roles
from tests.scopes import ALL_PRACTICES, HOLDER

ROLE_AT_HOLDER = [(role.key, holder) for role in CATALOGUE.values() for holder in sorted(role.holders)]


@pytest.mark.parametrize(("role", "holder"), ROLE_AT_HOLDER)
def test_role_reaches_exactly_the_practices_in_its_scope(tree, role, holder):
    code, reachable = HOLDER[holder]
    user = user_with_roles(tree[code], role)
    for permission in CATALOGUE[role].all_permissions():
        allowed = {practice for practice in ALL_PRACTICES if may(user, permission, tree[practice])}
        assert allowed == reachable, permission
    assert set(practices_visible_to(user).values_list("code", flat=True)) == reachable


@pytest.mark.parametrize("role", sorted(CATALOGUE))
def test_role_grants_nothing_beyond_its_catalogue_entry(tree, role):
    holder = sorted(CATALOGUE[role].holders)[0]
    user = user_with_roles(tree[HOLDER[holder][0]], role)
    not_granted = {"manage_users", "support", "manage_services", "declare_achievement"} - CATALOGUE[
        role
    ].all_permissions()
    for permission in not_granted:
        assert not may(user, permission, tree["A00001"])


def test_practice_role_does_not_reach_up_to_its_commissioner(tree):
    user = user_with_roles(tree["A00001"], "view")
    assert not may(user, Permission.VIEW_ORGANISATION, tree["01A"])
    assert not may(user, Permission.VIEW_ORGANISATION, tree["QAA"])


def test_ended_membership_takes_its_permissions_away(tree):
    user = user_with_roles(tree["01A"], "approval_management", "view")
    membership = user.memberships.get(role="approval_management")
    actions.end_membership(membership=membership, by=None)
    user.refresh_from_db()
    assert not may(user, "approve_declarations", tree["A00001"])
    assert may(user, "view_achievement", tree["A00001"])


def test_retired_user_reaches_nothing_and_keeps_history(tree):
    user = user_with_roles(tree["QAA"], "view")
    actions.retire_user(user=user, by=None)
    user.refresh_from_db()
    assert not practices_visible_to(user).exists()
    assert user.memberships.filter(ended_at__isnull=False).count() == 1
    assert user.retired_at is not None and not user.is_active


def test_role_cannot_be_held_at_the_wrong_kind_of_organisation(tree):
    user = user_with_roles(tree["A00001"])
    with pytest.raises(ValidationError):
        actions.grant_role(user=user, organisation=tree["QAA"], role="declaration_management", by=None)
    with pytest.raises(ValidationError):
        actions.grant_role(user=user, organisation=tree["A00001"], role="support", by=None)
    with pytest.raises(ValidationError):
        actions.grant_role(user=user, organisation=tree["A00001"], role="no_such_role", by=None)


def test_user_administrator_manages_only_its_own_organisation(tree):
    admin = user_with_roles(tree["01A"], "user_admin")
    assert may_manage_users(admin, tree["01A"])
    assert not may_manage_users(admin, tree["A00001"])
    target = user_with_roles(tree["A00001"])
    with pytest.raises(PermissionDenied):
        actions.grant_role(user=target, organisation=tree["A00001"], role="view", by=admin)


def test_advanced_user_administrator_manages_every_practice_it_commissions(tree):
    admin = user_with_roles(tree["01A"], "advanced_user_admin")
    assert may_manage_users(admin, tree["A00002"])
    assert not may_manage_users(admin, tree["A00003"])
    target = user_with_roles(tree["A00002"])
    membership = actions.grant_role(user=target, organisation=tree["A00002"], role="view", by=admin)
    assert membership.granted_by == admin
    with pytest.raises(PermissionDenied):
        actions.grant_role(user=target, organisation=tree["A00003"], role="view", by=admin)


def test_create_user_requires_an_nhs_address(tree, settings):
    with pytest.raises(ValidationError):
        actions.create_user(
            email="someone@gmail.com", full_name="Some One", organisation=tree["A00001"], role="view", by=None
        )
    settings.ALLOWED_EMAIL_DOMAINS = ["nhs.net"]
    with pytest.raises(ValidationError):
        actions.create_user(
            email="someone@nhs.uk", full_name="Some One", organisation=tree["A00001"], role="view", by=None
        )


def test_create_user_sends_an_invitation_and_audits(tree, mailoutbox, django_capture_on_commit_callbacks):
    admin = user_with_roles(tree["A00001"], "user_admin")
    with django_capture_on_commit_callbacks(execute=True):
        user = actions.create_user(
            email="New.Person@NHS.net",
            full_name="New Person",
            organisation=tree["A00001"],
            role="view",
            by=admin,
        )
    assert user.email == "new.person@nhs.net"
    assert not user.has_usable_password()
    assert len(mailoutbox) == 1 and "/invitation/" in mailoutbox[0].body
    assert set(AuditEvent.objects.filter(actor=admin).values_list("action", flat=True)) == {
        "user.created",
        "membership.granted",
    }


def test_national_roles_open_the_admin_and_lose_it_when_ended(tree):
    user = user_with_roles(tree["ENG"], "support")
    assert user.is_staff
    actions.end_membership(membership=user.memberships.get(), by=None)
    user.refresh_from_db()
    assert not user.is_staff
