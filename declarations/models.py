"""Declarations of achievement, their approvals, the recalculations that change them, and freezes.

A declaration is a practice's claim for payment of one published run's figures for a service year and
achievement date. Its figures (points, pounds, the run) are a snapshot taken when the run published, so a
later run never changes what somebody already declared or approved: it makes a `DeclarationRevision`
instead, and sends the declaration back (or, once sent for payment, flags it). See
docs/adr/0008-declarations.md.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Organisation
from accounts.roles import Permission
from calculation.models import MONEY, POINTS, CalculationRun
from participation.models import ServiceYear


class Declaration(models.Model):
    class State(models.TextChoices):
        # The labels CQRS users know (DOMAIN.md §7).
        # A member practice's declaration of a network service until its PCN's aggregate for the date is
        # published (ADR 0018): its figures are known, but it is declared beside the PCN's.
        AWAITING_NETWORK = "awaiting_network", "Awaiting Network Achievement"
        AWAITING_PRACTICE = "awaiting_practice", "Awaiting Service Provider Approval"
        AWAITING_COMMISSIONER = "awaiting_commissioner", "Awaiting Commissioning Organisation Approval"
        AWAITING_FINANCE = "awaiting_finance", "Awaiting Financial Approval"
        APPROVED = "approved", "Approved"
        SENT = "sent", "SENT TO SSD"
        # The practice no longer appears in the published run (it stopped taking part): nothing to pay.
        WITHDRAWN = "withdrawn", "Withdrawn"

    LIVE_STATES = (
        State.AWAITING_NETWORK,
        State.AWAITING_PRACTICE,
        State.AWAITING_COMMISSIONER,
        State.AWAITING_FINANCE,
        State.APPROVED,
        State.SENT,
    )

    # The organisation whose achievement it is: a practice, or a PCN for its aggregate of a network
    # service (declared by a user of its nominated payee practice; ADR 0018).
    practice = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="declarations")
    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="declarations")
    achievement_date = models.DateField()
    state = models.CharField(max_length=24, choices=State.choices, db_index=True)
    # The snapshot of the figures declared: the run they come from and its totals for the practice.
    run = models.ForeignKey(CalculationRun, on_delete=models.PROTECT, related_name="declarations")
    points = models.DecimalField(**POINTS)
    payment = models.DecimalField(**MONEY)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    statement_accepted = models.BooleanField(default=False)
    notes = models.TextField(blank=True, help_text="The practice's notes when declaring")
    declared_at = models.DateTimeField(null=True, blank=True)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    financially_approved_at = models.DateTimeField(null=True, blank=True)
    financially_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    payment_reference = models.CharField(max_length=100, blank=True)
    rejection_reason = models.TextField(blank=True, help_text="Why it was last sent back to the practice")
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["service_year", "-achievement_date", "practice__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "service_year", "achievement_date"],
                condition=~Q(state="withdrawn"),
                name="one_live_declaration_per_practice_year_date",
            ),
            models.CheckConstraint(
                condition=~Q(state="sent") | ~Q(payment_reference=""),
                name="declaration_sent_has_a_payment_reference",
            ),
        ]
        indexes = [models.Index(fields=["service_year", "achievement_date", "state"])]

    def __str__(self):
        return f"{self.service_year_id} {self.achievement_date} declaration of {self.practice_id}"

    @property
    def is_live(self) -> bool:
        return self.state != self.State.WITHDRAWN

    def figures(self) -> dict:
        """What the audit trail records of every transition: the run and the figures it was about."""
        return {
            "state": self.state,
            "run": self.run_id,
            "points": str(self.points),
            "payment": str(self.payment),
        }


_S = Declaration.State
# Who moves a declaration on: the state each step starts from and the permission it takes at the practice.
STEPS = {
    "declare": (_S.AWAITING_PRACTICE, Permission.DECLARE_ACHIEVEMENT),
    "approve": (_S.AWAITING_COMMISSIONER, Permission.APPROVE_DECLARATIONS),
    "financially_approve": (_S.AWAITING_FINANCE, Permission.MANAGE_FINANCE),
}
# Who may send it back to the practice, by the state it is in: the approver before approval, finance after.
REJECTERS = {
    _S.AWAITING_COMMISSIONER: Permission.APPROVE_DECLARATIONS,
    _S.AWAITING_FINANCE: Permission.MANAGE_FINANCE,
}


NO_DECLARATION_REQUIRED = "No Declaration Required"
NO_APPROVAL_REQUIRED = "No Approval Required"


def past_unneeded_steps(service_year: ServiceYear, state: str) -> tuple[str, list[str]]:
    """Move past the steps the service year's settings say are not needed: the state it lands in, and the
    settings applied (audited as done by the system, naming the setting)."""
    skipped = []
    if state == _S.AWAITING_PRACTICE and not service_year.declaration_required:
        state = _S.AWAITING_COMMISSIONER
        skipped.append(NO_DECLARATION_REQUIRED)
    if state == _S.AWAITING_COMMISSIONER and not service_year.approval_required:
        state = _S.AWAITING_FINANCE
        skipped.append(NO_APPROVAL_REQUIRED)
    return state, skipped


def follows_declarations(run: CalculationRun) -> bool:
    """Declarations are for the achievement a practice is paid on: the service year's end date (the year
    end and every recalculation of it). In-year runs are previews, never declared, even one made of the
    last day. A service paid by item of service or capitation is paid for each achievement date (a month's
    doses, a quarter's health checks, a month's capitation), so each of its publications is declared (ADR
    0015); a PCN's money is declared by its nominated payee, whose figures carry it. Points at PCN level
    (the IIF) are declared at the year end, as QOF (ADR 0019)."""
    if not run.service_year.paid_in_points:
        return run.service_year.payment_kind != ServiceYear.PaymentKind.PARTICIPATION_ONLY
    return run.kind != CalculationRun.Kind.IN_YEAR and run.achievement_date == run.service_year.end_date


def pounds(amount: Decimal) -> str:
    """£1,234.56, and -£1,234.56 for money owed back."""
    return f"{'-' if amount < 0 else ''}£{abs(amount):,.2f}"


class DeclarationRevision(models.Model):
    """A newer published run changed a declaration's figures: what they were, what they are, and what
    happened to the declaration. One already sent for payment is flagged for the commissioner, and its
    difference in pounds is an adjustment the payments app pays or recovers."""

    class Outcome(models.TextChoices):
        REVERTED = "reverted", "Returned to the practice to declare again"
        FLAGGED = "flagged", "Already sent for payment: flagged for commissioner action"

    declaration = models.ForeignKey(Declaration, on_delete=models.PROTECT, related_name="revisions")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    previous_run = models.ForeignKey(CalculationRun, on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(CalculationRun, on_delete=models.PROTECT, related_name="+")
    previous_state = models.CharField(max_length=24, choices=Declaration.State.choices)
    previous_points = models.DecimalField(**POINTS)
    points = models.DecimalField(**POINTS)
    previous_payment = models.DecimalField(**MONEY)
    payment = models.DecimalField(**MONEY)
    difference = models.DecimalField(**MONEY, help_text="New pounds less old: positive is owed the practice")
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["outcome"], condition=Q(resolved_at__isnull=True), name="declaration_revision_open"
            )
        ]

    def __str__(self):
        return f"Revision of declaration {self.declaration_id}: £{self.difference}"

    @property
    def awaiting_commissioner(self) -> bool:
        return self.outcome == self.Outcome.FLAGGED and self.resolved_at is None


class Freeze(models.Model):
    """No declarations or approvals for one service year, or for every service when `service_year` is
    blank ("no further declarations or approvals until further notice"), until it is lifted."""

    service_year = models.ForeignKey(
        ServiceYear, null=True, blank=True, on_delete=models.PROTECT, related_name="freezes"
    )
    reason = models.TextField()
    frozen_at = models.DateTimeField(default=timezone.now)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-frozen_at", "-id"]
        constraints = [
            # One standing freeze per service year, and one for all services (service year 0 stands for it).
            models.UniqueConstraint(
                Coalesce("service_year", Value(0)),
                condition=Q(lifted_at__isnull=True),
                name="one_standing_freeze_per_scope",
            ),
        ]

    def __str__(self):
        return f"Freeze of {self.scope_label}"

    @property
    def scope_label(self) -> str:
        return self.service_year.name if self.service_year_id else "all services"

    @property
    def standing(self) -> bool:
        return self.lifted_at is None
