"""One answer to "may this user do P to this organisation?".

A role's permissions are granted on the organisation that holds it. A permission held at a commissioner
reaches every practice below it, and one held at national reaches everything, so `may` checks the
organisation and all its ancestors.
"""

from django.db.models import Q, QuerySet

from .models import Organisation, OrganisationType, OrganisationUserObjectPermission

# national → region → ICB → sub-ICB → practice: a practice has at most four ancestors.
ANCESTOR_LOOKUPS = ["parent", "parent__parent", "parent__parent__parent", "parent__parent__parent__parent"]


def organisations_granting(user, permission: str) -> set[int]:
    """Ids of the organisations at which `user` holds `permission` directly (cached per user object)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    cache = user.__dict__.setdefault("_granted_organisations", {})
    if permission not in cache:
        cache[permission] = set(
            OrganisationUserObjectPermission.objects.filter(
                user=user, permission__codename=permission
            ).values_list("content_object_id", flat=True)
        )
    return cache[permission]


def may(user, permission: str, organisation: Organisation) -> bool:
    granted = organisations_granting(user, permission)
    if not granted:
        return False
    return bool(granted & _self_and_ancestor_ids(organisation))


def may_manage_users(user, organisation: Organisation) -> bool:
    """User Administrators manage their own organisation only; Advanced User Administrators also manage
    every practice their commissioner commissions; national support manages anyone."""
    return (
        organisation.pk in organisations_granting(user, "manage_users")
        or may(user, "manage_commissioned_users", organisation)
        or may(user, "support", organisation)
    )


def organisations_managed_by(user) -> QuerySet:
    """The organisations whose users `user` may manage: the queryset form of `may_manage_users`."""
    own = Organisation.objects.filter(pk__in=organisations_granting(user, "manage_users"))
    return (
        own
        | organisations_reachable(user, "manage_commissioned_users")
        | organisations_reachable(user, "support")
    ).distinct()


def _self_and_ancestor_ids(organisation: Organisation) -> set[int]:
    cache = organisation.__dict__.get("_lineage")
    if cache is None:
        row = (
            Organisation.objects.filter(pk=organisation.pk)
            .values_list(*[f"{lookup}_id" for lookup in ANCESTOR_LOOKUPS])
            .get()
        )
        cache = {organisation.pk, *(pk for pk in row if pk is not None)}
        organisation.__dict__["_lineage"] = cache
    return cache


def organisations_reachable(user, permission: str, queryset: QuerySet | None = None) -> QuerySet:
    """Organisations where `may(user, permission, organisation)` holds, as one query."""
    queryset = Organisation.objects.all() if queryset is None else queryset
    granted = organisations_granting(user, permission)
    if not granted:
        return queryset.none()
    condition = Q(pk__in=granted)
    for lookup in ANCESTOR_LOOKUPS:
        condition |= Q(**{f"{lookup}__in": granted})
    return queryset.filter(condition)


def holds_national_role(user) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.memberships.filter(
            ended_at__isnull=True, organisation__type=OrganisationType.NATIONAL
        ).exists()
    )
