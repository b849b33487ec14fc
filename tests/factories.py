"""Factories and builders. Organisations and roles are made through the real actions, as in production."""

from datetime import date
from decimal import Decimal

import factory
from django.utils import timezone

from accounts import actions
from accounts.models import Organisation, User
from accounts.organisation_import import COLUMNS, parse_mapping
from participation import actions as participation_actions
from participation.models import Offer, QualityService, ServiceYear, financial_year_dates

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


def enrolled_authenticator(user):
    """The user's confirmed authenticator app, set up as at their first sign-in."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def current_code(device) -> str:
    """The code the user's app shows now."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def user_with_roles(organisation: Organisation, *roles: str, **fields) -> User:
    user = UserFactory(**fields)
    for role in roles:
        actions.grant_role(user=user, organisation=organisation, role=role, by=None)
    return user


# Offers and participation, made through the participation actions.


def date_fields(**dates) -> dict:
    """What a browser sends for NHS.UK date inputs (accounts/nhsuk_forms.py): three boxes per date."""
    return {
        f"{name}-{part}": str(getattr(value, part))
        for name, value in dates.items()
        for part in ("day", "month", "year")
    }


QOF2324_OFFER_DATES = {
    "start_date": date(2023, 4, 1),
    "end_date": date(2024, 3, 31),
    "response_date": date(2023, 6, 30),
    "target_date": date(2023, 9, 30),
}


def service_year(code: str = "QOF2324", *, automatic_participation: bool = False):
    """A QOF service year without indicators (offers need no ruleset): QOFyyzz for the year 20yy/zz."""
    existing = ServiceYear.objects.filter(code=code).first()
    if existing is not None:
        return existing
    service = QualityService.objects.filter(
        code="QOF"
    ).first() or participation_actions.create_quality_service(
        values={"code": "QOF", "name": "Quality and Outcomes Framework", "kind": "qof"}, by=None
    )
    financial_year = 2000 + int(code[3:5])
    start_date, end_date = financial_year_dates(financial_year)
    return participation_actions.create_service_year(
        values={
            "service": service,
            "financial_year": financial_year,
            "code": code,
            "name": f"Quality and Outcomes Framework {financial_year}/{(financial_year + 1) % 100:02d}",
            "start_date": start_date,
            "end_date": end_date,
            "point_value": Decimal("213.43"),
            "aspiration_rate": Decimal("0.70"),
            "automatic_participation": automatic_participation,
            "manual_entry_deadline": end_date,
        },
        by=None,
    )


def offers_to(practices, year=None, *, by=None, **dates) -> list:
    """Offer `year` (QOF 2023/24 by default) to the practices, with the 2023/24 dates unless given."""
    year = year or service_year()
    return participation_actions.offer_service(
        service_year=year, practices=practices, **(QOF2324_OFFER_DATES | dates), by=by
    ).offers


def one_offer_per_practice(tree) -> list:
    """An offer of QOF 2023/24 to every practice of the tree (made once; later calls return the same)."""
    year = service_year()
    practices = [organisation for organisation in tree.values() if organisation.type == "practice"]
    offers_to(practices, year)
    return list(Offer.objects.filter(service_year=year).select_related("practice").order_by("practice__code"))
