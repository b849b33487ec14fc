"""A calculation run's work: inputs loaded in bulk into frames, the engine called, results written in bulk.

Nothing here decides a run's state; `actions` does, around these functions. Each loader is one query per
table, whatever the number of practices. Results go in with `COPY` on PostgreSQL and large `bulk_create`
batches elsewhere (the embedded demo).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Subquery

from accounts.models import Organisation, OrganisationType
from engine import (
    MONEY_BASE,
    YearParameters,
    aspiration_rule_for,
    calculate_aspiration,
    calculate_qof,
    national_prevalence,
)
from engine.rounding import format_hundredths
from engine.ruleset import register_source_indicators
from extracts.models import ExtractSubmission
from extracts.selectors import current_extract_values
from extracts.store import current_field_rows
from manual_entry.selectors import manual_answers_frame
from participation.models import Indicator, ServiceYear
from participation.selectors import engine_ruleset

from .improvement_route import with_improvement_route
from .models import (
    CalculationRun,
    IndicatorResult,
    PracticeListSize,
    PracticeResult,
    PrevalenceResult,
    Publication,
    RunInput,
)
from .selectors import published_indicator_results

INSERT_BATCH_ROWS = 5000
# A list size counts for a date when it is the practice's latest on or before it, within this window.
LIST_SIZE_LOOKBACK = dt.timedelta(days=400)


class CalculationInputError(Exception):
    """The stored inputs cannot be calculated (no list size, no parameters): the run fails with this text."""


def cpi_list_date(service_year: ServiceYear) -> dt.date:
    """CPI uses the list at 1 January before the year starts (2023/24: 1 January 2023; DOMAIN.md §4.6)."""
    return dt.date(service_year.financial_year, 1, 1)


def year_parameters(service_year: ServiceYear) -> YearParameters:
    if not service_year.national_average_list_size:
        raise CalculationInputError(f"{service_year.code} has no national average list size")
    return YearParameters(
        point_value=service_year.point_value,
        average_list_size=Decimal(service_year.national_average_list_size),
        manual_default=service_year.missing_manual_answer_default == ServiceYear.MissingAnswer.YES,
    )


def latest_list_sizes(dates: dict[str, dt.date], practice_codes=None) -> pd.DataFrame:
    """practice_code, practice_id and one column per entry of `dates` (name → date): each practice's latest
    registered patients on or before that date (NA when none). One query."""
    earliest, latest = min(dates.values()) - LIST_SIZE_LOOKBACK, max(dates.values())
    rows = PracticeListSize.objects.filter(list_date__range=(earliest, latest))
    if practice_codes is not None:
        rows = rows.filter(practice__code__in=list(practice_codes))
    frame = pd.DataFrame.from_records(
        list(rows.values_list("practice__code", "practice_id", "list_date", "registered_patients")),
        columns=["practice_code", "practice_id", "list_date", "registered_patients"],
    )
    result = frame[["practice_code", "practice_id"]].drop_duplicates().set_index("practice_code")
    frame = frame.sort_values("list_date")
    for name, on in dates.items():
        known = frame[frame["list_date"] <= on].groupby("practice_code")["registered_patients"].last()
        result[name] = known.reindex(result.index).astype("Int64")
    return result.reset_index()


def practices_frame(run: CalculationRun, practice_codes) -> pd.DataFrame:
    """The engine's practices frame (practice_code, list_size_cpi, list_size_prevalence) plus practice_id,
    for these practices; a practice without both list sizes fails the run, naming it."""
    sizes = latest_list_sizes(
        {"list_size_cpi": cpi_list_date(run.service_year), "list_size_prevalence": run.achievement_date},
        practice_codes,
    )
    sizes = sizes.dropna(subset=["list_size_cpi", "list_size_prevalence"])
    missing = sorted(set(practice_codes) - set(sizes["practice_code"]))
    if missing:
        raise CalculationInputError(
            f"no list size for {len(missing)} practice(s) with extract values: {', '.join(missing[:10])}"
        )
    return sizes.astype({"list_size_cpi": np.int64, "list_size_prevalence": np.int64})


def refresh_planner_statistics(*models) -> None:
    """ANALYZE tables that bulk loads have just filled. Until autovacuum catches up, PostgreSQL plans a
    freshly loaded table as nearly empty and scans millions of rows per chunk instead of using an index
    (3 s instead of 2 ms per commissioner at national scale). A sampled ANALYZE takes well under a second."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def national_prevalence_frame(run: CalculationRun) -> pd.DataFrame:
    """National prevalence over every practice with current extract values for the year and date."""
    return national_prevalence(*national_prevalence_inputs(run))


