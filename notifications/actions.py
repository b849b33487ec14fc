"""Writing notifications, marking them read, and sending the emails they ask for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.message import EmailMessage
from django.db import transaction
from django.utils import timezone

from accounts.bulk import copy_rows
from accounts.permissions import anyone_signed_in, guarded, system_step

from .models import Notification

EMAIL_BATCH = 500


@dataclass(frozen=True)
class Recipient:
    user_id: int
    organisation_id: int


@system_step
def notify(
    *, recipients: Iterable[Recipient], subject: str, message: str, link: str, email: bool = True
) -> int:
    """Notify each recipient once, inside the caller's transaction; emails follow from the outbox."""
    return notify_each(
        notifications=[(recipient, subject, message, link) for recipient in dict.fromkeys(recipients)],
        email=email,
    )


@system_step
def notify_each(*, notifications: Iterable[tuple[Recipient, str, str, str]], email: bool = True) -> int:
    """Many notifications of different wording at once: (recipient, subject, message, link) each."""
    now = timezone.now()
    # COPY on PostgreSQL: a national recalculation tells ~20,000 people at once.
    rows = [
        (recipient.user_id, recipient.organisation_id, subject, message, link, now, email)
        for recipient, subject, message, link in notifications
    ]
    columns = ["user_id", "organisation_id", "subject", "message", "link", "created_at", "email_wanted"]
    return copy_rows(Notification, columns, rows)


@guarded(anyone_signed_in)
@transaction.atomic
def mark_notifications_read(*, by, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the signed-in user's own notifications read (all of them, or these)."""
    unread = Notification.objects.filter(user=by, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=timezone.now())


def _absolute_link(path: str) -> str:
    """A link a mail client can open: the portal's public address in front of the path."""
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}{path}" if path else settings.PORTAL_BASE_URL


@system_step
def send_pending_emails(*, limit: int = EMAIL_BATCH) -> int:
    """Send up to `limit` outstanding notification emails. Rows are claimed with SKIP LOCKED, so two
    workers never send the same email, and marked sent in the same transaction as the sending."""
    with transaction.atomic():
        pending = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(email_wanted=True, emailed_at__isnull=True, user__is_active=True)
            .select_related("user")
            .order_by("created_at", "pk")[:limit]
        )
        if not pending:
            return 0
        messages = [
            EmailMessage(
                subject=notification.subject,
                body=f"{notification.message}\n\nOpen it in the portal: {_absolute_link(notification.link)}",
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[notification.user.email],
            )
            for notification in pending
        ]
        with get_connection() as connection:
            connection.send_messages(messages)
        Notification.objects.filter(pk__in=[n.pk for n in pending]).update(emailed_at=timezone.now())
    return len(pending)
