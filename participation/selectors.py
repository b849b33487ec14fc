from datetime import date, timedelta

import pandas as pd
from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Organisation
from accounts.permissions import may, practice_ids_reachable
from accounts.roles import Permission
from accounts.selectors import practices_visible_to
from engine import validate_ruleset
from engine.item_of_service import fee_pence

from .models import (
    TRANSITIONS,
    Indicator,
    Milestone,
    Offer,
    Participation,
    Provenance,
    RuleParameter,
    ServiceRate,
    ServiceYear,
)

# CQRS gave practices four weeks to answer an offer.
RESPONSE_DAYS = 28

# The columns of shared/reference/qof_2023_24_indicators.csv, then what a year adds to them.
RULESET_COLUMNS = {
    "indicator_code": "code",
    "group_code": "group_code",
    "group_description": "group_description",
    "domain_code": "domain_code",
    "points": "points",
    "kind": "kind",
    "carries_register": "carries_register",
    "patient_list": "patient_list",
    "additional_patient_list": "additional_patient_list",
    "prevalence_adjusted": "prevalence_adjusted",
    "lower_threshold": "lower_threshold",
    "upper_threshold": "upper_threshold",
    "threshold_confidence": "threshold_confidence",
    "income_protected": "income_protected",
    "base_indicator_code": "base_indicator_code",
}
DECIMAL_COLUMNS = ["points", "lower_threshold", "upper_threshold"]
FLAG_COLUMNS = ["carries_register", "prevalence_adjusted", "income_protected"]


def ruleset_frame(service_year: ServiceYear) -> pd.DataFrame:
    """A service year's indicators, one row each in code order, for the calculation engine (one query).

    Points and thresholds are Decimals (None where a kind has no thresholds); flags are booleans.
    """
    rows = (
        Indicator.objects.filter(service_year_id=service_year.pk)
        .order_by("code")
        .values_list(*RULESET_COLUMNS.values())
    )
    frame = pd.DataFrame.from_records(list(rows), columns=list(RULESET_COLUMNS))
    # Decimal columns stay object so that no value passes through a float; flags become real booleans.
    return frame.astype(dict.fromkeys(DECIMAL_COLUMNS, object) | dict.fromkeys(FLAG_COLUMNS, bool))


def engine_ruleset(service_year: ServiceYear) -> pd.DataFrame:
    """The year's indicators as a validated engine ruleset: `ruleset_frame` written back into the text form
    the engine validates (one query)."""
    frame = ruleset_frame(service_year)

    def as_text(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value)

    return validate_ruleset(frame.astype(object).map(as_text), source=f"ruleset {service_year.code}")


def service_years_with_flags() -> QuerySet[ServiceYear]:
    """Service years with how many indicators they hold and how many carry values not yet confirmed."""
    not_confirmed = ~Q(indicators__definition_confidence=Provenance.CONFIRMED) | Q(
        indicators__threshold_confidence__in=[
            Provenance.SECONDARY,
            Provenance.INFERRED,
            Provenance.UNCONFIRMED,
        ]
    )
    return ServiceYear.objects.select_related("service", "base_year").annotate(
        indicator_count=Count("indicators"),
        flagged_indicator_count=Count("indicators", filter=not_confirmed),
    )


# Participation, for the extract loader and the calculation: who may send data, on which days.


def participation_periods(service_year: ServiceYear) -> dict[str, list[tuple[date, date]]]:
    """Practice code → its participation periods in the year, in date order; both ends inclusive (one query).

    A practice that joins mid-year starts late, one that leaves ends early, and one that leaves and comes
    back has two periods. Practices that do not participate are absent.
    """
    periods: dict[str, list[tuple[date, date]]] = {}
    rows = (
        Participation.objects.filter(service_year_id=service_year.pk)
        .order_by("practice__code", "start_date")
        .values_list("practice__code", "start_date", "end_date")
    )
    for code, start, end in rows:
        periods.setdefault(code, []).append((start, end))
    return periods