def national_prevalence_inputs(run: CalculationRun) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What national prevalence is calculated from: the ruleset, the register values (practice_code,
    indicator_code, register) and the practices frame, also read by the checks against last year.

    A national run takes them from the values it reads once for every stage (`scope_values`). A smaller run
    reads only what prevalence needs — the register fields of each group's register-source indicator (a
    field named "… register", as the extract parser reads it) and which practices have values — rather than
    every value in the country for the sake of one practice.
    """
    rules = engine_ruleset(run.service_year)
    sources = register_source_indicators(rules)
    if run.scope == CalculationRun.Scope.NATIONAL:
        values = scope_values(run)
        codes = sorted(values["practice_code"].unique())
        registers = values.loc[
            values["indicator_code"].isin(sources["indicator_code"]) & values["register"].notna(),
            ["practice_code", "indicator_code", "register"],
        ].reset_index(drop=True)
    else:
        codes, registers = _register_fields(run, sources)
    if not codes:
        raise CalculationInputError(
            f"no extract values for {run.service_year.code} on {run.achievement_date}"
        )
    return rules, registers, practices_frame(run, codes)


def _register_fields(run: CalculationRun, sources: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    current = ExtractSubmission.objects.filter(
        service_year_id=run.service_year_id, achievement_date=run.achievement_date, superseded_by__isnull=True
    )
    codes = sorted(
        Organisation.objects.filter(
            type=OrganisationType.PRACTICE, pk__in=Subquery(current.values("practice_id"))
        ).values_list("code", flat=True)
    )
    fields = current_field_rows(
        service_year_id=run.service_year_id,
        achievement_date=run.achievement_date,
        indicator_codes=sources["indicator_code"],
    )
    registers = fields[fields["field_name"].astype(str).str.lower().str.endswith("register")]
    values = pd.DataFrame(
        {
            "practice_code": registers["practice_code"].astype(str).to_numpy(dtype=object),
            "indicator_code": registers["indicator_code"].astype(str).to_numpy(dtype=object),
            "register": pd.array(registers["value"].to_numpy(), dtype="Int64"),
        }
    )
    return codes, values


def scope_practice_codes(run: CalculationRun) -> list[str] | None:
    """The practices a run calculates; None for every practice (a national run)."""
    if run.scope == CalculationRun.Scope.NATIONAL:
        return None
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    if run.scope == CalculationRun.Scope.PRACTICE:
        practices = practices.filter(pk=run.organisation_id)
    else:
        practices = practices.filter(parent_id=run.organisation_id) | practices.filter(
            parent__parent_id=run.organisation_id
        )
    return sorted(practices.values_list("code", flat=True))


def scope_values(run: CalculationRun) -> pd.DataFrame:
    """The current extract values of the run's practices in the engine's layout, read and reduced in one
    pass. Kept on the run object, so the first stage's prevalence and its chunk inputs share one read."""
    cached = getattr(run, "_scope_values", None)
    if cached is None:
        cached = current_extract_values(
            service_year=run.service_year,
            achievement_date=run.achievement_date,
            ruleset=engine_ruleset(run.service_year),
            practice_codes=scope_practice_codes(run),
        )
        run._scope_values = cached
    return cached


def materialise_inputs(run: CalculationRun, commissioner_ids: list[int]) -> None:
    """Leave each chunk of the run its extract values, in the engine's layout, so that chunks read a few
    hundred kilobytes by key instead of unnesting and reducing field rows each. Inputs of runs no longer
    under way (and of an earlier attempt of this one) are deleted first."""
    RunInput.objects.filter(run=run).delete()
    RunInput.objects.exclude(
        run__status__in=[CalculationRun.Status.QUEUED, CalculationRun.Status.RUNNING]
    ).delete()
    values = scope_values(run)
    parents = dict(
        Organisation.objects.filter(
            type=OrganisationType.PRACTICE, parent_id__in=commissioner_ids
        ).values_list("code", "parent_id")
    )
    commissioner = values["practice_code"].map(parents)
    chunks = dict(iter(values.groupby(commissioner, sort=False)))
    empty = values.iloc[:0]
    # Every chunk gets its input, even one whose practices have no values, so none reads the extract again.
    RunInput.objects.bulk_create(
        (
            RunInput(run=run, commissioner_id=pk, values=chunks.get(pk, empty).to_csv(index=False))
            for pk in commissioner_ids
        ),
        batch_size=20,
    )


