"""Every figure of a practice's published achievement explained from the exact inputs of the run that
calculated it, and recomputed: an indicator line, an indicator group, a domain, the practice total.

The inputs are the run's own: the counts stored on its results, the practice's list sizes, the national
totals it froze, and the ruleset and money parameters as they stood when the run started (a service manager
may have corrected them since: the audit trail's `before` values give them back). Each line is recomputed
by `engine.explain` with exact fractions and must equal the stored figure; the page says so, or says why not.
Five queries for the whole practice; the indicator page adds its extract rows and manual answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import pandas as pd
from django.db.models import Q

from accounts.models import AuditEvent, Organisation
from calculation.models import (
    CalculationRun,
    IndicatorResult,
    PracticeResult,
    PrevalenceResult,
    Publication,
)
from calculation.selectors import published_indicator_results
from engine import YearParameters
from engine.explain import Counts, Explanation, National, PracticeFactors, Rule, explain_line
from engine.opportunity import percentage_opportunities
from engine.ruleset import PERCENTAGE
from extracts.selectors import SourceRow, shipped_pca_codes, source_rows
from manual_entry.models import ManualAnswer
from participation.models import Indicator, ServiceYear

from .selectors import DOMAIN_NAMES

RULE_FIELDS = ("kind", "points", "lower_threshold", "upper_threshold", "prevalence_adjusted")
MONEY_FIELDS = ("point_value", "national_average_list_size")
FIELD_LABELS = {
    "kind": "kind", "points": "points", "lower_threshold": "lower threshold",
    "upper_threshold": "upper threshold", "prevalence_adjusted": "prevalence adjusted",
    "point_value": "£ per point", "national_average_list_size": "national average list size",
}  # fmt: skip


@dataclass(frozen=True)
class RulesetChange:
    """A value the run used that a service manager has changed since."""

    when: dt.datetime
    who: str
    indicator_code: str | None  # None for the year's money parameters
    what: str
    before: object
    after: object


@dataclass
class Line:
    indicator: Indicator
    result: IndicatorResult
    rule: Rule  # as the run used it
    explanation: Explanation
    national: PrevalenceResult | None
    group_register: int | None

    @property
    def reproduced(self) -> bool:
        return (self.explanation.points, self.explanation.payment) == (
            self.result.points,
            self.result.payment,
        )

    @property
    def code(self) -> str:
        return self.indicator.code


@dataclass
class Part:
    """A group, a domain or the practice: its lines and sub-parts, their stored and recomputed sums."""

    code: str
    description: str
    lines: list[Line] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)

    @property
    def points(self) -> Decimal:
        return sum((line.result.points for line in self.lines), Decimal(0))

    @property
    def payment(self) -> Decimal:
        return sum((line.result.payment for line in self.lines), Decimal(0))

    @property
    def available(self) -> Decimal:
        return sum((line.indicator.points for line in self.lines), Decimal(0))

    @property
    def recomputed_points(self) -> Decimal:
        return sum((line.explanation.points for line in self.lines), Decimal(0))

    @property
    def recomputed_payment(self) -> Decimal:
        return sum((line.explanation.payment for line in self.lines), Decimal(0))

    @property
    def reproduced(self) -> bool:
        return all(line.reproduced for line in self.lines)

    @property
    def prevalence_line(self) -> Line | None:
        """A prevalence-adjusted line of the part: for showing its group's APDF."""
        return next((line for line in self.lines if line.rule.prevalence_adjusted and line.national), None)


@dataclass
class PracticeCalculation:
    practice: Organisation
    publication: Publication
    totals: PracticeResult
    run: CalculationRun  # the run that calculated this practice's lines
    service_year: ServiceYear
    parameters: YearParameters  # as the run used them
    lines: list[Line]
    changes: list[RulesetChange]

    def line(self, code: str) -> Line | None:
        return next((line for line in self.lines if line.code == code), None)

    @property
    def practice_part(self) -> Part:
        part = Part(self.practice.code, self.practice.name, lines=self.lines)
        part.children = [
            self.domain(code) for code in dict.fromkeys(line.indicator.domain_code for line in self.lines)
        ]
        return part

    def domain(self, code: str) -> Part | None:
        lines = [line for line in self.lines if line.indicator.domain_code == code]
        if not lines:
            return None
        part = Part(code, DOMAIN_NAMES.get(code, code), lines=lines)
        groups = dict.fromkeys(line.indicator.group_code for line in lines)
        part.children = [self.group(group, domain=code) for group in groups]
        return part

    def group(self, code: str, domain: str | None = None) -> Part | None:
        lines = [
            line
            for line in self.lines
            if line.indicator.group_code == code and (domain is None or line.indicator.domain_code == domain)
        ]
        if not lines:
            return None
        return Part(code, lines[0].indicator.group_description, lines=lines)

    @property
    def reproduced(self) -> bool:
        total = self.practice_part
        return (total.recomputed_points, total.recomputed_payment) == (
            self.totals.points,
            self.totals.payment,
        )

    @property
    def cpi(self) -> Fraction:
        return Fraction(self.totals.list_size_cpi) / Fraction(self.parameters.average_list_size)

    def changes_to(self, codes) -> list[RulesetChange]:
        """Changes since the run to these indicators' rows and to the year's money parameters."""
        return [change for change in self.changes if change.indicator_code in {*codes, None}]