def participation_frame(service_year: ServiceYear) -> pd.DataFrame:
    """The same periods as a frame with columns practice_code, start_date, end_date (dates; one query)."""
    rows = (
        Participation.objects.filter(service_year_id=service_year.pk)
        .order_by("practice__code", "start_date")
        .values_list("practice__code", "start_date", "end_date")
    )
    return pd.DataFrame.from_records(list(rows), columns=["practice_code", "start_date", "end_date"])


def participating_practice_codes(service_year: ServiceYear, *, on: date) -> set[str]:
    """Codes of the practices participating on `on`, e.g. an extract's achievement date (one query)."""
    return set(
        Participation.objects.filter(
            service_year_id=service_year.pk, start_date__lte=on, end_date__gte=on
        ).values_list("practice__code", flat=True)
    )


def is_participating(practice: Organisation, service_year: ServiceYear, on: date) -> bool:
    return Participation.objects.filter(
        service_year_id=service_year.pk, practice_id=practice.pk, start_date__lte=on, end_date__gte=on
    ).exists()


# Pages: every list is scoped to what the user may see.


def offerable_service_years() -> QuerySet[ServiceYear]:
    """Years practices must be offered; the newest first."""
    return (
        ServiceYear.objects.filter(automatic_participation=False)
        .select_related("service")
        .order_by("-financial_year", "service__code")
    )


def offers_visible_to(user) -> QuerySet[Offer]:
    return Offer.objects.filter(practice__in=practices_visible_to(user)).select_related(
        "service_year", "practice", "commissioner", "participation"
    )


def offer_for(user, pk: int) -> Offer:
    """The offer, or 404 when it does not exist or its practice lies outside the user's scope."""
    return get_object_or_404(offers_visible_to(user), pk=pk)


def offers_for_practice_users(user) -> QuerySet[Offer]:
    """Offers to the practices where the user holds a role themselves (not those below a commissioner)."""
    own = Membership.objects.filter(user=user, ended_at__isnull=True).values("organisation_id")
    return offers_visible_to(user).filter(practice_id__in=own)


def not_yet_offered(practices: QuerySet[Organisation], service_year: ServiceYear) -> QuerySet[Organisation]:
    """The practices with no live offer and no participation for the year: the ones worth offering it to."""
    live = Offer.objects.filter(
        service_year_id=service_year.pk, practice=OuterRef("pk"), state__in=Offer.LIVE_STATES
    )
    participating = Participation.objects.filter(service_year_id=service_year.pk, practice=OuterRef("pk"))
    return practices.exclude(Exists(live)).exclude(Exists(participating))


def recent_offerable_service_years(today: date | None = None) -> QuerySet[ServiceYear]:
    """The years worth offering now: not ended, or ended within the last year (late offers and corrections).
    An older year can still be reached by its code; it is just not offered in the list."""
    today = today or timezone.localdate()
    return offerable_service_years().filter(end_date__gte=today - timedelta(days=365))


def practices_offerable_by(user) -> QuerySet[Organisation]:
    return (
        practices_visible_to(user, Permission.COMMISSION_SERVICES).select_related("parent").order_by("code")
    )


def participation_overview_for(user, service_year: ServiceYear) -> QuerySet[Organisation]:
    """Every practice the user may see, with where its latest offer for the year stands and its current
    participation period, as annotations (one query however many practices)."""
    latest_offer = Offer.objects.filter(service_year_id=service_year.pk, practice=OuterRef("pk")).order_by(
        "-offered_at", "-pk"
    )
    latest_participation = Participation.objects.filter(
        service_year_id=service_year.pk, practice=OuterRef("pk")
    ).order_by("-start_date")
    return (
        practices_visible_to(user)
        .select_related("parent")
        .annotate(
            offer_id=Subquery(latest_offer.values("pk")[:1]),
            offer_state=Coalesce(
                Subquery(latest_offer.values("state")[:1]),
                Case(
                    When(Exists(latest_participation), then=Value(AUTOMATIC)),
                    default=Value(NOT_OFFERED),
                ),
            ),
            response_date=Subquery(latest_offer.values("response_date")[:1]),
            participation_start=Subquery(latest_participation.values("start_date")[:1]),
            participation_end=Subquery(latest_participation.values("end_date")[:1]),
        )
        .order_by("code")
    )


