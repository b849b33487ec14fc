"""A calculation run's work: inputs loaded in bulk into frames, the engine called, results written in bulk.

Nothing here decides a run's state; `actions` does, around these functions. Each loader is one query per
table, whatever the number of practices. Results go in with `COPY` on PostgreSQL and large `bulk_create`
batches elsewhere (the embedded demo).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import Q, Subquery

from accounts.bulk import copy_frame
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
from extracts.models import CurrentSubmission
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
    current = CurrentSubmission.objects.filter(
        service_year_id=run.service_year_id, achievement_date=run.achievement_date
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


def materialise_inputs(run: CalculationRun, chunks: list[list[int]]) -> None:
    """Leave each commissioner of the run its inputs: its extract values in the engine's layout and the
    run's other inputs for its practices, prepared once for the whole scope (`practice_inputs`), so that a
    chunk reads them in one query instead of unnesting field rows and querying list sizes, answers,
    base-year points and prevalence each. Inputs of runs no longer under way (and of an earlier attempt of
    this one) are deleted first."""
    RunInput.objects.filter(run=run).delete()
    RunInput.objects.exclude(
        run__status__in=[CalculationRun.Status.QUEUED, CalculationRun.Status.RUNNING]
    ).delete()
    values = scope_values(run)
    lead = {pk: chunk[0] for chunk in chunks for pk in chunk}
    parents = dict(
        Organisation.objects.filter(type=OrganisationType.PRACTICE, parent_id__in=list(lead)).values_list(
            "code", "parent_id"
        )
    )
    codes = sorted(values["practice_code"].unique())
    prepared = {}
    if codes:
        inputs = practice_inputs(run, codes, engine_ruleset(run.service_year))
        prepared = _prepared_by_commissioner(inputs, parents)
    commissioner = values["practice_code"].map(parents)
    slices = dict(iter(values.groupby(commissioner, sort=False)))
    empty = values.iloc[:0]
    # Every commissioner gets its input, even one whose practices have no values, so no chunk reads the
    # extract again.
    RunInput.objects.bulk_create(
        (
            RunInput(
                run=run,
                commissioner_id=pk,
                chunk=lead[pk],
                values=_arrow_bytes(slices.get(pk, empty)),
                prepared=prepared.get(pk),
            )
            for pk in lead
        ),
        batch_size=20,
    )


def _arrow_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_feather(buffer, compression="zstd")
    return buffer.getvalue()


BASE_POINTS_COLUMNS = [
    "practice_code",
    "indicator_code",
    "achieved_points",
    "numerator",
    "denominator",
    "achievement",
]
PREVALENCE_COLUMNS = ["group_code", "register_total", "population_total", "national_prevalence"]
# The prepared inputs a RunInput carries, as records of these columns (JSON values; points as text).
PREPARED_COLUMNS = {
    "practices": ["practice_code", "practice_id", "list_size_cpi", "list_size_prevalence"],
    "answers": ["practice_code", "indicator_code", "answer"],
    "base_points": BASE_POINTS_COLUMNS,
    "next_year_sizes": ["practice_code", "practice_id", "list_size_cpi"],
}


@dataclass(frozen=True)
class PracticeInputs:
    """Everything but the extract values that a set of practices is calculated from."""

    practices: pd.DataFrame  # practice_code, practice_id, list_size_cpi, list_size_prevalence
    answers: pd.DataFrame  # practice_code, indicator_code, answer: the ruleset's indicators only
    base_points: pd.DataFrame | None  # BASE_POINTS_COLUMNS; None: no income protection this year
    mapping: dict[str, str]  # this year's indicator code → the base year's, where it changed
    prevalence: pd.DataFrame  # the frozen national prevalence, PREVALENCE_COLUMNS
    # Next year's CPI list sizes (latest_list_sizes) when next year's aspiration is paid on points.
    next_year_sizes: pd.DataFrame | None

    def of(self, codes) -> PracticeInputs:
        """These inputs for some of their practices only."""

        def rows(frame):
            return None if frame is None else frame[frame["practice_code"].isin(codes)].reset_index(drop=True)

        return PracticeInputs(
            practices=rows(self.practices),
            answers=rows(self.answers),
            base_points=rows(self.base_points),
            mapping=self.mapping,
            prevalence=self.prevalence,
            next_year_sizes=rows(self.next_year_sizes),
        )


def practice_inputs(run: CalculationRun, codes: list[str], rules: pd.DataFrame) -> PracticeInputs:
    """The list sizes, manual answers, base-year points, frozen prevalence and next year's list sizes of
    these practices: one query each, whatever the number of practices. A practice without both list sizes
    fails the run, naming it (practices_frame)."""
    answers = manual_answers_frame(service_year=run.service_year, practice_codes=codes)
    base_points, mapping = base_year_points(run.service_year, rules, codes)
    following = _following_year(run.service_year)
    next_year_sizes = None
    if following is not None and _aspiration_on_points(following):
        next_year_sizes = latest_list_sizes({"list_size_cpi": cpi_list_date(following)}, codes)
    return PracticeInputs(
        practices=practices_frame(run, codes),
        answers=answers[answers["indicator_code"].isin(rules["indicator_code"])].reset_index(drop=True),
        base_points=base_points,
        mapping=mapping,
        prevalence=frozen_prevalence(run.prevalence_run_id),
        next_year_sizes=next_year_sizes,
    )


def _prepared_by_commissioner(inputs: PracticeInputs, parents: dict[str, int]) -> dict[int, dict]:
    """Each commissioner's share of `inputs` as JSON: records per input, split by the practices' parent."""
    shared = {
        "mapping": inputs.mapping,
        "prevalence": _records(inputs.prevalence, PREVALENCE_COLUMNS),
        "base_points": None,
        "next_year_sizes": None,
    }
    prepared = {pk: dict(shared) for pk in set(parents.values())}
    for name, columns in PREPARED_COLUMNS.items():
        frame = getattr(inputs, name)
        if frame is None:
            continue
        for pk in prepared:
            prepared[pk][name] = []
        for pk, rows in frame.groupby(frame["practice_code"].map(parents), sort=False):
            prepared[int(pk)][name] = _records(rows, columns)
    return prepared


def _records(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Rows as plain JSON values: None for missing, Decimal points as text (read back exactly)."""

    def plain(value):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, np.bool_ | bool):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        return value

    return [[plain(value) for value in row] for row in frame[columns].itertuples(index=False, name=None)]


