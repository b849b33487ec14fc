"""The CQRS role catalogue (DOMAIN.md §2): the permissions, the roles, who may hold each and what it grants.

Everything that asks "may this user…?" names a `Permission`; everything that stores or grants a role names a
`Role`. Permissions are django-guardian object permissions on the organisation that holds the role; access
to a practice is then answered by `accounts.permissions.may`, which looks at the practice, its
commissioners and national.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.db import models

from .organisation_types import OrganisationType as T


class Permission(StrEnum):
    VIEW_ORGANISATION = "view_organisation"
    MANAGE_USERS = "manage_users"
    MANAGE_COMMISSIONED_USERS = "manage_commissioned_users"
    COMMISSION_SERVICES = "commission_services"
    MANAGE_PARTICIPATION = "manage_participation"
    ENTER_ACHIEVEMENT = "enter_achievement"
    DECLARE_ACHIEVEMENT = "declare_achievement"
    APPROVE_DECLARATIONS = "approve_declarations"
    MANAGE_FINANCE = "manage_finance"
    VIEW_ACHIEVEMENT = "view_achievement"
    VIEW_FINANCE = "view_finance"
    MANAGE_SERVICES = "manage_services"
    SUPPORT = "support"

    @property
    def description(self) -> str:
        return PERMISSION_DESCRIPTIONS[self]


PERMISSION_DESCRIPTIONS = {
    Permission.VIEW_ORGANISATION: "See the organisation and its practices",
    Permission.MANAGE_USERS: "Manage the users of the organisation",
    Permission.MANAGE_COMMISSIONED_USERS: "Manage the users of every practice the organisation commissions",
    Permission.COMMISSION_SERVICES: "Offer services to practices and approve participation",
    Permission.MANAGE_PARTICIPATION: "Accept or decline offers of services",
    Permission.ENTER_ACHIEVEMENT: "Enter and amend manual indicator values",
    Permission.DECLARE_ACHIEVEMENT: "Declare achievement for payment",
    Permission.APPROVE_DECLARATIONS: "Approve or reject declarations",
    Permission.MANAGE_FINANCE: "Financially approve and release payments",
    Permission.VIEW_ACHIEVEMENT: "Read achievement",
    Permission.VIEW_FINANCE: "Read payments",
    Permission.MANAGE_SERVICES: "Define services, rulesets, timetables and freezes",
    Permission.SUPPORT: "Recalculate, resolve stuck cases and read everything",
}


class Role(models.TextChoices):
    ADVANCED_USER_ADMIN = "advanced_user_admin", "Advanced User Administrator"
    USER_ADMIN = "user_admin", "User Administrator"
    COMMISSIONING_MANAGEMENT = "commissioning_management", "Commissioning Management"
    PARTICIPATION_MANAGEMENT = "participation_management", "Participation Management"
    ACHIEVEMENT_ENTRY = "achievement_entry", "Achievement Entry"
    DECLARATION_MANAGEMENT = "declaration_management", "Declaration Management"
    APPROVAL_MANAGEMENT = "approval_management", "Approval Management"
    FINANCE_MANAGEMENT = "finance_management", "Finance Management"
    VIEW = "view", "View"
    FINANCE_VIEW = "finance_view", "Finance View"
    SERVICE_MANAGEMENT = "service_management", "Service Management"
    SUPPORT = "support", "Support"


COMMISSIONERS = frozenset({T.ICB, T.SUB_ICB})
PRACTICE = frozenset({T.PRACTICE})
NATIONAL = frozenset({T.NATIONAL})


@dataclass(frozen=True)
class RoleDefinition:
    key: Role
    description: str
    holders: frozenset
    permissions: frozenset

    @property
    def name(self) -> str:
        return self.key.label

    def all_permissions(self) -> frozenset:
        # Every role lets its holder see its organisation, so "may see" is one permission check.
        return self.permissions | {Permission.VIEW_ORGANISATION}


def _role(key: Role, description: str, holders, *permissions: Permission) -> RoleDefinition:
    return RoleDefinition(key, description, frozenset(holders), frozenset(permissions))


P = Permission
CATALOGUE: dict[Role, RoleDefinition] = {
    definition.key: definition
    for definition in [
        _role(
            Role.ADVANCED_USER_ADMIN,
            "Manage users of the commissioner and of every practice it commissions",
            COMMISSIONERS,
            P.MANAGE_USERS,
            P.MANAGE_COMMISSIONED_USERS,
        ),
        _role(
            Role.USER_ADMIN,
            "Invite users, assign and revoke roles, lock, unlock and retire users of the organisation",
            COMMISSIONERS | PRACTICE | NATIONAL,
            P.MANAGE_USERS,
        ),
        _role(
            Role.COMMISSIONING_MANAGEMENT,
            "Offer services to practices and approve their participation",
            COMMISSIONERS,
            P.COMMISSION_SERVICES,
        ),
        _role(
            Role.PARTICIPATION_MANAGEMENT,
            "Accept or decline offers of services",
            PRACTICE,
            P.MANAGE_PARTICIPATION,
        ),
        _role(
            Role.ACHIEVEMENT_ENTRY,
            "Enter and amend manual indicator values",
            PRACTICE | COMMISSIONERS,
            P.ENTER_ACHIEVEMENT,
            P.VIEW_ACHIEVEMENT,
        ),
        _role(
            Role.DECLARATION_MANAGEMENT,
            "Declare achievement for payment",
            PRACTICE,
            P.DECLARE_ACHIEVEMENT,
            P.VIEW_ACHIEVEMENT,
        ),
        _role(
            Role.APPROVAL_MANAGEMENT,
            "Approve or reject declarations",
            COMMISSIONERS,
            P.APPROVE_DECLARATIONS,
            P.VIEW_ACHIEVEMENT,
        ),
        _role(
            Role.FINANCE_MANAGEMENT,
            "Financially approve declarations and release payments to the payment agency",
            # Nationally: the payments team who release each cut-off's batch and import acknowledgements.
            COMMISSIONERS | NATIONAL,
            P.MANAGE_FINANCE,
            P.VIEW_FINANCE,
            P.VIEW_ACHIEVEMENT,
        ),
        _role(Role.VIEW, "Read achievement", COMMISSIONERS | PRACTICE, P.VIEW_ACHIEVEMENT),
        _role(Role.FINANCE_VIEW, "Read payments", COMMISSIONERS | PRACTICE, P.VIEW_FINANCE),
        _role(
            Role.SERVICE_MANAGEMENT,
            "Define services, rulesets, timetables, bulletins and freezes",
            NATIONAL,
            P.MANAGE_SERVICES,
            P.VIEW_ACHIEVEMENT,
        ),
        _role(
            Role.SUPPORT,
            "Trigger recalculations, resolve stuck cases and read everything",
            NATIONAL,
            P.SUPPORT,
            P.VIEW_ACHIEVEMENT,
            P.VIEW_FINANCE,
        ),
    ]
}

# National roles open the Django admin; everyone else works through the portal's own pages.
ADMIN_ROLES = frozenset({Role.SERVICE_MANAGEMENT, Role.SUPPORT})

# Roles that move money or reach the whole country: an administrator's grant of one waits until a second
# administrator of the same organisation confirms it (docs/adr/0009-security.md).
CONFIRMED_ROLES = frozenset(
    {Role.APPROVAL_MANAGEMENT, Role.FINANCE_MANAGEMENT, Role.SUPPORT, Role.SERVICE_MANAGEMENT}
)
# Approving a declaration and releasing its payment are separate duties: one person may hold both at one
# commissioner only where the national setting ALLOW_APPROVAL_AND_FINANCE_TOGETHER says so.
SEPARATED_DUTIES = frozenset({Role.APPROVAL_MANAGEMENT, Role.FINANCE_MANAGEMENT})


def roles_held_at(organisation_type: str) -> list[RoleDefinition]:
    """The roles an organisation of this type may hold, in catalogue order."""
    return [definition for definition in CATALOGUE.values() if organisation_type in definition.holders]
