from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organisation
from participation.models import Indicator, ServiceYear


class ManualAnswer(models.Model):
    """A practice's answer to a manual indicator for a service year, entered in the portal."""

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="manual_answers")
    practice = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="manual_answers")
    indicator = models.ForeignKey(Indicator, on_delete=models.PROTECT, related_name="manual_answers")
    answer = models.BooleanField(null=True, blank=True, help_text="Yes/No indicators")
    count = models.PositiveIntegerField(null=True, blank=True, help_text="Indicators answered with a count")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(default=timezone.now)
    entered_by_commissioner = models.BooleanField(default=False)
    set_by_default = models.BooleanField(
        default=False, help_text="Filled in by a service manager's 'set every missing answer' action"
    )

    class Meta:
        ordering = ["practice__code", "indicator__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_year", "practice", "indicator"], name="one_manual_answer_per_indicator"
            ),
            models.CheckConstraint(
                condition=Q(answer__isnull=True) ^ Q(count__isnull=True),
                name="manual_answer_is_yes_no_or_count",
            ),
        ]

    def __str__(self):
        shown = self.count if self.count is not None else ("Yes" if self.answer else "No")
        return f"{self.practice.code} {self.indicator.code}: {shown}"
