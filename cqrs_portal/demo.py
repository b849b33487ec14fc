"""Demo data for `make demo`: the shipped rulesets, one real ICB, its practices, a user for every role.

Everything goes through the same actions as real use, and every step is idempotent, so a second
`make demo` finds the work done and starts in seconds.
"""

import base64
import csv
import datetime as dt
import io
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import actions
from accounts.models import Organisation, OrganisationType, PcnMembership, User
from accounts.organisation_import import parse_mapping
from accounts.roles import Role
from accounts.second_factor import needs_second_factor, new_backup_codes
from calculation import actions as calculation_actions
from calculation.models import CalculationRun, PracticeListSize, Publication
from calculation.pipeline import cpi_list_date
from declarations import actions as declaration_actions
from declarations.models import Declaration
from engine.extract import EXTRACT_COLUMNS
from engine.synthetic import list_sizes, write_extract, year_end_extract
from extracts.actions import load_extract
from extracts.models import CurrentSubmission, Extract
from manual_entry.actions import enter_manual_answers
from manual_entry.selectors import manual_indicators
from notices.actions import publish_notice
from notices.models import Audience, Notice
from participation import actions as participation_actions
from participation.actions import load_rulesets
from participation.models import NominatedPayee, Offer, ServiceYear
from participation.ruleset_files import RULESETS_DIR, read_rulesets
from participation.selectors import participating_practice_codes

# NHS Digital's QOF_MANUAL_MAPPINGS.csv (2023/24, Open Government Licence), shipped so the demo needs nothing
# else.
MAPPING = Path(settings.BASE_DIR) / "fixtures" / "organisations" / "qof_manual_mappings_2023_24.csv"
# Shropshire, Telford and Wrekin: a real ICB small enough (51 practices) to read every page of at a glance.
DEFAULT_ICB = "QOC"
# Demo-only password, printed by `make demo`; it passes the production password validators.
DEMO_PASSWORD = "Quality-Outcomes-2324"  # noqa: S105
# Commissioner and national logins need a second factor: every demo login that does shares this published
# authenticator key (RFC 4226's test secret) and these backup codes, printed by `make demo`.
DEMO_TOTP_KEY = b"12345678901234567890".hex()
DEMO_BACKUP_CODES = ["demo-code-1", "demo-code-2", "demo-code-3", "demo-code-4", "demo-code-5"]


PRACTICE_MANAGER_ROLES = [
    Role.PARTICIPATION_MANAGEMENT, Role.ACHIEVEMENT_ENTRY, Role.DECLARATION_MANAGEMENT, Role.USER_ADMIN,
    Role.VIEW, Role.FINANCE_VIEW,
]  # fmt: skip
# Approving and paying are separate duties (docs/adr/0009-security.md): the commissioner approves, and a
# finance colleague at the same sub-ICB location releases the payments.
COMMISSIONER_ROLES = [
    Role.COMMISSIONING_MANAGEMENT, Role.APPROVAL_MANAGEMENT,
    Role.ADVANCED_USER_ADMIN, Role.ACHIEVEMENT_ENTRY, Role.VIEW, Role.FINANCE_VIEW,
]  # fmt: skip


@dataclass(frozen=True)
class DemoLogin:
    email: str
    full_name: str
    organisation: str
    roles: tuple[Role, ...]


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
        login("finance", "Fiona Finance", sub_icb, Role.FINANCE_MANAGEMENT, Role.FINANCE_VIEW, Role.VIEW),
        login("service.manager", "Sam Service-Manager", national, Role.SERVICE_MANAGEMENT, Role.USER_ADMIN),
        login("support", "Sue Support", national, Role.SUPPORT),
        # One login per role, to see exactly what each role alone allows.
        login("role.participation", "Pat Participation", practice, Role.PARTICIPATION_MANAGEMENT),
        login("role.achievement-entry", "Ash Entry", practice, Role.ACHIEVEMENT_ENTRY),
        login("role.declaration", "Dee Declaration", practice, Role.DECLARATION_MANAGEMENT),
        login("role.practice-user-admin", "Uma Practice-Admin", practice, Role.USER_ADMIN),
        login("role.practice-view", "Vic Viewer", neighbour, Role.VIEW, Role.FINANCE_VIEW),
        login("role.advanced-user-admin", "Ada Advanced-Admin", icb, Role.ADVANCED_USER_ADMIN),
        login("role.commissioning", "Cam Commissioning", icb, Role.COMMISSIONING_MANAGEMENT),
        login("role.approval", "Apu Approval", icb, Role.APPROVAL_MANAGEMENT),
        login("role.finance", "Fin Finance", icb, Role.FINANCE_MANAGEMENT),
        login("role.national-finance", "Nat Finance", national, Role.FINANCE_MANAGEMENT),
        login("role.commissioner-view", "Val Viewer", icb, Role.VIEW, Role.FINANCE_VIEW),
        login("role.commissioner-user-admin", "Ulla Admin", sub_icb, Role.USER_ADMIN),
        # At a practice taking part in the demo's in-year service, whose manual entry is open.
        login("manual.entry", "Manny Entry", neighbour, Role.ACHIEVEMENT_ENTRY, Role.VIEW),
    ]  # fmt: skip


