"""Bulk approval and the publication hook make a fixed number of queries however many declarations they
touch: the count for 3 practices equals the count for 12 (bench/declarations.py times 1,000 and 6,400)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import Organisation
from accounts.organisation_import import parse_mapping
from accounts.permissions import organisations_granting
from accounts.roles import Permission, Role
from calculation.models import CalculationRun, PracticeResult
from declarations import actions
from declarations.models import Declaration
from tests.declarations.helpers import publish
from tests.factories import mapping_csv, service_year, user_with_roles

PRACTICES = [(f"C{n:05d}", "U00009", "03A", "QCC", "Y03") for n in range(12)]


@pytest.fixture
def practices(db):
    account_actions.import_organisations(
        mapping=parse_mapping(mapping_csv(PRACTICES)), effective_date=timezone.localdate(), by=None
    )
    found = {o.code: o for o in Organisation.objects.all()}
    for code, *_ in PRACTICES:
        user_with_roles(found[code], Role.DECLARATION_MANAGEMENT)
    user_with_roles(found["03A"], Role.APPROVAL_MANAGEMENT)
    return found


def queries(function) -> int:
    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured)


def test_bulk_approvals_make_the_same_number_of_queries_for_3_or_12(practices):
    year = service_year()
    publish(year, {practices[code]: ("10", "2134.30") for code, *_ in PRACTICES})
    for declaration in Declaration.objects.all():
        actions.declare(declaration=declaration, by=None, statement_accepted=True)
    finance = user_with_roles(practices["QCC"], Role.FINANCE_MANAGEMENT)
    approver = user_with_roles(practices["QCC"], Role.APPROVAL_MANAGEMENT)
    # Each request's user looks up its grants once (cached on the user): look them up before counting.
    organisations_granting(finance, Permission.MANAGE_FINANCE)
    organisations_granting(approver, Permission.APPROVE_DECLARATIONS)
    first, rest = list(Declaration.objects.order_by("pk")[:3]), list(Declaration.objects.order_by("pk")[3:])
    counts = {
        "approve 3": queries(lambda: actions.bulk_approve(declarations=first, by=approver)),
        "approve 9": queries(lambda: actions.bulk_approve(declarations=rest, by=approver)),
        "finance 3": queries(lambda: actions.bulk_financially_approve(declarations=first, by=finance)),
        "finance 9": queries(lambda: actions.bulk_financially_approve(declarations=rest, by=finance)),
    }
    assert counts["approve 3"] == counts["approve 9"]
    assert counts["finance 3"] == counts["finance 9"]
    assert Declaration.objects.filter(state=Declaration.State.APPROVED).count() == 12


def test_a_recalculation_reverts_and_tells_every_practice_in_a_fixed_number_of_queries(practices):
    year = service_year()
    publish(year, {practices[code]: ("10", "2134.30") for code, *_ in PRACTICES})
    every = {practices[code]: ("10", "2134.30") for code, *_ in PRACTICES}
    few = every | {practices[code]: ("11", "2347.73") for code, *_ in PRACTICES[:3]}
    many = {practices[code]: ("12", "2561.16") for code, *_ in PRACTICES}

    def republish(figures):
        run = CalculationRun.objects.create(
            kind=CalculationRun.Kind.RECALCULATION, scope="national", service_year=year,
            achievement_date=year.end_date, status=CalculationRun.Status.PUBLISHED,
        )  # fmt: skip
        PracticeResult.objects.bulk_create(
            PracticeResult(
                run=run, practice=practice, indicator_run=run, list_size_cpi=1, list_size_prevalence=1,
                points=points, payment=payment,
            )
            for practice, (points, payment) in figures.items()
        )  # fmt: skip
        return queries(lambda: actions.follow_publication(run=run, replaced_run_id=None))

    # The first changes 3 practices' figures (9 unchanged); the second changes all 12.
    assert republish(few) == republish(many)
    assert Declaration.objects.filter(revisions__isnull=False).distinct().count() == 12