_INPUT_DTYPES = {
    "practice_code": str,
    "indicator_code": str,
    "register": "Int64",
    "numerator": "Int64",
    "denominator": "Int64",
    "pcas": "Int64",
    "manual_answer": "boolean",
}


def chunk_values(run: CalculationRun, practice_codes: list[str], rules: pd.DataFrame) -> pd.DataFrame:
    """The extract values of these practices: from the inputs the run's first stage left (one query), or
    read from the extract when it left none (a run begun before inputs were materialised)."""
    commissioners = Organisation.objects.filter(code__in=practice_codes).values("parent_id")
    texts = list(
        RunInput.objects.filter(run=run, commissioner_id__in=Subquery(commissioners)).values_list(
            "values", flat=True
        )
    )
    if not texts:
        return current_extract_values(
            service_year=run.service_year,
            achievement_date=run.achievement_date,
            ruleset=rules,
            practice_codes=practice_codes,
        )
    frames = [
        pd.read_csv(io.StringIO(text), dtype=_INPUT_DTYPES, keep_default_na=False, na_values=[""])
        for text in texts
    ]
    if len(frames) == 1:
        values = frames[0]
    else:  # practices of several chunks: in practice order, as the extract reduces them
        values = pd.concat(frames, ignore_index=True).sort_values("practice_code", kind="stable")
    return values[values["practice_code"].isin(practice_codes)].reset_index(drop=True)


def write_prevalence(run: CalculationRun, prevalence: pd.DataFrame) -> None:
    PrevalenceResult.objects.bulk_create(
        PrevalenceResult(
            run=run,
            group_code=row.group_code,
            register_total=int(row.register_total),
            population_total=int(row.population_total),
            # Shown in reports only: APDF and payments use the integer totals, so they stay exact.
            national_prevalence=float(row.national_prevalence),
        )
        for row in prevalence.itertuples()
    )


def frozen_prevalence(prevalence_run_id: int) -> pd.DataFrame:
    rows = PrevalenceResult.objects.filter(run_id=prevalence_run_id).values_list(
        "group_code", "register_total", "population_total", "national_prevalence"
    )
    return pd.DataFrame.from_records(
        list(rows), columns=["group_code", "register_total", "population_total", "national_prevalence"]
    )


def commissioners_to_calculate(run: CalculationRun) -> list[int]:
    """The commissioners of record (practices' parents) whose practices this run covers, one chunk each."""
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    if run.scope == CalculationRun.Scope.PRACTICE:
        practices = practices.filter(pk=run.organisation_id)
    elif run.scope == CalculationRun.Scope.COMMISSIONER:
        practices = practices.filter(parent_id=run.organisation_id) | practices.filter(
            parent__parent_id=run.organisation_id
        )
    return sorted(set(practices.values_list("parent_id", flat=True)))


def practice_codes_in_chunk(run: CalculationRun, commissioner_id: int) -> list[str]:
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE, parent_id=commissioner_id)
    if run.scope == CalculationRun.Scope.PRACTICE:
        practices = practices.filter(pk=run.organisation_id)
    return list(practices.order_by("code").values_list("code", flat=True))


@dataclass(frozen=True)
class ChunkResults:
    indicators: pd.DataFrame  # IndicatorResult columns
    practices: pd.DataFrame  # PracticeResult columns


