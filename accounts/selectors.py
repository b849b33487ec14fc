from django.db.models import F, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from .models import Membership, Organisation, OrganisationType, PcnMembership, User
from .permissions import organisations_managed_by, organisations_reachable
from .roles import VIEW_ORGANISATION


def practices_visible_to(user, permission: str = VIEW_ORGANISATION) -> QuerySet:
    """The practices a user may see: their own, those their commissioners commission, or all for national."""
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    return organisations_reachable(user, permission, practices)


def organisation_for(user, code: str, permission: str = VIEW_ORGANISATION) -> Organisation:
    """The organisation with this code, or 404 when it does not exist or lies outside the user's scope."""
    visible = organisations_reachable(user, permission).select_related("parent__parent__parent__parent")
    return get_object_or_404(visible, code=code)


def practice_list_for(user) -> QuerySet:
    current_pcn = PcnMembership.objects.filter(end_date__isnull=True).select_related("pcn")
    return (
        practices_visible_to(user)
        .select_related("parent__parent")
        .prefetch_related(
            Prefetch("pcn_memberships", queryset=current_pcn, to_attr="current_pcn_memberships")
        )
        .order_by("code")
    )


def practices_held_by(user) -> QuerySet:
    """The practices at which the user holds a current role."""
    return Organisation.objects.filter(
        type=OrganisationType.PRACTICE, memberships__user=user, memberships__ended_at__isnull=True
    ).distinct()


def active_memberships_of(user) -> QuerySet:
    return (
        Membership.objects.filter(user=user, ended_at__isnull=True)
        .select_related("organisation")
        .order_by("organisation__code", "role")
    )


def memberships_at(organisation: Organisation) -> QuerySet:
    return (
        Membership.objects.filter(organisation=organisation, ended_at__isnull=True)
        .select_related("user")
        .order_by("user__email", "role")
    )


def user_managed_by(admin, pk: int) -> User:
    """A user with a role (current or past) at an organisation `admin` manages, or 404."""
    managed = User.objects.filter(memberships__organisation__in=organisations_managed_by(admin)).distinct()
    return get_object_or_404(managed, pk=pk)


def memberships_of(user) -> QuerySet:
    current_first = F("ended_at").desc(nulls_first=True)
    return (
        Membership.objects.filter(user=user)
        .select_related("organisation")
        .order_by(current_first, "started_at")
    )