# States shown alongside an offer's for practices with no offer in the year.
AUTOMATIC = "automatic"
NOT_OFFERED = "not_offered"
OVERVIEW_STATES = [
    *Offer.State.choices,
    (AUTOMATIC, "Participating automatically"),
    (NOT_OFFERED, "Not offered"),
]


def current_service_year(today: date | None = None) -> ServiceYear | None:
    """The one default year of every page: the QOF year today falls in, else the latest that has started,
    else the earliest there is. Pages used to disagree (home 2025/26, timetable 2023/24, offers 2024/25)."""
    today = today or timezone.localdate()
    years = ServiceYear.objects.select_related("service").order_by(
        Case(When(service__kind="qof", then=Value(0)), default=Value(1)), "-financial_year", "service__code"
    )
    return (
        years.filter(start_date__lte=today, end_date__gte=today).first()
        or years.filter(start_date__lte=today).first()
        or ServiceYear.objects.order_by("financial_year").first()
    )


def timetable_for(service_year: ServiceYear) -> list[dict]:
    """The year's milestones in date order, with the manual-entry deadline and payment cut-off among them."""
    entries = [
        {"what": m.get_kind_display(), "starts_on": m.starts_on, "ends_on": m.ends_on, "note": m.note}
        for m in service_year.milestones.all()
    ]
    entries.append(
        {
            "what": "Manual indicators complete (manual-entry deadline)",
            "starts_on": service_year.manual_entry_deadline,
            "ends_on": service_year.manual_entry_deadline,
            "note": "",
        }
    )
    if service_year.payment_cutoff is not None:
        cutoff = timezone.localtime(service_year.payment_cutoff)
        entries.append(
            {
                "what": f"Payment cut-off at {cutoff:%H:%M}",
                "starts_on": cutoff.date(),
                "ends_on": cutoff.date(),
                "note": "",
            }
        )
    return sorted(entries, key=lambda entry: (entry["starts_on"], entry["ends_on"]))


def offer_history(offer: Offer) -> QuerySet[AuditEvent]:
    """Who moved the offer and when, oldest first, from the audit trail."""
    return (
        AuditEvent.objects.filter(object_type=Offer._meta.label_lower, object_id=str(offer.pk))
        .select_related("actor")
        .order_by("occurred_at", "id")
    )


def service_years_with_timetables() -> QuerySet[ServiceYear]:
    return ServiceYear.objects.filter(milestones__isnull=False).distinct().order_by("-financial_year")


def default_offer_dates(service_year: ServiceYear, today: date | None = None) -> dict:
    """The whole year, with four weeks to respond (kept inside the year), and approval by its end."""
    today = today or timezone.localdate()
    respond_by = min(
        max(today + timedelta(days=RESPONSE_DAYS), service_year.start_date), service_year.end_date
    )
    return {
        "start_date": service_year.start_date,
        "end_date": service_year.end_date,
        "response_date": respond_by,
        "target_date": service_year.end_date,
    }


def transitions_open_to(user, offer: Offer) -> set[str]:
    """The transitions `user` may make on `offer` now: its state allows them and they hold the permission
    (the actions check both again when asked)."""
    return {
        name
        for name, transition in TRANSITIONS.items()
        if name != "expire"
        and offer.state in transition.sources
        and may(user, transition.permission, offer.practice)
    }


def offers_answerable_by(user, offers) -> set[int]:
    """Ids of the practices among these offers' whose offers `user` may accept or decline (one query)."""
    return practice_ids_reachable(
        user, Permission.MANAGE_PARTICIPATION, {offer.practice_id for offer in offers}
    )


