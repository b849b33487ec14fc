from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.roles import Permission
from engine.improvement import RouteParameterError, parse_improvement_route
from engine.periods import achievement_dates


class Provenance(models.TextChoices):
    """How sure we are of a value taken from public sources (DOMAIN.md §3)."""

    CONFIRMED = "confirmed", "Confirmed"
    # Read in a trade or LMC source that reports the primary one, not in the primary source itself.
    SECONDARY = "secondary", "Secondary source"
    INFERRED = "inferred", "Inferred"
    UNCONFIRMED = "unconfirmed", "Unconfirmed"


class QualityService(models.Model):
    class Kind(models.TextChoices):
        QOF = "qof", "Quality and Outcomes Framework"
        ENHANCED_SERVICE = "enhanced_service", "Enhanced service"
        NETWORK = "network", "Network (PCN) payment"

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"


class ServiceYear(models.Model):
    """A quality service in one financial year (1 April–31 March): its money parameters, workflow settings
    and, through `indicators`, its ruleset."""

    class MissingAnswer(models.TextChoices):
        NO = "no", "No"
        YES = "yes", "Yes"

    class PaymentKind(models.TextChoices):
        """How the year's achievement turns into money (DOMAIN.md §7a; docs/adr/0015-service-kinds.md)."""

        POINTS = "points", "Points with thresholds"
        ITEM_OF_SERVICE = "item_of_service", "Item of service (count × fee)"
        CAPITATION = "capitation", "Capitation (rate × list size)"
        # The Investment and Impact Fund: the members' figures summed to their PCN, points with thresholds
        # per PCN × indicator, paid to the PCN's nominated payee (ADR 0019).
        NETWORK_POINTS = "network_points", "Points with thresholds at PCN level"
        PARTICIPATION_ONLY = "participation_only", "Participation only (no payment)"

    # Paid in points with thresholds, at practice (QOF) or PCN level (the IIF): a £ per point and indicators.
    POINTS_KINDS = (PaymentKind.POINTS, PaymentKind.NETWORK_POINTS)

    class Period(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"
        ANNUAL = "annual", "Annual (31 March)"

    service = models.ForeignKey(QualityService, on_delete=models.PROTECT, related_name="years")
    financial_year = models.PositiveSmallIntegerField(
        help_text="The calendar year the financial year starts in"
    )
    code = models.CharField(max_length=20, unique=True, help_text="e.g. QOF2324")
    name = models.CharField(max_length=200)
    start_date = models.DateField()
    end_date = models.DateField()

    payment_kind = models.CharField(max_length=20, choices=PaymentKind.choices, default=PaymentKind.POINTS)
    period = models.CharField(
        max_length=10,
        choices=Period.choices,
        default=Period.ANNUAL,
        help_text="Which achievement dates the year has: month ends, quarter ends or the year end",
    )
    point_value = models.DecimalField(
        "£ per point",
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Points services only; other kinds are paid at the rates of the year",
    )
    national_average_list_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Divides a practice's list size into its CPI; blank while unknown"
    )
    aspiration_rate = models.DecimalField(max_digits=4, decimal_places=3)
    max_points = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Published maximum, a check on the ruleset",
    )
    parameters_confidence = models.CharField(
        max_length=12, choices=Provenance.choices, default=Provenance.UNCONFIRMED
    )
    parameters_note = models.TextField(blank=True)
    ruleset_source = models.TextField(blank=True, help_text="Where the indicators of this year come from")

    automatic_participation = models.BooleanField(default=False)
    declaration_required = models.BooleanField(default=True)
    approval_required = models.BooleanField(default=True)
    missing_manual_answer_default = models.CharField(
        max_length=3, choices=MissingAnswer.choices, default=MissingAnswer.NO
    )
    manual_entry_deadline = models.DateField()
    payment_cutoff = models.DateTimeField(null=True, blank=True)
    base_year = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The year whose achievement income-protected indicators are credited from",
    )

    class Meta:
        ordering = ["service__code", "financial_year"]
        constraints = [
            models.UniqueConstraint(fields=["service", "financial_year"], name="one_service_year_per_year"),
            models.CheckConstraint(
                condition=Q(end_date__gt=F("start_date")), name="service_year_ends_after_start"
            ),
            models.CheckConstraint(
                condition=(
                    Q(payment_kind__in=["points", "network_points"])
                    & Q(point_value__isnull=False)
                    & Q(point_value__gt=0)
                )
                | (~Q(payment_kind__in=["points", "network_points"]) & Q(point_value__isnull=True)),
                name="service_year_point_value_only_for_points",
            ),
            models.CheckConstraint(
                condition=Q(aspiration_rate__gte=0) & Q(aspiration_rate__lte=1),
                name="service_year_aspiration_rate_is_a_fraction",
            ),
            models.CheckConstraint(
                condition=Q(national_average_list_size__isnull=True) | Q(national_average_list_size__gt=0),
                name="service_year_list_size_positive",
            ),
            models.CheckConstraint(
                condition=Q(manual_entry_deadline__gte=F("start_date")),
                name="service_year_manual_deadline_in_year",
            ),
        ]

    def __str__(self):
        return self.code

    def clean(self):
        if self.base_year_id is None:
            return
        if self.base_year_id == self.pk:
            raise ValidationError({"base_year": "A year cannot be its own base year."})
        base = self.base_year
        if base.service_id != self.service_id or base.financial_year >= self.financial_year:
            raise ValidationError({"base_year": "The base year must be an earlier year of the same service."})

    @property
    def label(self) -> str:
        """The financial year as written in the guidance, e.g. 2023/24."""
        return financial_year_label(self.financial_year)

    @property
    def parameters_confirmed(self) -> bool:
        return self.parameters_confidence == Provenance.CONFIRMED

    @property
    def paid_in_points(self) -> bool:
        return self.payment_kind in self.POINTS_KINDS

    @property
    def achievement_dates(self) -> list[date]:
        return achievement_dates(self.financial_year, self.period)


