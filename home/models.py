"""A user's calendar link: a secret in the address lets a calendar app read the user's deadlines without a
session. Only its hash is kept, so the address is shown once, when made; making a new one or stopping it
ends the old one."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class CalendarFeed(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the secret, hex")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Calendar link of {self.user}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
