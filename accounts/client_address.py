"""Who is asking: the client's address, seen through the proxies the deployment trusts.

Behind a load balancer REMOTE_ADDR is the proxy's. X-Forwarded-For is believed only as far as it was written
by a proxy in TRUSTED_PROXIES: walking from the right, the first address that is not a trusted proxy is the
client. With no trusted proxies the header is ignored, since anyone can send one.
"""

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXIES
    if not trusted or not _within(remote, trusted):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if _parses(hop) else ""
    # Every hop is a trusted proxy: the left-most is as near the client as the chain goes.
    return hops[0] if hops else remote


def _parses(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _within(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def address_in(address: str, networks) -> bool:
    return _within(address, networks)


def axes_client_address(request) -> str:
    """django-axes asks through this, so lockouts and the allow-list see the same client."""
    return client_address(request)
