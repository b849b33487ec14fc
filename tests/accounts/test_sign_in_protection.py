"""Issue 11 items 3, 5 and part of 9: guessing passwords locks the address, resets and invitations are rate
limited, every sign-in event is audited, and a reset link lasts hours while an invitation lasts 14 days."""

import datetime as dt
import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils import timezone

from accounts import actions
from accounts.models import AuditEvent
from accounts.roles import Role
from accounts.tokens import invitation_token_generator
from tests.factories import PASSWORD, user_with_roles


def sign_in(client, email, password, path="login"):
    return client.post(reverse(path), {"username": email, "password": password})


def test_fifty_wrong_passwords_then_the_right_one_does_not_sign_in(client, tree):
    user = user_with_roles(tree["A00001"], Role.VIEW)
    for _ in range(50):
        response = sign_in(client, user.email, "wrong-password-guess")
    assert response.status_code == 429
    response = sign_in(client, user.email.upper(), PASSWORD)
    assert response.status_code == 429
    body = response.content.decode()
    assert "You can try again after" in body and "15 minutes" in body
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.locked_out", object_id=str(user.pk)).exists()


def test_admin_sign_in_is_locked_out_too(client, tree):
    user = user_with_roles(tree["ENG"], Role.SUPPORT)
    for _ in range(6):
        response = client.post(
            reverse("admin:login"), {"username": user.email, "password": "wrong-password-guess"}
        )
    assert response.status_code == 429
    response = client.post(reverse("admin:login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 429 and "_auth_user_id" not in client.session


def test_a_few_wrong_passwords_then_the_right_one_signs_in(client, tree):
    user = user_with_roles(tree["A00001"], Role.VIEW)
    for _ in range(3):
        assert sign_in(client, user.email, "wrong-password-guess").status_code == 200
    assert sign_in(client, user.email, PASSWORD).status_code == 302


def test_many_addresses_from_one_client_are_paused(client, tree, settings):
    settings.SIGN_IN_FAILURES_PER_CLIENT_PER_HOUR = 10
    user = user_with_roles(tree["A00001"], Role.VIEW)
    for number in range(10):
        sign_in(client, f"someone{number}@nhs.net", "a-guess")
    response = sign_in(client, user.email, PASSWORD)
    assert response.status_code == 429 and "from your network" in response.content.decode()


def test_password_reset_emails_are_rate_limited(client, tree, mailoutbox):
    user = user_with_roles(tree["A00001"], Role.VIEW)
    responses = [client.post(reverse("password_reset"), {"email": user.email}) for _ in range(20)]
    assert len(mailoutbox) == 3
    assert responses[-1].status_code == 200
    assert "Try again after" in responses[-1].content.decode()
    # The same answer for an address with no account: the limit says nothing about who has one.
    others = [client.post(reverse("password_reset"), {"email": "nobody@nhs.net"}) for _ in range(4)]
    assert "Try again after" in others[-1].content.decode()


def test_invitations_are_rate_limited(tree, settings):
    settings.INVITATIONS_PER_HOUR = 2
    admin = user_with_roles(tree["A00001"], Role.USER_ADMIN)
    for number in range(2):
        actions.create_user(
            email=f"new{number}@nhs.net",
            full_name="New",
            organisation=tree["A00001"],
            role=Role.VIEW,
            by=admin,
        )
    with pytest.raises(Exception, match="Try again after"):
        actions.create_user(
            email="new9@nhs.net", full_name="New", organisation=tree["A00001"], role=Role.VIEW, by=admin
        )


def test_sign_in_failed_sign_in_and_sign_out_are_audited(client, tree):
    user = user_with_roles(tree["A00001"], Role.VIEW)
    sign_in(client, user.email, "wrong-password-guess")
    sign_in(client, "nobody@nhs.net", "wrong-password-guess")
    sign_in(client, user.email, PASSWORD)
    client.post(reverse("logout"))
    actions_for_user = list(
        AuditEvent.objects.filter(object_id=str(user.pk), action__startswith="auth.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions_for_user == ["auth.sign_in_failed", "auth.signed_in", "auth.signed_out"]
    unknown = AuditEvent.objects.get(action="auth.sign_in_failed", object_id="")
    assert unknown.object_repr == "sign-in as nobody@nhs.net" and unknown.after["address"] == "127.0.0.1"


def test_password_reset_is_audited(client, tree, mailoutbox):
    user = user_with_roles(tree["A00001"], Role.VIEW)
    client.post(reverse("password_reset"), {"email": user.email})
    link = re.search(r"https?://\S+", mailoutbox[0].body).group(0)
    response = client.get(link, follow=True)
    new_password = "a-new-long-password-for-cqrs"
    client.post(
        response.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    actions_for_user = set(AuditEvent.objects.filter(object_id=str(user.pk)).values_list("action", flat=True))
    assert {"auth.password_reset_requested", "auth.password_reset"} <= actions_for_user


def test_a_reset_link_lasts_hours_and_an_invitation_fourteen_days(tree, settings, monkeypatch):
    user = user_with_roles(tree["A00001"], Role.VIEW)
    reset, invitation = default_token_generator.make_token(user), invitation_token_generator.make_token(user)
    later = timezone.now() + dt.timedelta(hours=3)
    for generator in (default_token_generator, invitation_token_generator):
        monkeypatch.setattr(generator, "_now", lambda: later.replace(tzinfo=None))
    assert not default_token_generator.check_token(user, reset)
    assert invitation_token_generator.check_token(user, invitation)
    # Neither kind of link opens the other's page.
    assert not invitation_token_generator.check_token(user, reset)
    assert not default_token_generator.check_token(user, invitation)
    much_later = timezone.now() + dt.timedelta(days=15)
    monkeypatch.setattr(invitation_token_generator, "_now", lambda: much_later.replace(tzinfo=None))
    assert not invitation_token_generator.check_token(user, invitation)
