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


def _pounds(pence) -> Decimal:
    return Decimal(int(pence)).scaleb(-2)


@dataclass(frozen=True, slots=True)
class Opportunity:
    """One thing a practice could do: answer a manual indicator, or bring more patients into a numerator.

    Amounts are held as integer pence and hundredths of a point (tens of thousands of these are made for a
    large commissioner; only a page of them is shown) and read as Decimals through the properties."""

    what: str  # ANSWER or PATIENTS
    practice_code: str
    practice_name: str
    sub_icb: str
    indicator_code: str
    description: str
    points_hundredths: int
    available: Decimal
    value_pence: int  # what it would add: the answer's worth, or full points' worth
    deadline: dt.date | None = None
    numerator: int | None = None
    denominator: int | None = None
    patients_to_lower: int = 0
    patients_to_next_point: int = 0
    next_points_hundredths: int = 0
    next_gain_pence: int = 0
    patients_to_upper: int = 0
    points_gain_hundredths: int = 0
    per_patient_pence: int = 0  # to the upper threshold, on average
    per_patient_in_range_pence: int = 0

    @property
    def points(self) -> Decimal:
        return _pounds(self.points_hundredths)

    @property
    def value(self) -> Decimal:
        return _pounds(self.value_pence)

    @property
    def next_points(self) -> Decimal:
        return _pounds(self.next_points_hundredths)

    @property
    def next_gain(self) -> Decimal:
        return _pounds(self.next_gain_pence)

    @property
    def points_gain(self) -> Decimal:
        return _pounds(self.points_gain_hundredths)

    @property
    def per_patient(self) -> Decimal:
        return _pounds(self.per_patient_pence)

    @property
    def per_patient_in_range(self) -> Decimal:
        return _pounds(self.per_patient_in_range_pence)

    @property
    def achievement(self) -> float | None:
        return 100 * self.numerator / self.denominator if self.denominator else None

    @property
    def points_per_patient(self) -> Decimal:
        if not self.patients_to_upper:
            return Decimal(0)
        return (self.points_gain / self.patients_to_upper).quantize(Decimal("0.0001"))


PATIENT_COLUMNS = (
    "practice_code", "practice_name", "sub_icb", "indicator_code", "description", "points_hundredths",
    "points", "upper_gain_pence", "numerator", "denominator", "patients_to_lower", "patients_to_next_point",
    "next_point_hundredths", "next_point_gain_pence", "patients_to_upper", "upper_gain_hundredths",
    "pence_per_patient", "pence_per_patient_in_range",
)  # fmt: skip


class OpportunityRows:
    """The opportunities in order: unanswered manual indicators, then the percentage lines of a sorted frame.

    A large commissioner has tens of thousands of lines and a page shows fifty, so `Opportunity` objects are
    made only for the rows asked for (a slice, one index, or iteration for a download)."""

    def __init__(self, manual: list[Opportunity], patients: pd.DataFrame):
        self.manual, self.patients = manual, patients

    def __len__(self) -> int:
        return len(self.manual) + len(self.patients)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[position] for position in range(start, stop, step)]
            first = self.manual[start:stop]
            offset = len(self.manual)
            return first + _made(self.patients.iloc[max(start - offset, 0) : max(stop - offset, 0)])
        if index < 0:
            index += len(self)
        if index < len(self.manual):
            return self.manual[index]
        return _made(self.patients.iloc[index - len(self.manual) : index - len(self.manual) + 1])[0]

    def __iter__(self):
        yield from self.manual
        yield from _made(self.patients)

    def filtered(self, *, practice: str = "", indicator: str = "", sub_icb: str = "") -> OpportunityRows:
        """Only the rows of a practice (code, or part of its name), an indicator (or group prefix), a
        sub-ICB location."""

        def keep(code, name, indicator_code, sub):
            return (
                (not practice or practice == code.lower() or practice in name.lower())
                and (not indicator or indicator_code.startswith(indicator))
                and (not sub_icb or sub.upper() == sub_icb)
            )

        frame = self.patients
        mask = [
            keep(*values)
            for values in zip(
                frame["practice_code"],
                frame["practice_name"],
                frame["indicator_code"],
                frame["sub_icb"],
                strict=True,
            )
        ]
        manual = [item for item in self.manual if keep(item.practice_code, item.practice_name,
                                                          item.indicator_code, item.sub_icb)]  # fmt: skip
        return OpportunityRows(manual, frame[mask])


