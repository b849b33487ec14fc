"""Every write to quality services, service years and their rulesets. Keyword-only, atomic, audited."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import audit
from accounts.models import Organisation, OrganisationType
from accounts.permissions import (
    ANCESTOR_LOOKUPS,
    Permission,
    at,
    at_each,
    either,
    guarded,
    holds_anywhere,
    may_nationally,
    nationally,
    organisations_granting,
    organisations_reachable,
)
from engine import InputError, readers, validate_ruleset
from engine.ruleset import RULESET_COLUMNS

from .models import (
    TRANSITIONS,
    Indicator,
    Milestone,
    Offer,
    Participation,
    Provenance,
    QualityService,
    RuleParameter,
    ServiceRate,
    ServiceYear,
    check_rule,
    financial_year_label,
    validate_offer_dates,
)
from .ruleset_files import RulesetFileError, Rulesets

MANAGES_SERVICES = nationally(Permission.MANAGE_SERVICES)


def _json(field: models.Field, value):
    if isinstance(value, Decimal):
        # As the database stores it, so that 45 and 45.00 read the same in the audit trail.
        return str(value.quantize(Decimal(1).scaleb(-field.decimal_places)))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _snapshot(obj: models.Model, names) -> dict:
    """Field values as the audit trail stores them: foreign keys by id, decimals and dates as text."""
    fields = [obj._meta.get_field(name) for name in names]
    return {field.attname: _json(field, getattr(obj, field.attname)) for field in fields}


def _create(model, *, values: dict, by, action: str):
    obj = model(**values)
    obj.full_clean()
    obj.save()
    audit.record(actor=by, action=action, obj=obj, after=_snapshot(obj, values))
    return obj


def _update(obj, *, changes: dict, by, action: str):
    obj = type(obj).objects.select_for_update().get(pk=obj.pk)
    before = _snapshot(obj, changes)
    for name, value in changes.items():
        setattr(obj, name, value)
    after = _snapshot(obj, changes)
    changed = [name for name in after if after[name] != before[name]]
    if not changed:
        return obj
    obj.full_clean()
    obj.save(update_fields=changed)
    audit.record(
        actor=by,
        action=action,
        obj=obj,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )
    return obj


@guarded(MANAGES_SERVICES)
@transaction.atomic
def create_quality_service(*, values: dict, by) -> QualityService:
    return _create(QualityService, values=values, by=by, action="quality_service.created")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def update_quality_service(*, service: QualityService, changes: dict, by) -> QualityService:
    return _update(service, changes=changes, by=by, action="quality_service.updated")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def create_service_year(*, values: dict, by) -> ServiceYear:
    """A new service year; one with automatic participation has every open practice taking part at once."""
    service_year = _create(ServiceYear, values=values, by=by, action="service_year.created")
    if service_year.automatic_participation:
        record_automatic_participation(service_year=service_year, by=by)
    return service_year


@guarded(MANAGES_SERVICES)
@transaction.atomic
def update_service_year(*, service_year: ServiceYear, changes: dict, by) -> ServiceYear:
    return _update(service_year, changes=changes, by=by, action="service_year.updated")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def create_indicator(*, values: dict, by) -> Indicator:
    return _create(Indicator, values=values, by=by, action="indicator.created")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def update_indicator(*, indicator: Indicator, changes: dict, by) -> Indicator:
    return _update(indicator, changes=changes, by=by, action="indicator.updated")


@dataclass
class LoadSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows whose stored values differ from the files and were kept, e.g. corrected by a service manager.
    kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


class _Loader:
    def __init__(self, *, update: bool, summary: LoadSummary):
        self.update, self.summary = update, summary

    def sync(self, obj, values: dict, *, label: str, action: str):
        """Bring an existing row in line with the files (with `update`) or note where it differs."""
        differing = {
            name: value
            for name, value in values.items()
            if getattr(obj, obj._meta.get_field(name).attname) != value
        }
        if not differing:
            self.summary.unchanged += 1
            return obj
        if not self.update:
            self.summary.kept.append(f"{label}: {', '.join(sorted(differing))}")
            return obj
        self.summary.updated += 1
        return _update(obj, changes=differing, by=None, action=action)


@guarded(MANAGES_SERVICES)
@transaction.atomic
def load_rulesets(*, rulesets: Rulesets, by, update: bool = False) -> LoadSummary:
    """Create the services, service years and indicators of the shipped rulesets that are missing.

    Rows already present are left as they are, because a service manager may have corrected them in the
    admin; `update=True` overwrites them with the files' values, auditing every overwritten value
    (docs/adr/0003-rulesets-as-data.md). Re-running either way changes nothing.
    """
    summary = LoadSummary()
    loader = _Loader(update=update, summary=summary)
    problems = []

    services = {service.code: service for service in QualityService.objects.all()}
    for values in rulesets.services:
        existing = services.get(values["code"])
        if existing is None:
            services[values["code"]] = _create(
                QualityService, values=values, by=None, action="quality_service.created"
            )
            summary.created += 1
        else:
            loader.sync(existing, values, label=values["code"], action="quality_service.updated")

    years = {year.code: year for year in ServiceYear.objects.all()}
    # Base years first, so that every year can point at its base.
    for row in sorted(rulesets.years, key=lambda row: row.values["financial_year"]):
        service = services.get(row.service_code)
        base_year = years.get(row.base_year_code) if row.base_year_code else None
        if service is None or (row.base_year_code and base_year is None):
            problems.append(f"service_years.csv {row.values['code']}: unknown service or base year")
            continue
        values = {
            **row.values,
            "service_id": service.pk,
            "base_year_id": base_year.pk if base_year else None,
            "name": f"{service.name} {financial_year_label(row.values['financial_year'])}",
        }
        existing = years.get(values["code"])
        try:
            if existing is None:
                years[values["code"]] = _create(
                    ServiceYear, values=values, by=None, action="service_year.created"
                )
                summary.created += 1
            else:
                years[values["code"]] = loader.sync(
                    existing, values, label=values["code"], action="service_year.updated"
                )
        except ValidationError as error:
            problems.append(f"service_years.csv {values['code']}: {_messages(error)}")

    for year_code, rows in rulesets.indicators.items():
        year = years.get(year_code)
        if year is None:
            continue
        _load_indicators(year=year, rows=rows, loader=loader, problems=problems)

    for year_code, rows in rulesets.milestones.items():
        year = years.get(year_code)
        if year is not None:
            _load_milestones(year=year, rows=rows, loader=loader, problems=problems)

    for year_code, rows in rulesets.rates.items():
        year = years.get(year_code)
        if year is not None:
            _load_keyed(
                model=ServiceRate, year=year, rows=rows, key=("component",), loader=loader, problems=problems
            )

    for year_code, rows in rulesets.rule_parameters.items():
        year = years.get(year_code)
        if year is not None:
            _load_keyed(
                model=RuleParameter,
                year=year,
                rows=rows,
                key=("rule", "name"),
                loader=loader,
                problems=problems,
            )
            try:
                _check_rules(year)
            except ValidationError as error:
                problems.append(f"rule_parameters.csv {year.code}: {_messages(error)}")

    if problems:
        raise RulesetFileError(problems)
    return summary


def _load_indicators(*, year: ServiceYear, rows: list[dict], loader: _Loader, problems: list[str]) -> None:
    existing = {indicator.code: indicator for indicator in year.indicators.select_related("service_year")}
    created = []
    for values in rows:
        try:
            indicator = existing.get(values["code"])
            if indicator is None:
                indicator = Indicator(service_year=year, **values)
                indicator.full_clean()
                created.append(indicator)
            else:
                loader.sync(
                    indicator, values, label=f"{year.code} {values['code']}", action="indicator.updated"
                )
        except ValidationError as error:
            problems.append(f"indicators/{year.code}.csv {values['code']}: {_messages(error)}")
    if created and not problems:
        Indicator.objects.bulk_create(created)
        loader.summary.created += len(created)
        # One event for the batch: the files themselves are the record of each value loaded.
        audit.record(
            actor=None,
            action="indicators.loaded",
            obj=year,
            after={
                "indicators": [indicator.code for indicator in created],
                "points": str(sum(indicator.points for indicator in created)),
            },
        )


def _load_milestones(*, year: ServiceYear, rows: list[dict], loader: _Loader, problems: list[str]) -> None:
    existing = {milestone.kind: milestone for milestone in year.milestones.select_related("service_year")}
    for values in rows:
        label = f"timetables.csv {year.code} {values['kind']}"
        try:
            milestone = existing.get(values["kind"])
            if milestone is None:
                _create(
                    Milestone, values={"service_year": year, **values}, by=None, action="milestone.created"
                )
                loader.summary.created += 1
            else:
                loader.sync(milestone, values, label=label, action="milestone.updated")
        except ValidationError as error:
            problems.append(f"{label}: {_messages(error)}")


def _load_keyed(*, model, year: ServiceYear, rows: list[dict], key: tuple, loader: _Loader, problems) -> None:
    """Rows of a year (rates, rule parameters) identified by ``key``: created when missing, else synced."""
    name = model._meta.model_name
    existing = {
        tuple(getattr(obj, part) for part in key): obj for obj in model.objects.filter(service_year=year)
    }
    for values in rows:
        label = f"{year.code} {' '.join(values[part] for part in key)}"
        try:
            obj = existing.get(tuple(values[part] for part in key))
            if obj is None:
                _create(model, values={"service_year": year, **values}, by=None, action=f"{name}.created")
                loader.summary.created += 1
            else:
                loader.sync(obj, values, label=label, action=f"{name}.updated")
        except ValidationError as error:
            problems.append(f"{label}: {_messages(error)}")


def _check_rules(year: ServiceYear) -> None:
    """Refuse a year whose rule parameters the engine cannot read, naming each bad parameter."""
    by_rule: dict[str, dict[str, str]] = {}
    for parameter in RuleParameter.objects.filter(service_year=year):
        by_rule.setdefault(parameter.rule, {})[parameter.name] = parameter.value
    for rule, values in by_rule.items():
        check_rule(rule, values)


@guarded(MANAGES_SERVICES)
@transaction.atomic
def create_service_rate(*, values: dict, by) -> ServiceRate:
    return _create(ServiceRate, values=values, by=by, action="servicerate.created")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def update_service_rate(*, rate: ServiceRate, changes: dict, by) -> ServiceRate:
    """A service manager's correction, e.g. a rate confirmed from the year's SFE (docs/adr/0015)."""
    return _update(rate, changes=changes, by=by, action="servicerate.updated")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def update_rule_parameter(*, parameter: RuleParameter, changes: dict, by) -> RuleParameter:
    """Correct one constant of a rule; the rule must still read as a whole, or nothing changes."""
    return _update(parameter, changes=changes, by=by, action="ruleparameter.updated")


def _messages(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())
    return " ".join(error.messages)


@guarded(MANAGES_SERVICES)
@transaction.atomic
def create_milestone(*, values: dict, by) -> Milestone:
    return _create(Milestone, values=values, by=by, action="milestone.created")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def update_milestone(*, milestone: Milestone, changes: dict, by) -> Milestone:
    return _update(milestone, changes=changes, by=by, action="milestone.updated")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def set_milestone(*, service_year: ServiceYear, kind: str, changes: dict, by) -> Milestone:
    """Set one step of a year's timetable from its page: the year's milestone of that kind is changed, or
    added when the year has none yet, so the page need not know which."""
    existing = Milestone.objects.select_for_update().filter(service_year=service_year, kind=kind).first()
    if existing is None:
        values = {"service_year": service_year, "kind": kind, **changes}
        return _create(Milestone, values=values, by=by, action="milestone.created")
    return _update(existing, changes=changes, by=by, action="milestone.updated")


# Offers and participation (DOMAIN.md §7; docs/adr/0004-offers-and-participation.md).

State = Offer.State


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


@dataclass
class OfferSummary:
    offers: list[Offer]
    # Practices left out because they already hold a live offer or participate for those dates.
    already_offered: list[str]


def _offer_snapshot(offer: Offer) -> dict:
    return {
        "service_year": offer.service_year.code,
        "practice": offer.practice.code,
        "commissioner": offer.commissioner.code,
        "state": offer.state,
        "start_date": offer.start_date.isoformat(),
        "end_date": offer.end_date.isoformat(),
        "response_date": offer.response_date.isoformat(),
        "target_date": offer.target_date.isoformat(),
    }


@guarded(at_each(Permission.COMMISSION_SERVICES, "practices", attribute="pk"))
@transaction.atomic
def offer_service(
    *,
    service_year: ServiceYear,
    practices,
    start_date: date,
    end_date: date,
    response_date: date,
    target_date: date,
    by,
) -> OfferSummary:
    """Offer a service year to many practices at once, one offer each, in a fixed number of queries.

    Each offer is made by the nearest commissioner above the practice at which `by` holds Commissioning
    Management (the practice's own commissioner for the system, `by=None`). Practices that already hold a
    live offer, or participate on any of the dates, are left out and listed in the summary.
    """
    if service_year.automatic_participation:
        raise ValidationError(f"Practices take part in {service_year} automatically; it is not offered.")
    # Offers of a year are made one batch at a time, so a batch sent twice at once offers each practice
    # once: the second finds the first's offers standing and leaves those practices out.
    ServiceYear.objects.select_for_update().filter(pk=service_year.pk).first()
    validate_offer_dates(
        service_year=service_year,
        start_date=start_date,
        end_date=end_date,
        response_date=response_date,
        target_date=target_date,
    )
    practice_ids = {practice.pk for practice in practices}
    if not practice_ids:
        raise ValidationError("Choose at least one practice.")
    lineage = [f"{lookup}_id" for lookup in ANCESTOR_LOOKUPS]
    rows = {
        organisation.pk: organisation
        for organisation in Organisation.objects.filter(pk__in=practice_ids, type=OrganisationType.PRACTICE)
        .select_related("parent")
        .annotate(**{f"ancestor_{n}": F(lookup) for n, lookup in enumerate(lineage)})
    }
    if len(rows) != len(practice_ids):
        raise ValidationError("Services are offered to GP practices only.")
    closed = sorted(p.code for p in rows.values() if p.closed_on is not None and p.closed_on < start_date)
    if closed:
        raise ValidationError(f"Closed before the start date: {', '.join(closed)}.")

    # The guard has checked `by` commissions every practice; record the nearest commissioner through which
    # it does (the practice's own commissioner of record when the system offers).
    granted = organisations_granting(by, Permission.COMMISSION_SERVICES)
    commissioner_ids = {}
    for practice in rows.values():
        ancestors = [getattr(practice, f"ancestor_{n}") for n in range(len(lineage))]
        commissioner_ids[practice.pk] = next((pk for pk in ancestors if pk in granted), practice.parent_id)
    commissioners = Organisation.objects.in_bulk(set(commissioner_ids.values()))

    taken = set(
        Offer.objects.filter(
            service_year=service_year, practice_id__in=practice_ids, state__in=Offer.LIVE_STATES
        ).values_list("practice_id", flat=True)
    ) | set(
        Participation.objects.filter(
            service_year=service_year,
            practice_id__in=practice_ids,
            start_date__lte=end_date,
            end_date__gte=start_date,
        ).values_list("practice_id", flat=True)
    )
    now = timezone.now()
    offers = Offer.objects.bulk_create(
        [
            Offer(
                service_year=service_year,
                practice=practice,
                commissioner=commissioners[commissioner_ids[practice.pk]],
                start_date=start_date,
                end_date=end_date,
                response_date=response_date,
                target_date=target_date,
                offered_at=now,
                offered_by=by if by is not None and by.is_authenticated else None,
            )
            for practice in sorted(rows.values(), key=lambda p: p.code)
            if practice.pk not in taken
        ],
        batch_size=2000,
    )
    audit.record_many(
        actor=by, action="offer.created", changes=[(offer, None, _offer_snapshot(offer)) for offer in offers]
    )
    return OfferSummary(offers=offers, already_offered=sorted(rows[pk].code for pk in taken))


def _lock_for(name: str, *, offers) -> list[Offer]:
    """Lock the offers, then refuse the whole batch unless each is in a state transition `name` starts
    from. (Who may make it is the action's guard.)"""
    transition = TRANSITIONS[name]
    ids = sorted({offer.pk for offer in offers})
    locked = list(
        # In primary-key order, so that two batches touching the same offers cannot deadlock.
        Offer.objects.select_for_update(of=("self",))
        .filter(pk__in=ids)
        .select_related("service_year", "practice", "commissioner")
        .order_by("pk")
    )
    if len(locked) != len(ids):
        raise ValidationError("An offer no longer exists.")
    refused = [offer for offer in locked if offer.state not in transition.sources]
    if refused:
        raise ValidationError(
            [
                f"The {offer} is {offer.get_state_display().lower()}, so it cannot be {transition.verb}."
                for offer in refused
            ],
            code="refused_transition",
        )
    return locked


def _move(name: str, offers: list[Offer], *, by, fields: dict, after: dict | None = None) -> list[Offer]:
    """Move locked offers to the transition's target state, setting `fields`, with one audit event each."""
    target = TRANSITIONS[name].target
    before = {offer.pk: offer.state for offer in offers}
    for offer in offers:
        offer.state = target
        for field_name, value in fields.items():
            setattr(offer, field_name, value)
    Offer.objects.bulk_update(offers, ["state", *fields], batch_size=2000)
    audit.record_many(
        actor=by,
        action=f"offer.{name}",
        changes=[
            (offer, {"state": before[offer.pk]}, {"state": target, **(after or {})}) for offer in offers
        ],
    )
    return offers


def _user(by):
    return by if by is not None and by.is_authenticated else None


@guarded(at(Permission.MANAGE_PARTICIPATION, "offer.practice"))
@transaction.atomic
def accept_offer(*, offer: Offer, by) -> Offer:
    [offer] = _lock_for("accept", offers=[offer])
    fields = {"responded_at": timezone.now(), "responded_by": _user(by)}
    return _move("accept", [offer], by=by, fields=fields)[0]


@guarded(at(Permission.MANAGE_PARTICIPATION, "offer.practice"))
@transaction.atomic
def decline_offer(*, offer: Offer, reason: str = "", by) -> Offer:
    [offer] = _lock_for("decline", offers=[offer])
    reason = reason.strip()
    fields = {"responded_at": timezone.now(), "responded_by": _user(by), "decline_reason": reason}
    return _move("decline", [offer], by=by, fields=fields, after={"decline_reason": reason})[0]


@guarded(at_each(Permission.COMMISSION_SERVICES, "offers"))
@transaction.atomic
def withdraw_offers(*, offers, by) -> list[Offer]:
    """Withdraw offers that are offered or accepted; approved participation is ended instead."""
    locked = _lock_for("withdraw", offers=offers)
    return _move("withdraw", locked, by=by, fields={"closed_at": timezone.now(), "closed_by": _user(by)})


@guarded(at_each(Permission.COMMISSION_SERVICES, "offers"))
@transaction.atomic
def approve_offers(*, offers, by) -> list[Offer]:
    """Approve accepted offers: each practice participates for its offer's dates, and its data may flow."""
    locked = _lock_for("approve", offers=offers)
    service_year_ids = {offer.service_year_id for offer in locked}
    existing = {}
    for participation in Participation.objects.filter(
        service_year_id__in=service_year_ids, practice_id__in={offer.practice_id for offer in locked}
    ):
        existing.setdefault((participation.service_year_id, participation.practice_id), []).append(
            participation
        )
    clashes = [
        str(offer)
        for offer in locked
        if any(
            p.start_date <= offer.end_date and p.end_date >= offer.start_date
            for p in existing.get((offer.service_year_id, offer.practice_id), [])
        )
    ]
    if clashes:
        raise ValidationError(f"Already participating on some of the offered dates: {', '.join(clashes)}.")
    now, user = timezone.now(), _user(by)
    _move("approve", locked, by=by, fields={"approved_at": now, "approved_by": user})
    participations = Participation.objects.bulk_create(
        [
            Participation(
                service_year=offer.service_year,
                practice=offer.practice,
                offer=offer,
                start_date=offer.start_date,
                end_date=offer.end_date,
                created_at=now,
                created_by=user,
            )
            for offer in locked
        ],
        batch_size=2000,
    )
    audit.record_many(
        actor=by,
        action="participation.started",
        changes=[
            (p, None, {"start_date": p.start_date.isoformat(), "end_date": p.end_date.isoformat()})
            for p in participations
        ],
    )
    return locked


@guarded(
    either(
        at(Permission.COMMISSION_SERVICES, "participation.practice"), nationally(Permission.MANAGE_SERVICES)
    )
)
@transaction.atomic
def end_participation(*, participation: Participation, ended_on: date, by) -> Participation:
    """End a practice's participation after `ended_on`, its last participating day.

    Participation from an approved offer moves that offer to ended; automatic participation has no offer
    and may be ended by its commissioner or by Service Management.
    """
    participation = (
        Participation.objects.select_for_update(of=("self",))
        .select_related("service_year", "practice")
        .get(pk=participation.pk)
    )
    ending_offers = []
    if participation.offer_id is not None:
        ending_offers = _lock_for("end", offers=[Offer(pk=participation.offer_id)])
    if participation.ended_at is not None:
        raise ValidationError(f"The participation of {participation.practice.code} has already ended.")
    if not participation.start_date <= ended_on <= participation.end_date:
        raise ValidationError(
            {
                "ended_on": f"The last day must be between {_day(participation.start_date)} and "
                f"{_day(participation.end_date)}."
            }
        )
    before = {"end_date": participation.end_date.isoformat()}
    now, user = timezone.now(), _user(by)
    participation.end_date, participation.ended_at, participation.ended_by = ended_on, now, user
    participation.save(update_fields=["end_date", "ended_at", "ended_by"])
    audit.record(
        actor=by,
        action="participation.ended",
        obj=participation,
        before=before,
        after={"end_date": ended_on.isoformat()},
    )
    if ending_offers:
        _move("end", ending_offers, by=by, fields={"closed_at": now, "closed_by": user})
    return participation


@guarded(nationally(Permission.SUPPORT))
@transaction.atomic
def expire_lapsed_offers(*, today: date, by) -> list[Offer]:
    """Expire every offer still unanswered after its response date (the practice may answer on the day)."""
    lapsed = Offer.objects.filter(state=State.OFFERED, response_date__lt=today).only("pk")
    locked = _lock_for("expire", offers=lapsed)
    if not locked:
        return []
    return _move("expire", locked, by=by, fields={"closed_at": timezone.now(), "closed_by": _user(by)})


@guarded(either(MANAGES_SERVICES, holds_anywhere(Permission.COMMISSION_SERVICES)))
@transaction.atomic
def record_automatic_participation(*, service_year: ServiceYear, by) -> list[Participation]:
    """Record participation for every practice in scope that is open during a year with automatic
    participation and has none yet: for the whole year, or from its opening or to its closing.

    Idempotent: practices with any participation in the year (including one that has ended) are left as
    they are. The scope is all practices for the system and Service Management, else those `by`
    commissions.
    """
    if not service_year.automatic_participation:
        raise ValidationError(f"{service_year} is offered to practices; participation is not automatic.")
    first, last = service_year.start_date, service_year.end_date
    practices = Organisation.objects.filter(
        Q(closed_on__isnull=True) | Q(closed_on__gte=first),
        Q(opened_on__isnull=True) | Q(opened_on__lte=last),
        type=OrganisationType.PRACTICE,
    )
    if by is not None and not may_nationally(by, Permission.MANAGE_SERVICES):
        practices = organisations_reachable(by, Permission.COMMISSION_SERVICES, practices)
    practices = practices.exclude(participations__service_year=service_year).order_by("code")
    now, user = timezone.now(), _user(by)
    participations = Participation.objects.bulk_create(
        [
            Participation(
                service_year=service_year,
                practice=practice,
                start_date=max(first, practice.opened_on or first),
                end_date=min(last, practice.closed_on or last),
                created_at=now,
                created_by=user,
            )
            for practice in practices
        ],
        batch_size=2000,
    )
    if participations:
        # One event for the batch, as for a loaded ruleset: the rows themselves say who and when.
        audit.record(
            actor=by,
            action="participation.recorded_automatically",
            obj=service_year,
            after={"practices": [p.practice.code for p in participations]},
        )
    return participations


class RulesetRejected(ValidationError):
    """A ruleset file refused as a whole: `problems` name each line and column; nothing was stored."""

    def __init__(self, problems: list[tuple[int, str, str]]):
        self.problems = problems
        super().__init__([f"Line {line}, {column}: {message}" for line, column, message in problems])


# Columns a ruleset file may carry beyond those of shared/reference/qof_2023_24_indicators.csv.
CONFIDENCE_COLUMNS = {
    "points_confidence": "definition_confidence",
    "definition_confidence": "definition_confidence",
}
NOTE_COLUMNS = ("source", "provenance_note")


@guarded(MANAGES_SERVICES)
@transaction.atomic
def load_ruleset_file(*, service_year: ServiceYear, path, file_name: str, by) -> list[Indicator]:
    """A new year's indicators from a CSV in the layout of qof_2023_24_indicators.csv, validated whole by the
    engine's own ruleset checks and the database's: every row stored, or none. Values the file does not
    say are confirmed are stored as unconfirmed, so they stay flagged until a service manager confirms them.
    """
    year = ServiceYear.objects.select_for_update().get(pk=service_year.pk)
    if year.indicators.exists():
        raise RulesetRejected(
            [(1, "(file)", f"{year} already has a ruleset; correct it indicator by indicator")]
        )
    try:
        frame = readers.read_csv_text(path, RULESET_COLUMNS, source=file_name)
        rules = validate_ruleset(frame, source=file_name)
    except InputError as error:
        raise RulesetRejected([(p.line, p.field, p.message) for p in error.problems]) from error
    problems, indicators = [], []
    for position, (rule, raw) in enumerate(
        zip(rules.itertuples(index=False), frame.to_dict("records"), strict=True)
    ):
        line = position + 2
        confidence = next((raw[c] for c in CONFIDENCE_COLUMNS if raw.get(c)), Provenance.UNCONFIRMED)
        indicator = Indicator(
            service_year=year,
            code=rule.indicator_code,
            group_code=rule.group_code,
            group_description=rule.group_description,
            domain_code=rule.domain_code,
            points=rule.points,
            kind=rule.kind,
            carries_register=rule.carries_register,
            patient_list=rule.patient_list,
            additional_patient_list=rule.additional_patient_list,
            prevalence_adjusted=rule.prevalence_adjusted,
            lower_threshold=rule.lower_threshold,
            upper_threshold=rule.upper_threshold,
            threshold_confidence=rule.threshold_confidence if rule.kind == "percentage" else "",
            income_protected=bool(rule.income_protected),
            definition_confidence=confidence,
            provenance_note=next((raw[c] for c in NOTE_COLUMNS if raw.get(c)), f"Loaded from {file_name}"),
        )
        try:
            indicator.full_clean()
        except ValidationError as error:
            problems += [(line, name, " ".join(messages)) for name, messages in error.message_dict.items()]
        indicators.append(indicator)
    total = sum((indicator.points for indicator in indicators), Decimal(0))
    if year.max_points is not None and total != year.max_points:
        problems.append(
            (1, "points", f"the indicators add up to {total} points; {year} has {year.max_points}")
        )
    if problems:
        raise RulesetRejected(problems)
    Indicator.objects.bulk_create(indicators)
    audit.record(
        actor=by,
        action="indicators.loaded",
        obj=year,
        after={"file_name": file_name, "indicators": [i.code for i in indicators], "points": str(total)},
    )
    return indicators
