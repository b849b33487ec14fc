"""Runs of the services not paid in points (docs/adr/0015-service-kinds.md): item-of-service claims loaded as
extracts and paid through a calculation run, the Network Contract DES month through a run from list sizes,
dated PCN memberships and dated payee nominations; published atomically as QOF is."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Q
from django.utils import timezone

from accounts.models import PcnMembership
from calculation import actions
from calculation.models import CalculationRun, PracticeListSize, PracticeResult, Publication, ServiceLine
from extracts import actions as extract_actions
from extracts.actions import ExtractRejected, load_extract
from extracts.models import ExtractUpload
from participation.models import NominatedPayee, ServiceYear
from tests.calculation.helpers import run_to_the_end
from tests.extracts.helpers import HEADER, extract_row, participate, write_extract

Q1, Q2 = dt.date(2025, 6, 30), dt.date(2025, 9, 30)


@pytest.fixture
def rulesets(tree):
    from django.core.management import call_command

    call_command("load_rulesets", verbosity=0)
    return tree


def claim(practice, on, component, count, register=None, service="LDHC2526"):
    date = f"{on:%Y%m%d}"
    rows = [extract_row(practice, component, "Count", count, service=service, date=date, name=service)]
    if register is not None:
        rows.append(
            extract_row(
                practice, component, "LD register", register, service=service, date=date, name=service
            )
        )
    return rows


def load_claims(tmp_path, rows, name):
    return load_extract(path=write_extract(tmp_path, rows, name), file_name=name, by=None)


@pytest.fixture
def ld_year(rulesets):
    year = ServiceYear.objects.get(code="LDHC2526")
    participate(["A00001", "A00002"], year)
    return year


def test_ld_health_checks_are_paid_through_a_run_up_to_the_register(
    ld_year, tmp_path, django_capture_on_commit_callbacks
):
    load_claims(
        tmp_path,
        claim("A00001", Q1, "health_check", 30, 50) + claim("A00002", Q1, "health_check", 4, 9),
        "q1.csv",
    )
    load_claims(tmp_path, claim("A00001", Q2, "health_check", 20, 50), "q2.csv")

    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=ld_year, achievement_date=Q2)

    assert run.status == CalculationRun.Status.PUBLISHED
    assert Publication.objects.get(service_year=ld_year, achievement_date=Q2).run == run
    # Only this quarter's claims are paid by this run; the first quarter's count towards the cap.
    assert list(
        ServiceLine.objects.filter(run=run).values_list(
            "practice__code", "component", "count", "fee", "amount"
        )
    ) == [("A00001", "health_check", 20, Decimal("140.00"), Decimal("2800.00"))]
    result = PracticeResult.objects.get(run=run)
    assert (result.practice.code, result.points, result.payment) == (
        "A00001",
        Decimal("0.00"),
        Decimal("2800.00"),
    )

    first = run_to_the_end(django_capture_on_commit_callbacks, service_year=ld_year, achievement_date=Q1)
    assert sorted(ServiceLine.objects.filter(run=first).values_list("practice__code", "amount")) == [
        ("A00001", Decimal("4200.00")),
        ("A00002", Decimal("560.00")),
    ]


def test_an_ld_claim_over_the_register_is_refused_on_upload_with_its_line_named(ld_year, tmp_path):
    load_claims(tmp_path, claim("A00001", Q1, "health_check", 30, 50), "q1.csv")

    with pytest.raises(ExtractRejected) as refused:
        load_claims(
            tmp_path,
            claim("A00002", Q2, "health_check", 1, 9) + claim("A00001", Q2, "health_check", 21, 50),
            "q2.csv",
        )

    assert [str(problem) for problem in refused.value.problems] == [
        "line 4, field count: health_check: 51 in the year to 2025-09-30 would exceed the register of 50"
    ]
    assert not ld_year.extracts.filter(achievement_date=Q2).exists(), "part of a refused file was stored"


def test_the_portal_upload_refuses_an_ld_claim_over_the_register(ld_year, tree, upload_storage):
    from tests.factories import user_with_roles

    support = user_with_roles(tree["ENG"], "support")
    rows = claim("A00001", Q1, "health_check", 53, 52)
    upload = SimpleUploadedFile("ld.csv", "\r\n".join([HEADER, *rows, ""]).encode(), content_type="text/csv")
    received = extract_actions.receive_upload(upload=upload, by=support)

    finished = extract_actions.load_upload(upload_id=received.pk)

    assert finished.status == ExtractUpload.Status.REJECTED
    assert finished.problems == [
        {
            "line": 2,
            "field": "count",
            "message": "health_check: 53 in the year to 2025-06-30 would exceed the register of 52",
        }
    ]


def test_a_claims_file_is_refused_whole_for_unknown_components_fields_and_a_missing_register(
    ld_year, tmp_path
):
    rows = [
        *claim("A00001", Q1, "health_check", 3),
        extract_row("A00002", "flu_jab", "Count", "2", service="LDHC2526", date="20250630"),
        extract_row("A00002", "health_check", "Numerator", "2", service="LDHC2526", date="20250630"),
    ]
    with pytest.raises(ExtractRejected) as refused:
        load_claims(tmp_path, rows, "bad.csv")
    assert [str(problem) for problem in refused.value.problems] == [
        "line 3, field IND_CODE: 'flu_jab' is not a component of LDHC2526",
        "line 4, field FIELD_NAME: 'Numerator' must be Count or a register field",
    ]
    with pytest.raises(ExtractRejected) as refused:
        load_claims(tmp_path, rows[:1], "no_register.csv")
    assert [str(problem) for problem in refused.value.problems] == [
        "line 2, field FIELD_NAME: health_check is capped by the register: the register field is missing"
    ]


def test_childhood_immunisations_are_paid_count_times_fee_for_the_month(
    rulesets, tmp_path, django_capture_on_commit_callbacks
):
    year = ServiceYear.objects.get(code="CHILDIMMS2526")
    participate(["A00001", "B00001"], year)
    on = dt.date(2025, 5, 31)
    rows = [
        *claim("A00001", on, "routine_childhood_dose", 41, service="CHILDIMMS2526"),
        *claim("B00001", on, "routine_childhood_dose", 7, service="CHILDIMMS2526"),
    ]
    load_claims(tmp_path, rows, "may.csv")

    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=on)

    assert run.kind == CalculationRun.Kind.IN_YEAR and run.status == CalculationRun.Status.PUBLISHED
    assert sorted(PracticeResult.objects.filter(run=run).values_list("practice__code", "payment")) == [
        ("A00001", Decimal("494.46")),  # 41 × £12.06
        ("B00001", Decimal("84.42")),
    ]


def test_a_service_paid_by_item_is_calculated_nationally(ld_year, tree, tmp_path):
    load_claims(tmp_path, claim("A00001", Q1, "health_check", 3, 9), "q1.csv")
    with pytest.raises(ValidationError, match="start a national run"):
        actions.start_run(
            service_year=ld_year, achievement_date=Q1, by=None, organisation=tree["A00001"], reason="x"
        )


# ---- The Network Contract DES --------------------------------------------------------------------------

SEPTEMBER, OCTOBER = dt.date(2024, 9, 30), dt.date(2024, 10, 31)


EVERY_PRACTICE = ("A00001", "A00002", "A00003", "B00001")


@pytest.fixture
def network(rulesets):
    """NCD2425 with every practice's 1 January 2024 lists, U00001 paid through A00001 and U00002 through
    A00003 from the start; every practice takes part in the year."""
    return build_network(rulesets, taking_part=EVERY_PRACTICE)


def build_network(tree, *, taking_part):
    """The practices `taking_part` have their NCD2425 participation offered, accepted and approved for the
    whole year (ADR 0018: paid only while a PCN member *and* participating)."""
    participate(list(taking_part), ServiceYear.objects.get(code="NCD2425"))
    PcnMembership.objects.update(start_date=dt.date(2019, 7, 1))
    populations = {"A00001": (10000, "10234.5", 9000), "A00002": (5000, "4800.25", 5200),
                   "A00003": (3000, "3000", 2800), "B00001": (2000, "2100", 1900)}  # fmt: skip
    for code, (registered, weighted, adjusted) in populations.items():
        PracticeListSize.objects.create(
            practice=tree[code], list_date=dt.date(2024, 1, 1), registered_patients=registered,
            weighted_patients=Decimal(weighted), adjusted_patients=adjusted,
        )  # fmt: skip
    for pcn, payee in (("U00001", "A00001"), ("U00002", "A00003"), ("U00003", "B00001")):
        NominatedPayee.objects.create(pcn=tree[pcn], payee=tree[payee], start_date=dt.date(2019, 7, 1))
    return tree


def move_a00002(tree):
    moved = PcnMembership.objects.get(practice__code="A00002")
    PcnMembership.objects.filter(pk=moved.pk).update(end_date=dt.date(2024, 9, 30))
    PcnMembership.objects.create(practice=moved.practice, pcn=tree["U00002"], start_date=dt.date(2024, 10, 1))


def pcn_populations(run, component):
    return dict(
        ServiceLine.objects.filter(run=run, component=component, practice__isnull=True).values_list(
            "pcn__code", "population"
        )
    )


def test_a_network_contract_month_is_published_to_practices_and_nominated_payees(
    network, django_capture_on_commit_callbacks
):
    year = ServiceYear.objects.get(code="NCD2425")
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER)

    assert run.status == CalculationRun.Status.PUBLISHED, run.error
    npp = ServiceLine.objects.get(run=run, component="network_participation", practice__code="A00001")
    # £1.761 × 10,234.5 = £18,022.95 a year: September is an ordinary instalment, rounded down.
    assert (npp.payee.code, npp.pcn.code, npp.annual, npp.amount) == (
        "A00001",
        "U00001",
        Decimal("18022.95"),
        Decimal("1501.91"),
    )
    core = ServiceLine.objects.get(run=run, component="core_pcn_funding_registered", pcn__code="U00001")
    assert core.practice is None and core.payee.code == "A00001" and core.population == Decimal("15000")
    # Each practice's total is the sum of its own lines, and each PCN's the sum of its aggregate's lines
    # (paid to its payee): each declares its own (ADR 0018).
    results = PracticeResult.objects.filter(run=run).select_related("practice")
    assert {r.practice.code for r in results} == {"A00001", "A00002", "A00003", "B00001", "U00001",
                                                  "U00002", "U00003"}  # fmt: skip
    for result in results:
        own = Q(practice=result.practice) | Q(practice__isnull=True, pcn=result.practice)
        paid = sum(ServiceLine.objects.filter(own, run=run).values_list("amount", flat=True))
        assert result.payment == paid and result.points == 0


def test_a_mid_year_membership_change_re_aggregates_the_pcns_from_its_date(
    network, django_capture_on_commit_callbacks
):
    year = ServiceYear.objects.get(code="NCD2425")
    before = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=OCTOBER)
    assert pcn_populations(before, "core_pcn_funding_registered") == {
        "U00001": Decimal("15000"), "U00002": Decimal("3000"), "U00003": Decimal("2000"),
    }  # fmt: skip

    move_a00002(network)
    october = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=OCTOBER)
    september = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER
    )

    assert pcn_populations(october, "core_pcn_funding_registered") == {
        "U00001": Decimal("10000"), "U00002": Decimal("8000"), "U00003": Decimal("2000"),
    }  # fmt: skip
    assert pcn_populations(september, "core_pcn_funding_registered")["U00001"] == Decimal("15000")
    assert (
        ServiceLine.objects.get(
            run=october, component="network_participation", practice__code="A00002"
        ).pcn.code
        == "U00002"
    )
    # The re-run replaced the earlier publication of October in one move.
    assert Publication.objects.get(service_year=year, achievement_date=OCTOBER).run == october


def test_a_capitation_run_without_a_practices_population_fails_and_publishes_nothing(
    network, django_capture_on_commit_callbacks
):
    PracticeListSize.objects.filter(practice__code="A00003").update(weighted_patients=None)
    year = ServiceYear.objects.get(code="NCD2425")

    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER)

    assert run.status == CalculationRun.Status.FAILED
    assert "at 1 January 2024 for A00003" in run.error
    assert not Publication.objects.filter(service_year=year).exists()
    assert (
        not ServiceLine.objects.filter(run=run).exists()
        and not PracticeResult.objects.filter(run=run).exists()
    )


def test_a_pcn_without_a_nominated_payee_on_the_date_is_published_without_its_aggregate(
    network, django_capture_on_commit_callbacks
):
    NominatedPayee.objects.filter(pcn__code="U00002").update(end_date=dt.date(2024, 8, 31))
    year = ServiceYear.objects.get(code="NCD2425")

    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER)

    # Its member's own NPP is paid; the PCN's aggregate waits for a payee (ADR 0018).
    assert run.status == CalculationRun.Status.PUBLISHED, run.error
    assert ServiceLine.objects.filter(run=run, practice__code="A00003").exists()
    assert not ServiceLine.objects.filter(run=run, pcn__code="U00002", practice__isnull=True).exists()
    assert not PracticeResult.objects.filter(run=run, practice__code="U00002").exists()


# ---- Declaring services paid per achievement date -------------------------------------------------------


def test_a_new_nomination_ends_the_last_and_each_month_pays_the_payee_nominated_then(
    network, django_capture_on_commit_callbacks
):
    from calculation.actions import nominate_payee

    with pytest.raises(ValidationError, match="B00001 is not a member of U00001"):
        nominate_payee(pcn=network["U00001"], payee=network["B00001"], start_date=OCTOBER, by=None)
    nominate_payee(pcn=network["U00001"], payee=network["A00002"], start_date=dt.date(2024, 10, 1), by=None)

    assert list(NominatedPayee.objects.filter(pcn__code="U00001").values_list("payee__code", "end_date")) == [
        ("A00001", dt.date(2024, 9, 30)),
        ("A00002", None),
    ]
    year = ServiceYear.objects.get(code="NCD2425")
    for on, payee in ((SEPTEMBER, "A00001"), (OCTOBER, "A00002")):
        run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=on)
        paid = ServiceLine.objects.filter(run=run, pcn__code="U00001", practice__isnull=True)
        assert set(paid.values_list("payee__code", flat=True)) == {payee}


# ---- Paying them through the release ---------------------------------------------------------------------


def approve_through_finance(declaration):
    from declarations import actions as declaration_actions

    declared = declaration_actions.declare(declaration=declaration, by=None, statement_accepted=True)
    approved = declaration_actions.approve(declaration=declared, by=None)
    return declaration_actions.financially_approve(declaration=approved, by=None)


def test_approved_service_declarations_are_paid_by_component_to_the_practice_or_the_pcns_payee(
    network, ld_year, tmp_path, django_capture_on_commit_callbacks
):
    from declarations.models import Declaration
    from payments import actions as payment_actions
    from payments import selectors as payment_selectors
    from payments.models import PaymentLine

    L = PaymentLine
    load_claims(tmp_path, claim("A00001", Q1, "health_check", 30, 50), "q1.csv")
    run_to_the_end(django_capture_on_commit_callbacks, service_year=ld_year, achievement_date=Q1)
    network_year = ServiceYear.objects.get(code="NCD2425")
    run_to_the_end(django_capture_on_commit_callbacks, service_year=network_year, achievement_date=SEPTEMBER)
    # A00001's own declarations and its PCN's, which it declares as the PCN's nominated payee.
    for declaration in Declaration.objects.filter(practice__code__in=["A00001", "U00001"]):
        approve_through_finance(declaration)
    waiting = Declaration.objects.get(practice__code="A00002", service_year=network_year)

    batch, _ = payment_actions.release(cutoff=timezone.now(), by=None)

    lines = {
        (line.service_year.code, line.component): line
        for line in L.objects.filter(payee__code="A00001").select_related("service_year")
    }
    assert sorted(lines) == [
        ("LDHC2526", L.Component.ITEM_OF_SERVICE),
        ("NCD2425", L.Component.CAPITATION),
        ("NCD2425", L.Component.NETWORK_PAYMENT),
    ]
    assert lines[("LDHC2526", L.Component.ITEM_OF_SERVICE)].amount == Decimal("4200.00")
    assert lines[("NCD2425", L.Component.CAPITATION)].amount == Decimal("1501.91")  # its own NPP
    network_lines = ServiceLine.objects.filter(
        run__service_year=network_year, pcn__code="U00001", practice=None
    )
    assert lines[("NCD2425", L.Component.NETWORK_PAYMENT)].amount == sum(
        line.amount for line in network_lines
    )
    assert all(line.batch == batch and line.status == L.Status.RELEASED for line in lines.values())
    assert set(
        Declaration.objects.filter(practice__code__in=["A00001", "U00001"]).values_list("state", flat=True)
    ) == {"sent"}
    assert lines[("NCD2425", L.Component.NETWORK_PAYMENT)].declaration.practice.code == "U00001"
    assert not L.objects.filter(declaration=waiting).exists(), "a declaration not approved was paid"
    # The practice's statement for each year shows what was released.
    statement = payment_selectors.statement(network["A00001"], network_year)
    assert [row.line.component for row in statement["rows"]] == ["CAPITATION", "NETWORK_PAYMENT"]
    # Looking again adds nothing.
    assert payment_actions.pay_approved_declarations() == 0


# ---- Reports -----------------------------------------------------------------------------------------------


def test_the_achievement_summary_of_a_service_lists_its_payment_lines(
    network, client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from accounts.roles import Role
    from tests.factories import user_with_roles

    year = ServiceYear.objects.get(code="NCD2425")
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER)
    client.force_login(user_with_roles(network["A00001"], Role.VIEW, Role.FINANCE_VIEW))
    publication = Publication.objects.get(run=run)

    page = client.get(reverse("reports:practice_summary", args=["A00001"]), {"publication": publication.pk})

    text = page.content.decode()
    assert page.status_code == 200
    assert "Payment lines" in text and "Points by domain" not in text
    assert "network_participation" in text and "as its nominated payee" in text
    assert "£1,501.91" in text  # the practice's own NPP instalment
    total = PracticeResult.objects.get(run=run, practice__code="A00001").payment
    assert f"£{total:,}" in text

    # The commissioner's provider report lists each PCN's aggregate beside its practices, with no link to
    # the pages that are for practices only.
    client.force_login(user_with_roles(network["01A"], Role.VIEW))
    page = client.get(reverse("reports:provider_report", args=["01A"]), {"publication": publication.pk})
    assert page.status_code == 200
    rows = [row.record.practice.code for row in page.context["table"].rows]
    assert rows == ["A00001", "A00002", "U00001"]
    text = page.content.decode()
    assert reverse("reports:practice_summary", args=["A00001"]) in text
    assert reverse("reports:practice_summary", args=["U00001"]) not in text
    assert reverse("payments:statement", args=["U00001"]) not in text


# ---- Network declarations (docs/adr/0018-network-declarations.md) ----------------------------------------


def test_a_network_declaration_waits_for_the_pcn_then_its_payee_declares_and_the_payee_is_paid(
    network, client, django_capture_on_commit_callbacks
):
    from django.core.exceptions import PermissionDenied
    from django.http import Http404
    from django.urls import reverse

    from accounts.models import AuditEvent
    from accounts.roles import Role
    from calculation import tasks
    from calculation.actions import nominate_payee
    from declarations import actions as declaration_actions
    from declarations.models import Declaration
    from declarations.selectors import declaration_for
    from notifications.models import Notification
    from payments import actions as payment_actions
    from payments import selectors as payment_selectors
    from payments.models import PaymentLine
    from tests.factories import user_with_roles

    S = Declaration.State
    year = ServiceYear.objects.get(code="NCD2425")
    payee_user = user_with_roles(network["A00001"], Role.DECLARATION_MANAGEMENT, Role.VIEW, Role.FINANCE_VIEW)
    member_user = user_with_roles(network["A00002"], Role.DECLARATION_MANAGEMENT, Role.VIEW)
    approver = user_with_roles(network["QAA"], Role.APPROVAL_MANAGEMENT)
    finance = user_with_roles(network["QAA"], Role.FINANCE_MANAGEMENT)
    # U00001 has not nominated its payee for September yet.
    NominatedPayee.objects.filter(pcn__code="U00001").delete()

    first = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER)

    states = dict(Declaration.objects.filter(service_year=year).values_list("practice__code", "state"))
    assert states == {
        "A00001": S.AWAITING_NETWORK, "A00002": S.AWAITING_NETWORK,  # U00001's aggregate does not exist
        "A00003": S.AWAITING_PRACTICE, "U00002": S.AWAITING_PRACTICE,
        "B00001": S.AWAITING_PRACTICE, "U00003": S.AWAITING_PRACTICE,
    }  # fmt: skip
    waiting = Declaration.objects.get(service_year=year, practice__code="A00002")
    with pytest.raises(ValidationError, match="Awaiting Network Achievement"):
        declaration_actions.declare(declaration=waiting, by=member_user, statement_accepted=True)
    client.force_login(member_user)
    page = client.get(reverse("declarations:detail", args=[waiting.pk]))
    assert "Awaiting Network Achievement" in page.content.decode()
    assert 'data-testid="awaiting-network"' in page.content.decode()

    # The PCN nominates A00001 from 1 September: the published month is run again, and the aggregate is
    # published.
    with django_capture_on_commit_callbacks(execute=True):
        nominated = nominate_payee(
            pcn=network["U00001"], payee=network["A00001"], start_date=dt.date(2024, 9, 1), by=None
        )
        assert [(run.achievement_date, run.kind) for run in nominated.runs] == [(SEPTEMBER, "recalculation")]
        tasks.queue_run(nominated.runs[0])
    second = CalculationRun.objects.get(pk=nominated.runs[0].pk)

    assert second.status == CalculationRun.Status.PUBLISHED, second.error
    states = dict(Declaration.objects.filter(service_year=year).values_list("practice__code", "state"))
    assert states["A00001"] == states["A00002"] == states["U00001"] == S.AWAITING_PRACTICE
    assert AuditEvent.objects.filter(action="declarations.network_achievement_published").count() == 2
    pcn_declaration = Declaration.objects.get(service_year=year, practice__code="U00001")
    aggregate = ServiceLine.objects.filter(run=second, pcn__code="U00001", practice__isnull=True)
    assert pcn_declaration.payment == sum(line.amount for line in aggregate) > 0
    # The payee's declaration managers are told the PCN's achievement is theirs to declare.
    assert Notification.objects.filter(user=payee_user, link__endswith=f"/{pcn_declaration.pk}/").exists()

    # A member that is not the payee neither sees nor declares the PCN's declaration.
    with pytest.raises(Http404):
        declaration_for(member_user, pcn_declaration.pk)
    assert client.get(reverse("declarations:detail", args=[pcn_declaration.pk])).status_code == 404
    assert client.post(reverse("declarations:declare", args=[pcn_declaration.pk])).status_code == 404
    with pytest.raises(PermissionDenied):
        declaration_actions.declare(declaration=pcn_declaration, by=member_user, statement_accepted=True)

    # The payee declares it through the page, the commissioner approves and financially approves it.
    client.force_login(payee_user)
    page = client.get(reverse("declarations:detail", args=[pcn_declaration.pk]))
    assert 'data-testid="network-payee"' in page.content.decode() and "Declare this achievement" in (
        page.content.decode()
    )
    response = client.post(reverse("declarations:declare", args=[pcn_declaration.pk]), {"statement": "on"})
    assert response.status_code == 302
    pcn_declaration.refresh_from_db()
    assert pcn_declaration.state == S.AWAITING_COMMISSIONER and pcn_declaration.declared_by == payee_user
    # Approved from the commissioner's list, as a selection, then financially approved.
    assert declaration_actions.bulk_approve(declarations=[pcn_declaration], by=approver).done == 1
    declaration_actions.bulk_financially_approve(declarations=[pcn_declaration], by=finance)

    batch, _ = payment_actions.release(cutoff=timezone.now(), by=None)

    line = PaymentLine.objects.get(declaration=pcn_declaration)
    assert (line.payee.code, line.component, line.amount) == (
        "A00001", PaymentLine.Component.NETWORK_PAYMENT, pcn_declaration.payment,
    )  # fmt: skip
    assert line.batch == batch and line.commissioner == network["A00001"].parent
    pcn_declaration.refresh_from_db()
    assert pcn_declaration.state == S.SENT
    statement = payment_selectors.statement(network["A00001"], year)
    assert [row.line.component for row in statement["rows"]] == ["NETWORK_PAYMENT"]
    assert first.pk != second.pk


def test_a_membership_change_mid_year_re_aggregates_and_reverts_the_pcns_declarations(
    network, django_capture_on_commit_callbacks
):
    from django.core.exceptions import PermissionDenied

    from accounts.models import AuditEvent
    from accounts.roles import Role
    from calculation import tasks
    from declarations import actions as declaration_actions
    from declarations.models import Declaration, DeclarationRevision
    from notifications.models import Notification
    from tests.factories import user_with_roles

    S = Declaration.State
    year = ServiceYear.objects.get(code="NCD2425")
    payee_user = user_with_roles(network["A00001"], Role.DECLARATION_MANAGEMENT)
    commissioner = user_with_roles(network["QAA"], Role.COMMISSIONING_MANAGEMENT)
    for on in (SEPTEMBER, OCTOBER):
        run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=on)
    declared = {}
    for on in (SEPTEMBER, OCTOBER):
        for code in ("U00001", "U00002", "A00002"):
            declaration = Declaration.objects.get(service_year=year, achievement_date=on, practice__code=code)
            made = declaration_actions.declare(declaration=declaration, by=None, statement_accepted=True)
            declared[on, code] = declaration_actions.approve(declaration=made, by=None)

    with pytest.raises(PermissionDenied):
        actions.change_pcn_membership(
            practice=network["A00002"], pcn=network["U00002"], start_date=dt.date(2024, 10, 1), by=payee_user
        )
    with pytest.raises(ValidationError, match="A00001 is U00001's nominated payee"):
        actions.change_pcn_membership(
            practice=network["A00001"], pcn=None, start_date=dt.date(2024, 10, 1), by=commissioner
        )
    # A00002 moves from U00001 to U00002 on 1 October (ODS dates): October is re-aggregated, not September.
    with django_capture_on_commit_callbacks(execute=True):
        change = actions.change_pcn_membership(
            practice=network["A00002"], pcn=network["U00002"], start_date=dt.date(2024, 10, 1),
            by=commissioner,
        )  # fmt: skip
        assert [(r.achievement_date, r.kind) for r in change.runs] == [(OCTOBER, "recalculation")]
        for run in change.runs:
            tasks.queue_run(run)

    moved = PcnMembership.objects.filter(practice__code="A00002")
    assert list(moved.values_list("pcn__code", "start_date", "end_date")) == [
        ("U00001", dt.date(2019, 7, 1), dt.date(2024, 9, 30)),
        ("U00002", dt.date(2024, 10, 1), None),
    ]
    assert AuditEvent.objects.filter(action="calculation.change_pcn_membership", actor=commissioner).exists()
    rerun = CalculationRun.objects.get(pk=change.runs[0].pk)
    assert rerun.status == CalculationRun.Status.PUBLISHED, rerun.error
    assert pcn_populations(rerun, "core_pcn_funding_registered") == {
        "U00001": Decimal("10000"), "U00002": Decimal("8000"), "U00003": Decimal("2000"),
    }  # fmt: skip
    after = {key: Declaration.objects.get(pk=declaration.pk) for key, declaration in declared.items()}
    # Both PCNs' October aggregates changed: back to their payees to declare again, with a revision each.
    for code in ("U00001", "U00002"):
        assert after[OCTOBER, code].state == S.AWAITING_PRACTICE and after[OCTOBER, code].run == rerun
        revision = DeclarationRevision.objects.get(declaration=after[OCTOBER, code])
        assert revision.outcome == DeclarationRevision.Outcome.REVERTED
    assert after[OCTOBER, "U00001"].payment < declared[OCTOBER, "U00001"].payment
    assert after[OCTOBER, "U00002"].payment > declared[OCTOBER, "U00002"].payment
    # A00002's own NPP does not depend on its PCN: left as approved. September is untouched.
    assert after[OCTOBER, "A00002"].state == S.AWAITING_FINANCE
    assert all(after[SEPTEMBER, code].state == S.AWAITING_FINANCE for code in ("U00001", "U00002", "A00002"))
    # U00001's payee is told to declare again.
    assert Notification.objects.filter(
        user=payee_user, subject__contains="U00001 changed: declare and approve again"
    ).exists()


def test_a_network_date_recalculated_after_payment_is_adjusted_by_a_signed_line_to_the_payee(
    network, django_capture_on_commit_callbacks
):
    from calculation import tasks
    from declarations.models import Declaration, DeclarationRevision
    from payments import actions as payment_actions
    from payments.models import PaymentLine

    L = PaymentLine
    year = ServiceYear.objects.get(code="NCD2425")
    run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=OCTOBER)
    paid = {
        code: approve_through_finance(Declaration.objects.get(service_year=year, practice__code=code))
        for code in ("U00001", "U00002")
    }
    payment_actions.release(cutoff=timezone.now(), by=None)

    with django_capture_on_commit_callbacks(execute=True):
        change = actions.change_pcn_membership(
            practice=network["A00002"], pcn=network["U00002"], start_date=dt.date(2024, 10, 1), by=None
        )
        for run in change.runs:
            tasks.queue_run(run)

    adjustments = {
        line.declaration.practice.code: line
        for line in L.objects.filter(component=L.Component.ADJUSTMENT).select_related("declaration__practice")
    }
    assert sorted(adjustments) == ["U00001", "U00002"]
    for code, payee in (("U00001", "A00001"), ("U00002", "A00003")):
        declaration = Declaration.objects.get(pk=paid[code].pk)
        revision = DeclarationRevision.objects.get(declaration=declaration)
        line = adjustments[code]
        # Sent for payment, so flagged rather than reverted, and the difference is paid or recovered.
        assert declaration.state == Declaration.State.SENT
        assert revision.outcome == DeclarationRevision.Outcome.FLAGGED
        assert (line.payee.code, line.amount, line.status) == (
            payee, revision.difference, L.Status.AWAITING_APPROVAL,
        )  # fmt: skip
        # The ledger of the declaration now adds up to its new figures.
        assert sum(L.objects.filter(declaration=declaration).values_list("amount", flat=True)) == (
            declaration.payment
        )
    assert adjustments["U00001"].amount < 0 < adjustments["U00002"].amount


# ---- Who takes part: PCN membership and participation (ADR 0018, "Participation") -------------------------


def test_a_member_not_taking_part_in_the_network_contract_des_is_neither_paid_nor_counted(
    rulesets, client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from accounts.roles import Role
    from declarations.models import Declaration
    from tests.factories import user_with_roles

    tree = build_network(rulesets, taking_part=["A00001", "A00003", "B00001"])  # A00002 never signed up
    year = ServiceYear.objects.get(code="NCD2425")

    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER)

    assert run.status == CalculationRun.Status.PUBLISHED, run.error
    assert PcnMembership.objects.filter(practice__code="A00002", pcn__code="U00001", end_date=None).exists()
    assert not ServiceLine.objects.filter(run=run, practice__code="A00002").exists()
    assert not PracticeResult.objects.filter(run=run, practice__code="A00002").exists()
    assert not Declaration.objects.filter(practice__code="A00002").exists()
    # U00001 is paid on its participating member's list alone: A00001's 10,000, not 15,000.
    assert pcn_populations(run, "core_pcn_funding_registered")["U00001"] == Decimal("10000")
    # Shown as such on the PCN's page and on the practice's membership page.
    client.force_login(user_with_roles(tree["QAA"], Role.COMMISSIONING_MANAGEMENT))
    page = client.get(reverse("calculation:pcn_payee", args=["U00001"]))
    members = {row.practice.code: row.taking_part for row in page.context["network"].members}
    assert members == {"A00001": True, "A00002": False}
    assert "Not taking part: not paid" in page.content.decode()
    page = client.get(reverse("calculation:pcn_membership", args=["A00002"]))
    assert "No participation recorded" in page.content.decode()


def test_a_payee_not_taking_part_is_no_payee_so_its_pcns_members_wait(
    rulesets, django_capture_on_commit_callbacks
):
    from declarations.models import Declaration

    build_network(rulesets, taking_part=["A00002", "A00003", "B00001"])  # U00001's payee A00001 is not in
    year = ServiceYear.objects.get(code="NCD2425")

    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER)

    assert run.status == CalculationRun.Status.PUBLISHED, run.error
    assert not ServiceLine.objects.filter(run=run, practice__isnull=True, pcn__code="U00001").exists()
    assert not ServiceLine.objects.filter(run=run, payee__code="A00001").exists()
    waiting = Declaration.objects.get(service_year=year, practice__code="A00002")
    assert waiting.state == Declaration.State.AWAITING_NETWORK


def test_a_practice_leaving_its_pcn_mid_year_is_not_paid_for_the_months_after(
    network, django_capture_on_commit_callbacks
):
    from accounts.models import AuditEvent
    from accounts.roles import Role
    from calculation import tasks
    from declarations.models import Declaration
    from participation.models import Participation
    from tests.factories import user_with_roles

    year = ServiceYear.objects.get(code="NCD2425")
    commissioner = user_with_roles(network["QAA"], Role.COMMISSIONING_MANAGEMENT)
    september = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=SEPTEMBER
    )
    run_to_the_end(django_capture_on_commit_callbacks, service_year=year, achievement_date=OCTOBER)

    # A00002 leaves U00001 for no PCN on 1 October (ODS dates).
    with django_capture_on_commit_callbacks(execute=True):
        change = actions.change_pcn_membership(
            practice=network["A00002"], pcn=None, start_date=dt.date(2024, 10, 1), by=commissioner
        )
        for run in change.runs:
            tasks.queue_run(run)
    november = run_to_the_end(
        django_capture_on_commit_callbacks, service_year=year, achievement_date=dt.date(2024, 11, 30)
    )

    # Its participation in the year ends on its last day in a PCN, by the commissioner, audited.
    participation = Participation.objects.get(service_year=year, practice__code="A00002")
    assert (participation.end_date, participation.ended_by) == (dt.date(2024, 9, 30), commissioner)
    assert AuditEvent.objects.filter(action="participation.ended", actor=commissioner).exists()
    october = CalculationRun.objects.get(pk=change.runs[0].pk)
    assert october.status == CalculationRun.Status.PUBLISHED, october.error
    for run in (october, november):
        assert not ServiceLine.objects.filter(run=run, practice__code="A00002").exists()
        assert pcn_populations(run, "core_pcn_funding_registered")["U00001"] == Decimal("10000")
    # October's declaration of it, made before it left, is withdrawn; September's is untouched and paid.
    states = dict(
        Declaration.objects.filter(service_year=year, practice__code="A00002").values_list(
            "achievement_date", "state"
        )
    )
    assert states == {SEPTEMBER: Declaration.State.AWAITING_PRACTICE, OCTOBER: Declaration.State.WITHDRAWN}
    assert Publication.objects.get(service_year=year, achievement_date=SEPTEMBER).run == september
    assert ServiceLine.objects.get(
        run=september, practice__code="A00002", component="network_participation"
    ).amount == Decimal("704.43")
