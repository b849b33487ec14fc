from accounts.models import Organisation, OrganisationType
from accounts.permissions import may


def may_manage_services(user) -> bool:
    """Services, service years and rulesets belong to national Service Management (DOMAIN.md §2)."""
    national = Organisation.objects.filter(type=OrganisationType.NATIONAL).first()
    return national is not None and may(user, "manage_services", national)
