"""Calculation runs, their results, the publication pointer, and the list sizes runs read.

A run's results hang off the run and are never edited after the run finishes. What readers see is decided
by `Publication`: one row per service year × achievement date whose `run` moves in one UPDATE, so a reader
sees the old results or the new ones, never a mix. A run that recalculates some practices still carries a
`PracticeResult` row for every published practice (copied from the run it replaces, ~6,400 small rows);
`PracticeResult.indicator_run` says which run holds that practice's indicator rows, so the large indicator
table is never copied. See docs/adr/0006-calculation-runs.md.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Organisation
from participation.models import ServiceYear

POINTS = {"max_digits": 8, "decimal_places": 2}
MONEY = {"max_digits": 12, "decimal_places": 2}


class PracticeListSize(models.Model):
    """A practice's registered patients on a date: 1 January (for CPI) and 31 March (for prevalence)."""

    practice = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="list_sizes")
    list_date = models.DateField()
    registered_patients = models.PositiveIntegerField()
    # The Network Contract DES pays on weighted and adjusted populations at 1 January as well (ADR 0015);
    # blank where none was loaded, and a capitation run needing one refuses the practice by name.
    weighted_patients = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    adjusted_patients = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["practice__code", "list_date"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "list_date"], name="one_list_size_per_practice_date")
        ]
        indexes = [models.Index(fields=["list_date", "practice"])]

    def __str__(self):
        return f"{self.practice_id} on {self.list_date}: {self.registered_patients}"


# Statuses of a run that still holds its scope: no second run of the same scope may start meanwhile.
ACTIVE_STATUSES = ["queued", "running", "held"]


class CalculationRun(models.Model):
    class Kind(models.TextChoices):
        IN_YEAR = "in_year", "In-year"
        YEAR_END = "year_end", "Year end"
        RECALCULATION = "recalculation", "Recalculation"

    class Scope(models.TextChoices):
        NATIONAL = "national", "National"
        COMMISSIONER = "commissioner", "Commissioner"
        PRACTICE = "practice", "Practice"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PUBLISHED = "published", "Published"
        # Its national prevalence looked wrong against last year's: Support confirms (or rejects) it first.
        HELD = "held", "Held: prevalence to confirm"

    class Stage(models.TextChoices):
        WAITING = "waiting", "Waiting for a worker"
        PREVALENCE = "prevalence", "National prevalence"
        CONFIRMATION = "confirmation", "National prevalence checks, waiting for Support"
        ACHIEVEMENT = "achievement", "Achievement and aspiration by commissioner"
        PUBLISHING = "publishing", "Publishing"
        DONE = "done", "Done"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calculation_runs",
        help_text="The commissioner or practice recalculated; blank for a national run",
    )
    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="calculation_runs")
    achievement_date = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.WAITING)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Chunks carry the attempt they belong to, so a chunk of a killed attempt redelivered after a retry
    # cannot write into the new attempt.
    attempt = models.PositiveSmallIntegerField(default=1)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    prevalence_run = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The run whose frozen national prevalence this run used",
    )
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The published run whose other practices this partial run carries forward",
    )
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The later run that had already published every practice this one calculated",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["service_year", "achievement_date", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="national", organisation__isnull=True)
                | (~Q(scope="national") & Q(organisation__isnull=False)),
                name="calculation_run_scope_names_its_organisation",
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=F("progress_total")), name="calculation_run_progress_bounded"
            ),
            # At most one active run per service year × achievement date × scope, however many requests
            # race to start one. A national run has no organisation: 0 stands for it, as NULLs never clash.
            models.UniqueConstraint(
                "service_year",
                "achievement_date",
                "scope",
                Coalesce("organisation", Value(0)),
                condition=Q(status__in=ACTIVE_STATUSES),
                name="one_active_run_per_scope",
            ),
        ]

    def __str__(self):
        return f"Run {self.pk}: {self.get_kind_display()} {self.service_year_id} {self.achievement_date}"

    @property
    def failure(self) -> tuple[str, bool]:
        """Why the run failed, in words a person can act on, and whether retrying it as it is can help.
        A run whose inputs are missing fails the same way however often it is retried."""
        error = self.error or ""
        if error.startswith("CalculationInputError: no extract values for"):
            return (
                "There are no extract values for this service year at this achievement date, so there is "
                "nothing to calculate. Load the extract for that date, then start a new run.",
                False,
            )
        if error.startswith("CalculationInputError: no list size"):
            return (
                "Some practices have extract values but no list size at this date "
                f"({error.split(': ', 2)[-1]}). Load their list sizes, then retry the run.",
                False,
            )
        if "has no national average list size" in error:
            return (
                "The service year has no national average list size. Service Management must set it on the "
                "service year; then start a new run.",
                False,
            )
        return (
            "The calculation stopped unexpectedly (the technical detail is below). Retrying usually helps; "
            "if it fails again, contact the service desk with the run number.",
            True,
        )

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.FAILED, self.Status.SUCCEEDED, self.Status.PUBLISHED}

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent_done(self) -> int:
        if self.status in {self.Status.SUCCEEDED, self.Status.PUBLISHED}:
            return 100
        return 100 * self.progress_done // self.progress_total if self.progress_total else 0


