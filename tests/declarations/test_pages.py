"""The declaration pages as each user meets them: declare with the statement, approve, bulk approve from
the list, reject with a reason, freeze with a banner everywhere, and download the list."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from calculation.models import CalculationRun
from calculation.publication import rerun_consequences
from declarations import actions
from declarations.models import Declaration, DeclarationRevision
from tests.declarations.helpers import publish
from tests.downloads import csv_rows
from tests.factories import service_year, user_with_roles

State = Declaration.State


@pytest.fixture
def published(tree):
    year = service_year()
    publish(year, {tree[code]: ("385.58", "84244.84") for code in ("A00001", "A00002", "B00001")})
    return year


def signed_in(client, user):
    client.force_login(user)
    return client


def test_a_practice_declares_with_the_statement_and_its_commissioner_approves(client, tree, published):
    declarer = user_with_roles(tree["A00001"], Role.DECLARATION_MANAGEMENT)
    declaration = Declaration.objects.get(practice=tree["A00001"])
    page = signed_in(client, declarer).get(reverse("declarations:detail", args=[declaration.pk]))
    assert (
        page.status_code == 200
        and "£84,244.84" in page.text
        and "Awaiting Service Provider Approval" in page.text
    )
    refused = client.post(reverse("declarations:declare", args=[declaration.pk]), {"notes": "No tick"})
    assert refused.status_code == 200 and "Tick the declaration statement" in refused.text
    done = client.post(
        reverse("declarations:declare", args=[declaration.pk]), {"statement": "on", "notes": "Ok"}
    )
    assert done.status_code == 302
    assert Declaration.objects.get(pk=declaration.pk).state == State.AWAITING_COMMISSIONER

    approver = user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT)
    client.logout()
    signed_in(client, approver)
    listing = client.get(reverse("declarations:list"), {"state": State.AWAITING_COMMISSIONER})
    assert listing.status_code == 200 and "A00001" in listing.text and "B00001" not in listing.text
    again = client.post(
        reverse("declarations:list"), {"step": "approve", "declaration": [declaration.pk], "filter": ""}
    )
    assert again.status_code == 302
    assert Declaration.objects.get(pk=declaration.pk).state == State.AWAITING_FINANCE
    twice = client.post(
        reverse("declarations:list"), {"step": "approve", "declaration": [declaration.pk], "filter": ""},
        follow=True,
    )  # fmt: skip
    assert "someone has already dealt with them" in twice.text
    # The list's download is the portal's one download: a byte-order mark for Excel, figures as values.
    rows = csv_rows(client.get(reverse("declarations:list"), {"_export": "csv"}))
    assert "Awaiting Financial Approval" in rows[1] and "84244.84" in rows[1], rows


def test_a_freeze_shows_on_every_page_of_affected_users_and_refuses_the_step(client, tree, published):
    support = user_with_roles(tree["ENG"], Role.SUPPORT)
    signed_in(client, support)
    response = client.post(
        reverse("declarations:freezes"), {"service_year": "", "reason": "Until further notice."}, follow=True
    )
    assert "Declarations and approvals for all services are frozen" in response.text
    client.logout()
    declarer = user_with_roles(tree["A00001"], Role.DECLARATION_MANAGEMENT)
    signed_in(client, declarer)
    assert "Until further notice." in client.get(reverse("home:index")).text
    declaration = Declaration.objects.get(practice=tree["A00001"])
    refused = client.post(reverse("declarations:declare", args=[declaration.pk]), {"statement": "on"})
    assert refused.status_code == 200 and "frozen" in refused.text
    viewer = user_with_roles(tree["A00002"], Role.VIEW)
    client.logout()
    signed_in(client, viewer)
    assert "Until further notice." not in client.get(reverse("home:index")).text


def test_support_is_told_what_a_re_run_could_revert_or_flag_and_must_confirm(client, tree, published):
    declarations = {
        d.practice.code: d for d in Declaration.objects.select_related("practice", "service_year")
    }
    actions.declare(declaration=declarations["A00001"], by=None, statement_accepted=True)
    for step in (actions.declare, actions.approve, actions.financially_approve):
        extra = {"statement_accepted": True} if step is actions.declare else {}
        step(declaration=Declaration.objects.get(pk=declarations["B00001"].pk), by=None, **extra)
    actions.mark_sent_for_payment(declaration_ids=[declarations["B00001"].pk], reference="BATCH-1")

    national = rerun_consequences(service_year=published, achievement_date=published.end_date)
    assert national[0].startswith("1 declaration of") and "would be reverted" in national[0]
    assert national[1].startswith("1 declaration already sent for payment would be flagged")
    assert (
        rerun_consequences(
            service_year=published, achievement_date=published.end_date, organisation=tree["A00002"]
        )
        == []
    )  # A00002 has not declared: nothing to revert
    assert (
        rerun_consequences(service_year=published, achievement_date=published.start_date, organisation=None)
        == []
    )  # an in-year date has no declarations

    support = user_with_roles(tree["ENG"], Role.SUPPORT)
    signed_in(client, support)
    runs = CalculationRun.objects.count()
    page = client.post(
        reverse("calculation:start_year_end_run"), {"service_year": published.code, "reason": "Re-run"}
    )
    assert page.status_code == 200 and "would be reverted" in page.text and "tick the box" in page.text
    assert CalculationRun.objects.count() == runs


def test_what_changed_compares_the_two_runs_indicator_by_indicator(client, tree):
    year = service_year()
    practice = tree["A00001"]
    publish(year, {practice: ("10", "2134.30")}, indicators={practice: {"AF006": (10, 20), "BP002": (5, 5)}})
    publish(
        year, {practice: ("11", "2347.73")}, kind=CalculationRun.Kind.RECALCULATION, reason="Late AF data",
        indicators={practice: {"AF006": (12, 20), "BP002": (5, 5)}},
    )  # fmt: skip
    revision = DeclarationRevision.objects.get()
    declarer = user_with_roles(practice, Role.DECLARATION_MANAGEMENT)
    page = signed_in(client, declarer).get(reverse("declarations:revision", args=[revision.pk]))
    assert "Numerator: 10 → 12" in page.text and "Achievement %: 50.0 → 60.0" in page.text
    assert "1 indicator changed; 1 stayed the same" in page.text and "Late AF data" in page.text
    outsider = user_with_roles(tree["B00001"], Role.DECLARATION_MANAGEMENT)
    client.logout()
    assert (
        signed_in(client, outsider).get(reverse("declarations:revision", args=[revision.pk])).status_code
        == 404
    )


def test_each_role_finds_its_work_on_the_home_page(client, tree, published):
    declarer = user_with_roles(tree["A00001"], Role.DECLARATION_MANAGEMENT)
    home = signed_in(client, declarer).get(reverse("home:index"))
    assert "Declare Quality and Outcomes Framework 2023/24: £84,244.84, 385.58 points" in home.text
    client.logout()
    for code in ("A00001", "A00002"):
        actions.declare(
            declaration=Declaration.objects.get(practice=tree[code]), by=None, statement_accepted=True
        )
    approver = user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT)
    assert (
        "2 declarations awaiting your approval" in signed_in(client, approver).get(reverse("home:index")).text
    )
    client.logout()
    actions.approve(declaration=Declaration.objects.get(practice=tree["A00001"]), by=None)
    finance = user_with_roles(tree["01A"], Role.FINANCE_MANAGEMENT)
    home = signed_in(client, finance).get(reverse("home:index"))
    assert "1 declaration awaiting your financial approval" in home.text
    client.logout()
    support = user_with_roles(tree["ENG"], Role.SUPPORT)
    actions.freeze(service_year=published, reason="Checking", by=support)
    assert "1 standing freeze" in signed_in(client, support).get(reverse("home:index")).text
