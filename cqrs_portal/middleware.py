import ipaddress

from django.conf import settings
from django.http import HttpResponseForbidden


class AllowedNetworksMiddleware:
    """Refuse requests from outside the configured networks, as CQRS was reachable only from N3/HSCN.

    Off when ALLOWED_NETWORKS is empty. REMOTE_ADDR is used deliberately: behind a proxy, the proxy must
    set it (e.g. gunicorn --forwarded-allow-ips) rather than this middleware trusting X-Forwarded-For.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        networks = settings.ALLOWED_NETWORKS
        if networks and not _address_in(request.META.get("REMOTE_ADDR", ""), networks):
            return HttpResponseForbidden("This service is available only from the NHS network.")
        return self.get_response(request)


def _address_in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
