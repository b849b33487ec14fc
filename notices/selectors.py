"""Which notices a user reads: addressed to their kind of organisation and, for one service's notice to
practices, to a practice that takes part in (or has a standing offer of) that service. National staff read
every notice, since they publish them and answer the calls about them."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Membership, OrganisationType
from participation.models import Offer, Participation

from .models import Audience, Dismissal, Notice

COMMISSIONER_TYPES = (OrganisationType.ICB, OrganisationType.SUB_ICB)
TO_COMMISSIONERS = (Audience.COMMISSIONERS, Audience.EVERYONE)
TO_PRACTICES = (Audience.PRACTICES, Audience.EVERYONE)


def in_force(now=None) -> Q:
    now = now or timezone.now()
    return Q(archived_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def organisation_types_of(user) -> set[str]:
    """The kinds of organisation at which the user holds a current role."""
    current = Membership.objects.filter(user=user, ended_at__isnull=True)
    return set(current.values_list("organisation__type", flat=True))


def _practices_taking_part(user) -> Q:
    """The notice's service is one a practice of the user takes part in, or has a standing offer of."""
    practices = Membership.objects.filter(
        user=user, ended_at__isnull=True, organisation__type=OrganisationType.PRACTICE
    ).values("organisation_id")
    taking_part = Participation.objects.filter(
        practice_id__in=practices, service_year__service_id=OuterRef("service_id")
    )
    offered = Offer.objects.filter(
        practice_id__in=practices,
        service_year__service_id=OuterRef("service_id"),
        state__in=Offer.LIVE_STATES,
    )
    return Q(Exists(taking_part)) | Q(Exists(offered))


def notices_read_by(user, organisation_types=None) -> QuerySet[Notice]:
    """Every notice addressed to `user`, in force or not. `organisation_types` (from organisation_types_of),
    when the caller has them already, saves a query; deciding them here rather than in SQL keeps the query
    small, which every page's banner pays for."""
    if not user.is_authenticated:
        return Notice.objects.none()
    if organisation_types is None:
        organisation_types = organisation_types_of(user)
    notices = Notice.objects.select_related("service")
    if OrganisationType.NATIONAL in organisation_types:
        return notices.all()
    addressed = Q(pk__in=[])
    if organisation_types & set(COMMISSIONER_TYPES):
        addressed |= Q(audience__in=TO_COMMISSIONERS)
    if OrganisationType.PRACTICE in organisation_types:
        addressed |= Q(audience__in=TO_PRACTICES) & (Q(service__isnull=True) | _practices_taking_part(user))
    return notices.filter(addressed)


def notices_in_force_for(user, organisation_types=None) -> QuerySet[Notice]:
    """For the home page: in force, dismissed or not, urgent first."""
    return (
        notices_read_by(user, organisation_types)
        .filter(in_force())
        .order_by("-urgent", "-published_at", "-id")
    )


def banner_notices_for(user, organisation_types=None) -> QuerySet[Notice]:
    """For every page: in force and not dismissed by this user."""
    dismissed = Dismissal.objects.filter(notice=OuterRef("pk"), user=user)
    return notices_in_force_for(user, organisation_types).exclude(Exists(dismissed))


def anything_to_show(user_field: str) -> Exists:
    """Whether some notice in force is undismissed by the user in the outer query's `user_field` (a cheap
    test to ride on another query: the audience is checked only when it holds)."""
    dismissed = Dismissal.objects.filter(notice=OuterRef("pk"), user=OuterRef(OuterRef(user_field)))
    return Exists(Notice.objects.filter(in_force()).exclude(Exists(dismissed)))


def archived_notices_for(user) -> QuerySet[Notice]:
    now = timezone.now()
    return notices_read_by(user).exclude(in_force(now)).select_related("archived_by")


def notice_for(user, pk: int) -> Notice:
    """A notice the user reads, or 404."""
    return get_object_or_404(notices_read_by(user), pk=pk)


def all_notices() -> QuerySet[Notice]:
    """Service Management's own list: every notice, in force first."""
    return Notice.objects.select_related("service", "published_by", "archived_by")


def readers_to_email(notice: Notice) -> list[tuple[int, int]]:
    """(user id, organisation id) of each active reader the notice is addressed to, once per user: the
    organisation an urgent email is sent in the name of."""
    memberships = Membership.objects.filter(ended_at__isnull=True, user__is_active=True)
    condition = Q(pk__in=[])
    if notice.audience in TO_COMMISSIONERS:
        condition |= Q(organisation__type__in=COMMISSIONER_TYPES)
    if notice.audience in TO_PRACTICES:
        practices = Q(organisation__type=OrganisationType.PRACTICE)
        if notice.service_id is not None:
            taking_part = Participation.objects.filter(
                practice_id=OuterRef("organisation_id"), service_year__service_id=notice.service_id
            )
            offered = Offer.objects.filter(
                practice_id=OuterRef("organisation_id"),
                service_year__service_id=notice.service_id,
                state__in=Offer.LIVE_STATES,
            )
            practices &= Q(Exists(taking_part)) | Q(Exists(offered))
        condition |= practices
    first = {}
    rows = memberships.filter(condition).order_by("user_id", "organisation_id")
    for user_id, organisation_id in rows.values_list("user_id", "organisation_id"):
        first.setdefault(user_id, organisation_id)
    return list(first.items())