class RunLease(models.Model):
    """A worker's claim on one stage of a run while it works on it, renewed by a heartbeat from that worker.

    A worker killed (or cut off) mid-stage stops renewing; once the lease expires the watchdog fails the run
    so that it can be retried, within CALCULATION_LEASE_SECONDS plus the watchdog's interval rather than
    the stall limit. Chunks still waiting in the queue hold no lease, so a busy queue is never taken for a
    lost worker. The lease is deleted when the stage ends, however it ends."""

    run = models.ForeignKey(CalculationRun, on_delete=models.CASCADE, related_name="leases")
    attempt = models.PositiveSmallIntegerField()
    stage = models.CharField(max_length=60, help_text="What the worker is doing, e.g. commissioner 12")
    holder = models.CharField(max_length=200, help_text="The worker: host and process id")
    taken_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"Run {self.run_id} attempt {self.attempt}, {self.stage}, held by {self.holder}"


class FrozenPrevalence(models.Model):
    """The national prevalence of a service year and achievement date, frozen by the first run to need it."""

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="+")
    achievement_date = models.DateField()
    run = models.ForeignKey(CalculationRun, on_delete=models.PROTECT, related_name="+")
    frozen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_year", "achievement_date"], name="one_frozen_prevalence_per_year_date"
            )
        ]

    def __str__(self):
        return f"{self.service_year_id} {self.achievement_date}: run {self.run_id}"


class PrevalenceReview(models.Model):
    """The checks of a run's national prevalence against the previous year's, made before it is frozen
    (engine.prevalence_checks). With outliers the run is held until Support confirms or rejects them."""

    class Decision(models.TextChoices):
        PASSED = "passed", "No outliers: used at once"
        NO_COMPARISON = "no_comparison", "No previous year to compare with: used at once"
        PENDING = "pending", "Waiting for Support to confirm"
        CONFIRMED = "confirmed", "Confirmed by Support"
        REJECTED = "rejected", "Rejected by Support"

    run = models.OneToOneField(CalculationRun, on_delete=models.CASCADE, related_name="prevalence_review")
    compared_with = models.ForeignKey(
        CalculationRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The previous year's published year end, whose prevalence and registers were compared",
    )
    checked_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="Why Support confirmed or rejected the figures")

    def __str__(self):
        return f"Prevalence review of run {self.run_id}: {self.get_decision_display()}"


