import logging
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.db import IntegrityError, OperationalError
from django.http import HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.client_address import address_in, client_address
from accounts.second_factor import confirmed_authenticator, needs_second_factor
from accounts.sign_in import IDLE_KEY, NEEDS_SECOND_FACTOR_KEY

logger = logging.getLogger(__name__)


class AllowedNetworksMiddleware:
    """Refuse requests from outside the configured networks, as CQRS was reachable only from N3/HSCN.

    Off when ALLOWED_NETWORKS is empty. Behind a proxy the client is read from X-Forwarded-For as far as
    TRUSTED_PROXIES vouch for it (accounts.client_address); otherwise the allow-list would check the proxy.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        networks = settings.ALLOWED_NETWORKS
        if networks and not address_in(client_address(request), networks):
            return HttpResponseForbidden("This service is available only from the NHS network.")
        return self.get_response(request)


class RaceMiddleware:
    """A request that lost a race to another at the database (a unique constraint, a serialisation
    failure) gets a page saying so, with nothing saved, rather than a server error. Actions lock what they
    can foresee; this covers what they cannot."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, IntegrityError | OperationalError) or not _is_race(exception):
            return None
        logger.warning("request %s %s lost a race: %s", request.method, request.path, exception)
        return render(request, "409.html", status=409)


def _is_race(exception) -> bool:
    if isinstance(exception, IntegrityError):
        return True
    # PostgreSQL: serialization_failure (40001) and deadlock_detected (40P01).
    code = getattr(getattr(exception, "__cause__", None), "pgcode", None)
    return code in {"40001", "40P01"}


class SecondFactorMiddleware:
    """A signed-in user who needs a second factor (accounts.second_factor) reaches nothing but the second
    factor pages, signing out and the static files until they have used it in this session: enrolling at
    their first sign-in, entering a code at every later one. /admin/ included.

    Using it is recorded in the (server-side) session by django-otp's login, and whether the user's roles
    need it is remembered there too: both stay true for the session's life, since any change to the user's
    roles or devices ends their sessions (User.session_generation). So a signed-in request costs no query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not request.session.get(DEVICE_ID_SESSION_KEY) and _needs(request):
            open_paths = {
                reverse(name)
                for name in ("second_factor_verify", "second_factor_set_up", "logout", "accessibility")
            }
            if request.path not in open_paths and not request.path.startswith(f"/{settings.STATIC_URL}"):
                name = "second_factor_verify" if confirmed_authenticator(user) else "second_factor_set_up"
                return redirect(f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


def _needs(request) -> bool:
    if settings.SECOND_FACTOR_FOR_ALL:
        return True
    if NEEDS_SECOND_FACTOR_KEY not in request.session:
        request.session[NEEDS_SECOND_FACTOR_KEY] = needs_second_factor(request.user)
    return request.session[NEEDS_SECOND_FACTOR_KEY]


class IdleSessionMiddleware:
    """End a session left idle for SESSION_IDLE_TIMEOUT, besides the 8-hour limit on any session. The time
    of the last request is written at most once a minute, so most requests write nothing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(IDLE_KEY)
            if last_seen is not None and now - last_seen > settings.SESSION_IDLE_TIMEOUT:
                logout(request)
                messages.info(request, "You were signed out after a time without activity. Sign in again.")
                return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
            if last_seen is None or now - last_seen >= 60:
                request.session[IDLE_KEY] = now
        return self.get_response(request)


class NoStoreMiddleware:
    """Nothing a signed-in user is shown, and no download, is kept by the browser or a proxy in between."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        is_download = "attachment" in response.get("Content-Disposition", "")
        if request.user.is_authenticated or is_download:
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response