def financial_year_label(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def financial_year_dates(start_year: int) -> tuple[date, date]:
    return date(start_year, 4, 1), date(start_year + 1, 3, 31)


class ServiceRate(models.Model):
    """One rate of a service year that is not paid in points: a fee per item (by programme and cohort) or a
    capitation rate, with where it was read and how sure we are of it (DOMAIN.md §7a)."""

    class Unit(models.TextChoices):
        PER_ITEM = "per_item", "per item (dose, check, referral)"
        PER_PATIENT_PER_YEAR = "per_patient_per_year", "per patient per year, paid monthly as 1/12"
        PER_BED_PER_MONTH = "per_bed_per_month", "per care-home bed per month"

    class Population(models.TextChoices):
        NONE = "", "None (item of service)"
        REGISTERED = "registered", "Registered list at 1 January"
        WEIGHTED = "weighted", "Weighted list at 1 January"
        ADJUSTED = "adjusted", "Adjusted population at 1 January"
        BEDS = "beds", "Care-home beds this month"

    class PaidTo(models.TextChoices):
        PRACTICE = "practice", "The practice"
        NOMINATED_PAYEE = "nominated_payee", "The PCN's nominated payee"

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="rates")
    component = models.CharField(
        max_length=40,
        help_text="The programme's cohort or the payment, e.g. dose_cohort_6_15, enhanced_access",
    )
    description = models.CharField(max_length=200)
    rate = models.DecimalField("rate (£)", max_digits=10, decimal_places=4)
    unit = models.CharField(max_length=24, choices=Unit.choices)
    population = models.CharField(max_length=12, choices=Population.choices, blank=True)
    paid_to = models.CharField(max_length=16, choices=PaidTo.choices)
    capped_by_register = models.BooleanField(
        default=False, help_text="The year's cumulative count may never exceed the practice's register"
    )
    cap_note = models.CharField(max_length=200, blank=True)
    confidence = models.CharField(max_length=12, choices=Provenance.choices)
    source = models.TextField(blank=True)

    class Meta:
        ordering = ["service_year", "component"]
        constraints = [
            models.UniqueConstraint(fields=["service_year", "component"], name="one_rate_per_component"),
            models.CheckConstraint(condition=Q(rate__gte=0), name="service_rate_not_negative"),
            # A fee is in whole pence; capitation rates per patient per year carry fractions of a penny.
            models.CheckConstraint(
                condition=(Q(unit="per_item") & Q(population=""))
                | (Q(unit="per_patient_per_year") & Q(population__in=["registered", "weighted", "adjusted"]))
                | (Q(unit="per_bed_per_month") & Q(population="beds")),
                name="service_rate_unit_fits_population",
            ),
            models.CheckConstraint(
                condition=Q(capped_by_register=False) | Q(unit="per_item"),
                name="service_rate_only_items_capped",
            ),
        ]

    def __str__(self):
        return f"{self.component} ({self.service_year.code})"

    def clean(self):
        whole_pence = self.rate is None or self.rate == self.rate.quantize(Decimal("0.01"))
        if self.unit != self.Unit.PER_PATIENT_PER_YEAR and not whole_pence:
            raise ValidationError({"rate": "A fee per item or per bed is in whole pence."})

    @property
    def confirmed(self) -> bool:
        return self.confidence == Provenance.CONFIRMED