class PrevalenceFlag(models.Model):
    """One finding of a prevalence review: an outlier to confirm, or a note (a missing practice)."""

    class Kind(models.TextChoices):
        PRACTICES_MISSING = "practices_missing", "Practices missing"
        MISSING_PRACTICE = "missing_practice", "Practice sent no data"
        POPULATION_FALL = "population_fall", "Registered population fell"
        GROUP_CHANGE = "group_change", "National prevalence moved"
        REGISTERS_ZERO = "registers_zero", "Every register zero"

    review = models.ForeignKey(PrevalenceReview, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    outlier = models.BooleanField(help_text="Needs Support's confirmation (the rest are notes)")
    group_code = models.CharField(max_length=20, blank=True)
    practice = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    current = models.FloatField(null=True, blank=True)
    previous = models.FloatField(null=True, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["-outlier", "kind", "group_code", "id"]

    def __str__(self):
        return self.message


class PrevalenceResult(models.Model):
    run = models.ForeignKey(CalculationRun, on_delete=models.CASCADE, related_name="prevalence")
    group_code = models.CharField(max_length=20)
    register_total = models.BigIntegerField()
    population_total = models.BigIntegerField()
    national_prevalence = models.FloatField()

    class Meta:
        ordering = ["group_code"]
        constraints = [models.UniqueConstraint(fields=["run", "group_code"], name="one_prevalence_per_group")]

    def __str__(self):
        return f"{self.group_code}: {self.register_total} / {self.population_total}"


class IndicatorResult(models.Model):
    """One practice × indicator of a run. Income-protected rows carry the base-year figures instead."""

    # Half a million rows a national run, written by COPY from the run and practice ids it has just read: the
    # run × practice index below serves every read, and a deferred foreign-key check per row cost more at
    # each chunk's commit than the COPY (docs/adr/0010). The ORM still cascades and protects.
    run = models.ForeignKey(
        CalculationRun,
        on_delete=models.CASCADE,
        related_name="indicator_results",
        db_index=False,
        db_constraint=False,
    )
    practice = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    indicator_code = models.CharField(max_length=20)
    register = models.BigIntegerField(null=True)
    numerator = models.BigIntegerField(null=True)
    denominator = models.BigIntegerField(null=True)
    pcas = models.BigIntegerField(null=True)
    pca_rate = models.FloatField(null=True)
    achievement = models.FloatField(null=True, help_text="Percent; blank when the denominator is 0")
    manual_answer = models.BooleanField(null=True)
    points = models.DecimalField(**POINTS)
    cpi = models.FloatField()
    apdf = models.FloatField()
    payment = models.DecimalField(**MONEY)
    income_protected = models.BooleanField(default=False)
    base_numerator = models.BigIntegerField(null=True)
    base_denominator = models.BigIntegerField(null=True)
    base_achievement = models.FloatField(null=True)

    class Meta:
        # No per-row unique constraint: the run × practice index serves every read, and a unique index on
        # ~490,000 rows per run would slow the bulk write for no reader.
        indexes = [models.Index(fields=["run", "practice"])]

    def __str__(self):
        return f"{self.practice_id} {self.indicator_code}: {self.points} points"


class PracticeResult(models.Model):
    run = models.ForeignKey(CalculationRun, on_delete=models.CASCADE, related_name="practice_results")
    practice = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    indicator_run = models.ForeignKey(
        CalculationRun,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The run holding this practice's indicator results: this one or the one it carries forward",
    )
    list_size_cpi = models.PositiveIntegerField()
    list_size_prevalence = models.PositiveIntegerField()
    points = models.DecimalField(**POINTS)
    payment = models.DecimalField(**MONEY)
    aspiration_annual = models.DecimalField(**MONEY, null=True)
    aspiration_monthly = models.DecimalField(**MONEY, null=True)
    aspiration_last_month = models.DecimalField(**MONEY, null=True)

    class Meta:
        ordering = ["practice__code"]
        constraints = [
            models.UniqueConstraint(fields=["run", "practice"], name="one_practice_result_per_run"),
        ]
        indexes = [models.Index(fields=["indicator_run", "practice"])]

    def __str__(self):
        return f"{self.practice_id}: {self.points} points, £{self.payment}"


class Publication(models.Model):
    """What readers see for a service year and achievement date: one row, whose run moves atomically."""

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="publications")
    achievement_date = models.DateField()
    run = models.ForeignKey(CalculationRun, on_delete=models.PROTECT, related_name="publications")
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["service_year", "-achievement_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_year", "achievement_date"], name="one_publication_per_year_date"
            )
        ]

    def __str__(self):
        return f"{self.service_year_id} {self.achievement_date}: run {self.run_id}"


