"""Signing in: what django-axes locks on, what the locked-out user is told, and the audit of every sign-in,
failed sign-in, sign-out, lockout and password reset (issue 11 items 3 and 5)."""

import time
from datetime import timedelta

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.shortcuts import render
from django.utils import timezone

from . import audit, throttle
from .client_address import client_address
from .models import User

# Session keys: when the session last made a request (the idle timeout), and whether the user's roles need a
# second factor (remembered for the session: a role change ends it).
IDLE_KEY = "last_seen"
NEEDS_SECOND_FACTOR_KEY = "needs_second_factor"


def username_of(request, credentials) -> str:
    """Lock the address however it was typed: the form lowercases it, and so must the lockout."""
    source = credentials if credentials is not None else (request.POST if request is not None else {})
    return str(source.get("username") or source.get("email") or "").strip().lower()


def locked_out(request, original_response=None, credentials=None):
    """Tell the user what happened and when they can try again, in the portal's own page."""
    cool_off = settings.AXES_COOLOFF_TIME
    context = {
        "try_again_at": timezone.localtime() + cool_off,
        "minutes": int(cool_off / timedelta(minutes=1)),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    return render(request, "registration/locked_out.html", context, status=429)


def failures_from_one_client() -> throttle.Limit:
    """Guessing across many addresses from one client (password spraying). Axes locks per address only,
    since whole NHS trusts sign in from a few shared addresses; this limit is far above what they reach."""
    return throttle.Limit("sign-in-failures", settings.SIGN_IN_FAILURES_PER_CLIENT_PER_HOUR, 60 * 60)


def client_paused_until(request):
    return throttle.exceeded(failures_from_one_client(), client_address(request))


def _context(request) -> dict:
    if request is None:
        return {}
    return {
        "address": client_address(request),
        "path": request.path,
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
    }


def _recorded(**kwargs) -> None:
    # A failed sign-in's request rolls back nothing of ours, but be safe inside an atomic request.
    with transaction.atomic():
        audit.record(**kwargs)


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    _recorded(actor=user, action="auth.signed_in", obj=user, after=_context(request))
    if request is not None and hasattr(request, "session"):
        request.session[IDLE_KEY] = int(time.time())


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        _recorded(actor=user, action="auth.signed_out", obj=user, after=_context(request))


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    username = username_of(request, credentials)
    if request is not None:
        throttle.allow(failures_from_one_client(), client_address(request))
    user = User.objects.filter(email=username).first()
    _recorded(
        actor=None,
        action="auth.sign_in_failed",
        obj=user,
        subject=f"sign-in as {username}"[:200],
        after=_context(request),
    )


@receiver(user_locked_out)
def _locked_out(sender, request, username, ip_address, **kwargs):
    user = User.objects.filter(email=(username or "").strip().lower()).first()
    _recorded(
        actor=None,
        action="auth.locked_out",
        obj=user,
        subject=f"sign-in as {username}"[:200],
        after={**_context(request), "until": (timezone.now() + settings.AXES_COOLOFF_TIME).isoformat()},
    )
