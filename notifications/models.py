"""What the portal tells a user: shown in the portal at once, and emailed by a task when asked for.

The table is also the email outbox: a notification that wants an email and has no `emailed_at` is still to
send, so an email is never lost to a worker that was down, and never sent twice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organisation


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=200)
    message = models.TextField()
    link = models.CharField(max_length=300, blank=True, help_text="A path in the portal")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_wanted = models.BooleanField(default=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"]),
            models.Index(
                fields=["created_at"],
                condition=Q(email_wanted=True, emailed_at__isnull=True),
                name="notification_email_outbox",
            ),
        ]

    def __str__(self):
        return self.subject
