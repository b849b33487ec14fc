"""Issue 11 item 10: the invite form says the same for any address, and an existing user invited to an
organisation is given the role there and emailed, with nothing about their other organisations."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import AuditEvent, Membership, RoleGrantRequest, User
from accounts.roles import Role
from tests.factories import user_with_roles


def invite(client, code, email, role="view", capture=None):
    with capture(execute=True):
        response = client.post(
            reverse("accounts:invite_user", args=[code]),
            {"full_name": "Somebody", "email": email, "role": role},
        )
    return response, [str(m) for m in get_messages(response.wsgi_request)]


def test_the_answer_is_the_same_for_a_new_and_an_existing_address(
    client, tree, mailoutbox, django_capture_on_commit_callbacks
):
    elsewhere = user_with_roles(tree["B00001"], Role.DECLARATION_MANAGEMENT, email="known@nhs.net")
    client.force_login(user_with_roles(tree["A00001"], Role.USER_ADMIN))
    new, new_messages = invite(
        client, "A00001", "unknown@nhs.net", capture=django_capture_on_commit_callbacks
    )
    old, old_messages = invite(client, "A00001", "known@nhs.net", capture=django_capture_on_commit_callbacks)
    assert new.status_code == old.status_code == 302 and new.url == old.url
    assert new_messages[-1].replace("unknown", "known") == old_messages[-1]
    # The existing user now holds the role here, and was told so.
    assert Membership.objects.get(user=elsewhere, organisation=tree["A00001"]).role == Role.VIEW
    email = mailoutbox[-1]
    assert email.to == ["known@nhs.net"] and "A00001" in email.body
    assert "B00001" not in email.body and "Declaration" not in email.body
    # The administrator sees only the role at their own organisation.
    detail = client.get(reverse("accounts:user_detail", args=[elsewhere.pk])).content.decode()
    assert "B00001" not in detail
    assert User.objects.filter(email="known@nhs.net").count() == 1


def test_a_money_role_for_an_existing_user_waits_for_a_second_administrator(
    client, tree, mailoutbox, django_capture_on_commit_callbacks
):
    existing = user_with_roles(tree["QBB"], Role.VIEW, email="known@nhs.net")
    client.force_login(user_with_roles(tree["QAA"], Role.USER_ADMIN))
    invite(
        client,
        "QAA",
        "known@nhs.net",
        role=Role.FINANCE_MANAGEMENT,
        capture=django_capture_on_commit_callbacks,
    )
    assert RoleGrantRequest.objects.get(user=existing).outcome == RoleGrantRequest.Outcome.PENDING
    assert not existing.memberships.filter(organisation=tree["QAA"]).exists()
    assert "second administrator" in mailoutbox[-1].body


def test_a_retired_address_is_given_nothing_and_the_answer_is_the_same(
    client, tree, mailoutbox, django_capture_on_commit_callbacks
):
    from accounts import actions

    retired = user_with_roles(tree["B00001"], Role.VIEW, email="gone@nhs.net")
    actions.retire_user(user=retired, by=None)
    client.force_login(user_with_roles(tree["A00001"], Role.USER_ADMIN))
    response, shown = invite(client, "A00001", "gone@nhs.net", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 302 and shown and "gone@nhs.net" in shown[0]
    assert not retired.memberships.filter(ended_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="user.invitation_refused", object_id=str(retired.pk)).exists()


def test_an_administrator_cannot_invite_themselves_to_a_new_role(client, tree):
    admin = user_with_roles(tree["A00001"], Role.USER_ADMIN)
    client.force_login(admin)
    response = client.post(
        reverse("accounts:invite_user", args=["A00001"]),
        {"full_name": "Me", "email": admin.email, "role": Role.DECLARATION_MANAGEMENT},
    )
    assert response.status_code == 403
    assert not admin.memberships.filter(role=Role.DECLARATION_MANAGEMENT).exists()


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.INVITATIONS_PER_HOUR = 100
