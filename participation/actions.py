"""Every write to quality services, service years and their rulesets. Keyword-only, atomic, audited."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction

from accounts import audit

from .models import Indicator, QualityService, ServiceYear, financial_year_label
from .permissions import may_manage_services
from .ruleset_files import RulesetFileError, Rulesets


def _authorise(by) -> None:
    """`by=None` is the system itself (the ruleset loader, migrations of data)."""
    if by is not None and not may_manage_services(by):
        raise PermissionDenied


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
    _authorise(by)
    obj = model(**values)
    obj.full_clean()
    obj.save()
    audit.record(actor=by, action=action, obj=obj, after=_snapshot(obj, values))
    return obj


def _update(obj, *, changes: dict, by, action: str):
    _authorise(by)
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


@transaction.atomic
def create_quality_service(*, values: dict, by) -> QualityService:
    return _create(QualityService, values=values, by=by, action="quality_service.created")


@transaction.atomic
def update_quality_service(*, service: QualityService, changes: dict, by) -> QualityService:
    return _update(service, changes=changes, by=by, action="quality_service.updated")


@transaction.atomic
def create_service_year(*, values: dict, by) -> ServiceYear:
    return _create(ServiceYear, values=values, by=by, action="service_year.created")


@transaction.atomic
def update_service_year(*, service_year: ServiceYear, changes: dict, by) -> ServiceYear:
    return _update(service_year, changes=changes, by=by, action="service_year.updated")


@transaction.atomic
def create_indicator(*, values: dict, by) -> Indicator:
    return _create(Indicator, values=values, by=by, action="indicator.created")


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


@transaction.atomic
def load_rulesets(*, rulesets: Rulesets, update: bool = False) -> LoadSummary:
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


def _messages(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())
    return " ".join(error.messages)
