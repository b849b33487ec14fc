from accounts.models import Organisation, OrganisationType
from accounts.permissions import may, organisations_reachable


def may_manage_services(user) -> bool:
    """Services, service years and rulesets belong to national Service Management (DOMAIN.md §2)."""
    national = Organisation.objects.filter(type=OrganisationType.NATIONAL).first()
    return national is not None and may(user, "manage_services", national)


def practice_ids_reachable(user, permission: str, practice_ids) -> set[int]:
    """Which of these practices `user` holds `permission` for, in one query."""
    practices = Organisation.objects.filter(pk__in=practice_ids, type=OrganisationType.PRACTICE)
    return set(organisations_reachable(user, permission, practices).values_list("pk", flat=True))