def _prepared_inputs(prepared: list[dict]) -> PracticeInputs:
    """The PracticeInputs of several commissioners' prepared JSON, built as the queries build them."""

    def frame(name, columns):
        if prepared[0][name] is None:
            return None
        return pd.DataFrame.from_records([row for one in prepared for row in one[name]], columns=columns)

    practices = frame("practices", PREPARED_COLUMNS["practices"]).astype(
        {"practice_id": np.int64, "list_size_cpi": np.int64, "list_size_prevalence": np.int64}
    )
    answers = frame("answers", PREPARED_COLUMNS["answers"]).astype(
        {"practice_code": object, "indicator_code": object, "answer": bool}
    )
    base_points = frame("base_points", BASE_POINTS_COLUMNS)
    if base_points is not None:
        points = [None if value is None else Decimal(value) for value in base_points["achieved_points"]]
        base_points["achieved_points"] = pd.Series(points, index=base_points.index, dtype=object)
    next_year_sizes = frame("next_year_sizes", PREPARED_COLUMNS["next_year_sizes"])
    if next_year_sizes is not None:
        next_year_sizes = next_year_sizes.astype({"list_size_cpi": "Int64"})
    return PracticeInputs(
        practices=practices,
        answers=answers,
        base_points=base_points,
        mapping=prepared[0]["mapping"],
        prevalence=pd.DataFrame.from_records(prepared[0]["prevalence"], columns=PREVALENCE_COLUMNS),
        next_year_sizes=next_year_sizes,
    )


@dataclass(frozen=True)
class ChunkInputs:
    values: pd.DataFrame  # the engine's values layout
    prepared: PracticeInputs | None  # None: left by no first stage; the chunk queries them itself


def chunk_inputs(run: CalculationRun, practice_codes: list[str], rules: pd.DataFrame) -> ChunkInputs:
    """The extract values of these practices, and their other inputs where prepared: from the inputs the
    run's first stage left (one query), or read from the extract when it left none (a run begun before
    inputs were materialised)."""
    commissioners = Organisation.objects.filter(code__in=practice_codes).values("parent_id")
    rows = list(
        RunInput.objects.filter(run=run, commissioner_id__in=Subquery(commissioners))
        .order_by("commissioner_id")
        .values_list("values", "prepared")
    )
    if not rows:
        values = current_extract_values(
            service_year=run.service_year,
            achievement_date=run.achievement_date,
            ruleset=rules,
            practice_codes=practice_codes,
        )
        return ChunkInputs(values=values, prepared=None)
    frames = [pd.read_feather(io.BytesIO(blob)) for blob, _ in rows]
    if len(frames) == 1:
        values = frames[0]
    else:  # practices of several commissioners: in practice order, as the extract reduces them
        values = pd.concat(frames, ignore_index=True).sort_values("practice_code", kind="stable")
    values = values[values["practice_code"].isin(practice_codes)].reset_index(drop=True)
    prepared = [one for _, one in rows if one is not None]
    if len(prepared) != len(rows):
        return ChunkInputs(values=values, prepared=None)
    return ChunkInputs(values=values, prepared=_prepared_inputs(prepared))


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
    rows = PrevalenceResult.objects.filter(run_id=prevalence_run_id).values_list(*PREVALENCE_COLUMNS)
    return pd.DataFrame.from_records(list(rows), columns=PREVALENCE_COLUMNS)


