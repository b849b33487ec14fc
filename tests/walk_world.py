"""A small world with one of everything the portal's URLs take, built through the real actions, for the URL
walk and the action-guard tests: the test tree, offers, a year practices take part in with a manual
indicator and extracts, a published year end, a failed calculation run, an upload, and a member of staff at
each organisation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import Membership, Organisation, OrganisationType, RoleGrantRequest, User
from accounts.roles import Role
from calculation import actions as calculation_actions
from calculation.models import CalculationRun, PrevalenceReview
from declarations import actions as declaration_actions
from declarations.models import Declaration, DeclarationRevision, Freeze
from extracts import actions as extract_actions
from extracts.models import Extract, ExtractUpload
from notices import actions as notice_actions
from notices.models import Notice
from participation import actions as participation_actions
from participation.models import Offer, ServiceYear
from tests.engine.engine_extract_helpers import HEADER, extract_row
from tests.factories import build_organisation_tree, one_offer_per_practice, service_year, user_with_roles

# The year whose manual answers, extracts and runs the walk uses: practices take part automatically.
WALK_YEAR = "QOF2627"
MANUAL_INDICATOR = "QI001"
IN_YEAR_DATE = dt.date(2026, 6, 30)
# A role each kind of organisation may hold, for the member of staff the user-administration pages act on.
CONFIRMED_ROLE_AT = {
    "01A": Role.APPROVAL_MANAGEMENT,
    "QAA": Role.FINANCE_MANAGEMENT,
    "ENG": Role.SUPPORT,
}
MEMBER_ROLE = {
    OrganisationType.PRACTICE: Role.VIEW,
    OrganisationType.SUB_ICB: Role.VIEW,
    OrganisationType.ICB: Role.VIEW,
    OrganisationType.NATIONAL: Role.USER_ADMIN,
}


@dataclass
class World:
    tree: dict[str, Organisation]
    offers: dict[str, Offer]  # QOF 2023/24, still offered, one per practice code
    year: ServiceYear  # WALK_YEAR
    extract: Extract
    run: CalculationRun  # failed, so it can be retried
    held_run: CalculationRun  # held for Support to confirm its prevalence
    upload: ExtractUpload
    members: dict[str, User]  # a member of staff at each organisation that holds roles
    memberships: dict[str, Membership]
    loader: User  # national Support, who loaded the extract
    # The year end's declarations, one in each state: A00001 to declare, A00002 to approve, A00003 to
    # financially approve (and flagged by a recalculation: `revision`), B00001 sent for payment.
    declarations: dict[str, Declaration]
    revision: DeclarationRevision
    freeze: Freeze  # standing, of QOF 2023/24 (not the walk's year), to be lifted
    # A role that needs a second administrator, given to the member at each commissioner and national by
    # another administrator there and waiting for confirmation.
    grant_requests: dict[str, RoleGrantRequest]
    notice: Notice | None = None  # in force, to everyone about every service

    @property
    def practices(self) -> list[Organisation]:
        return [o for o in self.tree.values() if o.type == OrganisationType.PRACTICE]


def extract_file(year: ServiceYear, on: dt.date, practices) -> SimpleUploadedFile:
    rows = [
        extract_row(
            practice.code, MANUAL_INDICATOR, "Yes/No Flag", "1", service=year.code, date=f"{on:%Y%m%d}",
            name=year.name,
        )
        for practice in practices
    ]  # fmt: skip
    return SimpleUploadedFile("walk.csv", "\r\n".join([HEADER, *rows, ""]).encode(), content_type="text/csv")


def _payments(year: ServiceYear, practices) -> None:
    """Balances of the published year end released in a batch (so its agency file can be downloaded), and a
    small recovery of A00001 awaiting approval, as a recalculation after payment leaves one."""
    from payments import actions as payment_actions
    from payments.models import PaymentLine

    payment_actions.approve_year_end_nationally(service_year=year)
    payment_actions.release(cutoff=timezone.now(), by=None)
    practice = next(p for p in practices if p.code == "A00001")
    PaymentLine.objects.create(
        reference=f"ADJ-{year.code}-A00001-WALK", payee=practice, commissioner=practice.parent,
        service_year=year, achievement_date=year.end_date, component=PaymentLine.Component.ADJUSTMENT,
        amount=Decimal("-1.50"), due_date=year.end_date, status=PaymentLine.Status.AWAITING_APPROVAL,
        description="The walk's small recovery",
    )  # fmt: skip


def build_world(upload_directory) -> World:
    tree = build_organisation_tree()
    offers = {offer.practice.code: offer for offer in one_offer_per_practice(tree)}
    year = service_year(WALK_YEAR, automatic_participation=True)
    year = participation_actions.update_service_year(
        service_year=year,
        # Open for entry whatever today is, so the walk never depends on the date it runs.
        changes={
            "manual_entry_deadline": timezone.localdate() + dt.timedelta(days=365),
            "national_average_list_size": 9000,
        },
        by=None,
    )
    participation_actions.create_indicator(
        values={
            "service_year": year,
            "code": MANUAL_INDICATOR,
            "group_code": "QI",
            "group_description": "Quality improvement",
            "domain_code": "QI",
            "points": Decimal("27"),
            "kind": "manual",
            "patient_list": "TOTAL",
            "prevalence_adjusted": False,
        },
        by=None,
    )
    loader = user_with_roles(tree["ENG"], Role.SUPPORT)
    practices = [o for o in tree.values() if o.type == OrganisationType.PRACTICE]
    extract = None
    for on in (IN_YEAR_DATE, year.end_date):
        path = upload_directory / f"walk-{on:%Y%m%d}.csv"
        path.write_bytes(extract_file(year, on, practices).read())
        extract = extract_actions.load_extract(path=path, file_name=path.name, by=loader).extract
    # A published year end, so that the pages about achievement have figures to explain.
    calculation_actions.load_list_sizes(
        service_year=year, rows=[(practice.code, 9000, 9000) for practice in practices], by=None
    )
    published = calculation_actions.start_run(service_year=year, achievement_date=year.end_date, by=loader)
    calculation_actions.calculate_in_process(run=published)
    run = calculation_actions.start_run(service_year=year, achievement_date=IN_YEAR_DATE, by=loader)
    calculation_actions.fail_run(run_id=run.pk, attempt=run.attempt, error="The walk's failed run")
    run.refresh_from_db()
    held_run = calculation_actions.start_run(
        service_year=year,
        achievement_date=IN_YEAR_DATE,
        by=loader,
        organisation=practices[0],
        reason="The walk's held run",
    )
    # Held as the prevalence checks hold a run with outliers, so that Support has a decision to make.
    held_run.status, held_run.stage = CalculationRun.Status.HELD, CalculationRun.Stage.CONFIRMATION
    held_run.save()
    PrevalenceReview.objects.create(run=held_run, decision=PrevalenceReview.Decision.PENDING)
    _payments(year, practices)
    upload = extract_actions.receive_upload(upload=extract_file(year, IN_YEAR_DATE, practices), by=loader)
    members, memberships = {}, {}
    for code, organisation in tree.items():
        role = MEMBER_ROLE.get(organisation.type)
        if role is None:
            continue
        member = user_with_roles(organisation, role, email=f"member.{code.lower()}@nhs.net")
        members[code] = member
        memberships[code] = member.memberships.get()
    declarations, revision = _declarations_in_every_state(published)
    freeze = declaration_actions.freeze(
        service_year=next(iter(offers.values())).service_year, reason="The walk's freeze", by=None
    )
    grant_requests = {}
    for code, role in CONFIRMED_ROLE_AT.items():
        organisation = tree[code]
        requester = user_with_roles(organisation, Role.USER_ADMIN, email=f"requester.{code.lower()}@nhs.net")
        grant_requests[code] = account_actions.grant_role(
            user=members[code], organisation=organisation, role=role, by=requester
        )
    notice = notice_actions.publish_notice(
        values={"title": "The walk's notice", "body": "Read me.", "audience": "everyone"}, by=None
    )
    return World(
        tree, offers, year, extract, run, held_run, upload, members, memberships, loader, declarations,
        revision, freeze, grant_requests, notice,
    )  # fmt: skip


def _declarations_in_every_state(
    published: CalculationRun,
) -> tuple[dict[str, Declaration], DeclarationRevision]:
    def live():
        return {
            d.practice.code: d for d in Declaration.objects.filter(run=published).select_related("practice")
        }

    for code in ("A00002", "A00003", "B00001"):
        declaration_actions.declare(declaration=live()[code], by=None, statement_accepted=True)
    for code in ("A00003", "B00001"):
        declaration_actions.approve(declaration=live()[code], by=None)
    declaration_actions.financially_approve(declaration=live()["B00001"], by=None)
    sent = live()["B00001"]
    declaration_actions.mark_sent_for_payment(declaration_ids=[sent.pk], reference="WALK-1")
    # A flagged payment for the commissioner to confirm, on a practice inside the walk's holders' reach (the
    # races act as those holders): as a recalculation that lowered A00003's figures after an earlier
    # payment would leave it.
    flagged = live()["A00003"]
    revision = DeclarationRevision.objects.create(
        declaration=flagged, outcome=DeclarationRevision.Outcome.FLAGGED, previous_run=published,
        run=published, previous_state=Declaration.State.SENT, previous_points=flagged.points + 1,
        points=flagged.points, previous_payment=flagged.payment + 100, payment=flagged.payment,
        difference=Decimal(-100),
    )  # fmt: skip
    return live(), revision