def _made(frame: pd.DataFrame) -> list[Opportunity]:
    if frame.empty:
        # A commissioner whose practices have only manual indicators left has a frame with no columns.
        return []
    columns = [frame[name].tolist() for name in PATIENT_COLUMNS]
    return [
        Opportunity(PATIENTS, code, name, sub_icb, indicator, description, int(now), available, int(value),
                    None, int(numerator), int(denominator), *map(int, rest))
        for code, name, sub_icb, indicator, description, now, available, value, numerator, denominator, *rest
        in zip(*columns, strict=True)
    ]  # fmt: skip


@dataclass
class OpportunityList:
    publication: Publication
    opportunities: OpportunityRows
    at_full_points: int  # percentage lines with nothing more to earn
    without_patients: int  # percentage lines with a denominator of 0
    practices: int

    @property
    def is_year_end(self) -> bool:
        return self.publication.achievement_date == self.publication.service_year.end_date


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
                "practice_id", "indicator_code", "numerator", "denominator", "register", "manual_answer",
                "income_protected",
            )
        ),
        columns=["practice_id", "indicator_code", "numerator", "denominator", "register", "manual_answer",
                 "income_protected"],
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
    code = results["indicator_code"]
    results = results.assign(
        kind=code.map({c: indicator.kind for c, indicator in indicators.items()}),
        group_code=code.map({c: indicator.group_code for c, indicator in indicators.items()}),
    )

    found = _manual(results[results["kind"] == MANUAL], indicators, answered, parameters, service_year)
    percentage = results[(results["kind"] == PERCENTAGE) & ~results["income_protected"].astype(bool)]
    with_patients = percentage[percentage["denominator"].fillna(0) > 0]
    patients, at_full = _patients(with_patients, results, indicators, prevalence, parameters, by_money)
    found.sort(key=lambda item: (-item.value_pence, item.practice_code, item.indicator_code))
    return OpportunityList(
        publication=publication,
        opportunities=OpportunityRows(found, patients),
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
            points_hundredths=0,
            available=indicators[row.indicator_code].points,
            value_pence=int(pence),
            deadline=service_year.manual_entry_deadline,
        )
        for row, pence in zip(rows.itertuples(index=False), value, strict=True)
    ]


def _patients(rows, all_rows, indicators, prevalence, parameters, by_money) -> tuple[pd.DataFrame, int]:
    """The percentage lines with something left to earn, best first (by pounds, or points, per patient)."""
    if rows.empty:
        return pd.DataFrame(columns=list(PATIENT_COLUMNS)), 0
    sources = {
        indicator.group_code: code
        for code, indicator in indicators.items()
        if indicator.kind == Indicator.Kind.REGISTER or indicator.carries_register
    }
    registers = all_rows[all_rows["indicator_code"].isin(set(sources.values()))][
        ["practice_id", "group_code", "register"]
    ].rename(columns={"register": "group_register"})
    frame = rows.merge(registers, on=["practice_id", "group_code"], how="left").merge(
        prevalence, on=["prevalence_run_id", "group_code"], how="left"
    )
    code = frame["indicator_code"]
    frame = frame.assign(
        points=code.map({c: i.points for c, i in indicators.items()}),
        lower_threshold=code.map({c: i.lower_threshold for c, i in indicators.items()}),
        upper_threshold=code.map({c: i.upper_threshold for c, i in indicators.items()}),
        prevalence_adjusted=code.map({c: i.prevalence_adjusted for c, i in indicators.items()}),
        description=code.map({c: i.group_description for c, i in indicators.items()}),
        group_register=frame["group_register"].fillna(0).astype(np.int64),
        register_total=frame["register_total"].fillna(1).astype(np.int64),
        population_total=frame["population_total"].fillna(1).astype(np.int64),
        numerator=frame["numerator"].astype(np.int64),
        denominator=frame["denominator"].astype(np.int64),
    )
    result = percentage_opportunities(frame, parameters)
    open_ = result[result["patients_to_upper"] > 0]
    worth = (
        open_["pence_per_patient"].to_numpy()
        if by_money
        else open_["upper_gain_hundredths"].to_numpy() / open_["patients_to_upper"].to_numpy()
    )
    order = np.lexsort((open_["indicator_code"].to_numpy(), open_["practice_code"].to_numpy(), -worth))
    return open_.iloc[order].assign(sub_icb=lambda f: f["sub_icb"].fillna("")), len(result) - len(open_)
