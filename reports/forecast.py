"""The year-end forecast of the current service year from its in-year runs (engine.forecast), with the
aspiration next year that would follow and the year-end balance it implies; for one practice or every
practice under a commissioner, from published figures only. A fixed number of queries.

An estimate, never a payment: the figures are labelled as a forecast wherever they are shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db.models import F, QuerySet, Sum

from accounts.models import Organisation
from calculation.models import PracticeResult, Publication
from calculation.pipeline import next_year_aspiration
from engine.aspiration import year_end_balance
from engine.forecast import growth_ratios, year_end_forecast
from participation.models import Indicator, ServiceYear

from .selectors import practices_under

SCENARIOS = ("low", "central", "high")
METHOD_NAMES = {
    "own_pattern": "this practice's growth from this point to the year end last year",
    "national_pattern": "the typical growth from this point to the year end last year (none of its own)",
    "trend": "the trend of this year's runs (no last year to learn from)",
    "held": "today's figures held (a single run and no history)",
}


def _pounds(pence) -> Decimal | None:
    return None if pence is None or pd.isna(pence) else Decimal(int(pence)).scaleb(-2)


@dataclass(frozen=True)
class RunFigure:
    achievement_date: dt.date
    points: Decimal
    payment: Decimal


@dataclass
class PracticeForecast:
    practice_code: str
    practice_name: str
    sub_icb: str
    method: str
    points_now: Decimal
    payment_now: Decimal
    points: dict[str, Decimal]  # low, central, high
    payment: dict[str, Decimal]
    ratio: dict[str, float | None]
    aspiration: dict[str, Decimal | None]  # next year's annual aspiration that would follow
    aspiration_paid: Decimal | None  # on account during this year (last year's year end's aspiration)
    balance: dict[str, Decimal | None]
    this_year: list[RunFigure] = field(default_factory=list)
    last_year: list[RunFigure] = field(default_factory=list)
    actual: RunFigure | None = None  # the year end, once published

    @property
    def method_text(self) -> str:
        return METHOD_NAMES[self.method]

    # Flat accessors for tables and exports.
    @property
    def points_central(self) -> Decimal:
        return self.points["central"]

    @property
    def payment_central(self) -> Decimal:
        return self.payment["central"]

    @property
    def aspiration_central(self) -> Decimal | None:
        return self.aspiration["central"]

    @property
    def balance_central(self) -> Decimal | None:
        return self.balance["central"]


@dataclass
class Forecast:
    service_year: ServiceYear
    as_of: Publication
    compared_with: dt.date | None  # last year's achievement date the growth is measured from
    maximum_points: Decimal
    practices: list[PracticeForecast]
    next_year: ServiceYear | None

    def total(self, what: str, scenario: str = "central") -> Decimal | None:
        values = [getattr(item, what)[scenario] for item in self.practices]
        if any(value is None for value in values):
            return None
        return sum(values, Decimal(0))

    @property
    def totals(self) -> dict:
        return {
            what: {scenario: self.total(what, scenario) for scenario in SCENARIOS}
            for what in ("points", "payment", "aspiration", "balance")
        }

    @property
    def points_now(self) -> Decimal:
        return sum((item.points_now for item in self.practices), Decimal(0))

    @property
    def payment_now(self) -> Decimal:
        return sum((item.payment_now for item in self.practices), Decimal(0))

    @property
    def aspiration_paid(self) -> Decimal | None:
        paid = [item.aspiration_paid for item in self.practices]
        return None if any(value is None for value in paid) else sum(paid, Decimal(0))


def forecast_years(practice: Organisation | None = None) -> QuerySet[ServiceYear]:
    """Service years with a published in-year run (that calculated this practice), newest first: the years a
    forecast can be made for."""
    in_year = Publication.objects.filter(achievement_date__lt=F("service_year__end_date"))
    if practice is not None:
        in_year = in_year.filter(run__practice_results__practice=practice)
    return (
        ServiceYear.objects.filter(pk__in=in_year.values("service_year_id"))
        .select_related("service")
        .order_by("-financial_year", "code")
    )


def forecast(organisation: Organisation, service_year: ServiceYear) -> Forecast | None:
    """Forecast the year end of `service_year` for the practices under `organisation` from its latest
    published in-year run."""
    publications = list(
        Publication.objects.filter(service_year__service_id=service_year.service_id)
        .filter(
            service_year__financial_year__in=[service_year.financial_year - 1, service_year.financial_year]
        )
        .select_related("service_year", "run")
        .order_by("achievement_date")
    )
    this_year = [p for p in publications if p.service_year_id == service_year.pk]
    in_year = [p for p in this_year if p.achievement_date < service_year.end_date]
    if not in_year:
        return None
    as_of = in_year[-1]
    actual = next((p for p in this_year if p.achievement_date == service_year.end_date), None)
    last = [p for p in publications if p.service_year_id != service_year.pk]
    last_year_end = next((p for p in last if p.achievement_date == p.service_year.end_date), None)
    same_point = _one_year_before(as_of.achievement_date)
    then = next(
        (p for p in reversed(last) if p.achievement_date <= same_point and p is not last_year_end), None
    )

    shown = [*in_year, *([actual] if actual else []), *last]
    rows = pd.DataFrame(
        list(
            PracticeResult.objects.filter(practices_under(organisation), run_id__in=[p.run_id for p in shown])
            .values_list(
                "run_id", "practice__code", "practice__name", "practice__parent__code", "points", "payment",
                "aspiration_annual",
            )
        ),
        columns=["run_id", "practice_code", "practice_name", "sub_icb", "points", "payment",
                 "aspiration_annual"],
    )  # fmt: skip
    now = rows[rows["run_id"] == as_of.run_id]
    if now.empty:
        return None
    ratios = pd.Series(dtype=float)
    if then is not None and last_year_end is not None:
        national = pd.DataFrame(
            list(
                PracticeResult.objects.filter(run_id__in=[then.run_id, last_year_end.run_id]).values_list(
                    "run_id", "practice__code", "points"
                )
            ),
            columns=["run_id", "practice_code", "points"],
        ).assign(points_hundredths=lambda f: _hundredths(f["points"]))
        ratios = growth_ratios(
            national[national["run_id"] == then.run_id][["practice_code", "points_hundredths"]],
            national[national["run_id"] == last_year_end.run_id][["practice_code", "points_hundredths"]],
        )
    days = {p.run_id: (p.achievement_date - service_year.start_date).days + 1 for p in in_year}
    history = rows[rows["run_id"].isin(days)].assign(
        day=lambda f: f["run_id"].map(days), points_hundredths=lambda f: _hundredths(f["points"])
    )
    maximum = Indicator.objects.filter(service_year=service_year).aggregate(total=Sum("points"))["total"] or 0
    estimate = year_end_forecast(
        now.assign(points_hundredths=_hundredths(now["points"]), payment_pence=_hundredths(now["payment"]))[
            ["practice_code", "points_hundredths", "payment_pence"]
        ],
        ratios=ratios,
        history=history[["practice_code", "day", "points_hundredths"]],
        elapsed_days=days[as_of.run_id],
        year_days=(service_year.end_date - service_year.start_date).days + 1,
        maximum_hundredths=int(Decimal(maximum) * 100),
    )
    aspiration = _aspiration(service_year, estimate)
    paid = (
        rows[rows["run_id"] == last_year_end.run_id].set_index("practice_code")["aspiration_annual"]
        if last_year_end is not None
        else pd.Series(dtype=object)
    )
    figures = _figures(rows, shown)
    next_year = ServiceYear.objects.filter(
        service_id=service_year.service_id, financial_year=service_year.financial_year + 1
    ).first()
    current = now.set_index("practice_code")
    balances = _balances(estimate, paid)
    practices = [
        _practice(row, current.loc[row.practice_code], aspiration, paid, balances, figures, as_of, actual)
        for row in estimate.itertuples(index=False)
    ]
    return Forecast(
        service_year, as_of, then.achievement_date if then else None, Decimal(maximum), practices, next_year
    )


def _one_year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _hundredths(values: pd.Series) -> np.ndarray:
    return np.array([int(Decimal(value) * 100) for value in values], dtype=np.int64)


def _aspiration(service_year: ServiceYear, estimate: pd.DataFrame) -> dict[str, pd.Series]:
    """Next year's annual aspiration that each scenario would give, as the run's own rule calculates it
    (calculation.pipeline.next_year_aspiration); empty while next year or its list sizes are unknown."""
    found = {}
    for scenario in SCENARIOS:
        totals = pd.DataFrame(
            {
                "practice_code": estimate["practice_code"],
                "points_hundredths": estimate[f"points_{scenario}"].to_numpy(dtype=np.int64),
                "payment_pence": estimate[f"payment_{scenario}"].to_numpy(dtype=np.int64),
            }
        )
        result = next_year_aspiration(service_year, totals)
        found[scenario] = (
            pd.Series(dtype=object) if result is None else result.set_index("practice_code")["annual_pence"]
        )
    return found


def _figures(rows: pd.DataFrame, shown: list[Publication]) -> dict[str, dict[int, RunFigure]]:
    dates = {p.run_id: p.achievement_date for p in shown}
    figures: dict[str, dict[int, RunFigure]] = {}
    for row in rows.itertuples(index=False):
        figures.setdefault(row.practice_code, {})[row.run_id] = RunFigure(
            dates[row.run_id], row.points, row.payment
        )
    return figures


def _balances(estimate: pd.DataFrame, paid: pd.Series) -> dict[tuple[str, str], Decimal]:
    """(practice code, scenario) → forecast payment less the aspiration paid on account this year, for the
    practices with aspiration recorded (engine.year_end_balance, all at once)."""
    known = paid.dropna()
    if known.empty:
        return {}
    keys = [
        (code, scenario)
        for code in estimate["practice_code"]
        if code in known.index
        for scenario in SCENARIOS
    ]
    payments = estimate.set_index("practice_code")
    frame = pd.DataFrame(
        {
            "practice_code": [f"{code}|{scenario}" for code, scenario in keys],
            "payment_pence": [int(payments.at[code, f"payment_{scenario}"]) for code, scenario in keys],
        }
    )
    paid_pence = pd.DataFrame(
        {
            "practice_code": frame["practice_code"],
            "paid_pence": [int(Decimal(known[code]) * 100) for code, _ in keys],
        }
    )
    result = year_end_balance(frame, paid_pence)
    return {key: _pounds(pence) for key, pence in zip(keys, result["balance_pence"], strict=True)}


def _practice(row, current, aspiration, paid, balances, figures, as_of, actual) -> PracticeForecast:
    code = row.practice_code
    own = figures.get(code, {})
    paid_pounds = paid.get(code)
    paid_pounds = None if paid_pounds is None or pd.isna(paid_pounds) else Decimal(paid_pounds)
    start = as_of.service_year.start_date
    return PracticeForecast(
        practice_code=code,
        practice_name=current["practice_name"],
        sub_icb=current["sub_icb"] or "",
        method=row.method,
        points_now=current["points"],
        payment_now=current["payment"],
        points={s: _pounds(getattr(row, f"points_{s}")) for s in SCENARIOS},
        payment={s: _pounds(getattr(row, f"payment_{s}")) for s in SCENARIOS},
        ratio={
            s: None if pd.isna(getattr(row, f"ratio_{s}")) else float(getattr(row, f"ratio_{s}"))
            for s in SCENARIOS
        },
        aspiration={s: _pounds(aspiration[s].get(code)) for s in SCENARIOS},
        aspiration_paid=paid_pounds,
        balance={s: balances.get((code, s)) for s in SCENARIOS},
        this_year=sorted(
            (f for f in own.values() if start <= f.achievement_date <= as_of.achievement_date),
            key=lambda f: f.achievement_date,
        ),
        last_year=sorted(
            (f for f in own.values() if f.achievement_date < start), key=lambda f: f.achievement_date
        ),
        actual=own.get(actual.run_id) if actual else None,
    )
