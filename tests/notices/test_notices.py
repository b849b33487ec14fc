import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import AuditEvent
from notices import actions, selectors
from notices.models import Audience, Dismissal, Notice
from notifications.actions import send_pending_emails
from notifications.models import Notification
from participation import actions as participation_actions
from tests.factories import service_year, user_with_roles

FREEZE = "No further declarations or approvals for QOF should be made until further notice."


@pytest.fixture
def manager(tree):
    return user_with_roles(tree["ENG"], "service_management")


def publish(manager, **values):
    return actions.publish_notice(
        values={"title": "QOF recalculation", "body": FREEZE, "audience": Audience.EVERYONE} | values,
        by=manager,
    )


def other_service_offered_to(practice):
    """An enhanced service offered to one practice only."""
    service = participation_actions.create_quality_service(
        values={"code": "LDHC", "name": "Learning Disabilities Health Check", "kind": "enhanced_service"},
        by=None,
    )
    qof = service_year()
    year = participation_actions.create_service_year(
        values={
            "service": service, "financial_year": qof.financial_year, "code": "LDHC2324",
            "name": "LDHC 2023/24",
            "start_date": qof.start_date, "end_date": qof.end_date, "payment_kind": "item_of_service",
            "aspiration_rate": 0, "manual_entry_deadline": qof.end_date,
        },
        by=None,
    )  # fmt: skip
    participation_actions.offer_service(
        service_year=year, practices=[practice], start_date=qof.start_date, end_date=qof.end_date,
        response_date=qof.end_date, target_date=qof.end_date, by=None,
    )  # fmt: skip
    return service


def banner(client, user) -> str:
    client.force_login(user)
    return client.get(reverse("help:index")).content.decode()


def test_a_notice_to_commissioners_is_a_banner_for_them_and_not_for_practices(client, tree, manager):
    notice = publish(manager, audience=Audience.COMMISSIONERS)
    assert f'data-testid="notice-{notice.pk}"' in banner(
        client, user_with_roles(tree["01A"], "approval_management")
    )
    assert f'data-testid="notice-{notice.pk}"' in banner(client, user_with_roles(tree["QAA"], "view"))
    assert f'data-testid="notice-{notice.pk}"' not in banner(client, user_with_roles(tree["A00001"], "view"))


def test_a_notice_about_one_service_reaches_only_the_practices_taking_part(client, tree, manager):
    service = other_service_offered_to(tree["A00002"])
    notice = publish(manager, audience=Audience.PRACTICES, service=service)
    assert f'data-testid="notice-{notice.pk}"' in banner(client, user_with_roles(tree["A00002"], "view"))
    assert f'data-testid="notice-{notice.pk}"' not in banner(client, user_with_roles(tree["A00001"], "view"))
    assert f'data-testid="notice-{notice.pk}"' not in banner(client, user_with_roles(tree["01A"], "view"))


def test_each_reader_reads_the_notices_addressed_to_the_kinds_of_organisation_they_work_at(tree, manager):
    service = other_service_offered_to(tree["A00002"])
    titles = {publish(manager, title=kind, audience=kind).pk: kind for kind in Audience.values}
    titles[publish(manager, title="LDHC", audience=Audience.PRACTICES, service=service).pk] = "LDHC"
    both = user_with_roles(tree["A00001"], "view")
    readers = {
        "national": user_with_roles(tree["ENG"], "support"),
        "commissioner": user_with_roles(tree["01A"], "view"),
        "practice taking part": user_with_roles(tree["A00002"], "view"),
        "practice not taking part": user_with_roles(tree["A00001"], "view"),
        "practice and commissioner": both,
        "no current role": user_with_roles(tree["A00001"]),
    }
    account_actions.grant_role(user=both, organisation=tree["01A"], role="view", by=None)
    read = {
        who: sorted(titles[pk] for pk in selectors.notices_read_by(user).values_list("pk", flat=True))
        for who, user in readers.items()
    }
    assert read == {
        "national": ["LDHC", "commissioners", "everyone", "practices"],
        "commissioner": ["commissioners", "everyone"],
        "practice taking part": ["LDHC", "everyone", "practices"],
        "practice not taking part": ["everyone", "practices"],
        "practice and commissioner": ["commissioners", "everyone", "practices"],
        "no current role": [],
    }
    # The banner's shortcut (the kinds already read with the menu) reads the same.
    for user in readers.values():
        kinds = selectors.organisation_types_of(user)
        assert set(selectors.notices_read_by(user, kinds)) == set(selectors.notices_read_by(user))


def test_dismissing_hides_the_banner_for_that_reader_only_and_keeps_it_on_their_home_page(
    client, tree, manager
):
    notice = publish(manager)
    reader, other = (user_with_roles(tree[code], "declaration_management") for code in ("A00001", "A00002"))
    client.force_login(reader)
    response = client.post(reverse("notices:dismiss", args=[notice.pk]), {"next": reverse("help:index")})
    assert response.status_code == 302 and response.url == reverse("help:index")
    assert f'data-testid="notice-{notice.pk}"' not in client.get(reverse("help:index")).content.decode()
    home = client.get(reverse("home:index")).content.decode()
    assert 'data-testid="home-notices"' in home and notice.title in home
    assert f'data-testid="notice-{notice.pk}"' in banner(client, other)
    # A second dismissal (a double click) changes nothing; the first is the reader's acknowledgement.
    assert actions.dismiss_notice(notice=notice, by=reader) is False
    assert Dismissal.objects.filter(notice=notice).count() == 1
    assert AuditEvent.objects.filter(action="notices.dismiss", actor=reader).count() == 1


