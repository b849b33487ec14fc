from django.core import mail
from django.urls import reverse

from notifications.actions import Recipient, notify, send_pending_emails
from notifications.models import Notification
from tests.factories import user_with_roles


def test_notifications_show_in_the_header_and_are_marked_read(client, tree):
    user = user_with_roles(tree["A00001"], "declaration_management")
    notify(recipients=[Recipient(user.pk, tree["A00001"].pk)], subject="Ready", message="Ready", link="/")
    client.force_login(user)
    page = client.get(reverse("notifications:list"))
    assert 'data-testid="unread-notifications">1' in page.content.decode()
    client.post(reverse("notifications:list"))
    assert 'data-testid="unread-notifications"' not in client.get("/").content.decode()


def test_marking_read_touches_only_the_users_own_notifications(client, tree):
    mine = user_with_roles(tree["A00001"], "view")
    theirs = user_with_roles(tree["A00002"], "view")
    recipients = [Recipient(mine.pk, tree["A00001"].pk), Recipient(theirs.pk, tree["A00002"].pk)]
    notify(recipients=recipients, subject="Ready", message="Ready", link="/")
    client.force_login(mine)
    client.post(reverse("notifications:list"))
    assert Notification.objects.get(user=theirs).read_at is None
    assert Notification.objects.get(user=mine).read_at is not None


def test_each_email_is_sent_once_with_a_link_that_opens_the_portal(tree):
    user = user_with_roles(tree["A00001"], "view")
    recipient = Recipient(user.pk, tree["A00001"].pk)
    notify(recipients=[recipient, recipient], subject="Ready to declare", message="Declare.", link="/x/")
    notify(recipients=[recipient], subject="Shown only", message="In the portal.", link="/", email=False)

    assert Notification.objects.count() == 2  # the same recipient twice is told once
    assert send_pending_emails() == 1
    assert [message.subject for message in mail.outbox] == ["Ready to declare"]
    assert "http://testserver/x/" in mail.outbox[0].body
    assert send_pending_emails() == 0 and len(mail.outbox) == 1


def test_the_beat_sends_outstanding_emails_every_minute(settings):
    from notifications import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["notifications-send-emails"]
    assert entry["task"] == tasks.send_notification_emails.name