class RuleParameter(models.Model):
    """One constant of a year-versioned rule (e.g. the 2026/27 childhood-vaccination improvement route),
    kept as data with its provenance so that an unknown is configurable and visibly flagged, never
    hard-coded. The engine parses and checks the values of a rule as a whole."""

    class Rule(models.TextChoices):
        VACCINATION_IMPROVEMENT = "vaccination_improvement", "Childhood-vaccination improvement route"

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="rule_parameters")
    rule = models.CharField(max_length=32, choices=Rule.choices)
    name = models.CharField(max_length=40)
    value = models.CharField(max_length=200)
    confidence = models.CharField(max_length=12, choices=Provenance.choices)
    note = models.TextField(blank=True, help_text="Where the value was read, or why it is assumed")

    class Meta:
        ordering = ["service_year", "rule", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_year", "rule", "name"], name="one_value_per_rule_parameter"
            )
        ]

    def __str__(self):
        return f"{self.rule}.{self.name} ({self.service_year.code})"

    def clean(self):
        # The engine reads a rule's parameters as a whole, so a changed value is checked with its siblings
        # (a rule being loaded is checked once all of its parameters are in: actions._check_rules).
        if self.pk is None or self.rule not in RULE_PARSERS:
            return
        siblings = RuleParameter.objects.filter(service_year_id=self.service_year_id, rule=self.rule)
        values = {parameter.name: parameter.value for parameter in siblings.exclude(pk=self.pk)}
        values[self.name] = self.value
        check_rule(self.rule, values)

    @property
    def confirmed(self) -> bool:
        return self.confidence == Provenance.CONFIRMED


class Indicator(models.Model):
    """One indicator of a service year's ruleset (DOMAIN.md §3, §4)."""

    class Kind(models.TextChoices):
        REGISTER = "register", "Register"
        PERCENTAGE = "percentage", "Percentage (thresholds)"
        MANUAL = "manual", "Manual (yes/no)"
        MANAGEMENT_INFORMATION = "management_information", "Management information"

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="indicators")
    code = models.CharField(max_length=20)
    group_code = models.CharField(max_length=20)
    group_description = models.CharField(max_length=200)
    domain_code = models.CharField(max_length=10)
    points = models.DecimalField(max_digits=6, decimal_places=2)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    carries_register = models.BooleanField(
        default=False, help_text="A percentage indicator whose extract carries its group's register"
    )
    patient_list = models.CharField(max_length=20)
    additional_patient_list = models.CharField(max_length=20, blank=True)
    prevalence_adjusted = models.BooleanField()
    lower_threshold = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    upper_threshold = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    threshold_confidence = models.CharField(
        max_length=12, choices=Provenance.choices, blank=True, help_text="Percentage indicators only"
    )
    definition_confidence = models.CharField(
        max_length=12,
        choices=Provenance.choices,
        default=Provenance.CONFIRMED,
        help_text="Code, points, kind, patient lists and income protection",
    )
    income_protected = models.BooleanField(
        default=False, help_text="Credited with the base year's achievement instead of this year's"
    )
    base_indicator_code = models.CharField(
        max_length=20, blank=True, help_text="The indicator's code in the base year, when it changed"
    )
    answered_with_count = models.BooleanField(
        default=False,
        help_text="Manual indicators only: entered as a count (as some enhanced services are), not Yes/No",
    )
    provenance_note = models.TextField(blank=True)

    class Meta:
        ordering = ["service_year", "code"]
        constraints = [
            models.UniqueConstraint(fields=["service_year", "code"], name="one_indicator_code_per_year"),
            models.CheckConstraint(condition=Q(points__gte=0), name="indicator_points_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind="management_information") | Q(points=0),
                name="indicator_management_information_unpaid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="percentage")
                    & Q(lower_threshold__isnull=False)
                    & Q(upper_threshold__isnull=False)
                    & Q(lower_threshold__gte=0)
                    & Q(upper_threshold__lte=100)
                    & Q(lower_threshold__lt=F("upper_threshold"))
                    & ~Q(threshold_confidence="")
                )
                | (
                    ~Q(kind="percentage")
                    & Q(lower_threshold__isnull=True)
                    & Q(upper_threshold__isnull=True)
                    & Q(threshold_confidence="")
                ),
                name="indicator_thresholds_only_for_percentages",
            ),
            models.CheckConstraint(
                condition=Q(carries_register=False) | Q(kind="percentage"),
                name="indicator_only_percentages_carry_a_register",
            ),
            models.CheckConstraint(
                condition=Q(prevalence_adjusted=False) | Q(kind__in=["register", "percentage"]),
                name="indicator_manual_and_mi_not_prevalence_adjusted",
            ),
        ]

    def __str__(self):
        return f"{self.code} ({self.service_year.code})"

    def clean(self):
        if self.income_protected and self.service_year_id and self.service_year.base_year_id is None:
            raise ValidationError(
                {"income_protected": f"{self.service_year} has no base year to credit achievement from."}
            )

    @property
    def unconfirmed_values(self) -> list[tuple[str, str]]:
        """(what, confidence) for the parts of this indicator to check before relying on them."""
        flagged = []
        if self.definition_confidence != Provenance.CONFIRMED:
            flagged.append(("definition", self.definition_confidence))
        if self.threshold_confidence and self.threshold_confidence != Provenance.CONFIRMED:
            flagged.append(("thresholds", self.threshold_confidence))
        return flagged