def calculate_practices(run: CalculationRun, practice_codes: list[str]) -> ChunkResults | None:
    """Achievement, payments and next year's aspiration for these practices, with the run's frozen
    prevalence. None when none of them has extract values (they are not in the service)."""
    rules = engine_ruleset(run.service_year)
    values = chunk_values(run, practice_codes, rules)
    codes = sorted(values["practice_code"].astype(str).unique())
    if not codes:
        return None
    practices = practices_frame(run, codes)
    answers = manual_answers_frame(service_year=run.service_year, practice_codes=codes)
    answers = answers[answers["indicator_code"].isin(rules["indicator_code"])]
    base_points, mapping = base_year_points(run.service_year, rules, codes)
    engine_practices = practices[["practice_code", "list_size_cpi", "list_size_prevalence"]]
    parameters = year_parameters(run.service_year)
    result = calculate_qof(
        rules,
        values,
        engine_practices,
        parameters,
        prevalence=frozen_prevalence(run.prevalence_run_id),
        manual_answers=answers,
        base_year_points=None if base_points is None else base_points,
        indicator_mapping=mapping,
    )
    # 2026/27 on: the vaccination indicators are paid on the higher of two routes (a year-versioned rule).
    result = with_improvement_route(run.service_year, result, rules, engine_practices, parameters)
    ids = dict(zip(practices["practice_code"], practices["practice_id"], strict=True))
    indicators = _indicator_rows(run, result.indicators, ids, base_points, mapping)
    totals = result.practice_totals.merge(practices, on="practice_code")
    aspiration = next_year_aspiration(run.service_year, result.practice_totals)
    return ChunkResults(indicators=indicators, practices=_practice_rows(run, totals, aspiration))


def base_year_points(
    service_year: ServiceYear, rules: pd.DataFrame, practice_codes: list[str]
) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """Published base-year results of the income-protected indicators for these practices (one query), and
    this year's code → base year's code where it changed."""
    if (
        "income_protected" not in rules
        or not rules["income_protected"].any()
        or not service_year.base_year_id
    ):
        return None, {}
    mapping = {
        code: base
        for code, base in Indicator.objects.filter(
            service_year_id=service_year.pk, income_protected=True
        ).values_list("code", "base_indicator_code")
        if base and base != code
    }
    base_year = service_year.base_year
    publication = Publication.objects.filter(
        service_year_id=base_year.pk, achievement_date=base_year.end_date
    ).first()
    columns = [
        "practice_code",
        "indicator_code",
        "achieved_points",
        "numerator",
        "denominator",
        "achievement",
    ]
    if publication is None:
        return pd.DataFrame(columns=columns), mapping
    protected = rules.loc[rules["income_protected"], "indicator_code"]
    rows = (
        published_indicator_results(publication.run_id)
        .filter(indicator_code__in=[mapping.get(code, code) for code in protected])
        .filter(practice__code__in=practice_codes)
        .values_list("practice__code", "indicator_code", "points", "numerator", "denominator", "achievement")
    )
    return pd.DataFrame.from_records(list(rows), columns=columns), mapping


def next_year_aspiration(service_year: ServiceYear, practice_totals: pd.DataFrame) -> pd.DataFrame | None:
    """Monthly payments on account for the next year (DOMAIN.md §4.9), by the rule in force for that
    year; None when that year (or, for the historical points rule, its list sizes) is not known yet.

    practice_totals: practice_code, payment_pence (the money base) and points_hundredths."""
    following = ServiceYear.objects.filter(
        service_id=service_year.service_id, financial_year=service_year.financial_year + 1
    ).first()
    if following is None:
        return None
    rule = aspiration_rule_for(following.financial_year)
    if rule == MONEY_BASE:
        return calculate_aspiration(
            practice_totals[["practice_code", "payment_pence"]],
            rate=following.aspiration_rate,
            point_value=following.point_value,
            previous_point_value=service_year.point_value,
        )
    if not following.national_average_list_size:
        return None
    sizes = latest_list_sizes({"list_size_cpi": cpi_list_date(following)}, practice_totals["practice_code"])
    sizes = sizes.dropna(subset=["list_size_cpi"]).astype({"list_size_cpi": np.int64})
    return calculate_aspiration(
        practice_totals[["practice_code", "points_hundredths"]],
        rule=rule,
        rate=following.aspiration_rate,
        point_value=following.point_value,
        next_year_practices=sizes[["practice_code", "list_size_cpi"]],
        average_list_size=Decimal(following.national_average_list_size),
    )


