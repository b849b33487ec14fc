from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organisation
from participation.models import ServiceYear


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


class JSONTextField(models.JSONField):
    """JSON kept as plain text. Submissions' fields are written half a million at a time by the loader, which
    builds the JSON itself from validated numbers and JSON-encoded names (extracts/store.py), and read whole
    (the calculation reads the totals beside them). PostgreSQL's `jsonb` cost a third of a national load's
    COPY converting it, and `json` still a quarter of it checking it (docs/adr/0010), so the database stores
    the text and the explain query casts what it unnests."""

    def db_type(self, connection):
        return "text"


class RoleTotals(models.Model):
    """A submission's fields totalled by role (engine.ROLE_TOTALS), blank where it has none: what a
    calculation reads. Kept on the submission, and copied onto its current row, which is all a run reads."""

    register = models.BigIntegerField(null=True, blank=True)
    numerator = models.BigIntegerField(null=True, blank=True)
    denominator = models.BigIntegerField(null=True, blank=True)
    pcas = models.BigIntegerField(null=True, blank=True)
    answer = models.BigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class ExtractSubmission(RoleTotals):
    """One practice × indicator submission of an extract: every field row of it together, with its file line.

    A national extract is 3.5 million field rows but under half a million submissions, and supersession
    (docs/adr/0005, 0010) works on whole submissions, so the submission is the row. It is written once and
    never updated: which submission is current lives in the narrow `CurrentSubmission` rows, so that a reload
    does not rewrite half a million rows of JSON. Superseded submissions stay for audit.
    """

    # Reads go through the extract (audit) or the current submissions' key, so the other keys have no index.
    # No key has a database-checked constraint: the loader writes half a million rows in one transaction
    # with the extract it has just created and ids it read from the database itself (store.store_fields),
    # and a deferred check per row cost more at commit than the COPY (docs/adr/0010). Deletion is refused
    # by the ORM (PROTECT); extracts are never deleted.
    extract = models.ForeignKey(
        Extract, on_delete=models.PROTECT, related_name="submissions", db_constraint=False
    )
    service_year = models.ForeignKey(
        ServiceYear, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    achievement_date = models.DateField()
    practice = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    # Up to a service component's length: item-of-service claims name their component here (ADR 0015).
    indicator_code = models.CharField(max_length=40)
    # The latest SUBMIT_DATE/SUBMIT_TIME of the submission's rows (English wall-clock time, stored as UTC).
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_submission = models.BooleanField(help_text="LAST_SUBMISSION was Y in the file")
    fields = JSONTextField(help_text="[line, FIELD_NAME, VALUE] of each field row, in file order")
    field_count = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.indicator_code}: {self.field_count} field(s)"


class CurrentSubmission(RoleTotals):
    """The submission in force for a service year, achievement date, practice and indicator: one narrow row
    per key, pointing at the submission a later extract's load made current (docs/adr/0010).

    On PostgreSQL each service year and date's rows are a partition of this table, which each load rebuilds
    in a fresh table and swaps in (extracts/store.py), so no row here is ever updated; on SQLite (the demo)
    a load upserts them. A submission with no row here is superseded, or was marked LAST_SUBMISSION = N, or
    was older than the one held when it came in; it stays for audit. The submission's extract, time, size
    and totals are repeated here, written from the submission in the same statement, so that deciding what
    an incoming extract replaces, and calculating, never read the wide rows.
    """

    pk = models.CompositePrimaryKey("service_year_id", "achievement_date", "practice_id", "indicator_code")
    service_year = models.ForeignKey(
        ServiceYear, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    achievement_date = models.DateField()
    practice = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    indicator_code = models.CharField(max_length=40)
    # Written by the loader from the submissions themselves, in one statement: no constraint to check per row.
    submission = models.ForeignKey(
        ExtractSubmission,
        on_delete=models.PROTECT,
        related_name="current",
        db_index=False,
        db_constraint=False,
    )
    extract = models.ForeignKey(
        Extract, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    field_count = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.indicator_code} on {self.achievement_date}: submission {self.submission_id}"


class CurrentSubmissionSet(models.Model):
    """What the current submissions of a service year and achievement date are, in a few numbers, so that a
    load can tell without a join whether it replaces every one of them (docs/adr/0010).

    On PostgreSQL each year and date's current submissions are a partition of their own, rebuilt by each load
    and swapped in. When the incoming file's current submissions have exactly the keys held (the SHA-256 of
    the sorted keys, as a duplicate file is recognised by its SHA-256) and none is older than the latest held,
    the new partition is the file's submissions alone; otherwise the load merges the held ones in. Written in
    the load's transaction, with the partition.
    """

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="+")
    achievement_date = models.DateField()
    key_digest = models.CharField(
        "SHA-256 of the keys", max_length=64, help_text="Of each practice id and indicator code, sorted"
    )
    latest_submitted_at = models.DateTimeField(null=True, blank=True)
    field_count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_year", "achievement_date"], name="one_current_set_per_year_and_date"
            )
        ]

    def __str__(self):
        return f"Current submissions on {self.achievement_date}: keys {self.key_digest[:12]}"


class ExtractUpload(models.Model):
    """An extract file received through the portal, validated and loaded by a worker (not in the request).

    The file waits in EXTRACT_UPLOAD_ROOT until its task has run, and is deleted then, loaded or not. A
    rejected file keeps its problems here so the person who uploaded it can read them.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Waiting for a worker"
        LOADING = "loading", "Checking and loading"
        LOADED = "loaded", "Loaded"
        ALREADY_LOADED = "already_loaded", "Already loaded (identical file)"
        REJECTED = "rejected", "Rejected: nothing stored"
        FAILED = "failed", "Failed: nothing stored"

    FINISHED = (Status.LOADED, Status.ALREADY_LOADED, Status.REJECTED, Status.FAILED)

    file_name = models.CharField(max_length=255)
    stored_name = models.CharField(max_length=255, help_text="The file's name in EXTRACT_UPLOAD_ROOT")
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    extract = models.ForeignKey(Extract, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    problems = models.JSONField(default=list, blank=True, help_text="Line, field and message of each")
    problem_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self):
        return f"Upload {self.pk}: {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
