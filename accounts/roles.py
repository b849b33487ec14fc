"""The CQRS role catalogue (DOMAIN.md §2): which organisations may hold each role and what it grants.

Permissions are django-guardian object permissions on the organisation that holds the role. Access to a
practice is then answered by `accounts.permissions.may`, which looks at the practice, its commissioners
and national.
"""

from dataclasses import dataclass

from .organisation_types import OrganisationType as T

# Every role grants this, so "may see this organisation" is one permission check.
VIEW_ORGANISATION = "view_organisation"

PERMISSIONS = {
    VIEW_ORGANISATION: "See the organisation and its practices",
    "manage_users": "Manage the users of the organisation",
    "manage_commissioned_users": "Manage the users of every practice the organisation commissions",
    "commission_services": "Offer services to practices and approve participation",
    "manage_participation": "Accept or decline offers of services",
    "enter_achievement": "Enter and amend manual indicator values",
    "declare_achievement": "Declare achievement for payment",
    "approve_declarations": "Approve or reject declarations",
    "manage_finance": "Financially approve and release payments",
    "view_achievement": "Read achievement",
    "view_finance": "Read payments",
    "manage_services": "Define services, rulesets, timetables and freezes",
    "support": "Recalculate, resolve stuck cases and read everything",
}

COMMISSIONERS = frozenset({T.ICB, T.SUB_ICB})
PRACTICE = frozenset({T.PRACTICE})
NATIONAL = frozenset({T.NATIONAL})


@dataclass(frozen=True)
class Role:
    key: str
    name: str
    description: str
    holders: frozenset
    permissions: frozenset

    def all_permissions(self) -> frozenset:
        return self.permissions | {VIEW_ORGANISATION}


def _role(key, name, description, holders, *permissions):
    return Role(key, name, description, frozenset(holders), frozenset(permissions))


CATALOGUE = {
    role.key: role
    for role in [
        _role(
            "advanced_user_admin",
            "Advanced User Administrator",
            "Manage users of the commissioner and of every practice it commissions",
            COMMISSIONERS,
            "manage_users",
            "manage_commissioned_users",
        ),
        _role(
            "user_admin",
            "User Administrator",
            "Invite users, assign and revoke roles, lock, unlock and retire users of the organisation",
            COMMISSIONERS | PRACTICE | NATIONAL,
            "manage_users",
        ),
        _role(
            "commissioning_management",
            "Commissioning Management",
            "Offer services to practices and approve their participation",
            COMMISSIONERS,
            "commission_services",
        ),
        _role(
            "participation_management",
            "Participation Management",
            "Accept or decline offers of services",
            PRACTICE,
            "manage_participation",
        ),
        _role(
            "achievement_entry",
            "Achievement Entry",
            "Enter and amend manual indicator values",
            PRACTICE | COMMISSIONERS,
            "enter_achievement",
            "view_achievement",
        ),
        _role(
            "declaration_management",
            "Declaration Management",
            "Declare achievement for payment",
            PRACTICE,
            "declare_achievement",
            "view_achievement",
        ),
        _role(
            "approval_management",
            "Approval Management",
            "Approve or reject declarations",
            COMMISSIONERS,
            "approve_declarations",
            "view_achievement",
        ),
        _role(
            "finance_management",
            "Finance Management",
            "Financially approve declarations and release payments to the payment agency",
            COMMISSIONERS,
            "manage_finance",
            "view_finance",
            "view_achievement",
        ),
        _role("view", "View", "Read achievement", COMMISSIONERS | PRACTICE, "view_achievement"),
        _role("finance_view", "Finance View", "Read payments", COMMISSIONERS | PRACTICE, "view_finance"),
        _role(
            "service_management",
            "Service Management",
            "Define services, rulesets, timetables, bulletins and freezes",
            NATIONAL,
            "manage_services",
            "view_achievement",
        ),
        _role(
            "support",
            "Support",
            "Trigger recalculations, resolve stuck cases and read everything",
            NATIONAL,
            "support",
            "view_achievement",
            "view_finance",
        ),
    ]
}

# National roles open the Django admin; everyone else works through the portal's own pages.
ADMIN_ROLES = frozenset({"service_management", "support"})

ROLE_CHOICES = [(role.key, role.name) for role in CATALOGUE.values()]