class Milestone(models.Model):
    """One step of a service year's year-end timetable (DOMAIN.md §8), a single day or a window."""

    class Kind(models.TextChoices):
        # The windows people work in, so the timetable a service manager keeps says when each opens.
        OFFER_WINDOW = "offer_window", "Offers made and answered"
        DECLARATION_WINDOW = "declaration_window", "Practices declare achievement"
        APPROVAL_WINDOW = "approval_window", "Commissioners approve declarations"
        PARTICIPATION_EXTRACTION = "participation_extraction", "Participation extracted"
        EXTRACTION_WINDOW = "extraction_window", "GP system extraction window"
        PREVALENCE_CALCULATION = "prevalence_calculation", "Prevalence calculation and checks"
        ACHIEVEMENT_CALCULATION = "achievement_calculation", "Achievement and aspiration calculations"
        AVAILABLE_TO_DECLARE = "available_to_declare", "Achievement available to view and declare"

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="milestones")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="The same day as the start for a one-day milestone")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["service_year", "starts_on", "ends_on", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["service_year", "kind"], name="one_milestone_of_a_kind_per_year"),
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="milestone_ends_after_start"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.service_year.code})"

    def clean(self):
        if self.service_year_id and self.starts_on and self.starts_on < self.service_year.start_date:
            raise ValidationError(
                {"starts_on": f"{self.service_year} starts on {self.service_year.start_date}."}
            )


class Offer(models.Model):
    """A commissioner's offer of a service year to one practice, and where it has got to (DOMAIN.md §7).

    offered → accepted | declined | withdrawn | expired; accepted → approved | withdrawn; approved → ended.
    Only approval lets data in: it creates the practice's `Participation` for the offer's dates.
    """

    class State(models.TextChoices):
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted, awaiting approval"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"
        APPROVED = "approved", "Approved"
        ENDED = "ended", "Ended"

    # States in which an offer still stands; a practice holds at most one per service year.
    LIVE_STATES = (State.OFFERED, State.ACCEPTED, State.APPROVED)

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="offers")
    practice = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="offers_received"
    )
    commissioner = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="offers_made"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OFFERED, db_index=True)
    start_date = models.DateField()
    end_date = models.DateField()
    response_date = models.DateField(help_text="The practice must accept or decline by this day")
    target_date = models.DateField(help_text="The day the commissioner aims to have participation approved")
    decline_reason = models.TextField(blank=True)

    offered_at = models.DateTimeField()
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Withdrawn, expired or ended: the last transition an offer can make.
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["service_year", "practice__code", "-offered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_year", "practice"],
                condition=Q(state__in=["offered", "accepted", "approved"]),
                name="one_live_offer_per_practice_and_year",
            ),
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="offer_ends_after_start"),
            models.CheckConstraint(
                condition=Q(response_date__lte=F("end_date")), name="offer_response_by_its_end"
            ),
            models.CheckConstraint(
                condition=Q(state="declined") | Q(decline_reason=""), name="offer_reason_only_when_declined"
            ),
        ]
        indexes = [models.Index(fields=["state", "response_date"])]

    def __str__(self):
        return f"{self.service_year.code} offer to {self.practice.code}"

    @property
    def response_date_passed(self) -> bool:
        """An offer still waiting after its respond-by date: the page warns before anyone accepts it."""
        return self.state == self.State.OFFERED and self.response_date < timezone.localdate()


