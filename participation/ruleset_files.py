"""Reading the rulesets the product ships (fixtures/rulesets/) into typed field values.

Layout: `quality_services.csv`, `service_years.csv` (one row per service year, money parameters, workflow
settings, payment kind and period) and `indicators/<service year code>.csv`, whose first thirteen columns
are exactly those of `shared/reference/qof_2023_24_indicators.csv`, and `timetables.csv` (year-end
milestones, DOMAIN.md §8). Services paid by item or capitation take their rates from `rates/`, verbatim
copies of `shared/reference/enhanced_service_rates.csv` and `pcn_rates.csv`, read through
`rate_components.csv` (how each component is paid); `rule_parameters.csv` holds the constants of
year-versioned rules such as the 2026/27 vaccination improvement route. Files are checked as a whole: any
bad value rejects the lot.
"""

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.utils.dateparse import parse_datetime

from .models import Milestone, financial_year_dates

RULESETS_DIR = Path(settings.BASE_DIR) / "fixtures" / "rulesets"

SERVICE_COLUMNS = ["code", "name", "kind"]
YEAR_COLUMNS = [
    "service", "year", "code", "point_value", "national_average_list_size", "aspiration_rate", "max_points",
    "parameters_confidence", "parameters_note", "automatic_participation", "declaration_required",
    "approval_required", "missing_manual_answer_default", "manual_entry_deadline", "payment_cutoff",
    "base_year", "ruleset_source", "payment_kind", "period",
]  # fmt: skip
INDICATOR_COLUMNS = [
    "indicator_code", "group_code", "group_description", "domain_code", "points", "kind", "carries_register",
    "patient_list", "additional_patient_list", "prevalence_adjusted", "lower_threshold", "upper_threshold",
    "threshold_confidence", "income_protected", "base_indicator_code", "definition_confidence",
    "provenance_note",
]  # fmt: skip
TIMETABLE_COLUMNS = ["service_year", "milestone", "starts_on", "ends_on", "note"]
COMPONENT_COLUMNS = ["service", "component", "unit", "population", "capped_by_register", "name"]
ENHANCED_RATE_COLUMNS = [
    "service", "component", "year", "unit", "rate_gbp", "period", "cap", "paid_to", "confidence", "source",
]  # fmt: skip
PCN_RATE_COLUMNS = [
    "year", "payment", "rate_gbp_per_patient_per_year", "population_basis", "paid_to", "confidence",
]  # fmt: skip
# pcn_rates.csv has no service column: every row is a Network Contract DES payment.
PCN_SERVICE = "NCD"
PARAMETER_COLUMNS = ["service_year", "rule", "name", "value", "confidence", "note"]
PAID_TO = {"practice": "practice", "nominated payee": "nominated_payee"}


class RulesetFileError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class YearRow:
    service_code: str
    base_year_code: str
    values: dict


@dataclass
class Rulesets:
    services: list[dict] = field(default_factory=list)
    years: list[YearRow] = field(default_factory=list)
    # Keyed by service year code; each row's values are Indicator field values.
    indicators: dict[str, list[dict]] = field(default_factory=dict)
    # Keyed by service year code; each row's values are Milestone field values.
    milestones: dict[str, list[dict]] = field(default_factory=dict)
    # Keyed by service year code; each row's values are ServiceRate field values.
    rates: dict[str, list[dict]] = field(default_factory=dict)
    # Keyed by service year code; each row's values are RuleParameter field values.
    rule_parameters: dict[str, list[dict]] = field(default_factory=dict)