def practice_calculation(practice: Organisation, publication: Publication) -> PracticeCalculation | None:
    """The practice's published lines, each explained and recomputed. Five queries."""
    totals = (
        PracticeResult.objects.filter(run_id=publication.run_id, practice=practice)
        .select_related("indicator_run__service_year")
        .first()
    )
    if totals is None:
        return None
    run = totals.indicator_run
    service_year = run.service_year
    results = {
        result.indicator_code: result for result in IndicatorResult.objects.filter(run=run, practice=practice)
    }
    indicators = [
        indicator
        for indicator in Indicator.objects.filter(service_year_id=service_year.pk).order_by(
            "domain_code", "group_code", "code"
        )
        if indicator.code in results
    ]
    prevalence = {
        row.group_code: row for row in PrevalenceResult.objects.filter(run_id=run.prevalence_run_id)
    }
    changes, rules_then, money_then = _as_the_run_used(run, service_year, indicators)
    parameters = YearParameters(
        point_value=Decimal(money_then.get("point_value", service_year.point_value)),
        average_list_size=Decimal(
            money_then.get("national_average_list_size", service_year.national_average_list_size)
        ),
    )
    registers = {
        indicator.group_code: results[indicator.code].register
        for indicator in indicators
        if rules_then[indicator.pk]["kind"] == Indicator.Kind.REGISTER or indicator.carries_register
    }
    lines = []
    for indicator in indicators:
        result, values = results[indicator.code], rules_then[indicator.pk]
        rule = Rule(
            kind=values["kind"],
            points=_decimal(values["points"]),
            lower_threshold=_decimal(values["lower_threshold"]),
            upper_threshold=_decimal(values["upper_threshold"]),
            prevalence_adjusted=bool(values["prevalence_adjusted"]),
        )
        national = prevalence.get(indicator.group_code)
        group_register = registers.get(indicator.group_code)
        explanation = explain_line(
            rule,
            _counts(result),
            PracticeFactors(totals.list_size_cpi, totals.list_size_prevalence, group_register),
            parameters,
            National(national.register_total, national.population_total) if national else None,
        )
        lines.append(Line(indicator, result, rule, explanation, national, group_register))
    return PracticeCalculation(practice, publication, totals, run, service_year, parameters, lines, changes)


def _counts(result: IndicatorResult, **changes) -> Counts:
    counts = {
        "numerator": result.numerator,
        "denominator": result.denominator,
        "register": result.register,
        "manual_answer": result.manual_answer,
        "credited_points": result.points if result.income_protected else None,
    }
    return Counts(**{**counts, **changes})