def _practices_counted(run: CalculationRun) -> Counter:
    """How many of the run's practices each commissioner of record (a practice's parent) holds."""
    practices = Organisation.objects.filter(type=OrganisationType.PRACTICE)
    if run.scope == CalculationRun.Scope.PRACTICE:
        practices = practices.filter(pk=run.organisation_id)
    elif run.scope == CalculationRun.Scope.COMMISSIONER:
        practices = practices.filter(parent_id=run.organisation_id) | practices.filter(
            parent__parent_id=run.organisation_id
        )
    return Counter(practices.values_list("parent_id", flat=True))


def commissioners_to_calculate(run: CalculationRun) -> list[int]:
    """The commissioners of record (practices' parents) whose practices this run covers."""
    return sorted(_practices_counted(run))


def commissioner_chunks(run: CalculationRun) -> list[list[int]]:
    """The run's commissioners in chunks of whole commissioners holding at least CALCULATION_CHUNK_PRACTICES
    practices each (the last may hold fewer): one task per chunk."""
    counts = _practices_counted(run)
    chunks, chunk, size = [], [], 0
    for pk in sorted(counts):
        chunk.append(pk)
        size += counts[pk]
        if size >= settings.CALCULATION_CHUNK_PRACTICES:
            chunks.append(chunk)
            chunk, size = [], 0
    return [*chunks, chunk] if chunk else chunks


def practice_codes_in_chunk(run: CalculationRun, commissioner_id: int) -> list[str]:
    """The practices of the chunk named by its first commissioner: of every commissioner whose inputs say
    so, and of that one (a chunk of one, for a run whose first stage left no inputs)."""
    members = RunInput.objects.filter(run=run, chunk=commissioner_id).values("commissioner_id")
    practices = Organisation.objects.filter(
        Q(parent_id=commissioner_id) | Q(parent_id__in=Subquery(members)), type=OrganisationType.PRACTICE
    )
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
    chunk = chunk_inputs(run, practice_codes, rules)
    values = chunk.values
    codes = sorted(values["practice_code"].astype(str).unique())
    if not codes:
        return None
    # Prepared by the first stage; a chunk of a run begun before that queries them itself.
    inputs = practice_inputs(run, codes, rules) if chunk.prepared is None else chunk.prepared.of(codes)
    practices, base_points, mapping = inputs.practices, inputs.base_points, inputs.mapping
    engine_practices = practices[["practice_code", "list_size_cpi", "list_size_prevalence"]]
    parameters = year_parameters(run.service_year)
    result = calculate_qof(
        rules,
        values,
        engine_practices,
        parameters,
        prevalence=inputs.prevalence,
        manual_answers=inputs.answers,
        base_year_points=base_points,
        indicator_mapping=mapping,
    )
    # 2026/27 on: the vaccination indicators are paid on the higher of two routes (a year-versioned rule).
    result = with_improvement_route(run.service_year, result, rules, engine_practices, parameters)
    ids = dict(zip(practices["practice_code"], practices["practice_id"], strict=True))
    indicators = _indicator_rows(run, result.indicators, ids, base_points, mapping)
    totals = result.practice_totals.merge(practices, on="practice_code")
    aspiration = next_year_aspiration(run.service_year, result.practice_totals, inputs.next_year_sizes)
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
    columns = BASE_POINTS_COLUMNS
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


def _following_year(service_year: ServiceYear) -> ServiceYear | None:
    return ServiceYear.objects.filter(
        service_id=service_year.service_id, financial_year=service_year.financial_year + 1
    ).first()


def _aspiration_on_points(following: ServiceYear) -> bool:
    """Whether next year's aspiration is paid by a points rule, from next year's list sizes."""
    return aspiration_rule_for(following.financial_year) != MONEY_BASE and bool(
        following.national_average_list_size
    )


def next_year_aspiration(
    service_year: ServiceYear, practice_totals: pd.DataFrame, next_year_sizes: pd.DataFrame | None = None
) -> pd.DataFrame | None:
    """Monthly payments on account for the next year (DOMAIN.md §4.9), by the rule in force for that
    year; None when that year (or, for the historical points rule, its list sizes) is not known yet.

    practice_totals: practice_code, payment_pence (the money base) and points_hundredths. next_year_sizes:
    next year's CPI list sizes of these practices when already read (PracticeInputs), else one query."""
    following = _following_year(service_year)
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
    sizes = next_year_sizes
    if sizes is None:
        sizes = latest_list_sizes(
            {"list_size_cpi": cpi_list_date(following)}, practice_totals["practice_code"]
        )
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
        with connection.cursor() as cursor:
            copy_frame(cursor, model._meta.db_table, frame)
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
