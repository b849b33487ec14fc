"""A test client signed in as a whole sign-in leaves it: with the second factor that commissioner and
national roles need (an authenticator, recorded in the session as the verify page records it)."""

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def signed_in_client(user, **client_options) -> Client:
    client = Client(**client_options)
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