def years_without_a_ruleset() -> QuerySet[ServiceYear]:
    """Points years with no indicators yet; years paid by item or capitation have rates, not a ruleset."""
    return (
        ServiceYear.objects.filter(indicators__isnull=True, payment_kind__in=ServiceYear.POINTS_KINDS)
        .select_related("service")
        .order_by("-financial_year", "service__code")
    )


def rates_and_rules_of(service_year: ServiceYear) -> tuple[QuerySet[ServiceRate], QuerySet[RuleParameter]]:
    """A year's fees or capitation rates and the constants of its year-versioned rules, with provenance."""
    return (
        ServiceRate.objects.filter(service_year=service_year).order_by("component"),
        RuleParameter.objects.filter(service_year=service_year).order_by("rule", "name"),
    )


def ruleset_of(code: str) -> tuple[ServiceYear, QuerySet[Indicator]]:
    """A service year, or 404, and its indicators in domain, group and code order (two queries)."""
    service_year = get_object_or_404(ServiceYear.objects.select_related("service"), code=code)
    indicators = Indicator.objects.filter(service_year=service_year).order_by(
        "domain_code", "group_code", "code"
    )
    return service_year, indicators


# Rates of the services not paid in points, as the engine takes them (docs/adr/0015-service-kinds.md).


class NotThatKind(Exception):
    """The service year is not paid the way the caller asked (item of service or capitation)."""


def _rates(service_year: ServiceYear, kind: str) -> list[ServiceRate]:
    if service_year.payment_kind != kind:
        raise NotThatKind(
            f"{service_year.code} is paid by {service_year.get_payment_kind_display().lower()}, "
            f"not {ServiceYear.PaymentKind(kind).label.lower()}"
        )
    return list(ServiceRate.objects.filter(service_year=service_year).order_by("component"))


def fees_frame(service_year: ServiceYear) -> tuple[pd.DataFrame, list[ServiceRate]]:
    """component, fee_pence, capped_by_register for an item-of-service year; and the rates not confirmed."""
    rates = _rates(service_year, ServiceYear.PaymentKind.ITEM_OF_SERVICE)
    frame = pd.DataFrame(
        {
            "component": [rate.component for rate in rates],
            "fee_pence": [fee_pence(rate.rate) for rate in rates],
            "capped_by_register": [rate.capped_by_register for rate in rates],
        }
    )
    return frame, [rate for rate in rates if not rate.confirmed]


def capitation_rates_frame(service_year: ServiceYear) -> tuple[pd.DataFrame, list[ServiceRate]]:
    """component, rate, unit, population, paid_to for a capitation year; and the rates not confirmed."""
    rates = _rates(service_year, ServiceYear.PaymentKind.CAPITATION)
    frame = pd.DataFrame.from_records(
        [(rate.component, rate.rate, rate.unit, rate.population, rate.paid_to) for rate in rates],
        columns=["component", "rate", "unit", "population", "paid_to"],
    )
    return frame, [rate for rate in rates if not rate.confirmed]


def service_years_to_manage() -> QuerySet[ServiceYear]:
    """Every service year, newest first, for Service Management (one query)."""
    return ServiceYear.objects.select_related("service").order_by("-financial_year", "service__code")


def timetable_to_manage(service_year: ServiceYear) -> list[tuple[str, str, Milestone | None]]:
    """Every kind of timetable step, in the order the kinds are declared, with the year's milestone of that
    kind or None: a service manager sees what is missing as well as what is set."""
    held = {milestone.kind: milestone for milestone in service_year.milestones.all()}
    return [(kind.value, kind.label, held.get(kind.value)) for kind in Milestone.Kind]


def year_value(service_year: ServiceYear, model, pk: int):
    """One indicator, rate or rule constant of the year, or 404 (a value of another year is not found)."""
    return get_object_or_404(model.objects.filter(service_year=service_year), pk=pk)