class _Row:
    """One CSV row with typed getters that collect problems instead of raising at the first one."""

    def __init__(self, where: str, row: dict, problems: list[str]):
        self.where, self.row, self.problems = where, row, problems

    def text(self, column: str) -> str:
        return (self.row.get(column) or "").strip()

    def _problem(self, column: str, message: str):
        self.problems.append(f"{self.where}, {column}: {message}")

    def decimal(self, column: str, *, blank_ok: bool = False) -> Decimal | None:
        value = self.text(column)
        if value == "" and blank_ok:
            return None
        try:
            return Decimal(value)
        except InvalidOperation:
            self._problem(column, f"{value!r} is not a number")
            return None

    def integer(self, column: str, *, blank_ok: bool = False) -> int | None:
        value = self.text(column)
        if value == "" and blank_ok:
            return None
        if not value.isdigit():
            self._problem(column, f"{value!r} is not a whole number")
            return None
        return int(value)

    def flag(self, column: str) -> bool:
        value = self.text(column)
        if value not in {"0", "1"}:
            self._problem(column, f"{value!r} must be 0 or 1")
        return value == "1"

    def day(self, column: str) -> date | None:
        value = self.text(column)
        try:
            return date.fromisoformat(value)
        except ValueError:
            self._problem(column, f"{value!r} is not a date (YYYY-MM-DD)")
            return None

    def moment(self, column: str) -> datetime | None:
        value = self.text(column)
        if value == "":
            return None
        parsed = parse_datetime(value)
        if parsed is None or parsed.tzinfo is None:
            self._problem(column, f"{value!r} is not a date and time with a UTC offset")
        return parsed

    def financial_year(self, column: str) -> int | None:
        value = self.text(column)
        start = value[:4]
        if len(value) != 7 or not start.isdigit() or value[4:] != f"/{(int(start) + 1) % 100:02d}":
            self._problem(column, f"{value!r} is not a financial year such as 2023/24")
            return None
        return int(start)


