"""Factories and builders. Organisations and roles are made through the real actions, as in production."""

import factory
from django.utils import timezone

from accounts import actions
from accounts.models import Organisation, User
from accounts.organisation_import import COLUMNS, parse_mapping

PASSWORD = "correct-horse-battery-staple"

# Two regions, two ICBs; QAA has two sub-ICB locations, so every scope has somebody just outside it.
TREE_ROWS = [
    # practice, PCN, sub-ICB, ICB, region
    ("A00001", "U00001", "01A", "QAA", "Y01"),
    ("A00002", "U00001", "01A", "QAA", "Y01"),
    ("A00003", "U00002", "01B", "QAA", "Y01"),
    ("B00001", "U00003", "02A", "QBB", "Y02"),
]


def mapping_csv(rows=TREE_ROWS) -> str:
    lines = [",".join(COLUMNS)]
    for practice, pcn, sub_icb, icb, region in rows:
        values = {
            "PRACTICE_CODE": practice, "PRACTICE_NAME": f"Practice {practice}",
            "PCN_ODS_CODE": pcn, "PCN_NAME": f"PCN {pcn}",
            "CCG_ODS_CODE": sub_icb, "CCG_ONS_CODE": f"E38{sub_icb}", "CCG_NAME": f"Sub-ICB {sub_icb}",
            "STP_ODS_CODE": icb, "STP_ONS_CODE": f"E54{icb}", "STP_NAME": f"ICB {icb}",
            "REGION_ODS_CODE": region, "REGION_ONS_CODE": f"E40{region}", "REGION_NAME": f"Region {region}",
            "NAT_CODE": "ENG", "NAT_ONS_CODE": "E92000001", "NAT_COUNTRY": "England",
        }  # fmt: skip
        lines.append(",".join(values[column] for column in COLUMNS))
    return "\n".join(lines) + "\n"


def build_organisation_tree() -> dict[str, Organisation]:
    actions.import_organisations(
        mapping=parse_mapping(mapping_csv()), effective_date=timezone.localdate(), by=None
    )
    return {organisation.code: organisation for organisation in Organisation.objects.all()}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@nhs.net")
    full_name = factory.Sequence(lambda n: f"Test User {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


def user_with_roles(organisation: Organisation, *roles: str, **fields) -> User:
    user = UserFactory(**fields)
    for role in roles:
        actions.grant_role(user=user, organisation=organisation, role=role, by=None)
    return user
