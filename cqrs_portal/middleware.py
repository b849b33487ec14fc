import logging

from django.conf import settings
from django.db import IntegrityError, OperationalError
from django.http import HttpResponseForbidden
from django.shortcuts import render

from accounts.client_address import address_in, client_address

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
