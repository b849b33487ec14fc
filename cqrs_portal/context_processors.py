"""What every page needs: the service name, the menu for the signed-in user's permissions, and the count
of unread notifications, in one query."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.urls import reverse

from accounts.models import OrganisationType
from accounts.roles import CATALOGUE, Permission
from declarations.models import Freeze
from declarations.selectors import standing_freezes
from notices.selectors import anything_to_show, banner_notices_for
from notifications.selectors import unread_notifications

COMMISSIONER_OR_NATIONAL = {OrganisationType.ICB, OrganisationType.SUB_ICB, OrganisationType.NATIONAL}
NATIONAL = {OrganisationType.NATIONAL}
# Narrowest last: a user's achievement menu item goes to their widest organisation's report.
BREADTH = [
    OrganisationType.NATIONAL,
    OrganisationType.ICB,
    OrganisationType.SUB_ICB,
    OrganisationType.PRACTICE,
]


@dataclass(frozen=True)
class Held:
    """One permission a user holds, where."""

    permission: Permission
    organisation_type: str
    organisation_code: str


def portal(request):
    # Tables, filters and cached report fragments render templates of their own with the request, and each
    # such rendering asks again: within one request the answer is the same (for the same user: signing in
    # or out changes it), so it is read once.
    user = getattr(request, "user", None)
    found = getattr(request, "_portal_context", None)
    if found is None or found[0] is not user:
        found = request._portal_context = (user, _portal(request))
    return found[1]


def _portal(request):
    held, unread, frozen, noticed = _permissions_held(request)
    # Every role grants some permission, so these are all the kinds of organisation the user works at.
    organisation_types = {h.organisation_type for h in held}
    return {
        "service_name": settings.SERVICE_NAME,
        "navigation": _navigation(request, held),
        "unread_notifications": unread,
        "freezes": _freezes_affecting(held) if frozen else [],
        # The audience is checked only when some notice is undismissed: most pages pay nothing for it.
        "banner_notices": list(banner_notices_for(request.user, organisation_types)) if noticed else [],
    }


# Whoever declares, approves or pays, and the national staff who freeze: a freeze stops their work.
FROZEN_OUT = {
    Permission.DECLARE_ACHIEVEMENT,
    Permission.APPROVE_DECLARATIONS,
    Permission.MANAGE_FINANCE,
    Permission.MANAGE_SERVICES,
    Permission.SUPPORT,
}


def _freezes_affecting(held: set[Held]) -> list:
    """Standing freezes, for the banner on every page of the users they stop (a query only when there are
    some, for those users only)."""
    if not any(h.permission in FROZEN_OUT for h in held):
        return []
    return standing_freezes(None)


def _permissions_held(request) -> tuple[set[Held], int, bool, bool]:
    """The signed-in user's permissions from their current roles, their unread notifications, whether
    anything is frozen and whether a service notice is undismissed (all ride along as subqueries, so every
    page costs one query here)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return set(), 0, False, False
    unread = unread_notifications(OuterRef("user")).values("user").annotate(count=Count("pk")).values("count")
    rows = (
        user.memberships.filter(ended_at__isnull=True)
        .annotate(
            unread=Subquery(unread, output_field=IntegerField()),
            frozen=Exists(Freeze.objects.filter(lifted_at__isnull=True)),
            noticed=anything_to_show("user"),
        )
        .values_list("organisation__type", "organisation__code", "role", "unread", "frozen", "noticed")
    )
    held, count, frozen, noticed = set(), 0, False, False
    for organisation_type, code, role, unread_count, anything_frozen, anything_noticed in rows:
        count, frozen, noticed = unread_count or 0, anything_frozen, anything_noticed
        held |= {Held(p, organisation_type, code) for p in CATALOGUE[role].all_permissions()}
    return held, count, frozen, noticed


def _navigation(request, held: set[Held]) -> list[dict]:
    """Menu items for what the user's permissions let them do: the same permissions the pages check."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []

    def holds(permission, types=None) -> bool:
        return any(
            h.permission == permission and (types is None or h.organisation_type in types) for h in held
        )

    items = [("Home", reverse("home:index"))]
    if holds(Permission.VIEW_ORGANISATION, COMMISSIONER_OR_NATIONAL):
        items.append(("Practices", reverse("home:practice_list")))
        items.append(("Participation", reverse("participation:participation_list")))
    if holds(Permission.COMMISSION_SERVICES):
        items.append(("Offer a service", reverse("participation:offer_create")))
    if holds(Permission.VIEW_ORGANISATION, {OrganisationType.PRACTICE}):
        items.append(("Offers", reverse("participation:offer_list")))
    # Manual entry lives under a practice: the menu goes to the first practice where the user enters it.
    entering = sorted(
        h.organisation_code
        for h in held
        if h.permission == Permission.ENTER_ACHIEVEMENT and h.organisation_type == OrganisationType.PRACTICE
    )
    if entering:
        where = reverse("manual_entry:manual_entry_years", kwargs={"code": entering[0]})
        items.append(("Manual entry", where))
    items.append(("Timetable", reverse("participation:timetable")))
    if holds(Permission.SUPPORT, NATIONAL):
        items.append(("Extracts", reverse("extracts:extract_list")))
    reading = sorted(
        (h for h in held if h.permission == Permission.VIEW_ACHIEVEMENT),
        key=lambda h: (
            BREADTH.index(h.organisation_type) if h.organisation_type in BREADTH else 9,
            h.organisation_code,
        ),
    )
    if reading:
        widest = reading[0]
        name = (
            "reports:practice_summary"
            if widest.organisation_type == OrganisationType.PRACTICE
            else "reports:provider_report"
        )
        items.append(("Achievement", reverse(name, kwargs={"code": widest.organisation_code})))
    if holds(Permission.VIEW_ACHIEVEMENT) or holds(Permission.VIEW_FINANCE):
        items.append(("Declarations", reverse("declarations:list")))
    if holds(Permission.SUPPORT, NATIONAL) or holds(Permission.MANAGE_SERVICES, NATIONAL):
        items.append(("Calculation runs", reverse("calculation:run_list")))
        items.append(("Freezes", reverse("declarations:freezes")))
    if holds(Permission.MANAGE_SERVICES, NATIONAL):
        items.append(("Services", reverse("participation:service_years")))
        items.append(("Service notices", reverse("notices:list")))
    paying = sorted(
        (
            h
            for h in held
            if h.permission == Permission.VIEW_FINANCE or h.permission == Permission.MANAGE_FINANCE
        ),
        key=lambda h: (
            BREADTH.index(h.organisation_type) if h.organisation_type in BREADTH else 9,
            h.organisation_code,
        ),
    )
    if paying:
        widest = paying[0]
        name = (
            "payments:statement"
            if widest.organisation_type == OrganisationType.PRACTICE
            else "payments:commissioner"
        )
        items.append(("Payments", reverse(name, kwargs={"code": widest.organisation_code})))
    if holds(Permission.MANAGE_FINANCE, NATIONAL):
        items.append(("Release payments", reverse("payments:release")))
    if user.is_staff:
        items.append(("Administration", reverse("admin:index")))
    return _items(request, items)


def _items(request, items: list[tuple[str, str]]) -> list[dict]:
    # The deepest item the page lies under is the current one (/participation/offers/ is not /participation/).
    matching = [
        href for _, href in items if request.path == href or (href != "/" and request.path.startswith(href))
    ]
    current = max(matching, key=len, default=None)
    return [{"text": text, "href": href, "current": href == current} for text, href in items]
