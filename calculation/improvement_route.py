"""The 2026/27 childhood-vaccination improvement route in a QOF run (shared/reference/
qof_2026_27_improvement_route.md; docs/adr/0015-service-kinds.md).

A year with `vaccination_improvement` rule parameters pays each practice the higher of its standard and
improvement points for the rule's indicators; the baseline is the practice's published year-end results of
the two baseline years. A baseline year not yet published (2025/26 before its year end) gives no baseline,
so those practices are paid on the standard route until it is: a recalculation after publication picks it
up. The rule's unknown constants are data (participation.RuleParameter), flagged until confirmed.
"""

from __future__ import annotations

import pandas as pd

from engine.improvement import (
    ImprovementRoute,
    RouteParameterError,
    improve_qof_result,
    parse_improvement_route,
)
from engine.qof import QofResult, YearParameters
from participation.models import RuleParameter, ServiceYear

from .models import Publication
from .selectors import published_indicator_results

BASELINE_COLUMNS = ["practice_code", "indicator_code", "financial_year", "numerator", "denominator"]


class RouteNotReadable(Exception):
    """The year's rule parameters do not read as a whole (they are checked on every change, so rare)."""


def improvement_route_for(service_year: ServiceYear) -> ImprovementRoute | None:
    values = dict(
        RuleParameter.objects.filter(
            service_year=service_year, rule=RuleParameter.Rule.VACCINATION_IMPROVEMENT
        ).values_list("name", "value")
    )
    if not values:
        return None
    try:
        return parse_improvement_route(values)
    except RouteParameterError as error:
        raise RouteNotReadable(f"{service_year.code} improvement route: {error}") from error


def baseline_results(service_year: ServiceYear, route: ImprovementRoute, practice_codes) -> pd.DataFrame:
    """Published year-end numerators and denominators of the route's indicators in the baseline years."""
    frames = []
    for start_year in route.baseline_years:
        publication = Publication.objects.filter(
            service_year__service_id=service_year.service_id,
            service_year__financial_year=start_year,
            achievement_date=ServiceYear.objects.filter(
                service_id=service_year.service_id, financial_year=start_year
            ).values("end_date")[:1],
        ).first()
        if publication is None:
            continue
        rows = (
            published_indicator_results(publication.run_id)
            .filter(indicator_code__in=route.indicators, practice__code__in=list(practice_codes))
            .exclude(denominator__isnull=True)
            .values_list("practice__code", "indicator_code", "numerator", "denominator")
        )
        frame = pd.DataFrame.from_records(list(rows), columns=BASELINE_COLUMNS[:2] + BASELINE_COLUMNS[3:])
        frames.append(frame.assign(financial_year=start_year)[BASELINE_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def with_improvement_route(
    service_year: ServiceYear,
    result: QofResult,
    ruleset: pd.DataFrame,
    practices: pd.DataFrame,
    parameters: YearParameters,
) -> QofResult:
    """The run's result on the higher route where the year has one; unchanged otherwise."""
    route = improvement_route_for(service_year)
    if route is None:
        return result
    baselines = baseline_results(service_year, route, practices["practice_code"])
    return improve_qof_result(result, ruleset, practices, parameters, baselines, route)
