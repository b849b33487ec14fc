"""Issue 11 item 4: commissioner and national roles need TOTP (enrolled with a QR code at first sign-in,
with backup codes), configurable for everyone; an administrator resets a lost device, audited."""

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import actions
from accounts.models import AuditEvent
from accounts.roles import Role
from tests.factories import PASSWORD, current_code, enrolled_authenticator, user_with_roles


def wait_out_throttling(user):
    from django_otp import devices_for_user

    for device in devices_for_user(user, confirmed=None):
        device.throttle_reset()


def password_only(client, user):
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return response


@pytest.mark.parametrize(("code", "role"), [("QAA", Role.VIEW), ("01A", Role.APPROVAL_MANAGEMENT),
                                            ("ENG", Role.SUPPORT)])  # fmt: skip
def test_commissioner_and_national_roles_enrol_at_first_sign_in(client, tree, code, role):
    user = user_with_roles(tree[code], role)
    password_only(client, user)
    response = client.get(reverse("home:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("second_factor_set_up"))
    # /admin/ too, for national staff.
    assert client.get("/admin/").status_code == 302
    page = client.get(response.url)
    assert page.status_code == 200 and "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    client.post(response.url, {"code": "000000" if current_code(device) != "000000" else "111111"})
    assert client.get(reverse("home:index")).status_code == 302
    # A wrong code makes the next wait (django-otp's throttling): even the right one is refused at once.
    assert "not right" in client.post(response.url, {"code": current_code(device)}).content.decode()
    wait_out_throttling(user)
    done = client.post(response.url, {"code": current_code(device), "next": "/"})
    codes = re.findall(r"<li><code>(\w+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert client.get(reverse("home:index")).status_code == 200
    assert AuditEvent.objects.filter(action="auth.second_factor_enrolled", object_id=str(user.pk)).exists()


def test_later_sign_ins_ask_for_a_code_and_take_a_backup_code_once(client, tree):
    user = user_with_roles(tree["01A"], Role.VIEW)
    password_only(client, user)
    client.get(reverse("second_factor_set_up"))
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    codes = re.findall(
        r"<li><code>(\w+)</code></li>",
        client.post(reverse("second_factor_set_up"), {"code": current_code(device)}).content.decode(),
    )
    client.post(reverse("logout"))
    password_only(client, user)
    response = client.get(reverse("home:index"))
    assert response.url.startswith(reverse("second_factor_verify"))
    wrong = client.post(reverse("second_factor_verify"), {"code": "not-a-code"})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    wait_out_throttling(user)
    assert client.post(reverse("second_factor_verify"), {"code": codes[0], "next": "/"}).url == "/"
    assert client.get(reverse("home:index")).status_code == 200
    client.post(reverse("logout"))
    password_only(client, user)
    # The same backup code a second time is refused.
    assert client.post(reverse("second_factor_verify"), {"code": codes[0]}).status_code == 200
    assert client.get(reverse("home:index")).status_code == 302
    assert AuditEvent.objects.filter(action="auth.second_factor_failed", object_id=str(user.pk)).exists()


def test_practice_roles_need_no_second_factor_unless_configured(client, tree, settings):
    user = user_with_roles(tree["A00001"], Role.DECLARATION_MANAGEMENT)
    password_only(client, user)
    assert client.get(reverse("home:index")).status_code == 200
    settings.SECOND_FACTOR_FOR_ALL = True
    response = client.get(reverse("home:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("second_factor_set_up"))


def test_a_lost_device_is_reset_by_an_administrator_with_authority_and_audited(client, tree):
    user = user_with_roles(tree["01A"], Role.APPROVAL_MANAGEMENT)
    enrolled_authenticator(user)
    client.force_login(user)
    assert client.get(reverse("home:index")).status_code == 200
    practice_admin = user_with_roles(tree["A00001"], Role.USER_ADMIN)
    with pytest.raises(PermissionDenied):
        actions.reset_second_factor(user=user, by=practice_admin)
    with pytest.raises(PermissionDenied):
        actions.reset_second_factor(user=user, by=user)
    admin = user_with_roles(tree["QAA"], Role.ADVANCED_USER_ADMIN)
    actions.reset_second_factor(user=user, by=admin)
    assert not TOTPDevice.objects.filter(user=user).exists()
    # Their sessions end, and at the next sign-in they enrol again.
    assert client.get(reverse("home:index")).url.startswith(reverse("login"))
    password_only(client, user)
    assert client.get(reverse("home:index")).url.startswith(reverse("second_factor_set_up"))
    event = AuditEvent.objects.get(action="auth.second_factor_reset")
    assert event.actor == admin and event.object_id == str(user.pk)


def test_nobody_enrols_someone_elses_device(tree):
    user = user_with_roles(tree["01A"], Role.VIEW)
    other = user_with_roles(tree["01A"], Role.VIEW)
    device = TOTPDevice.objects.create(user=user, confirmed=False)
    with pytest.raises(PermissionDenied):
        actions.enrol_second_factor(device=device, token=current_code(device), by=other)