@transaction.atomic
def load_demo(*, icb_code: str = DEFAULT_ICB) -> list[DemoLogin]:
    load_rulesets(rulesets=read_rulesets(RULESETS_DIR), by=None)
    mapping = load_mapping_for_icb(icb_code)
    # PCN memberships from the start of the demo's calculation year, so the Network Contract DES months of
    # that year find every practice in its PCN.
    actions.import_organisations(mapping=mapping, effective_date=DEMO_SERVICES_START, by=None)
    icb = Organisation.objects.get(code=icb_code, type=OrganisationType.ICB)
    logins = demo_logins(icb)
    for login in logins:
        _ensure_user(login)
    offer_demo_participation(icb)
    load_demo_extract(icb)
    run_demo_calculations(icb)
    run_demo_declarations(icb, journey_practice=logins[0].organisation)
    run_demo_next_year(icb)
    open_demo_manual_entry()
    run_demo_payments(icb)
    run_demo_services(icb, journey_practice=logins[0].organisation)
    publish_demo_notice()
    return logins


def _ensure_user(login: DemoLogin) -> None:
    organisation = Organisation.objects.get(code=login.organisation)
    user = User.objects.filter(email=login.email).first()
    if user is None:
        user = User.objects.create_user(email=login.email, full_name=login.full_name, password=DEMO_PASSWORD)
    for role in login.roles:
        actions.grant_role(user=user, organisation=organisation, role=role, by=None)
    if needs_second_factor(user):
        give_demo_authenticator(user)
        new_backup_codes(user, list(DEMO_BACKUP_CODES))


def give_demo_authenticator(user) -> None:
    """The demo's published key as the user's only authenticator: `manage.py demo_code` prints its code."""
    TOTPDevice.objects.filter(user=user).delete()
    TOTPDevice.objects.create(user=user, name="Demo authenticator", key=DEMO_TOTP_KEY, confirmed=True)


def demo_totp_secret() -> str:
    return base64.b32encode(bytes.fromhex(DEMO_TOTP_KEY)).decode()


# --- Offers and participation (docs/adr/0004-offers-and-participation.md) ---------------------------------

DEMO_OFFER_YEARS = ["QOF2324", "QOF2425"]


def offer_demo_participation(icb: Organisation) -> None:
    """Offer QOF 2023/24 and 2024/25 to the ICB's practices and move them so every state shows.

    The demo practice manager's practice takes part in 2023/24 (so its year end is there to read) and is
    left offered 2024/25 so that it can accept. Of the others, the last in code order has accepted and awaits
    the commissioner's approval, the one before it declined, and the rest are approved. Only offers still
    `offered` are moved, so a second run changes nothing.
    """
    practices = list(
        Organisation.objects.filter(type=OrganisationType.PRACTICE, parent__parent=icb).order_by("code")
    )
    sub_icb = icb.children.filter(type=OrganisationType.SUB_ICB).order_by("code").first()
    managed = sub_icb.children.filter(type=OrganisationType.PRACTICE).order_by("code").first()
    others = [practice for practice in practices if practice.pk != managed.pk]
    for service_year in ServiceYear.objects.filter(code__in=DEMO_OFFER_YEARS).order_by("financial_year"):
        wanted = {practice.pk: "approve" for practice in others[:-2]}
        wanted.update({others[-1].pk: "accept", others[-2].pk: "decline"})
        if service_year.code == DEMO_CALCULATION_YEAR:
            wanted[managed.pk] = "approve"
        # Declined offers may be made again in real use; the demo offers each practice once.
        offered_before = set(
            Offer.objects.filter(service_year=service_year).values_list("practice_id", flat=True)
        )
        not_yet_offered = [practice for practice in practices if practice.pk not in offered_before]
        if not not_yet_offered:
            continue
        participation_actions.offer_service(
            service_year=service_year,
            practices=not_yet_offered,
            start_date=service_year.start_date,
            end_date=service_year.end_date,
            response_date=service_year.start_date.replace(month=6, day=30),
            target_date=service_year.start_date.replace(month=9, day=30),
            by=None,
        )
        offered = list(
            Offer.objects.filter(
                service_year=service_year, practice__in=practices, state=Offer.State.OFFERED
            ).select_related("practice")
        )
        for offer in offered:
            if wanted.get(offer.practice_id) in {"accept", "approve"}:
                participation_actions.accept_offer(offer=offer, by=None)
            elif wanted.get(offer.practice_id) == "decline":
                participation_actions.decline_offer(offer=offer, reason="No capacity this year", by=None)
        to_approve = [offer for offer in offered if wanted.get(offer.practice_id) == "approve"]
        if to_approve:
            participation_actions.approve_offers(offers=to_approve, by=None)