def _decimal(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _as_the_run_used(run: CalculationRun, service_year: ServiceYear, indicators: list[Indicator]):
    """The ruleset rows and money parameters as they were when the run started: today's values with each
    field changed since put back to the `before` of its first change after the run (one query)."""
    since = run.started_at or run.created_at
    by_pk = {str(indicator.pk): indicator for indicator in indicators}
    events = (
        AuditEvent.objects.filter(
            Q(object_type="participation.indicator", object_id__in=list(by_pk))
            | Q(object_type="participation.serviceyear", object_id=str(service_year.pk)),
            occurred_at__gt=since,
            before__isnull=False,
        )
        .select_related("actor")
        .order_by("occurred_at", "pk")
    )
    rules = {
        indicator.pk: {name: getattr(indicator, name) for name in RULE_FIELDS} for indicator in indicators
    }
    money: dict[str, object] = {}
    seen: set[tuple[str, str, str]] = set()
    changes = []
    for event in events:
        indicator = by_pk.get(event.object_id) if event.object_type == "participation.indicator" else None
        names = RULE_FIELDS if indicator is not None else MONEY_FIELDS
        for name in names:
            if name not in (event.before or {}):
                continue
            who = event.actor.full_name or event.actor.email if event.actor else "the system"
            what = f"{indicator.code} {FIELD_LABELS[name]}" if indicator else FIELD_LABELS[name]
            code = indicator.code if indicator else None
            changes.append(
                RulesetChange(
                    event.occurred_at, who, code, what, event.before[name], (event.after or {}).get(name)
                )
            )
            key = (event.object_type, event.object_id, name)
            if key in seen:
                continue
            seen.add(key)
            if indicator is not None:
                rules[indicator.pk][name] = event.before[name]
            else:
                money[name] = event.before[name]
    return changes, rules, money


# ---- One line: its sources, what would earn more, and what if ---------------------------------------------


@dataclass(frozen=True)
class SourceField:
    row: SourceRow
    role: str
    arrived_after_run: bool


@dataclass(frozen=True)
class LineSources:
    fields: list[SourceField]
    pcas: list[SourceField]
    manual_answer: ManualAnswer | None
    manual_answer_after_run: bool
    base_year_result: IndicatorResult | None
    base_year_code: str


def line_sources(calculation: PracticeCalculation, line: Line) -> LineSources:
    """Where the line's inputs came from: the stored extract fields (through extracts.selectors.source_rows),
    the manual answer entered in the portal, and for an income-protected line its base-year result."""
    run = calculation.run
    since = run.started_at or run.created_at
    pca_codes = shipped_pca_codes()
    fields = [
        SourceField(row, _role(row.field_name, pca_codes), row.loaded_at > since)
        for row in source_rows(
            service_year=calculation.service_year,
            achievement_date=run.achievement_date,
            practice=calculation.practice,
            indicator_code=line.code,
        )
    ]
    answer = None
    if line.indicator.kind == Indicator.Kind.MANUAL:
        answer = (
            ManualAnswer.objects.filter(
                service_year=calculation.service_year, practice=calculation.practice, indicator=line.indicator
            )
            .select_related("entered_by")
            .first()
        )
    base_result, base_code = None, ""
    if line.result.income_protected and calculation.service_year.base_year_id:
        base_year = calculation.service_year.base_year
        base_code = line.indicator.base_indicator_code or line.code
        publication = Publication.objects.filter(
            service_year=base_year, achievement_date=base_year.end_date
        ).first()
        if publication is not None:
            base_result = (
                published_indicator_results(publication.run_id)
                .filter(practice=calculation.practice, indicator_code=base_code)
                .select_related("run")
                .first()
            )
    return LineSources(
        fields=[field for field in fields if field.role != "PCA"],
        pcas=[field for field in fields if field.role == "PCA"],
        manual_answer=answer,
        manual_answer_after_run=bool(answer and answer.entered_at > since),
        base_year_result=base_result,
        base_year_code=base_code,
    )


def _role(field_name: str, pca_codes) -> str:
    if field_name in ("Numerator", "Denominator"):
        return field_name
    if field_name.lower().endswith("register"):
        return "Register"
    if field_name == "Yes/No Flag":
        return "Answer (1 Yes, 0 No)"
    if field_name in pca_codes:
        return "PCA"
    return "Other field (reported, not used in points)"


@dataclass(frozen=True)
class NextPatients:
    """For a percentage line below full points: how many more patients reach what, and what it pays."""

    patients_to_lower: int
    patients_to_next_point: int
    next_points: Decimal
    next_gain: Decimal
    patients_to_upper: int
    upper_gain: Decimal
    per_patient: Decimal
    per_patient_in_range: Decimal


def next_patients(calculation: PracticeCalculation, line: Line) -> NextPatients | None:
    if line.rule.kind != PERCENTAGE or line.result.income_protected or not line.result.denominator:
        return None
    national = line.national
    row = pd.DataFrame(
        [
            {
                "numerator": line.result.numerator,
                "denominator": line.result.denominator,
                "points": line.rule.points,
                "lower_threshold": line.rule.lower_threshold,
                "upper_threshold": line.rule.upper_threshold,
                "list_size_cpi": calculation.totals.list_size_cpi,
                "prevalence_adjusted": line.rule.prevalence_adjusted,
                "group_register": line.group_register or 0,
                "list_size_prevalence": calculation.totals.list_size_prevalence,
                "register_total": national.register_total if national else 1,
                "population_total": national.population_total if national else 1,
            }
        ]
    )
    result = percentage_opportunities(row, calculation.parameters).iloc[0]
    if result["patients_to_upper"] == 0:
        return None

    def pounds(pence) -> Decimal:
        return Decimal(int(pence)).scaleb(-2)

    return NextPatients(
        patients_to_lower=int(result["patients_to_lower"]),
        patients_to_next_point=int(result["patients_to_next_point"]),
        next_points=pounds(result["next_point_hundredths"]),
        next_gain=pounds(result["next_point_gain_pence"]),
        patients_to_upper=int(result["patients_to_upper"]),
        upper_gain=pounds(result["upper_gain_pence"]),
        per_patient=pounds(result["pence_per_patient"]),
        per_patient_in_range=pounds(result["pence_per_patient_in_range"]),
    )


@dataclass(frozen=True)
class WhatIf:
    explanation: Explanation
    points_change: Decimal
    payment_change: Decimal
    total_points: Decimal
    total_payment: Decimal


def what_if(calculation: PracticeCalculation, line: Line, **changes) -> WhatIf:
    """The line recomputed with changed counts (numerator, denominator, manual_answer), and what the
    practice total would then be. Nothing is stored. Raises ValueError for counts no extract could hold."""
    counts = _counts(line.result, **changes)
    explanation = explain_line(
        line.rule,
        counts,
        PracticeFactors(
            calculation.totals.list_size_cpi, calculation.totals.list_size_prevalence, line.group_register
        ),
        calculation.parameters,
        National(line.national.register_total, line.national.population_total) if line.national else None,
    )
    points_change = explanation.points - line.result.points
    payment_change = explanation.payment - line.result.payment
    return WhatIf(
        explanation,
        points_change,
        payment_change,
        calculation.totals.points + points_change,
        calculation.totals.payment + payment_change,
    )
