"""Issue 11 items 1 and 2: nobody grants themselves a role, roles that move money or reach the country need
a second administrator, Approval and Finance stay apart, and account-wide changes need account-wide
authority and end the user's sessions."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts import actions
from accounts.models import Membership, RoleGrantRequest
from accounts.roles import Role
from tests.factories import user_with_roles


def test_nobody_grants_themselves_a_role(tree):
    national_admin = user_with_roles(tree["ENG"], Role.USER_ADMIN)
    with pytest.raises(PermissionDenied):
        actions.grant_role(
            user=national_admin, organisation=tree["ENG"], role=Role.SUPPORT, by=national_admin
        )
    icb_admin = user_with_roles(tree["QAA"], Role.ADVANCED_USER_ADMIN)
    with pytest.raises(PermissionDenied):
        actions.grant_role(user=icb_admin, organisation=tree["QAA"], role=Role.VIEW, by=icb_admin)
    assert not Membership.objects.filter(user__in=[national_admin, icb_admin], role__in=["support", "view"])


def test_self_grant_through_the_page_is_refused(client, tree):
    admin = user_with_roles(tree["QAA"], Role.ADVANCED_USER_ADMIN)
    client.force_login(admin)
    response = client.post(
        reverse("accounts:grant_role", args=[admin.pk]),
        {"organisation": tree["QAA"].pk, "role": Role.COMMISSIONING_MANAGEMENT},
    )
    assert response.status_code == 403
    assert not admin.memberships.filter(role=Role.COMMISSIONING_MANAGEMENT).exists()


@pytest.mark.parametrize(
    ("code", "role"),
    [("QAA", Role.APPROVAL_MANAGEMENT), ("01A", Role.FINANCE_MANAGEMENT), ("ENG", Role.SUPPORT),
     ("ENG", Role.SERVICE_MANAGEMENT)],
)  # fmt: skip
def test_money_and_national_roles_wait_for_a_second_administrator(tree, code, role):
    organisation = tree[code]
    first = user_with_roles(organisation, Role.USER_ADMIN)
    second = user_with_roles(organisation, Role.USER_ADMIN)
    colleague = user_with_roles(organisation, Role.USER_ADMIN if code == "ENG" else Role.VIEW)
    grant = actions.grant_role(user=colleague, organisation=organisation, role=role, by=first)
    assert isinstance(grant, RoleGrantRequest)
    assert not colleague.memberships.filter(role=role).exists()
    # The administrator who asked cannot confirm, nor can the person who would get the role.
    with pytest.raises(PermissionDenied):
        actions.confirm_role_grant(grant_request=grant, by=first)
    with pytest.raises(PermissionDenied):
        actions.confirm_role_grant(grant_request=grant, by=colleague)
    membership = actions.confirm_role_grant(grant_request=grant, by=second)
    assert membership.role == role and membership.granted_by == second
    grant.refresh_from_db()
    assert grant.outcome == RoleGrantRequest.Outcome.CONFIRMED and grant.decided_by == second
    with pytest.raises(ValidationError):
        actions.confirm_role_grant(grant_request=grant, by=second)


def test_other_roles_start_at_once(tree):
    admin = user_with_roles(tree["QAA"], Role.USER_ADMIN)
    colleague = user_with_roles(tree["QAA"], Role.VIEW)
    membership = actions.grant_role(
        user=colleague, organisation=tree["QAA"], role=Role.COMMISSIONING_MANAGEMENT, by=admin
    )
    assert isinstance(membership, Membership)


def test_a_refused_grant_never_starts(tree):
    first = user_with_roles(tree["QAA"], Role.USER_ADMIN)
    second = user_with_roles(tree["QAA"], Role.USER_ADMIN)
    colleague = user_with_roles(tree["QAA"], Role.VIEW)
    grant = actions.grant_role(
        user=colleague, organisation=tree["QAA"], role=Role.FINANCE_MANAGEMENT, by=first
    )
    actions.refuse_role_grant(grant_request=grant, by=second)
    with pytest.raises(ValidationError):
        actions.confirm_role_grant(grant_request=grant, by=second)
    assert not colleague.memberships.filter(role=Role.FINANCE_MANAGEMENT).exists()


def test_approval_and_finance_at_one_commissioner_need_the_national_setting(tree, settings):
    colleague = user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT)
    with pytest.raises(ValidationError, match="both approve"):
        actions.grant_role(user=colleague, organisation=tree["QAA"], role=Role.FINANCE_MANAGEMENT, by=None)
    # At another commissioner it is a different duty.
    actions.grant_role(user=colleague, organisation=tree["01A"], role=Role.FINANCE_MANAGEMENT, by=None)
    settings.ALLOW_APPROVAL_AND_FINANCE_TOGETHER = True
    actions.grant_role(user=colleague, organisation=tree["QAA"], role=Role.FINANCE_MANAGEMENT, by=None)
    assert colleague.memberships.filter(organisation=tree["QAA"], ended_at__isnull=True).count() == 2


def test_a_pending_grant_is_checked_again_when_confirmed(tree):
    first = user_with_roles(tree["QAA"], Role.USER_ADMIN)
    second = user_with_roles(tree["QAA"], Role.USER_ADMIN)
    colleague = user_with_roles(tree["QAA"], Role.VIEW)
    finance = actions.grant_role(
        user=colleague, organisation=tree["QAA"], role=Role.FINANCE_MANAGEMENT, by=first
    )
    approval = actions.grant_role(
        user=colleague, organisation=tree["QAA"], role=Role.APPROVAL_MANAGEMENT, by=first
    )
    actions.confirm_role_grant(grant_request=finance, by=second)
    with pytest.raises(ValidationError, match="both approve"):
        actions.confirm_role_grant(grant_request=approval, by=second)


def test_one_organisations_administrator_cannot_lock_a_user_of_several(client, tree):
    commissioner = user_with_roles(tree["01A"], Role.COMMISSIONING_MANAGEMENT)
    actions.grant_role(user=commissioner, organisation=tree["A00001"], role=Role.VIEW, by=None)
    practice_admin = user_with_roles(tree["A00001"], Role.USER_ADMIN)
    with pytest.raises(PermissionDenied):
        actions.set_user_locked(user=commissioner, locked=True, by=practice_admin)
    client.force_login(practice_admin)
    assert client.post(reverse("accounts:lock_user", args=[commissioner.pk])).status_code == 403
    commissioner.refresh_from_db()
    assert commissioner.is_active
    # The practice's administrator can end the role at the practice, and then no longer manages them.
    membership = commissioner.memberships.get(organisation=tree["A00001"])
    actions.end_membership(membership=membership, by=practice_admin)
    assert client.get(reverse("accounts:user_detail", args=[commissioner.pk])).status_code == 404
    # The commissioner's own administrator above both locks the account, and only they (or support) unlock it.
    icb_admin = user_with_roles(tree["QAA"], Role.ADVANCED_USER_ADMIN)
    actions.set_user_locked(user=commissioner, locked=True, by=icb_admin)
    with pytest.raises(PermissionDenied):
        actions.set_user_locked(user=commissioner, locked=False, by=practice_admin)


def test_an_administrator_sees_only_the_roles_at_organisations_they_manage(client, tree):
    commissioner = user_with_roles(tree["01A"], Role.COMMISSIONING_MANAGEMENT)
    actions.grant_role(user=commissioner, organisation=tree["A00001"], role=Role.VIEW, by=None)
    client.force_login(user_with_roles(tree["A00001"], Role.USER_ADMIN))
    response = client.get(reverse("accounts:user_detail", args=[commissioner.pk]))
    assert [m.organisation.code for m in response.context["memberships"]] == ["A00001"]
    assert "01A" not in response.content.decode()


@pytest.mark.parametrize("change", ["lock", "retire", "grant", "end"])
def test_account_changes_end_the_users_sessions(client, tree, change):
    admin = user_with_roles(tree["01A"], Role.ADVANCED_USER_ADMIN)
    user = user_with_roles(tree["A00001"], Role.VIEW)
    client.force_login(user)
    assert client.get(reverse("home:index")).status_code == 200
    if change == "lock":
        actions.set_user_locked(user=user, locked=True, by=admin)
    elif change == "retire":
        actions.retire_user(user=user, by=admin)
    elif change == "grant":
        actions.grant_role(user=user, organisation=tree["A00001"], role=Role.FINANCE_VIEW, by=admin)
    else:
        actions.end_membership(membership=user.memberships.get(), by=admin)
    response = client.get(reverse("home:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_unlocking_starts_a_new_session_generation(tree):
    """A session from before a lock never comes back to life when the account is unlocked."""
    admin = user_with_roles(tree["01A"], Role.ADVANCED_USER_ADMIN)
    user = user_with_roles(tree["A00001"], Role.VIEW)
    before_lock = user.get_session_auth_hash()
    actions.set_user_locked(user=user, locked=True, by=admin)
    actions.set_user_locked(user=user, locked=False, by=admin)
    user.refresh_from_db()
    assert user.is_active and user.get_session_auth_hash() != before_lock
