"""Storing a validated extract's field rows in bulk, and reading the current ones back.

The rows go into a temporary staging table — by `COPY` on PostgreSQL, by large batched inserts on SQLite
(the embedded demo) — and everything after that is a fixed handful of set-based statements shared by both
databases, so the number of queries never depends on the number of rows.

Supersession (docs/adr/0005-extracts-and-manual-entry.md): a practice × indicator submission in the new file
replaces every current value held for that practice, indicator and achievement date, unless the held one was
submitted later (by SUBMIT_DATE/SUBMIT_TIME); then the incoming rows are stored already superseded by the
held extract. Rows marked LAST_SUBMISSION = N are stored superseded by their own extract.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from .models import Extract, ExtractValue

# Table names below are these constants and Django's own db_table, never input: hence the S608 waivers.
STAGING = "achievement_extract_staging"
OUTCOME = "achievement_extract_outcome"
COPY_CHUNK_ROWS = 500_000
INSERT_BATCH_ROWS = 20_000
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_STAGING_COLUMNS = {
    # column: (PostgreSQL type, SQLite type)
    "practice_id": ("bigint", "integer"),
    "indicator_code": ("varchar(20)", "text"),
    "field_name": ("varchar(80)", "text"),
    "value": ("bigint", "integer"),
    "submitted_at": ("timestamptz", "text"),
    "is_current": ("boolean", "integer"),
}


@dataclass(frozen=True)
class StoreOutcome:
    superseded_row_count: int
    # Practice × indicator submissions older than the values already held, stored as superseded.
    older_submission_count: int


def store_fields(*, extract: Extract, fields: pd.DataFrame, practice_ids: dict[str, int]) -> StoreOutcome:
    """Stage, supersede and insert `fields` (an engine `Extract.fields` frame) as values of `extract`.

    Must run inside the caller's transaction, holding the service year's lock, so that two loads for one
    year and date cannot interleave.
    """
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        _drop_scratch(cursor)
        columns = ", ".join(
            f"{name} {types[0 if postgres else 1]}" for name, types in _STAGING_COLUMNS.items()
        )
        cursor.execute(f"CREATE TEMPORARY TABLE {STAGING} ({columns})")
        staged = _staging_frame(fields, practice_ids)
        if postgres:
            # Memory for the hash joins and aggregates over millions of staged rows; and no wait for the WAL
            # flush at commit: a load lost to a crash in that instant is simply loaded again (same checksum).
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL synchronous_commit = off")
            _copy_into_staging(cursor, staged)
            cursor.execute(f"ANALYZE {STAGING}")
        else:
            _insert_into_staging(cursor, staged)
        outcome = _supersede_and_insert(cursor, extract=extract, postgres=postgres)
        _drop_scratch(cursor)
    return outcome


def _drop_scratch(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
    cursor.execute(f"DROP TABLE IF EXISTS {OUTCOME}")


def _staging_frame(fields: pd.DataFrame, practice_ids: dict[str, int]) -> pd.DataFrame:
    practice = pd.Categorical(fields["practice_code"])
    ids_of_categories = np.array([practice_ids[code] for code in practice.categories], dtype=np.int64)
    return pd.DataFrame(
        {
            "practice_id": ids_of_categories[practice.codes] if len(fields) else np.array([], dtype=np.int64),
            "indicator_code": fields["indicator_code"],
            "field_name": fields["field_name"],
            "value": fields["value"].to_numpy(dtype=np.int64),
            "submitted_at": _aware_submission_times(fields["submitted_at"]),
            "is_current": fields["last_submission"].to_numpy(dtype=bool),
        }
    )


def _aware_submission_times(naive: pd.Series) -> pd.Series:
    """SUBMIT_DATE and SUBMIT_TIME are English wall-clock times; the hour lost to the clocks going forward is
    moved on, and the doubled hour is unknowable, so it becomes unknown."""
    times = pd.to_datetime(naive)
    if times.dt.tz is None:
        times = times.dt.tz_localize(settings.TIME_ZONE, ambiguous="NaT", nonexistent="shift_forward")
    return times.dt.tz_convert("UTC")


def _copy_into_staging(cursor, staged: pd.DataFrame) -> None:
    raw = cursor.cursor  # Django's wrapper hides psycopg2's copy_expert
    sql = f"COPY {STAGING} ({', '.join(_STAGING_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
    staged = staged.assign(submitted_at=_formatted_once(staged["submitted_at"], "%Y-%m-%d %H:%M:%S+00"))
    for start in range(0, len(staged), COPY_CHUNK_ROWS):
        buffer = io.StringIO()
        staged.iloc[start : start + COPY_CHUNK_ROWS].to_csv(buffer, header=False, index=False)
        buffer.seek(0)
        raw.copy_expert(sql, buffer)


def _formatted_once(times: pd.Series, format: str) -> pd.Categorical:
    """Times as text, formatting each distinct time once (an extract has a handful among millions of rows)."""
    codes, distinct = pd.factorize(times)
    return (
        pd.Categorical.from_codes(codes, categories=distinct.strftime(format))
        if len(distinct)
        else (pd.Categorical([None] * len(times)))
    )


def _insert_into_staging(cursor, staged: pd.DataFrame) -> None:
    # Django stores SQLite datetimes as naive UTC text.
    times = _formatted_once(staged["submitted_at"], SQLITE_DATETIME_FORMAT)
    rows = zip(
        staged["practice_id"].tolist(),
        staged["indicator_code"].astype(str).tolist(),
        staged["field_name"].astype(str).tolist(),
        staged["value"].tolist(),
        pd.Series(times).astype(object).where(pd.notna(times), None).tolist(),
        staged["is_current"].astype(int).tolist(),
        strict=True,
    )
    placeholders = ", ".join(["%s"] * len(_STAGING_COLUMNS))
    sql = f"INSERT INTO {STAGING} ({', '.join(_STAGING_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_BATCH_ROWS:
            cursor.executemany(sql, batch)
            batch = []
    if batch:
        cursor.executemany(sql, batch)


def _supersede_and_insert(cursor, *, extract: Extract, postgres: bool) -> StoreOutcome:
    values = ExtractValue._meta.db_table
    operations = connection.ops
    date = operations.adapt_datefield_value(extract.achievement_date)
    year = extract.service_year_id
    # Per incoming practice × indicator: the extract whose current values it meets (if any), and that
    # extract again when those values were submitted later than the incoming ones (so they stay current).
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {OUTCOME} AS
        SELECT incoming.practice_id, incoming.indicator_code, held.extract_id AS held_extract_id,
               CASE WHEN held.submitted_at > incoming.submitted_at THEN held.extract_id END AS kept_extract_id
        FROM (
            SELECT practice_id, indicator_code, MAX(submitted_at) AS submitted_at
            FROM {STAGING} WHERE is_current GROUP BY practice_id, indicator_code
        ) AS incoming
        LEFT JOIN (
            SELECT v.practice_id, v.indicator_code, MIN(v.extract_id) AS extract_id,
                   MAX(v.submitted_at) AS submitted_at
            FROM {values} AS v
            WHERE v.service_year_id = %s AND v.achievement_date = %s AND v.superseded_by_id IS NULL
            GROUP BY v.practice_id, v.indicator_code
        ) AS held
        ON held.practice_id = incoming.practice_id AND held.indicator_code = incoming.indicator_code
        """,  # noqa: S608
        [year, date],
    )
    if postgres:
        cursor.execute(f"ANALYZE {OUTCOME}")
    cursor.execute(f"SELECT COUNT(*) FROM {OUTCOME} WHERE kept_extract_id IS NOT NULL")  # noqa: S608
    older_submissions = cursor.fetchone()[0]
    cursor.execute(
        f"""
        UPDATE {values} SET superseded_by_id = %s
        WHERE service_year_id = %s AND achievement_date = %s AND superseded_by_id IS NULL
          AND EXISTS (
            SELECT 1 FROM {OUTCOME} AS o
            WHERE o.practice_id = {values}.practice_id AND o.indicator_code = {values}.indicator_code
              AND o.held_extract_id IS NOT NULL AND o.kept_extract_id IS NULL
          )
        """,  # noqa: S608
        [extract.pk, year, date],
    )
    superseded = cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO {values} (extract_id, service_year_id, achievement_date, practice_id, indicator_code,
                              field_name, value, submitted_at, superseded_by_id)
        SELECT %s, %s, %s, s.practice_id, s.indicator_code, s.field_name, s.value, s.submitted_at,
               CASE WHEN s.is_current THEN o.kept_extract_id ELSE %s END
        FROM {STAGING} AS s
        LEFT JOIN {OUTCOME} AS o ON o.practice_id = s.practice_id AND o.indicator_code = s.indicator_code
        """,  # noqa: S608
        [extract.pk, year, date, extract.pk],
    )
    return StoreOutcome(superseded_row_count=superseded, older_submission_count=older_submissions)


def current_field_rows(*, service_year_id: int, achievement_date, practice_codes=None) -> pd.DataFrame:
    """The current stored values of a year and date as practice_code, indicator_code, field_name, value, in
    one query; streamed out with `COPY … TO STDOUT` on PostgreSQL."""
    rows = ExtractValue.objects.filter(
        service_year_id=service_year_id, achievement_date=achievement_date, superseded_by__isnull=True
    )
    if practice_codes is not None:
        rows = rows.filter(practice__code__in=list(practice_codes))
    rows = rows.values_list("practice__code", "indicator_code", "field_name", "value")
    columns = ["practice_code", "indicator_code", "field_name", "value"]
    if connection.vendor == "postgresql":
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            raw = cursor.cursor
            buffer = io.BytesIO()
            raw.copy_expert(f"COPY ({raw.mogrify(sql, params).decode()}) TO STDOUT WITH (FORMAT csv)", buffer)
        if not buffer.tell():
            return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
        buffer.seek(0)
        return pd.read_csv(
            buffer,
            names=columns,
            dtype={"practice_code": "category", "indicator_code": "category", "field_name": "category"},
            keep_default_na=False,
            na_filter=False,
        ).astype({"value": np.int64})
    return pd.DataFrame.from_records(list(rows), columns=columns)
