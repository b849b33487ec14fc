"""The payments ledger: one signed line per amount a practice is owed or owes, batches released to the
payment agency at each cut-off, the agency file of each batch and the agency's acknowledgements.

A line is written once and only its status moves (approved → released → paid, or rejected back to
finance); a correction is a new ADJUSTMENT line, never an edit, so what was sent stays what was sent. A
line belongs to at most one batch (`batch` is a single column, and the release moves it in one guarded
UPDATE). Per practice and service year the ledger holds the invariant
aspiration + balance + adjustments = the latest published achievement payment (docs/adr/0013-payments.md).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organisation
from calculation.models import CalculationRun
from participation.models import ServiceYear

MONEY = {"max_digits": 12, "decimal_places": 2}
# The statuses of a line that was sent to the agency (its batch is set); the others have no batch.
SENT_STATUSES = ("released", "paid", "rejected", "reissued")


class ReleaseSchedule(models.Model):
    """When a service year's payments are made and released: one payment date a month, a cut-off a number
    of working days before it at a time of day. A year without a schedule uses settings.PAYMENTS_SCHEDULE."""

    service_year = models.OneToOneField(
        ServiceYear, on_delete=models.CASCADE, related_name="release_schedule"
    )
    payment_day = models.PositiveSmallIntegerField(
        default=15, help_text="Day of the month payments are made, moved back to a working day (1–31)"
    )
    working_days_before = models.PositiveSmallIntegerField(
        default=5, help_text="Working days between the cut-off and the payment date"
    )
    cutoff_time = models.TimeField(default="12:00", help_text="Time of day of the cut-off (UK time)")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(payment_day__gte=1, payment_day__lte=31), name="release_schedule_day_of_month"
            )
        ]

    def __str__(self):
        return f"{self.service_year}: day {self.payment_day}, {self.working_days_before} working days' notice"


class PaymentBatch(models.Model):
    """Every approved line due by the payment date that was not yet released, taken at one cut-off."""

    reference = models.CharField(max_length=40, unique=True)
    cutoff = models.DateTimeField(
        unique=True, help_text="One batch per cut-off: a second release adds nothing"
    )
    payment_date = models.DateField()
    released_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    line_count = models.PositiveIntegerField(default=0)
    total = models.DecimalField(**MONEY, default=0)

    class Meta:
        ordering = ["-cutoff"]

    def __str__(self):
        return self.reference


class AgencyFile(models.Model):
    """The CSV sent to the payment agency for a batch, kept byte for byte with its SHA-256."""

    batch = models.OneToOneField(PaymentBatch, on_delete=models.PROTECT, related_name="agency_file")
    filename = models.CharField(max_length=100)
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.filename


class AspirationAmount(models.Model):
    """A practice's annual aspiration for a service year set by hand rather than by the formula (§4.9): an
    amount agreed with the commissioner, or a provisional one set before last year's achievement is known,
    later replaced. Rows are never edited: a new amount supersedes the current one, so the history of what
    was agreed, by whom and why stays. The current amount decides the instalments; replacing an amount once
    instalments are in the ledger adds an adjustment of the difference."""

    class Kind(models.TextChoices):
        AGREED = "agreed", "Agreed with the commissioner"
        PROVISIONAL = "provisional", "Provisional"
        CALCULATED = "calculated", "Calculated by the formula"

    practice = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    service_year = models.ForeignKey(
        ServiceYear,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The year the aspiration is paid in",
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    annual = models.DecimalField(**MONEY)
    reason = models.TextField()
    set_at = models.DateTimeField(default=timezone.now)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["service_year", "practice", "-set_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "service_year"],
                condition=Q(superseded_at__isnull=True),
                name="aspiration_amount_one_current",
            ),
            models.CheckConstraint(condition=Q(annual__gte=0), name="aspiration_amount_not_negative"),
        ]

    def __str__(self):
        return f"{self.practice_id} {self.service_year_id}: {self.get_kind_display()} £{self.annual}"


class PaymentLine(models.Model):
    class Component(models.TextChoices):
        ASPIRATION = "ASPIRATION", "Aspiration instalment"
        ACHIEVEMENT_BALANCE = "ACHIEVEMENT_BALANCE", "Achievement balance"
        ADJUSTMENT = "ADJUSTMENT", "Adjustment"
        # Services paid per achievement date (docs/adr/0015-service-kinds.md): a practice's claims, its own
        # capitation, and its PCN's capitation paid to it as the PCN's nominated payee.
        ITEM_OF_SERVICE = "ITEM_OF_SERVICE", "Item of service"
        CAPITATION = "CAPITATION", "Capitation"
        NETWORK_PAYMENT = "NETWORK_PAYMENT", "Network payment (as the PCN's nominated payee)"

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting financial approval"
        APPROVED = "approved", "Approved, awaiting release"
        RELEASED = "released", "Released to the payment agency"
        PAID = "paid", "Paid"
        REJECTED = "rejected", "Rejected by the payment agency"
        REISSUED = "reissued", "Rejected and reissued"
        WRITTEN_OFF = "written_off", "Written off"
        # A balance or adjustment of exactly £0.00: recorded so the ledger shows the year settled; never sent.
        SETTLED = "settled", "Nothing to pay"

    # Unique through Meta.constraints rather than unique=True, which on PostgreSQL adds a second, pattern-ops
    # index that no query needs.
    reference = models.CharField(max_length=60, help_text="Unique across every batch ever sent")
    # Every index is written for each of a national year's 76,920 lines, so a column gets one only if a
    # query needs it and no composite index below serves it; a column that stays empty until the line is
    # sent or declared is indexed only where it is set (docs/adr/0013-payments.md, Figures).
    payee = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="payment_lines", db_index=False
    )
    commissioner = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The commissioner of record",
        db_index=False,
    )
    service_year = models.ForeignKey(
        ServiceYear, on_delete=models.PROTECT, related_name="payment_lines", db_index=False
    )
    achievement_date = models.DateField(help_text="The year end, or the last day of an instalment's month")
    instalment = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1–12 for aspiration")
    component = models.CharField(max_length=24, choices=Component.choices)
    amount = models.DecimalField(**MONEY, help_text="Signed: a recovery is negative")
    due_date = models.DateField(help_text="The payment date it is expected on")
    status = models.CharField(max_length=20, choices=Status.choices)
    description = models.CharField(max_length=300, blank=True)
    run = models.ForeignKey(
        CalculationRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The published run the amount follows from", db_index=False,
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    batch = models.ForeignKey(
        PaymentBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="lines", db_index=False
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    write_off_reason = models.TextField(blank=True)
    declaration = models.ForeignKey(
        "declarations.Declaration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_lines",
        db_index=False,
        help_text="The declaration whose financial approval this line pays or adjusts",
    )
    reissue_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reissue"
    )
    aspiration_amount = models.ForeignKey(
        AspirationAmount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lines",
        db_index=False,
        help_text="The agreed, provisional or replacing amount an instalment or adjustment follows from",
    )

    class Meta:
        ordering = ["service_year", "payee__code", "due_date", "reference"]
        indexes = [
            models.Index(fields=["status", "batch", "due_date"]),
            models.Index(fields=["payee", "service_year"]),
            models.Index(fields=["commissioner", "service_year"]),
            models.Index(fields=["batch"], condition=Q(batch__isnull=False), name="payment_line_batch"),
            models.Index(
                fields=["declaration"],
                condition=Q(declaration__isnull=False),
                name="payment_line_declaration",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["reference"], name="payment_line_reference_unique"),
            # A line sent to the agency is in exactly one batch; a line not sent is in none.
            models.CheckConstraint(
                condition=Q(status__in=SENT_STATUSES, batch__isnull=False)
                | (~Q(status__in=SENT_STATUSES) & Q(batch__isnull=True)),
                name="payment_line_batched_iff_sent",
            ),
            models.CheckConstraint(
                condition=~Q(status="written_off") | Q(amount__lt=0),
                name="payment_line_only_recoveries_written_off",
            ),
            models.CheckConstraint(
                condition=Q(instalment__isnull=True) | Q(instalment__gte=1, instalment__lte=12),
                name="payment_line_instalment_of_twelve",
            ),
        ]

    def __str__(self):
        return f"{self.reference}: £{self.amount}"


class Acknowledgement(models.Model):
    """One import of the agency's acknowledgement file; a re-import of the same file changes nothing."""

    sha256 = models.CharField(max_length=64)
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self):
        return f"Acknowledgement {self.sha256[:12]}: {self.paid} paid, {self.rejected} rejected"