class RunInput(models.Model):
    """What one commissioner's practices are calculated from in a run: the extract values in the engine's
    values layout (an Arrow IPC file, which keeps the nullable types and reads back in milliseconds: CSV
    cost a national run about 3 s to write and read), and the run's other inputs for them prepared once
    (list sizes, manual answers, base-year points, the frozen prevalence, next year's list sizes). A run's
    first stage reads and reduces the current extract once for its whole scope and leaves one of these per
    commissioner, so that a chunk makes no query of its own for any of them (docs/adr/0010-year-end-speed.md).

    A chunk calculates several commissioners together (CALCULATION_CHUNK_PRACTICES), named by its first
    commissioner: `chunk`. Working data, not a record: the extract submissions stay the audit trail. A run's
    inputs are deleted when a later run begins (or when it is begun again, on a retry)."""

    run = models.ForeignKey(CalculationRun, on_delete=models.CASCADE, related_name="+")
    commissioner = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    # The id of the first commissioner of the chunk this one is calculated in (null: a chunk of its own, for
    # inputs left before chunks held several commissioners).
    chunk = models.BigIntegerField(null=True, blank=True)
    values = models.BinaryField()
    prepared = models.JSONField(
        null=True, blank=True, help_text="Records of each prepared input (pipeline.PREPARED_COLUMNS)"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "commissioner"], name="one_input_per_run_chunk")
        ]

    def __str__(self):
        return f"Run {self.run_id} inputs for {self.commissioner_id}"


class ServiceLine(models.Model):
    """One payment line of a run of a service paid by item of service or by capitation (ADR 0015): a
    practice's claim of a component at the achievement date (count × fee), a practice's capitation, or a
    PCN's capitation paid to the practice nominated as its payee on the date; or, for points at PCN level
    (the IIF, ADR 0019), one PCN × indicator (component = the indicator's code, its summed numerator and
    denominator, points, population = the PCN's list) paid to the payee. The run's `PracticeResult`
    rows hold each payee's total (no points), so publication, declarations and reports see one shape."""

    run = models.ForeignKey(CalculationRun, on_delete=models.CASCADE, related_name="service_lines")
    payee = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The practice the money goes to"
    )
    practice = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The practice whose claim or list this is; blank on a PCN's line",
    )
    pcn = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The PCN the practice was in on the date, for network services",
    )
    component = models.CharField(max_length=40)
    count = models.PositiveIntegerField(null=True, blank=True, help_text="Items claimed (item of service)")
    fee = models.DecimalField(**MONEY, null=True, blank=True)
    population = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    annual = models.DecimalField(**MONEY, null=True, blank=True, help_text="Capitation: the year's amount")
    numerator = models.PositiveIntegerField(
        null=True, blank=True, help_text="Points at PCN level: the members' numerators summed as at the date"
    )
    denominator = models.PositiveIntegerField(null=True, blank=True, help_text="… and their denominators")
    points = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, help_text="Points at PCN level (the IIF)"
    )
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["payee__code", "pcn__code", "practice__code", "component"]
        indexes = [models.Index(fields=["run", "payee"]), models.Index(fields=["run", "pcn"])]

    def __str__(self):
        return f"{self.payee_id} {self.component}: £{self.amount}"
