from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Membership, Organisation, OrganisationType, PcnMembership, RoleGrantRequest, User
from .permissions import may_nationally, organisations_managed_by, organisations_reachable
from .roles import Permission


def practices_visible_to(user, permission: Permission = Permission.VIEW_ORGANISATION) -> QuerySet:
    """The practices a user may see: their own, those their commissioners commission, or all for national."""
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    return organisations_reachable(user, permission, practices)


def organisation_for(user, code: str, permission: Permission = Permission.VIEW_ORGANISATION) -> Organisation:
    """The organisation with this code, or 404 when it does not exist or lies outside the user's scope."""
    visible = organisations_reachable(user, permission).select_related("parent__parent__parent__parent")
    return get_object_or_404(visible, code=code)


def practice_for(user, code: str, permission: Permission = Permission.VIEW_ORGANISATION) -> Organisation:
    """A practice the user holds `permission` for, else 404 (another kind of organisation is a 404 too)."""
    organisation = organisation_for(user, code, permission)
    if organisation.type != OrganisationType.PRACTICE:
        raise Http404
    return organisation


def commissioner_or_national_for(user, code: str, permission: Permission) -> Organisation:
    """An ICB, sub-ICB location or the national organisation the user holds `permission` for, else 404."""
    organisation = organisation_for(user, code, permission)
    if organisation.type not in {OrganisationType.ICB, OrganisationType.SUB_ICB, OrganisationType.NATIONAL}:
        raise Http404
    return organisation


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
    """A user with a current role at an organisation `admin` manages, or 404. Former members are no longer
    the organisation's to manage (national support still reaches everyone)."""
    if may_nationally(admin, Permission.SUPPORT):
        return get_object_or_404(User, pk=pk)
    managed = User.objects.filter(
        memberships__organisation__in=organisations_managed_by(admin), memberships__ended_at__isnull=True
    ).distinct()
    return get_object_or_404(managed, pk=pk)


def memberships_of(user, *, seen_by) -> QuerySet:
    """The user's roles at the organisations `seen_by` manages: their roles elsewhere are not shown."""
    current_first = F("ended_at").desc(nulls_first=True)
    return (
        Membership.objects.filter(user=user, organisation__in=organisations_managed_by(seen_by))
        .select_related("organisation")
        .order_by(current_first, "started_at")
    )


def pending_grants_for(user, *, seen_by) -> QuerySet:
    return (
        RoleGrantRequest.objects.filter(
            user=user,
            organisation__in=organisations_managed_by(seen_by),
            outcome=RoleGrantRequest.Outcome.PENDING,
        )
        .select_related("organisation", "requested_by")
        .order_by("requested_at")
    )


def pending_grant_for(admin, user, pk: int) -> RoleGrantRequest:
    return get_object_or_404(pending_grants_for(user, seen_by=admin), pk=pk)


def current_holders(*, roles, organisations) -> QuerySet:
    """Current, active holders of any of `roles` at `organisations` (ids or a values queryset): one row
    per membership, for notifying the people who must act next."""
    return Membership.objects.filter(
        role__in=list(roles),
        ended_at__isnull=True,
        organisation_id__in=organisations,
        user__is_active=True,
        user__retired_at__isnull=True,
    )


def users_and_roles_at(organisation: Organisation) -> list[tuple[User, list[Membership]]]:
    """Each user with a current role at the organisation, once, with all their current roles there."""
    by_user: dict[int, tuple[User, list[Membership]]] = {}
    for membership in memberships_at(organisation):
        by_user.setdefault(membership.user_id, (membership.user, []))[1].append(membership)
    return list(by_user.values())


def organisations_below(organisation: Organisation) -> QuerySet:
    """The organisations directly below a commissioner or NHS England (its regions, ICBs or sub-ICB
    locations, or a sub-ICB's practices), each with the number of practices it covers, to list on its page.
    One query: a practice lies one to three levels below a region, ICB or sub-ICB."""

    def practices_at(depth: int):
        path = "__".join(["parent"] * depth)
        counted = (
            Organisation.objects.filter(type=OrganisationType.PRACTICE, **{path: OuterRef("pk")})
            .order_by()
            .values(path)
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

    return (
        organisation.children.exclude(type=OrganisationType.PCN)
        .annotate(practice_count=practices_at(1) + practices_at(2) + practices_at(3))
        .order_by("name")
    )
