from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organisation
from participation.models import Indicator, ServiceYear


class Extract(models.Model):
    """One accepted extract file: a single service year and achievement date (DOMAIN.md §5).

    Files are accepted or rejected whole, so a row here means every value in the file was stored.
    """

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="extracts")
    achievement_date = models.DateField()
    file_name = models.CharField(max_length=255)
    checksum = models.CharField("SHA-256", max_length=64, unique=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    row_count = models.PositiveIntegerField(default=0)
    practice_count = models.PositiveIntegerField(default=0)
    indicator_count = models.PositiveIntegerField(default=0)
    superseded_row_count = models.PositiveIntegerField(
        default=0, help_text="Values of earlier extracts that this one superseded"
    )
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["service_year", "achievement_date"])]

    def __str__(self):
        return f"{self.service_year.code} {self.achievement_date:%Y-%m-%d} {self.file_name}"


class ExtractValue(models.Model):
    """One practice × indicator × field value of an extract. Superseded values stay for audit."""

    # A national extract is 3.5 million rows, and every index and row-by-row foreign-key check costs time on
    # each load. Reads go through the extract (audit) or the partial unique index of current values, so the
    # other keys have no index; and the loader takes practice and service year ids from the database itself
    # (extract_store.store_fields), so only the extract keeps a database-checked constraint.
    extract = models.ForeignKey(Extract, on_delete=models.PROTECT, related_name="values")
    # Denormalised from the extract so that the current values of a year and date are one index scan.
    service_year = models.ForeignKey(
        ServiceYear, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    achievement_date = models.DateField()
    practice = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    indicator_code = models.CharField(max_length=20)
    field_name = models.CharField(max_length=80)
    value = models.BigIntegerField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        Extract,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_values",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_year", "achievement_date", "practice", "indicator_code", "field_name"],
                condition=Q(superseded_by__isnull=True),
                name="one_current_extract_value_per_field",
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="extract_value_not_negative"),
        ]

    def __str__(self):
        return f"{self.indicator_code} {self.field_name} = {self.value}"


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