def _indicator_rows(
    run: CalculationRun,
    indicators: pd.DataFrame,
    ids: dict[str, int],
    base_points: pd.DataFrame | None,
    mapping: dict[str, str],
) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "run_id": run.pk,
            "practice_id": indicators["practice_code"].map(ids).to_numpy(dtype=np.int64),
            "indicator_code": indicators["indicator_code"].to_numpy(dtype=object),
            "register": indicators["register"],
            "numerator": indicators["numerator"],
            "denominator": indicators["denominator"],
            "pcas": indicators["pcas"],
            "pca_rate": indicators["pca_rate"],
            "achievement": indicators["achievement"],
            "manual_answer": indicators["manual_answer"],
            "points": format_hundredths(indicators["points_hundredths"].to_numpy()),
            "cpi": indicators["cpi"].to_numpy(dtype=float),
            "apdf": indicators["apdf"].to_numpy(dtype=float),
            "payment": format_hundredths(indicators["payment_pence"].to_numpy()),
            "income_protected": indicators["income_protected"].to_numpy(dtype=bool),
        }
    )
    base = pd.DataFrame(
        {
            "practice_code": indicators["practice_code"].to_numpy(dtype=object),
            "base_code": indicators["indicator_code"].map(lambda code: mapping.get(code, code)),
        }
    )
    if base_points is not None and len(base_points):
        figures = base_points.rename(
            columns={
                "indicator_code": "base_code",
                "numerator": "base_numerator",
                "denominator": "base_denominator",
                "achievement": "base_achievement",
            }
        ).drop(columns="achieved_points")
        base = base.merge(figures, on=["practice_code", "base_code"], how="left")
    else:
        base = base.assign(base_numerator=None, base_denominator=None, base_achievement=None)
    protected = rows["income_protected"].to_numpy()
    for column in ("base_numerator", "base_denominator"):
        rows[column] = pd.array(np.where(protected, base[column], None), dtype="Int64")
    rows["base_achievement"] = pd.array(np.where(protected, base["base_achievement"], None), dtype="Float64")
    return rows


def _practice_rows(
    run: CalculationRun, totals: pd.DataFrame, aspiration: pd.DataFrame | None
) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "run_id": run.pk,
            "practice_id": totals["practice_id"].to_numpy(dtype=np.int64),
            "indicator_run_id": run.pk,
            "list_size_cpi": totals["list_size_cpi"].to_numpy(dtype=np.int64),
            "list_size_prevalence": totals["list_size_prevalence"].to_numpy(dtype=np.int64),
            "points": format_hundredths(totals["points_hundredths"].to_numpy()),
            "payment": format_hundredths(totals["payment_pence"].to_numpy()),
        }
    )
    money = {"annual_pence": "aspiration_annual", "monthly_pence": "aspiration_monthly"}
    money["last_month_pence"] = "aspiration_last_month"
    if aspiration is None:
        return rows.assign(**dict.fromkeys(money.values()))
    joined = totals[["practice_code"]].merge(aspiration, on="practice_code", how="left")
    for pence, column in money.items():
        known = joined[pence].notna().to_numpy()
        text = np.full(len(joined), None, dtype=object)
        text[known] = format_hundredths(joined.loc[known, pence].to_numpy(dtype=np.int64))
        rows[column] = text
    return rows


def write_results(results: ChunkResults) -> None:
    insert_frame(IndicatorResult, results.indicators)
    insert_frame(PracticeResult, results.practices)


def insert_frame(model, frame: pd.DataFrame) -> None:
    """Insert a frame whose columns are the model's column names, in bulk, inside the caller's transaction."""
    if frame.empty:
        return
    if connection.vendor == "postgresql":
        buffer = io.StringIO()
        frame.to_csv(buffer, header=False, index=False, na_rep="")
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY {model._meta.db_table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)",
                buffer,
            )
        return
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    model.objects.bulk_create((model(**record) for record in records), batch_size=INSERT_BATCH_ROWS)


def carry_forward_practices(run: CalculationRun, published_run_id: int, practices=None) -> int:
    """Give a partial run a row for every practice of the run it replaces that it did not recalculate (or
    only for `practices`, ids), so that publishing it shows every practice. Copies ~6,400 small rows;
    indicator rows stay where they are."""
    recalculated = PracticeResult.objects.filter(run_id=run.pk).values("practice_id")
    carried = PracticeResult.objects.filter(run_id=published_run_id).exclude(practice_id__in=recalculated)
    if practices is not None:
        carried = carried.filter(practice_id__in=practices)
    fields = [
        "practice_id", "indicator_run_id", "list_size_cpi", "list_size_prevalence", "points", "payment",
        "aspiration_annual", "aspiration_monthly", "aspiration_last_month",
    ]  # fmt: skip
    rows = [dict(zip(fields, values, strict=True)) for values in carried.values_list(*fields)]
    PracticeResult.objects.bulk_create(
        (PracticeResult(run_id=run.pk, **row) for row in rows), batch_size=INSERT_BATCH_ROWS
    )
    return len(rows)