# --- Calculation runs (calculation/): list sizes, in-year runs and a published 2023/24 year end.

DEMO_CALCULATION_YEAR = "QOF2324"
# In-year extracts before the year end, with numerators this far along: the trend on each practice's report.
DEMO_IN_YEAR_PROGRESS = {"20231231": 0.6, "20240229": 0.85}


def run_demo_calculations(icb: Organisation) -> None:
    """Publish 2023/24 for the demo ICB: in-year runs at two month ends, then the year end. Idempotent: a
    published year end is left alone. Needs the year-end extract (load_demo_extract) first; runs every
    stage in-process, whatever the broker."""
    year = ServiceYear.objects.filter(code=DEMO_CALCULATION_YEAR).first()
    if year is None or Publication.objects.filter(service_year=year, achievement_date=year.end_date).exists():
        return
    if not Extract.objects.filter(service_year=year, achievement_date=year.end_date).exists():
        return
    codes = _demo_year_end_practices(year)
    _demo_list_sizes(year, codes)
    # Next year's list sizes too (1 January 2024 for its CPI): this year end then calculates its aspiration.
    for following in ServiceYear.objects.filter(code=DEMO_NEXT_YEAR):
        _demo_list_sizes(following, codes)
    _demo_in_year_extracts(year, codes)
    dates = sorted(set(Extract.objects.filter(service_year=year).values_list("achievement_date", flat=True)))
    _publish_unpublished(year, dates)


def _publish_unpublished(year: ServiceYear, dates) -> None:
    """Calculate and publish each date not yet published: loading the demo twice adds no run."""
    published = set(Publication.objects.filter(service_year=year).values_list("achievement_date", flat=True))
    for achievement_date in dates:
        if achievement_date in published:
            continue
        run = calculation_actions.start_run(
            service_year=year, achievement_date=achievement_date, by=None, reason="Demo data"
        )
        calculation_actions.calculate_in_process(run=run)


def _demo_year_end_practices(year) -> list[str]:
    return sorted(
        CurrentSubmission.objects.filter(service_year=year, achievement_date=year.end_date)
        .values_list("practice__code", flat=True)
        .distinct()
    )


