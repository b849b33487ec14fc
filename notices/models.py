"""Service notices: what Service Management tells commissioners and practices about the service as a whole
(a freeze, a recalculation, a late extract), as the CQRS letters and bulletins did.

A notice is addressed to an audience (commissioners, practices or both) and to one quality service or all.
It is in force from publication until it is archived or its expiry passes; while in force it is on the home
page and, until the reader dismisses it, on every page. Editing and archiving never delete: the archive page
keeps every notice.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from participation.models import QualityService


class Audience(models.TextChoices):
    COMMISSIONERS = "commissioners", "Commissioners (ICBs and sub-ICB locations)"
    PRACTICES = "practices", "GP practices"
    EVERYONE = "everyone", "Commissioners and GP practices"


class Notice(models.Model):
    title = models.CharField(max_length=120)
    body = models.TextField(help_text="What has happened and what readers should do")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    service = models.ForeignKey(
        QualityService,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
        help_text="Blank for every service",
    )
    urgent = models.BooleanField(default=False, help_text="Emailed to every reader when published")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Blank: until archived")
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("published_at")),
                name="notice_expires_after_publication",
            ),
        ]
        indexes = [models.Index(fields=["archived_at", "expires_at"])]

    def __str__(self):
        return self.title

    @property
    def in_force(self) -> bool:
        return self.archived_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def scope_label(self) -> str:
        return self.service.name if self.service_id else "all services"


class Dismissal(models.Model):
    """A reader has dismissed a notice's banner: it stays on their home page and in the archive."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="dismissals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    dismissed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["notice", "user"], name="one_dismissal_per_reader")]

    def __str__(self):
        return f"{self.notice} dismissed by {self.user}"
