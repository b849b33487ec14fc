"""Sending notification emails from the outbox: every minute by beat, and straight after a change that
notified someone (`email_after_commit`)."""

from celery import shared_task
from django.db import transaction

from . import actions


@shared_task(name="notifications.send_emails", time_limit=10 * 60, soft_time_limit=9 * 60)
def send_notification_emails() -> int:
    sent = total = actions.send_pending_emails()
    while sent == actions.EMAIL_BATCH:
        sent = actions.send_pending_emails()
        total += sent
    return total


def email_after_commit() -> None:
    transaction.on_commit(send_notification_emails.delay, robust=True)