def _read(path: Path, columns: list[str], problems: list[str]) -> list[tuple[str, dict]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != columns:
            problems.append(f"{path.name}: columns must be {','.join(columns)}")
            return []
        return [(f"{path.name} line {number}", row) for number, row in enumerate(reader, start=2)]


def read_rulesets(directory: Path = RULESETS_DIR) -> Rulesets:
    problems: list[str] = []
    rulesets = Rulesets()
    for where, raw in _read(directory / "quality_services.csv", SERVICE_COLUMNS, problems):
        row = _Row(where, raw, problems)
        rulesets.services.append({name: row.text(name) for name in SERVICE_COLUMNS})

    for where, raw in _read(directory / "service_years.csv", YEAR_COLUMNS, problems):
        row = _Row(where, raw, problems)
        start_year = row.financial_year("year")
        if start_year is None:
            continue
        start_date, end_date = financial_year_dates(start_year)
        values = {
            "financial_year": start_year,
            "code": row.text("code"),
            "start_date": start_date,
            "end_date": end_date,
            "point_value": row.decimal("point_value", blank_ok=True),
            "national_average_list_size": row.integer("national_average_list_size", blank_ok=True),
            "aspiration_rate": row.decimal("aspiration_rate"),
            "max_points": row.decimal("max_points", blank_ok=True),
            "parameters_confidence": row.text("parameters_confidence"),
            "parameters_note": row.text("parameters_note"),
            "ruleset_source": row.text("ruleset_source"),
            "automatic_participation": row.flag("automatic_participation"),
            "declaration_required": row.flag("declaration_required"),
            "approval_required": row.flag("approval_required"),
            "missing_manual_answer_default": row.text("missing_manual_answer_default"),
            "manual_entry_deadline": row.day("manual_entry_deadline"),
            "payment_cutoff": row.moment("payment_cutoff"),
            "payment_kind": row.text("payment_kind"),
            "period": row.text("period"),
        }
        rulesets.years.append(YearRow(row.text("service"), row.text("base_year"), values))

    for path in sorted((directory / "indicators").glob("*.csv")):
        year_code = path.stem
        rows = rulesets.indicators.setdefault(year_code, [])
        for where, raw in _read(path, INDICATOR_COLUMNS, problems):
            row = _Row(f"indicators/{where}", raw, problems)
            rows.append(
                {
                    "code": row.text("indicator_code"),
                    "group_code": row.text("group_code"),
                    "group_description": row.text("group_description"),
                    "domain_code": row.text("domain_code"),
                    "points": row.decimal("points"),
                    "kind": row.text("kind"),
                    "carries_register": row.flag("carries_register"),
                    "patient_list": row.text("patient_list"),
                    "additional_patient_list": row.text("additional_patient_list"),
                    "prevalence_adjusted": row.flag("prevalence_adjusted"),
                    "lower_threshold": row.decimal("lower_threshold", blank_ok=True),
                    "upper_threshold": row.decimal("upper_threshold", blank_ok=True),
                    "threshold_confidence": row.text("threshold_confidence"),
                    "income_protected": row.flag("income_protected"),
                    "base_indicator_code": row.text("base_indicator_code"),
                    "definition_confidence": row.text("definition_confidence"),
                    "provenance_note": row.text("provenance_note"),
                }
            )

    milestone_kinds = set(Milestone.Kind.values)
    for where, raw in _read(directory / "timetables.csv", TIMETABLE_COLUMNS, problems):
        row = _Row(where, raw, problems)
        if row.text("milestone") not in milestone_kinds:
            row._problem(
                "milestone", f"{row.text('milestone')!r} is not one of {', '.join(sorted(milestone_kinds))}"
            )
        rulesets.milestones.setdefault(row.text("service_year"), []).append(
            {
                "kind": row.text("milestone"),
                "starts_on": row.day("starts_on"),
                "ends_on": row.day("ends_on"),
                "note": row.text("note"),
            }
        )

    _read_rates(directory, rulesets, problems)
    _read_rule_parameters(directory, rulesets, problems)

    known_years = {year.values["code"] for year in rulesets.years}
    for year_code in rulesets.rates.keys() - known_years:
        problems.append(f"rates: no service year {year_code} in service_years.csv")
    for year_code in rulesets.rule_parameters.keys() - known_years:
        problems.append(f"rule_parameters.csv: no service year {year_code} in service_years.csv")
    for year_code in rulesets.indicators.keys() - known_years:
        problems.append(f"indicators/{year_code}.csv: no service year {year_code} in service_years.csv")
    for year_code in rulesets.milestones.keys() - known_years:
        problems.append(f"timetables.csv: no service year {year_code} in service_years.csv")
    if problems:
        raise RulesetFileError(problems)
    return rulesets


def year_code(service: str, start_year: int) -> str:
    """QOF2324, LDHC2526: the service's code and the two years' last two digits."""
    return f"{service}{start_year % 100:02d}{(start_year + 1) % 100:02d}"


def _read_rates(directory: Path, rulesets: Rulesets, problems: list[str]) -> None:
    """The rates of the reference files, each joined to how its component is paid."""
    rates_dir = directory / "rates"
    if not rates_dir.exists():
        return
    components = {}
    for where, raw in _read(directory / "rate_components.csv", COMPONENT_COLUMNS, problems):
        row = _Row(where, raw, problems)
        components[(row.text("service"), row.text("component"))] = {
            "unit": row.text("unit"),
            "population": row.text("population"),
            "capped_by_register": row.flag("capped_by_register"),
            "name": row.text("name"),
        }

    def add(row: _Row, service: str, component: str, values: dict) -> None:
        start_year = row.financial_year("year")
        how = components.get((service, component))
        if how is None:
            row._problem("component", f"{service} {component!r} is not in rate_components.csv")
        paid_to = PAID_TO.get(row.text("paid_to"))
        if paid_to is None:
            row._problem("paid_to", f"{row.text('paid_to')!r} must be one of {', '.join(PAID_TO)}")
        if start_year is None or how is None:
            return
        rulesets.rates.setdefault(year_code(service, start_year), []).append(
            {
                "component": component,
                "unit": how["unit"],
                "population": how["population"],
                "capped_by_register": how["capped_by_register"],
                "paid_to": paid_to,
                "confidence": row.text("confidence"),
                **values,
            }
        )

    enhanced = rates_dir / "enhanced_service_rates.csv"
    for where, raw in _read(enhanced, ENHANCED_RATE_COLUMNS, problems):
        row = _Row(f"rates/{where}", raw, problems)
        add(
            row,
            row.text("service"),
            row.text("component"),
            {
                "description": row.text("unit"),
                "rate": row.decimal("rate_gbp"),
                "cap_note": row.text("cap"),
                "source": row.text("source"),
            },
        )
    for where, raw in _read(rates_dir / "pcn_rates.csv", PCN_RATE_COLUMNS, problems):
        row = _Row(f"rates/{where}", raw, problems)
        add(
            row,
            PCN_SERVICE,
            row.text("payment"),
            {
                "description": row.text("population_basis"),
                "rate": row.decimal("rate_gbp_per_patient_per_year"),
                "cap_note": "",
                "source": "shared/reference/pcn_rates.csv",
            },
        )


def _read_rule_parameters(directory: Path, rulesets: Rulesets, problems: list[str]) -> None:
    path = directory / "rule_parameters.csv"
    if not path.exists():
        return
    for where, raw in _read(path, PARAMETER_COLUMNS, problems):
        row = _Row(where, raw, problems)
        rulesets.rule_parameters.setdefault(row.text("service_year"), []).append(
            {name: row.text(name) for name in ("rule", "name", "value", "confidence", "note")}
        )
