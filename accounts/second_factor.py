"""The second factor (TOTP through django-otp, with single-use backup codes): who must use one, and
enrolling a device. Commissioner and national roles reach payment decisions or the whole country, so their
holders always need one; SECOND_FACTOR_FOR_ALL extends that to everyone (docs/adr/0009-security.md)."""

import secrets

from django.conf import settings
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import OrganisationType

BACKUP_CODES = 10
SECOND_FACTOR_ORGANISATIONS = (OrganisationType.ICB, OrganisationType.SUB_ICB, OrganisationType.NATIONAL)


def needs_second_factor(user) -> bool:
    if not user.is_authenticated:
        return False
    if settings.SECOND_FACTOR_FOR_ALL or user.is_staff or user.is_superuser:
        return True
    return user.memberships.filter(
        ended_at__isnull=True, organisation__type__in=SECOND_FACTOR_ORGANISATIONS
    ).exists()


def confirmed_authenticator(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def backup_device(user) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user, confirmed=True).first()


def pending_authenticator(user) -> TOTPDevice:
    """The device being set up: its secret is shown (as a QR code) until a code from it is entered."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def new_backup_codes(user, codes: list[str] | None = None) -> list[str]:
    """Replace the user's backup codes; each works once. `codes` lets the demo print fixed ones."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = codes or [_backup_code() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _backup_code() -> str:
    # Ten characters from an alphabet without look-alikes, typed once when a phone is lost.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))
