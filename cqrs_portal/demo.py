"""Demo data for `make demo`: the shipped rulesets, one real ICB, its practices, a user for every role.

Everything goes through the same actions as real use, and every step is idempotent, so a second
`make demo` finds the work done and starts in seconds.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import actions
from accounts.models import Organisation, OrganisationType, User
from accounts.organisation_import import parse_mapping
from participation.actions import load_rulesets
from participation.ruleset_files import RULESETS_DIR, read_rulesets

# NHS Digital's QOF_MANUAL_MAPPINGS.csv (2023/24, Open Government Licence), shipped so the demo needs nothing
# else.
MAPPING = Path(settings.BASE_DIR) / "fixtures" / "organisations" / "qof_manual_mappings_2023_24.csv"
# Shropshire, Telford and Wrekin: a real ICB small enough (51 practices) to read every page of at a glance.
DEFAULT_ICB = "QOC"
# Demo-only password, printed by `make demo`; it passes the production password validators.
DEMO_PASSWORD = "Quality-Outcomes-2324"  # noqa: S105


PRACTICE_MANAGER_ROLES = [
    "participation_management", "achievement_entry", "declaration_management", "user_admin",
    "view", "finance_view",
]  # fmt: skip
COMMISSIONER_ROLES = [
    "commissioning_management", "approval_management", "finance_management", "advanced_user_admin",
    "achievement_entry", "view", "finance_view",
]  # fmt: skip


@dataclass(frozen=True)
class DemoLogin:
    email: str
    full_name: str
    organisation: str
    roles: tuple[str, ...]


def load_mapping_for_icb(icb_code: str, mapping_path: Path = MAPPING):
    """The national mapping cut down to one ICB's rows, parsed and validated like a full import."""
    text = mapping_path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    icb_column = header.index("STP_ODS_CODE")
    selected = [row for row in body if row and row[icb_column] == icb_code]
    if not selected:
        raise ValueError(f"no practices for ICB {icb_code} in {mapping_path}")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *selected])
    return parse_mapping(buffer.getvalue())


def demo_logins(icb: Organisation) -> list[DemoLogin]:
    sub_icb = icb.children.filter(type=OrganisationType.SUB_ICB).order_by("code").first()
    practices = list(sub_icb.children.filter(type=OrganisationType.PRACTICE).order_by("code")[:2])
    practice, neighbour = practices[0], practices[1]
    national = Organisation.objects.get(type=OrganisationType.NATIONAL)

    def login(email, name, organisation, *roles):
        return DemoLogin(f"{email}@nhs.net", name, organisation.code, roles)

    return [
        # People as they work: one person holding the roles of their job.
        login("practice.manager", "Priya Manager", practice, *PRACTICE_MANAGER_ROLES),
        login("commissioner", "Colin Commissioner", sub_icb, *COMMISSIONER_ROLES),
        login("service.manager", "Sam Service-Manager", national, "service_management", "user_admin"),
        login("support", "Sue Support", national, "support"),
        # One login per role, to see exactly what each role alone allows.
        login("role.participation", "Pat Participation", practice, "participation_management"),
        login("role.achievement-entry", "Ash Entry", practice, "achievement_entry"),
        login("role.declaration", "Dee Declaration", practice, "declaration_management"),
        login("role.practice-user-admin", "Uma Practice-Admin", practice, "user_admin"),
        login("role.practice-view", "Vic Viewer", neighbour, "view", "finance_view"),
        login("role.advanced-user-admin", "Ada Advanced-Admin", icb, "advanced_user_admin"),
        login("role.commissioning", "Cam Commissioning", icb, "commissioning_management"),
        login("role.approval", "Apu Approval", icb, "approval_management"),
        login("role.finance", "Fin Finance", icb, "finance_management"),
        login("role.commissioner-view", "Val Viewer", icb, "view", "finance_view"),
        login("role.commissioner-user-admin", "Ulla Admin", sub_icb, "user_admin"),
    ]  # fmt: skip


@transaction.atomic
def load_demo(*, icb_code: str = DEFAULT_ICB) -> list[DemoLogin]:
    load_rulesets(rulesets=read_rulesets(RULESETS_DIR))
    mapping = load_mapping_for_icb(icb_code)
    start_of_year = timezone.localdate().replace(month=4, day=1)
    actions.import_organisations(mapping=mapping, effective_date=start_of_year, by=None)
    icb = Organisation.objects.get(code=icb_code, type=OrganisationType.ICB)
    logins = demo_logins(icb)
    for login in logins:
        _ensure_user(login)
    return logins


def _ensure_user(login: DemoLogin) -> None:
    organisation = Organisation.objects.get(code=login.organisation)
    user = User.objects.filter(email=login.email).first()
    if user is None:
        user = User.objects.create_user(email=login.email, full_name=login.full_name, password=DEMO_PASSWORD)
    for role in login.roles:
        actions.grant_role(user=user, organisation=organisation, role=role, by=None)
