from django.conf import settings
from django.urls import reverse

from accounts.models import OrganisationType


def portal(request):
    return {"service_name": settings.SERVICE_NAME, "navigation": _navigation(request)}


def _navigation(request) -> list[dict]:
    """Menu items for what the signed-in user's roles let them do; one query for the roles."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    held_at = set(
        user.memberships.filter(ended_at__isnull=True).values_list("organisation__type", flat=True).distinct()
    )
    items = [("Home", reverse("home"))]
    if held_at & {OrganisationType.ICB, OrganisationType.SUB_ICB, OrganisationType.NATIONAL}:
        items.append(("Practices", reverse("accounts:practice_list")))
    if user.is_staff:
        items.append(("Administration", reverse("admin:index")))
    return [
        {
            "text": text,
            "href": href,
            "current": request.path == href or (href != "/" and request.path.startswith(href)),
        }
        for text, href in items
    ]
