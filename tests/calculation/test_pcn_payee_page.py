"""The page nominating a PCN's payee practice (docs/adr/0018-network-declarations.md): its commissioner or
national Service Management nominates a member from a day through `calculation.actions.nominate_payee`, which
checks the permission itself, audits, and recalculates the network dates already published after it."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, PcnMembership
from accounts.roles import Role
from participation.models import NominatedPayee
from tests.factories import date_fields, user_with_roles

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


def url(code="U00001"):
    return reverse("calculation:pcn_payee", args=[code])


@pytest.fixture
def commissioner(tree):
    return user_with_roles(tree["QAA"], Role.COMMISSIONING_MANAGEMENT)


def test_the_commissioner_sees_the_nominations_and_nominates_a_member_by_name(client, tree, commissioner):
    NominatedPayee.objects.create(pcn=tree["U00001"], payee=tree["A00001"], start_date=dt.date(2019, 7, 1))
    client.force_login(commissioner)

    page = client.get(url())

    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="payee-nominations"' in text and "Practice A00001 (A00001)" in text
    # The members on the day, by name; another PCN's practice is not offered.
    choices = page.context["form"].fields["payee"].choices
    assert choices == [
        ("", "Choose a practice"),
        ("A00001", "Practice A00001"),
        ("A00002", "Practice A00002"),
    ]
    assert 'name="start_date-day"' in text and 'name="start_date-year"' in text

    response = client.post(url(), {"payee": "A00002", **date_fields(start_date=TOMORROW)})

    assert response.status_code == 302 and response.url == url()
    assert list(
        NominatedPayee.objects.filter(pcn__code="U00001").values_list("payee__code", "start_date", "end_date")
    ) == [("A00001", dt.date(2019, 7, 1), TOMORROW - dt.timedelta(days=1)), ("A00002", TOMORROW, None)]
    event = AuditEvent.objects.get(action="calculation.nominate_payee")
    assert event.actor == commissioner and event.after["payee"] == "A00002"
    page = client.get(url())
    assert "Practice A00002 is the PCN&#x27;s payee from" in page.content.decode()


def test_a_second_nomination_from_the_same_day_is_a_message_not_an_error(client, tree, commissioner):
    client.force_login(commissioner)
    data = {"payee": "A00001", **date_fields(start_date=TOMORROW)}
    assert client.post(url(), data).status_code == 302

    again = client.post(url(), {**data, "payee": "A00002"})

    assert again.status_code == 200
    assert "already has a nomination from" in again.content.decode()
    assert NominatedPayee.objects.filter(pcn__code="U00001").count() == 1


def test_only_members_on_the_day_are_offered_and_accepted(client, tree, commissioner):
    # A00003 joins U00001 from tomorrow: not a member today, so not offered for today; offered for tomorrow.
    PcnMembership.objects.filter(practice__code="A00003").update(start_date=dt.date(2019, 7, 1))
    PcnMembership.objects.filter(practice__code="A00003").update(end_date=timezone.localdate())
    PcnMembership.objects.create(practice=tree["A00003"], pcn=tree["U00001"], start_date=TOMORROW)
    client.force_login(commissioner)

    today = client.post(url(), {"payee": "A00003", **date_fields(start_date=timezone.localdate())})

    assert today.status_code == 200
    assert "Choose a practice that is a member of the PCN on that day." in today.content.decode()
    assert not NominatedPayee.objects.exists()
    assert client.post(url(), {"payee": "A00003", **date_fields(start_date=TOMORROW)}).status_code == 302
    assert NominatedPayee.objects.get().payee.code == "A00003"


def test_a_pcn_outside_the_users_organisations_is_not_found(client, tree):
    client.force_login(user_with_roles(tree["QBB"], Role.COMMISSIONING_MANAGEMENT))
    assert client.get(url("U00001")).status_code == 404
    assert (
        client.post(url("U00001"), {"payee": "A00001", **date_fields(start_date=TOMORROW)}).status_code == 404
    )
    assert client.get(url("U00003")).status_code == 200
    # A practice's users do not see their PCN's page, and a practice is not a PCN.
    client.force_login(user_with_roles(tree["A00001"], Role.VIEW))
    assert client.get(url("U00001")).status_code == 404
    client.force_login(user_with_roles(tree["QAA"], Role.COMMISSIONING_MANAGEMENT))
    assert client.get(url("A00001")).status_code == 404


def test_who_sees_the_pcn_but_may_not_nominate_is_refused_by_the_action(client, tree):
    approver = user_with_roles(tree["QAA"], Role.APPROVAL_MANAGEMENT)
    client.force_login(approver)
    page = client.get(url())
    assert page.status_code == 200 and "Nominate the payee" not in page.content.decode()

    response = client.post(url(), {"payee": "A00001", **date_fields(start_date=TOMORROW)})

    assert response.status_code == 403
    assert not NominatedPayee.objects.exists()
    # National Service Management nominates anywhere.
    client.force_login(user_with_roles(tree["ENG"], Role.SERVICE_MANAGEMENT))
    assert client.post(url(), {"payee": "A00001", **date_fields(start_date=TOMORROW)}).status_code == 302


def test_the_pcns_page_and_the_membership_page_link_to_it(client, tree, commissioner):
    client.force_login(commissioner)
    assert url() in client.get(reverse("accounts:organisation_detail", args=["U00001"])).content.decode()
    assert url() in client.get(reverse("calculation:pcn_membership", args=["A00001"])).content.decode()