def test_a_reader_cannot_dismiss_a_notice_not_addressed_to_them(client, tree, manager):
    notice = publish(manager, audience=Audience.COMMISSIONERS)
    practice_user = user_with_roles(tree["A00001"], "view")
    client.force_login(practice_user)
    assert client.post(reverse("notices:dismiss", args=[notice.pk])).status_code == 404
    with pytest.raises(PermissionDenied):
        actions.dismiss_notice(notice=notice, by=practice_user)


def test_the_dismiss_button_never_sends_the_reader_off_the_portal(client, tree, manager):
    notice = publish(manager)
    client.force_login(user_with_roles(tree["A00001"], "view"))
    response = client.post(reverse("notices:dismiss", args=[notice.pk]), {"next": "https://evil.example/"})
    assert response.url == "/"


def test_an_expired_or_archived_notice_leaves_the_pages_for_the_archive(client, tree, manager):
    expiring = publish(manager, title="Extract late", expires_at=timezone.now() + dt.timedelta(hours=1))
    archived = publish(manager, title="Old news")
    actions.archive_notice(notice=archived, by=manager)
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    Notice.objects.filter(pk=expiring.pk).update(
        published_at=an_hour_ago - dt.timedelta(days=1), expires_at=an_hour_ago
    )
    reader = user_with_roles(tree["A00001"], "view")
    page = banner(client, reader)
    assert "Extract late" not in page and "Old news" not in page
    archive = client.get(reverse("notices:archive")).content.decode()
    assert f'data-testid="archived-{expiring.pk}"' in archive and "(expired)" in archive
    assert f'data-testid="archived-{archived.pk}"' in archive and "(archived)" in archive


def test_an_urgent_notice_is_emailed_once_to_each_reader_it_is_for(tree, manager):
    commissioner = user_with_roles(tree["01A"], "approval_management", "finance_view")
    practice_user = user_with_roles(tree["A00001"], "view")
    publish(manager, audience=Audience.COMMISSIONERS, urgent=True)
    assert list(Notification.objects.values_list("user", flat=True)) == [commissioner.pk]
    send_pending_emails()
    assert [message.to for message in mail.outbox] == [[commissioner.email]]
    assert mail.outbox[0].subject == "Urgent service notice: QOF recalculation"
    assert FREEZE in mail.outbox[0].body and "/notices/" in mail.outbox[0].body
    assert practice_user.email not in {address for message in mail.outbox for address in message.to}


def test_editing_a_notice_is_audited_and_making_it_urgent_emails_it_then(tree, manager):
    reader = user_with_roles(tree["A00001"], "view")
    notice = publish(manager)
    assert not Notification.objects.exists()
    actions.edit_notice(notice=notice, values={"body": "Corrected.", "urgent": True}, by=manager)
    assert list(Notification.objects.values_list("user", flat=True)) == [reader.pk]
    actions.edit_notice(notice=notice, values={"body": "Corrected again.", "urgent": True}, by=manager)
    assert Notification.objects.count() == 1
    event = AuditEvent.objects.filter(action="notices.edit").order_by("pk").first()
    assert event.before["body"] == FREEZE and event.after["body"] == "Corrected."


def test_only_national_service_management_publishes_edits_and_archives(client, tree, manager):
    notice = publish(manager)
    for outsider in (
        user_with_roles(tree["ENG"], "support"),
        user_with_roles(tree["QAA"], "commissioning_management"),
        user_with_roles(tree["A00001"], "user_admin"),
    ):
        client.force_login(outsider)
        for name, args in (("create", []), ("edit", [notice.pk]), ("archive_notice", [notice.pk])):
            assert client.get(reverse(f"notices:{name}", args=args)).status_code == 404
            assert client.post(reverse(f"notices:{name}", args=args), {"title": "x"}).status_code == 404
        with pytest.raises(PermissionDenied):
            actions.archive_notice(notice=notice, by=outsider)
    assert Notice.objects.get(pk=notice.pk).archived_at is None


def test_the_publish_page_publishes_with_a_last_day_and_refuses_a_past_one(client, tree, manager):
    client.force_login(manager)
    form = {
        "title": "Extract delayed", "body": "The extract is a day late.", "audience": "practices",
        "service": "", "expires_on": (timezone.localdate() - dt.timedelta(days=1)).strftime("%d/%m/%Y"),
    }  # fmt: skip
    page = client.post(reverse("notices:create"), form)
    assert page.status_code == 200 and "The last day shown must be today or later" in page.content.decode()
    last_day = timezone.localdate() + dt.timedelta(days=3)
    response = client.post(reverse("notices:create"), form | {"expires_on": last_day.strftime("%d/%m/%Y")})
    assert response.status_code == 302
    notice = Notice.objects.get()
    assert timezone.localtime(notice.expires_at).date() == last_day + dt.timedelta(days=1)
    assert notice.published_by == manager and notice.service is None
    assert AuditEvent.objects.filter(action="notices.publish", object_id=str(notice.pk)).exists()
    edit = client.get(reverse("notices:edit", args=[notice.pk])).content.decode()
    assert last_day.strftime("%d/%m/%Y") in edit


def test_the_banner_costs_a_query_only_while_a_notice_is_undismissed(client, tree, manager):
    reader = user_with_roles(tree["A00001"], "view")
    client.force_login(reader)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(reverse("help:index"))
        return len(captured)

    quiet = queries()
    notice = publish(manager)
    assert queries() == quiet + 1
    actions.dismiss_notice(notice=notice, by=reader)
    assert queries() == quiet
