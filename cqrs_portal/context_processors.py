from django.conf import settings
from django.urls import reverse

from accounts.models import OrganisationType


def portal(request):
    memberships = _memberships(request)
    return {
        "service_name": settings.SERVICE_NAME,
        "navigation": _navigation(request, memberships),
        "unread_notifications": memberships[0][3] if memberships else 0,
    }


def _memberships(request) -> list[tuple]:
    """(organisation type, organisation code, role, unread notifications) of the signed-in user's current
    roles, in one query: the unread count rides along as a subquery so every page costs one query here."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery

    from achievement.models import Notification

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    unread = (
        Notification.objects.filter(user=OuterRef("user"), read_at__isnull=True)
        .values("user")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return list(
        user.memberships.filter(ended_at__isnull=True)
        .annotate(unread=Subquery(unread, output_field=IntegerField()))
        .order_by("organisation__code", "role")
        .values_list("organisation__type", "organisation__code", "role", "unread")
    )


def _navigation(request, memberships: list[tuple]) -> list[dict]:
    """Menu items for what the signed-in user's roles let them do, from the roles already read."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    held = {(organisation_type, role) for organisation_type, _, role, _ in memberships}
    held_at = {organisation_type for organisation_type, _ in held}
    roles = {role for _, role in held}
    items = [("Home", reverse("home"))]
    if held_at & {OrganisationType.ICB, OrganisationType.SUB_ICB, OrganisationType.NATIONAL}:
        items.append(("Practices", reverse("accounts:practice_list")))
        items.append(("Participation", reverse("participation:participation_list")))
    if "commissioning_management" in roles:
        items.append(("Offer a service", reverse("participation:offer_create")))
    if OrganisationType.PRACTICE in held_at:
        items.append(("Offers", reverse("participation:offer_list")))
    items.append(("Timetable", reverse("participation:timetable")))
    if "support" in roles:
        items.append(("Extracts", reverse("achievement:extract_list")))
    items.extend(_achievement_items(memberships))
    if user.is_staff:
        items.append(("Administration", reverse("admin:index")))
    # The deepest item the page lies under is the current one (/participation/offers/ is not /participation/).
    matching = [
        href for _, href in items if request.path == href or (href != "/" and request.path.startswith(href))
    ]
    current = max(matching, key=len, default=None)
    return [{"text": text, "href": href, "current": href == current} for text, href in items]


def _achievement_items(memberships: list[tuple]) -> list[tuple[str, str]]:
    """Achievement reports where the user reads achievement (their widest organisation), and calculation
    runs for national support."""
    from accounts.roles import CATALOGUE

    reading = [
        (kind, code)
        for kind, code, role, _ in memberships
        if "view_achievement" in CATALOGUE[role].permissions
    ]
    items = []
    widest = sorted(reading, key=lambda held: _BREADTH.get(held[0], 9))
    if widest:
        kind, code = widest[0]
        if kind == OrganisationType.PRACTICE:
            items.append(("Achievement", reverse("calculation:practice_summary", kwargs={"code": code})))
        else:
            items.append(("Achievement", reverse("calculation:provider_report", kwargs={"code": code})))
    if any(role == "support" for _, _, role, _ in memberships):
        items.append(("Calculation runs", reverse("calculation:run_list")))
    return items


_BREADTH = {
    OrganisationType.NATIONAL: 0,
    OrganisationType.ICB: 2,
    OrganisationType.SUB_ICB: 3,
    OrganisationType.PRACTICE: 4,
}