def validate_offer_dates(
    *, service_year: ServiceYear, start_date: date, end_date: date, response_date: date, target_date: date
) -> None:
    """Raise a ValidationError keyed by field unless the dates fit each other and the national year."""
    errors = {}
    first, last = service_year.start_date, service_year.end_date
    dates = {
        "start_date": start_date,
        "end_date": end_date,
        "response_date": response_date,
        "target_date": target_date,
    }
    for name, value in dates.items():
        if not first <= value <= last:
            errors[name] = f"Must be between {_day(first)} and {_day(last)}, the dates of {service_year}."
    if "end_date" not in errors and start_date > end_date:
        errors["end_date"] = "The end date must be on or after the start date."
    if "response_date" not in errors and response_date > end_date:
        errors["response_date"] = "The response date must be on or before the end date."
    if errors:
        raise ValidationError(errors)


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


@dataclass(frozen=True)
class Transition:
    sources: frozenset
    target: str
    # Who may make it, checked against the offer's practice.
    permission: Permission
    verb: str


# The offer's state machine (DOMAIN.md §7): what each transition starts from, leads to, and who makes it.
_S = Offer.State
TRANSITIONS = {
    "accept": Transition(frozenset({_S.OFFERED}), _S.ACCEPTED, Permission.MANAGE_PARTICIPATION, "accepted"),
    "decline": Transition(frozenset({_S.OFFERED}), _S.DECLINED, Permission.MANAGE_PARTICIPATION, "declined"),
    "withdraw": Transition(
        frozenset({_S.OFFERED, _S.ACCEPTED}), _S.WITHDRAWN, Permission.COMMISSION_SERVICES, "withdrawn"
    ),
    "expire": Transition(frozenset({_S.OFFERED}), _S.EXPIRED, Permission.SUPPORT, "expired"),
    "approve": Transition(frozenset({_S.ACCEPTED}), _S.APPROVED, Permission.COMMISSION_SERVICES, "approved"),
    "end": Transition(frozenset({_S.APPROVED}), _S.ENDED, Permission.COMMISSION_SERVICES, "ended"),
}


class Participation(models.Model):
    """A period in which a practice takes part in a service year, so its data may come in.

    Created when an offer is approved (dates from the offer) or recorded automatically for years with
    `automatic_participation` (no offer). Ending participation moves `end_date` earlier; a practice that
    leaves and later rejoins has two rows.
    """

    service_year = models.ForeignKey(ServiceYear, on_delete=models.PROTECT, related_name="participations")
    practice = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="participations"
    )
    offer = models.OneToOneField(
        Offer, null=True, blank=True, on_delete=models.PROTECT, related_name="participation"
    )
    start_date = models.DateField()
    end_date = models.DateField()
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["service_year", "practice", "start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="participation_ends_after_start"
            ),
            models.UniqueConstraint(
                fields=["service_year", "practice", "start_date"], name="one_participation_start_per_day"
            ),
        ]

    def __str__(self):
        return f"{self.practice.code} in {self.service_year.code} {self.start_date}–{self.end_date}"

    @property
    def is_automatic(self) -> bool:
        return self.offer_id is None


# The year-versioned rules and how the engine reads each one's parameters.
RULE_PARSERS = {RuleParameter.Rule.VACCINATION_IMPROVEMENT: parse_improvement_route}


def check_rule(rule: str, values: dict[str, str]):
    """The engine's reading of a rule's parameters; a ValidationError naming each bad parameter if none."""
    try:
        return RULE_PARSERS[rule](values)
    except RouteParameterError as error:
        raise ValidationError({"value": error.problems}) from error


class NominatedPayee(models.Model):
    """The member practice a PCN nominated to receive its Network Contract DES payments and to declare for
    it, over a period (both ends included; blank end while in force). Dated like PCN membership, so a run
    of a past date pays whoever was nominated then (ADR 0015)."""

    pcn = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="payee_nominations"
    )
    payee = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="+")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["pcn__code", "start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="nominated_payee_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["pcn"], condition=Q(end_date__isnull=True), name="one_open_payee_per_pcn"
            ),
        ]

    def __str__(self):
        return f"{self.payee.code} for {self.pcn.code} from {self.start_date}"