def _demo_list_sizes(year, codes: list[str]) -> None:
    """The list sizes the synthetic extract's registers were drawn from (same seed, same order), for
    prevalence at 31 March; the January list for CPI a little smaller."""
    sizes = list_sizes(len(codes), np.random.default_rng(2324))
    rows = [(code, int(size) * 98 // 100, int(size)) for code, size in zip(codes, sizes, strict=True)]
    if rows:
        calculation_actions.load_list_sizes(service_year=year, rows=rows, by=None)


def _demo_in_year_extracts(year, codes: list[str]) -> None:
    """The year-end extract as it stood at earlier month ends: numerators scaled back, the rest unchanged.
    Deterministic, so a second demo load finds the same files already loaded."""
    if not codes:
        return
    for achievement_date, progress in DEMO_IN_YEAR_PROGRESS.items():
        frame = year_end_extract(codes, seed=2324)
        numerator = frame["FIELD_NAME"] == "Numerator"
        frame.loc[numerator, "VALUE"] = np.floor(frame.loc[numerator, "VALUE"] * progress).astype(np.int64)
        frame["ACH_DATE"] = achievement_date
        frame["SUBMIT_DATE"] = f"02/{achievement_date[4:6]}/{achievement_date[:4]}"
        with tempfile.TemporaryDirectory() as directory:
            path = write_extract(frame, Path(directory) / f"QOF2324_{achievement_date}.csv")
            load_extract(path=path, file_name=path.name, by=None, service_year=year)


# --- Declarations (docs/adr/0008-declarations.md) ---------------------------------------------------------

DEMO_REJECTION = "The list size looks wrong against our records: please check it with us and declare again."
DEMO_BATCH = "DEMO-BATCH-1"
DEMO_RECALCULATION = "Demo: list size corrected after payment"


def run_demo_declarations(icb: Organisation, *, journey_practice: str) -> None:
    """Move the 2023/24 declarations of the ICB into every state, leaving the practice manager's own
    practice to declare, so that practice declares → commissioner approves → finance approves works at
    first sight; then recalculate one practice already sent for payment, so a flagged adjustment waits for
    the commissioner. Idempotent: once anything is declared, it is left alone."""
    year = ServiceYear.objects.filter(code=DEMO_CALCULATION_YEAR).first()
    if year is None:
        return
    declarations = list(
        Declaration.objects.filter(
            service_year=year, practice__parent__parent=icb, state__in=Declaration.LIVE_STATES
        )
        .exclude(practice__code=journey_practice)
        .select_related("practice", "service_year")
        .order_by("practice__code")
    )
    if not declarations or any(
        d.declared_at or d.state != Declaration.State.AWAITING_PRACTICE for d in declarations
    ):
        return
    # Position in the list → the steps taken: 0 none, 1 declared, 2 approved, 3 financially approved,
    # 4 sent for payment, 5 declared and rejected back to the practice.
    steps = [
        (),
        (declaration_actions.declare,),
        (declaration_actions.declare, declaration_actions.approve),
        (declaration_actions.declare, declaration_actions.approve, declaration_actions.financially_approve),
        (declaration_actions.declare, declaration_actions.approve, declaration_actions.financially_approve),
        (declaration_actions.declare, declaration_actions.reject),
    ]
    sent = []
    for position, declaration in enumerate(declarations):
        chosen = position % len(steps)
        for step in steps[chosen]:
            extra = {
                declaration_actions.declare: {"statement_accepted": True, "notes": "Demo declaration"},
                declaration_actions.reject: {"reason": DEMO_REJECTION},
            }.get(step, {})
            step(declaration=Declaration.objects.get(pk=declaration.pk), by=None, **extra)
        if chosen == 4:
            sent.append(declaration)
    if not sent:
        return
    declaration_actions.mark_sent_for_payment(declaration_ids=[d.pk for d in sent], reference=DEMO_BATCH)
    _demo_recalculation_after_payment(year, sent[0].practice)


def _demo_recalculation_after_payment(year: ServiceYear, practice: Organisation) -> None:
    """A practice whose list size is corrected after its payment was sent: recalculated, it is flagged for
    its commissioner with the difference."""
    size = PracticeListSize.objects.get(practice=practice, list_date=year.end_date).registered_patients
    on = cpi_list_date(year)
    cpi = PracticeListSize.objects.get(practice=practice, list_date=on).registered_patients
    calculation_actions.load_list_sizes(
        service_year=year, rows=[(practice.code, cpi + 150, size + 150)], by=None
    )
    run = calculation_actions.start_run(
        service_year=year, achievement_date=year.end_date, organisation=practice, by=None,
        reason=DEMO_RECALCULATION, kind=CalculationRun.Kind.RECALCULATION,
    )  # fmt: skip
    calculation_actions.calculate_in_process(run=run)


# --- The year after: a forecast to read, and a national prevalence for Support to confirm ------------------

DEMO_NEXT_YEAR = "QOF2425"
DEMO_NEXT_YEAR_PUBLISHED = ("20241231", 0.6)
# A later month whose extract lost one "supplier's" practices (every third): its run is held for Support.
DEMO_NEXT_YEAR_HELD = ("20250228", 0.85)


def run_demo_next_year(icb: Organisation) -> None:
    """2024/25 in year for the practices taking part: published at 31 December 2024, so each practice's
    forecast follows its own 2023/24 pattern; and at 28 February 2025 with a third of the practices missing,
    so the run is held with its prevalence checks for Support. The 2023/24 year-end extract stands in for the
    data (same registers, numerators scaled back). Idempotent."""
    year = ServiceYear.objects.filter(code=DEMO_NEXT_YEAR).first()
    previous = ServiceYear.objects.filter(code=DEMO_CALCULATION_YEAR).first()
    if year is None or previous is None:
        return
    if not Publication.objects.filter(service_year=previous, achievement_date=previous.end_date).exists():
        return
    all_codes = _demo_year_end_practices(previous)
    for (day, progress), held in ((DEMO_NEXT_YEAR_PUBLISHED, False), (DEMO_NEXT_YEAR_HELD, True)):
        achievement_date = dt.datetime.strptime(day, "%Y%m%d").date()
        if CalculationRun.objects.filter(service_year=year, achievement_date=achievement_date).exists():
            continue
        taking_part = participating_practice_codes(year, on=achievement_date)
        codes = [code for code in all_codes if code in taking_part]
        sending = [code for position, code in enumerate(codes) if not (held and position % 3 == 0)]
        if not sending:
            return
        frame = year_end_extract(all_codes, seed=2324)
        frame = frame[
            frame["ORG_CODE"].isin(sending) & ~frame["IND_CODE"].isin(["CHOL001", "CHOL002"])
        ].copy()
        numerator = frame["FIELD_NAME"] == "Numerator"
        frame.loc[numerator, "VALUE"] = np.floor(frame.loc[numerator, "VALUE"] * progress).astype(np.int64)
        frame = frame.assign(
            QUALITY_SERVICE=year.code, NAME=year.name, ACH_DATE=day, SUBMIT_DATE=f"02/{day[4:6]}/{day[:4]}"
        )
        with tempfile.TemporaryDirectory() as directory:
            path = write_extract(frame, Path(directory) / f"{year.code}_{day}.csv")
            load_extract(path=path, file_name=path.name, by=None, service_year=year)
        run = calculation_actions.start_run(
            service_year=year, achievement_date=achievement_date, by=None, reason="Demo data"
        )
        calculation_actions.calculate_in_process(run=run)


# The demo's data are of 2024/25 in year, so that is its in-year service: its manual entry stays open this
# many days from whenever the demo is loaded, so that it can be tried.
DEMO_MANUAL_ENTRY_OPEN_DAYS = 28


def open_demo_manual_entry() -> None:
    """Move the in-year service's manual-entry deadline to four weeks from today (only ever later), so the
    window is open whenever the demo runs (docs/adr/0016-notices-and-calendar.md)."""
    year = ServiceYear.objects.filter(code=DEMO_NEXT_YEAR).first()
    if year is None:
        return
    open_until = timezone.localdate() + dt.timedelta(days=DEMO_MANUAL_ENTRY_OPEN_DAYS)
    if year.manual_entry_deadline < open_until - dt.timedelta(days=7):
        participation_actions.update_service_year(
            service_year=year, changes={"manual_entry_deadline": open_until}, by=None
        )


DEMO_NOTICE_TITLE = "Demo: QOF 2024/25 manual entry is open"


def publish_demo_notice() -> None:
    """One service notice in force, as Service Management would publish it (once)."""
    year = ServiceYear.objects.filter(code=DEMO_NEXT_YEAR).first()
    if year is None or Notice.objects.filter(title=DEMO_NOTICE_TITLE, archived_at__isnull=True).exists():
        return
    publish_notice(
        values={
            "title": DEMO_NOTICE_TITLE,
            "body": f"Practices can enter their {year.name} manual indicators until "
            f"{year.manual_entry_deadline:%-d %B %Y}. After that only the commissioner can enter them.",
            "audience": Audience.PRACTICES,
            "service": year.service,
        },
        by=None,
    )


# --- Payments (docs/adr/0013-payments.md) ---------------------------------------------------------------


def run_demo_payments(icb: Organisation) -> None:
    """Statements with content: 2023/24's year end approved and released, 2024/25's aspiration approved and
    its instalments released and paid, and two practices recalculated after payment with corrected list
    sizes, one up (an adjustment) and one down (a recovery), approved for the next release. Idempotent."""
    from payments import actions as payment_actions
    from payments.models import PaymentLine

    year = ServiceYear.objects.filter(code=DEMO_CALCULATION_YEAR).first()
    following = ServiceYear.objects.filter(code=DEMO_NEXT_YEAR).first()
    if year is None or following is None or PaymentLine.objects.exists():
        return
    if not Publication.objects.filter(service_year=year, achievement_date=year.end_date).exists():
        return
    payment_actions.approve_year_end_nationally(service_year=year)
    payment_actions.approve_aspiration_nationally(service_year=following)
    batch, _ = payment_actions.release(cutoff=timezone.now(), by=None)
    paid = [f"{reference},PAID," for reference in batch.lines.values_list("reference", flat=True)]
    payment_actions.import_acknowledgement(
        text="\r\n".join(["LINE_REFERENCE,STATUS,REASON", *paid, ""]), by=None
    )
    codes = _demo_year_end_practices(year)[:2]
    from calculation.models import PracticeListSize
    from calculation.pipeline import cpi_list_date

    sizes = dict(
        PracticeListSize.objects.filter(practice__code__in=codes, list_date=cpi_list_date(year)).values_list(
            "practice__code", "registered_patients"
        )
    )
    prevalence = dict(
        PracticeListSize.objects.filter(practice__code__in=codes, list_date=year.end_date).values_list(
            "practice__code", "registered_patients"
        )
    )
    # One practice's January list was 5% short (paid more now), the other's 5% long (a recovery).
    rows = [
        (code, sizes[code] * factor // 100, prevalence[code])
        for code, factor in zip(codes, (105, 95), strict=False)
        if code in sizes and code in prevalence
    ]
    calculation_actions.load_list_sizes(service_year=year, rows=rows, by=None)
    for code in codes:
        practice = Organisation.objects.get(code=code)
        run = calculation_actions.start_run(
            service_year=year, achievement_date=year.end_date, by=None, organisation=practice,
            reason="Demo data: list size corrected after payment",
        )  # fmt: skip
        calculation_actions.calculate_in_process(run=run)
    awaiting = list(PaymentLine.objects.filter(status=PaymentLine.Status.AWAITING_APPROVAL))
    for commissioner in Organisation.objects.filter(pk__in={line.commissioner_id for line in awaiting}):
        payment_actions.approve_lines(commissioner=commissioner, lines=awaiting, by=None)


# --- Extracts and manual entry (docs/adr/0005-extracts-and-manual-entry.md) --------------------------------

DEMO_EXTRACT_YEAR = "QOF2324"


def load_demo_extract(icb: Organisation) -> None:
    """Load a synthetic QOF 2023/24 year-end extract for the ICB's participating practices, and answer the
    manual indicators of some of them: every answer for the first third, the first half of them for the
    next third, none for the rest, so the checklist shows each state.

    The file is generated from a fixed seed, so a second run produces the same bytes and `load_extract`
    recognises it (same SHA-256); answers already given are left as they are.
    """
    service_year = ServiceYear.objects.filter(code=DEMO_EXTRACT_YEAR).first()
    if service_year is None:
        return
    codes = sorted(
        Organisation.objects.filter(
            type=OrganisationType.PRACTICE,
            parent__parent=icb,
            code__in=participating_practice_codes(service_year, on=service_year.end_date),
        ).values_list("code", flat=True)
    )
    if not codes:
        return
    with tempfile.TemporaryDirectory() as directory:
        path = write_extract(year_end_extract(codes, seed=2324), Path(directory) / "QOF2324_year_end.csv")
        load_extract(path=path, file_name=path.name, by=None, service_year=service_year)
    indicators = [indicator.code for indicator in manual_indicators(service_year)]
    practices = {p.code: p for p in Organisation.objects.filter(code__in=codes)}
    third = len(codes) // 3
    for position, code in enumerate(codes[: 2 * third]):
        answered = indicators if position < third else indicators[: len(indicators) // 2]
        answers = dict.fromkeys(answered, position % 5 != 4)
        enter_manual_answers(practice=practices[code], service_year=service_year, answers=answers, by=None)


# --- Services beyond QOF (docs/adr/0015-service-kinds.md) ------------------------------------------------

DEMO_SERVICES_START = dt.date(2023, 4, 1)
DEMO_LD_YEAR = "LDHC2324"
DEMO_NETWORK_YEAR = "NCD2324"
# The Network Contract DES months calculated: enough to see instalments, few enough to load in a second.
DEMO_NETWORK_MONTHS = [dt.date(2023, 4, 30), dt.date(2023, 5, 31), dt.date(2023, 6, 30)]


def run_demo_services(icb: Organisation, *, journey_practice: str) -> None:
    """The ICB's practices also take part in the Learning Disabilities health check (a year of quarterly
    claims, within each practice's LD register) and the Network Contract DES (three months, each PCN paid
    through its nominated payee: the practice manager's own practice for its PCN). Every date is published
    and declared; the other practices' (and PCNs') first declarations are declared and approved through to
    finance, so their statements show each service's line; the practice manager's practice has several to
    declare, its PCN's network achievement among them.
    Idempotent."""
    from payments import actions as payment_actions

    ld_year = ServiceYear.objects.filter(code=DEMO_LD_YEAR).first()
    network_year = ServiceYear.objects.filter(code=DEMO_NETWORK_YEAR).first()
    if ld_year is None or network_year is None:
        return
    practices = list(
        Organisation.objects.filter(type=OrganisationType.PRACTICE, parent__parent=icb).order_by("code")
    )
    _demo_participate_all(ld_year, practices)
    _demo_ld_claims(ld_year, practices)
    # A practice is paid the Network Contract DES only while in a PCN and taking part in the year (ADR
    # 0018): every member of the demo's PCNs has signed up.
    in_a_pcn = set(PcnMembership.objects.filter(practice__in=practices).values_list("practice_id", flat=True))
    _demo_participate_all(network_year, [practice for practice in practices if practice.pk in in_a_pcn])
    _demo_network_inputs(network_year, practices, journey_practice)
    _publish_unpublished(ld_year, ld_year.achievement_dates)
    _publish_unpublished(network_year, DEMO_NETWORK_MONTHS)
    # The practice manager's practice declares its own achievement and, as its PCN's nominated payee, the
    # PCN's network achievement (ADR 0018): those are left for them.
    theirs = Q(practice__code=journey_practice) | Q(
        practice__in=NominatedPayee.objects.filter(payee__code=journey_practice).values("pcn")
    )
    for year, first_date in ((ld_year, ld_year.achievement_dates[0]), (network_year, DEMO_NETWORK_MONTHS[0])):
        waiting = Declaration.objects.filter(
            service_year=year, achievement_date=first_date, state=Declaration.State.AWAITING_PRACTICE
        ).exclude(theirs)
        if Declaration.objects.filter(service_year=year, declared_at__isnull=False).exists():
            continue
        for declaration in waiting.select_related("practice", "service_year").order_by("practice__code"):
            declared = declaration_actions.declare(
                declaration=declaration, by=None, statement_accepted=True, notes="Demo declaration"
            )
            approved = declaration_actions.approve(declaration=declared, by=None)
            declaration_actions.financially_approve(declaration=approved, by=None)
    # Their payment lines wait for the next release on each practice's statement.
    payment_actions.pay_approved_declarations()
    run_demo_network_points(practices)


DEMO_IIF_YEAR = "IIF2425"
# The demo extract's IIF indicators: (indicator, share of the list in the denominator, lowest and highest
# achievement in percent across the practices). HI-03's denominator is the practice's LD register.
DEMO_IIF_INDICATORS = [
    ("ACC-08", Decimal("0.4"), 82, 93),
    ("HI-03", None, 50, 88),
    ("VI-01", Decimal("0.18"), 72, 89),
    ("VI-02", Decimal("0.1"), 45, 85),
    ("VI-03", Decimal("0.025"), 35, 80),
]


def run_demo_network_points(practices: list[Organisation]) -> None:
    """The Investment and Impact Fund 2024/25 (ADR 0019): a year-end extract of the five IIF indicators for
    every practice, summed to its PCN by a national run and published, so each PCN's declaration waits
    for its nominated payee (the practice manager's practice for its PCN) to declare. Idempotent."""
    year = ServiceYear.objects.filter(code=DEMO_IIF_YEAR).first()
    if year is None or Publication.objects.filter(service_year=year).exists():
        return
    _demo_participate_all(year, practices)
    codes = [practice.code for practice in practices]
    cpi_on, end = cpi_list_date(year), year.end_date
    held = dict(
        PracticeListSize.objects.filter(practice__code__in=codes, list_date__lte=cpi_on)
        .order_by("list_date")
        .values_list("practice__code", "registered_patients")
    )
    lists = {code: held.get(code, 4000 + 97 * position) for position, code in enumerate(codes)}
    missing_cpi = set(codes) - set(
        PracticeListSize.objects.filter(practice__code__in=codes, list_date=cpi_on).values_list(
            "practice__code", flat=True
        )
    )
    if missing_cpi:
        rows = [(code, lists[code], lists[code]) for code in sorted(missing_cpi)]
        calculation_actions.load_list_sizes(service_year=year, rows=rows, by=None)
    if not Extract.objects.filter(service_year=year, achievement_date=end).exists():
        rows = []
        head = [year.code, year.name]
        submitted = [f"{end + dt.timedelta(days=2):%d/%m/%Y}", "09:00:00", "Y"]
        for position, code in enumerate(codes):
            register = 20 + (position * 37) % 60
            for number, (indicator, share, low, high) in enumerate(DEMO_IIF_INDICATORS):
                denominator = register if share is None else int(lists[code] * share)
                percent = low + (position * 7 + number * 11) % (high - low + 1)
                fields = [("Numerator", denominator * percent // 100), ("Denominator", denominator)]
                if share is None:
                    fields.append(("LD register", register))
                for field, value in fields:
                    where = [code, f"{end:%Y%m%d}", indicator, field, str(value)]
                    rows.append([*head, *where, "", "DEMO", *submitted])
        _load_demo_rows(year, end, rows)
    _publish_unpublished(year, [end])


def _demo_participate_all(year: ServiceYear, practices: list[Organisation]) -> None:
    offered = set(Offer.objects.filter(service_year=year).values_list("practice_id", flat=True))
    fresh = [practice for practice in practices if practice.pk not in offered]
    if not fresh:
        return
    summary = participation_actions.offer_service(
        service_year=year, practices=fresh, start_date=year.start_date, end_date=year.end_date,
        response_date=year.start_date.replace(month=6, day=30),
        target_date=year.start_date.replace(month=9, day=30), by=None,
    )  # fmt: skip
    for offer in summary.offers:
        participation_actions.accept_offer(offer=offer, by=None)
    participation_actions.approve_offers(offers=summary.offers, by=None)


def _load_demo_rows(year: ServiceYear, achievement_date: dt.date, rows: list[list[str]]) -> None:
    """Load rows in the extract layout as the file a GP system would send for this year and date."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{year.code}_{achievement_date:%Y%m%d}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(EXTRACT_COLUMNS)
            writer.writerows(rows)
        load_extract(path=path, file_name=path.name, by=None, service_year=year)


def _demo_ld_claims(year: ServiceYear, practices: list[Organisation]) -> None:
    """Each practice's quarterly health checks: a register of 20 to 79 and a quarter of it checked each
    quarter but the last, which checks what remains, so the year's checks never pass the register."""
    for quarter, achievement_date in enumerate(year.achievement_dates):
        if Extract.objects.filter(service_year=year, achievement_date=achievement_date).exists():
            continue
        rows = []
        head = [year.code, year.name]
        submitted = [f"{achievement_date + dt.timedelta(days=5):%d/%m/%Y}", "09:00:00", "Y"]
        for position, practice in enumerate(practices):
            register = 20 + (position * 37) % 60
            checks = register // 4 if quarter < 3 else register - 3 * (register // 4) - position % 3
            for field, value in (("Count", checks), ("LD register", register)):
                where = [practice.code, f"{achievement_date:%Y%m%d}", "health_check", field, str(value)]
                rows.append([*head, *where, "", "DEMO", *submitted])
        _load_demo_rows(year, achievement_date, rows)


def _demo_network_inputs(year: ServiceYear, practices: list[Organisation], journey_practice: str) -> None:
    """Weighted and adjusted populations at 1 January beside the registered lists already held (a few
    percent above and below), and a nominated payee for each PCN: the practice manager's practice for its
    own, the first member by code for the others."""
    codes = [practice.code for practice in practices]
    on, end = cpi_list_date(year), year.end_date
    held = dict(
        PracticeListSize.objects.filter(practice__code__in=codes, list_date=on).values_list(
            "practice__code", "registered_patients"
        )
    )
    at_end = dict(
        PracticeListSize.objects.filter(practice__code__in=codes, list_date=end).values_list(
            "practice__code", "registered_patients"
        )
    )
    if not PracticeListSize.objects.filter(list_date=on, weighted_patients__isnull=False).exists():
        registered = {code: held.get(code, 4000 + 97 * position) for position, code in enumerate(codes)}
        calculation_actions.load_list_sizes(
            service_year=year,
            rows=[(code, registered[code], at_end.get(code, registered[code])) for code in codes],
            populations={
                code: ((Decimal(size) * Decimal("1.0315")).quantize(Decimal("0.0001")), size * 97 // 100)
                for code, size in registered.items()
            },
            by=None,
        )
    memberships = PcnMembership.objects.filter(practice__in=practices).select_related("pcn", "practice")
    members: dict[Organisation, list[Organisation]] = {}
    for membership in memberships.order_by("practice__code"):
        members.setdefault(membership.pcn, []).append(membership.practice)
    for pcn, in_pcn in members.items():
        if NominatedPayee.objects.filter(pcn=pcn).exists():
            continue
        payee = next((p for p in in_pcn if p.code == journey_practice), in_pcn[0])
        nominated = calculation_actions.nominate_payee(
            pcn=pcn, payee=payee, start_date=DEMO_SERVICES_START, by=None
        )
        for run in nominated.runs:  # none on a first load: no network date is published yet
            calculation_actions.calculate_in_process(run=run)


# --- A run to watch (docs/adr/0017-service-management-and-charts.md) -------------------------------------


def watchable_run(service_year: ServiceYear, achievement_date: dt.date, *, pause: float, step=None):
    """Start a run and take it through its stages here, pausing between them, so that a person watching the
    run's page in `make demo` (which runs tasks in-process, where a run otherwise finishes inside the
    request that starts it) sees the stage change and the progress bar fill. `step(run)` is told each
    stage as the run reaches it."""
    run = calculation_actions.start_run(
        service_year=service_year, achievement_date=achievement_date, by=None, reason="Demo: a run to watch"
    )

    def reached(run):
        run.refresh_from_db()
        if step is not None:
            step(run)
        time.sleep(pause)

    reached(run)
    for commissioner_id in calculation_actions.begin_run(run_id=run.pk, attempt=run.attempt) or []:
        reached(run)
        calculation_actions.calculate_commissioner(
            run_id=run.pk, attempt=run.attempt, commissioner_id=commissioner_id
        )
    reached(run)
    calculation_actions.publish_run(run_id=run.pk, attempt=run.attempt)
    run.refresh_from_db()
    if step is not None:
        step(run)
    return run


def demo_run_date(service_year: ServiceYear) -> dt.date | None:
    """The latest in-year date with data: re-running it touches no declaration, unlike the year end."""
    return (
        Extract.objects.filter(service_year=service_year, achievement_date__lt=service_year.end_date)
        .order_by("-achievement_date")
        .values_list("achievement_date", flat=True)
        .first()
    )
