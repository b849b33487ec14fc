"""What would earn more: for each practice of a published run, its unanswered manual indicators (with their
value and deadline) and, for each percentage indicator below full points, the patients that reach the next
whole point and the upper threshold and what each is worth at the practice's CPI and APDF
(engine.opportunity). For one practice or every practice under a commissioner, in six queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db.models import Q

from accounts.models import Organisation
from calculation.models import IndicatorResult, PracticeResult, PrevalenceResult, Publication
from calculation.pipeline import year_parameters
from engine.opportunity import percentage_opportunities
from engine.qof import payment_pence
from engine.ruleset import MANUAL, PERCENTAGE
from manual_entry.models import ManualAnswer
from participation.models import Indicator

from .selectors import practices_under

ANSWER = "answer"
PATIENTS = "patients"


@dataclass(frozen=True)
class Opportunity:
    """One thing a practice could do: answer a manual indicator, or bring more patients into a numerator."""

    what: str  # ANSWER or PATIENTS
    practice_code: str
    practice_name: str
    sub_icb: str
    indicator_code: str
    description: str
    points: Decimal
    available: Decimal
    value: Decimal  # pounds it would add: the answer's worth, or full points' worth
    deadline: dt.date | None = None
    numerator: int | None = None
    denominator: int | None = None
    achievement: float | None = None
    patients_to_lower: int = 0
    patients_to_next_point: int = 0
    next_points: Decimal | None = None
    next_gain: Decimal = Decimal(0)
    patients_to_upper: int = 0
    points_gain: Decimal = Decimal(0)
    per_patient: Decimal = Decimal(0)  # pounds per patient to the upper threshold, on average
    per_patient_in_range: Decimal = Decimal(0)

    @property
    def points_per_patient(self) -> Decimal:
        if not self.patients_to_upper:
            return Decimal(0)
        return (self.points_gain / self.patients_to_upper).quantize(Decimal("0.0001"))

    def sort_key(self, by_money: bool) -> tuple:
        """Unanswered manual indicators first (most valuable first), then patients by what each is worth."""
        if self.what == ANSWER:
            return (0, -self.value, self.practice_code, self.indicator_code)
        worth = self.per_patient if by_money else self.points_per_patient
        return (1, -worth, self.practice_code, self.indicator_code)


@dataclass
class OpportunityList:
    publication: Publication
    opportunities: list[Opportunity]
    at_full_points: int  # percentage lines with nothing more to earn
    without_patients: int  # percentage lines with a denominator of 0
    practices: int

    @property
    def is_year_end(self) -> bool:
        return self.publication.achievement_date == self.publication.service_year.end_date


def _pounds(pence) -> Decimal:
    return Decimal(int(pence)).scaleb(-2)


def opportunities(
    organisation: Organisation, publication: Publication, *, by_money: bool = True
) -> OpportunityList | None:
    """Every opportunity of the practices under `organisation` (or of the practice itself) in the published
    run, sorted: unanswered manual indicators first, then by pounds (or points) per patient."""
    service_year = publication.service_year
    practices = list(
        PracticeResult.objects.filter(practices_under(organisation), run_id=publication.run_id).values_list(
            "practice_id", "practice__code", "practice__name", "practice__parent__code", "indicator_run_id",
            "indicator_run__prevalence_run_id", "list_size_cpi", "list_size_prevalence",
        )
    )  # fmt: skip
    if not practices:
        return None
    practice_frame = pd.DataFrame(
        practices,
        columns=["practice_id", "practice_code", "practice_name", "sub_icb", "indicator_run_id",
                 "prevalence_run_id", "list_size_cpi", "list_size_prevalence"],
    ).set_index("practice_id")  # fmt: skip
    indicators = {
        indicator.code: indicator for indicator in Indicator.objects.filter(service_year_id=service_year.pk)
    }
    wanted = [
        code
        for code, indicator in indicators.items()
        if indicator.kind in {PERCENTAGE, MANUAL} or indicator.kind == Indicator.Kind.REGISTER
        or indicator.carries_register
    ]  # fmt: skip
    by_run = practice_frame.groupby("indicator_run_id").groups
    where = Q()
    for run_id, ids in by_run.items():
        where |= Q(run_id=run_id, practice_id__in=list(ids))
    results = pd.DataFrame(
        list(
            IndicatorResult.objects.filter(where, indicator_code__in=wanted).values_list(
                "practice_id", "indicator_code", "numerator", "denominator", "register", "points",
                "manual_answer", "income_protected",
            )
        ),
        columns=["practice_id", "indicator_code", "numerator", "denominator", "register", "points",
                 "manual_answer", "income_protected"],
    )  # fmt: skip
    prevalence = pd.DataFrame(
        list(
            PrevalenceResult.objects.filter(run_id__in=set(practice_frame["prevalence_run_id"])).values_list(
                "run_id", "group_code", "register_total", "population_total"
            )
        ),
        columns=["prevalence_run_id", "group_code", "register_total", "population_total"],
    )
    answered = set(
        ManualAnswer.objects.filter(
            service_year_id=service_year.pk, practice_id__in=list(practice_frame.index)
        ).values_list("practice_id", "indicator__code")
    )
    parameters = year_parameters(service_year)
    results = results.join(practice_frame, on="practice_id")
    kind = results["indicator_code"].map(lambda code: indicators[code].kind)
    group = results["indicator_code"].map(lambda code: indicators[code].group_code)
    results = results.assign(kind=kind, group_code=group)

    found = _manual(results[results["kind"] == MANUAL], indicators, answered, parameters, service_year)
    percentage = results[(results["kind"] == PERCENTAGE) & ~results["income_protected"].astype(bool)]
    with_patients = percentage[percentage["denominator"].fillna(0) > 0]
    lines, at_full = _patients(with_patients, results, indicators, prevalence, parameters)
    found += lines
    found.sort(key=lambda item: item.sort_key(by_money))
    return OpportunityList(
        publication=publication,
        opportunities=found,
        at_full_points=at_full,
        without_patients=len(percentage) - len(with_patients),
        practices=len(practice_frame),
    )


def _manual(rows, indicators, answered, parameters, service_year) -> list[Opportunity]:
    """Manual indicators without an answer in the portal that do not already score: worth full points."""
    rows = rows[
        [
            (practice_id, code) not in answered and answer is not True
            for practice_id, code, answer in zip(
                rows["practice_id"], rows["indicator_code"], rows["manual_answer"], strict=True
            )
        ]
    ]
    if rows.empty:
        return []
    full = np.array([int(indicators[code].points * 100) for code in rows["indicator_code"]], dtype=np.int64)
    ones = np.ones(len(rows), dtype=np.int64)
    value = payment_pence(
        full, rows["list_size_cpi"].to_numpy(dtype=np.int64), parameters, ([ones, ones], [ones, ones])
    )
    return [
        Opportunity(
            what=ANSWER,
            practice_code=row.practice_code,
            practice_name=row.practice_name,
            sub_icb=row.sub_icb or "",
            indicator_code=row.indicator_code,
            description=indicators[row.indicator_code].group_description,
            points=row.points,
            available=indicators[row.indicator_code].points,
            value=_pounds(pence),
            deadline=service_year.manual_entry_deadline,
        )
        for row, pence in zip(rows.itertuples(index=False), value, strict=True)
    ]


def _patients(rows, all_rows, indicators, prevalence, parameters) -> tuple[list[Opportunity], int]:
    if rows.empty:
        return [], 0
    sources = {
        indicator.group_code: code
        for code, indicator in indicators.items()
        if indicator.kind == Indicator.Kind.REGISTER or indicator.carries_register
    }
    registers = all_rows[all_rows["indicator_code"].isin(set(sources.values()))][
        ["practice_id", "group_code", "register"]
    ].rename(columns={"register": "group_register"})
    frame = (
        rows.merge(registers, on=["practice_id", "group_code"], how="left")
        .merge(prevalence, on=["prevalence_run_id", "group_code"], how="left")
        .assign(
            points=lambda f: f["indicator_code"].map(lambda code: indicators[code].points),
            lower_threshold=lambda f: f["indicator_code"].map(lambda code: indicators[code].lower_threshold),
            upper_threshold=lambda f: f["indicator_code"].map(lambda code: indicators[code].upper_threshold),
            prevalence_adjusted=lambda f: f["indicator_code"].map(
                lambda code: indicators[code].prevalence_adjusted
            ),
            current_points=rows["points"].to_numpy(),
        )
    )
    frame = frame.assign(
        group_register=frame["group_register"].fillna(0).astype(np.int64),
        register_total=frame["register_total"].fillna(1).astype(np.int64),
        population_total=frame["population_total"].fillna(1).astype(np.int64),
        numerator=frame["numerator"].astype(np.int64),
        denominator=frame["denominator"].astype(np.int64),
    )
    result = percentage_opportunities(frame, parameters)
    open_ = result[result["patients_to_upper"] > 0]
    found = [
        Opportunity(
            what=PATIENTS,
            practice_code=row.practice_code,
            practice_name=row.practice_name,
            sub_icb=row.sub_icb or "",
            indicator_code=row.indicator_code,
            description=indicators[row.indicator_code].group_description,
            points=row.current_points,
            available=indicators[row.indicator_code].points,
            value=_pounds(row.upper_gain_pence),
            numerator=int(row.numerator),
            denominator=int(row.denominator),
            achievement=100 * row.numerator / row.denominator,
            patients_to_lower=int(row.patients_to_lower),
            patients_to_next_point=int(row.patients_to_next_point),
            next_points=_pounds(row.next_point_hundredths),
            next_gain=_pounds(row.next_point_gain_pence),
            patients_to_upper=int(row.patients_to_upper),
            points_gain=_pounds(row.upper_gain_hundredths),
            per_patient=_pounds(row.pence_per_patient),
            per_patient_in_range=_pounds(row.pence_per_patient_in_range),
        )
        for row in open_.itertuples(index=False)
    ]
    return found, len(result) - len(open_)
