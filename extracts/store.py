"""Storing a validated extract as practice × indicator submissions in bulk, and reading the current ones back.

A submission row holds every field row of one practice × indicator submission ([line, FIELD_NAME, VALUE],
JSON), so a national extract is under half a million rows rather than 3.5 million (docs/adr/0010). The rows
are built in one pass over the sorted field rows and written by `COPY` on PostgreSQL, by batched inserts on
SQLite (the embedded demo); supersession is a fixed handful of set-based statements over a staging table of
the incoming submissions' keys, so the number of queries never depends on the number of rows.

Supersession (docs/adr/0005-extracts-and-manual-entry.md): a practice × indicator submission in the new file
replaces the current submission held for that practice, indicator and achievement date, unless the held one
was submitted later (by SUBMIT_DATE/SUBMIT_TIME); then the incoming one is stored already superseded by the
held extract. Submissions marked LAST_SUBMISSION = N are stored superseded by their own extract.
"""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from .models import Extract, ExtractSubmission

# Table names below are these constants and Django's own db_table, never input: hence the S608 waivers.
STAGING = "extract_submission_staging"
OUTCOME = "extract_submission_outcome"
COPY_CHUNK_ROWS = 100_000
INSERT_BATCH_ROWS = 5_000
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
POSTGRES_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S+00"

_STAGING_COLUMNS = {
    # column: (PostgreSQL type, SQLite type)
    "practice_id": ("bigint", "integer"),
    "indicator_code": ("varchar(40)", "text"),
    "submitted_at": ("timestamptz", "text"),
}
_STORED_COLUMNS = (
    "extract_id",
    "service_year_id",
    "achievement_date",
    "practice_id",
    "indicator_code",
    "submitted_at",
    "last_submission",
    "fields",
    "field_count",
    "superseded_by_id",
)


@dataclass(frozen=True)
class StoreOutcome:
    # Field values of earlier extracts that this one superseded.
    superseded_row_count: int
    # Practice × indicator submissions older than the values already held, stored as superseded.
    older_submission_count: int


def store_fields(*, extract: Extract, fields: pd.DataFrame, practice_ids: dict[str, int]) -> StoreOutcome:
    """Group `fields` (an engine `Extract.fields` frame) into submissions, supersede, and store them as
    `extract`'s.

    Must run inside the caller's transaction, holding the service year's lock, so that two loads for one
    year and date cannot interleave.
    """
    postgres = connection.vendor == "postgresql"
    submissions = submissions_frame(fields, practice_ids)
    current = submissions[submissions["last_submission"]]
    with connection.cursor() as cursor:
        if postgres:
            # Memory for the hash joins over half a million keys; and no wait for the WAL flush at commit: a
            # load lost to a crash in that instant is simply loaded again (same checksum).
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL synchronous_commit = off")
        kept, superseded = _supersede(cursor, extract=extract, current=current, postgres=postgres)
        superseded_by = np.where(submissions["last_submission"].to_numpy(), None, extract.pk).astype(object)
        if len(kept):
            held = submissions[["practice_id", "indicator_code"]].merge(
                kept, on=["practice_id", "indicator_code"], how="left"
            )["kept_extract_id"]
            older = submissions["last_submission"].to_numpy() & held.notna().to_numpy()
            superseded_by[older] = held.to_numpy()[older].astype(np.int64)
        submissions["superseded_by_id"] = superseded_by
        if postgres:
            _copy_submissions(cursor, extract, submissions)
        else:
            _insert_submissions(cursor, extract, submissions)
    return StoreOutcome(superseded_row_count=superseded, older_submission_count=len(kept))


def submissions_frame(fields: pd.DataFrame, practice_ids: dict[str, int]) -> pd.DataFrame:
    """One row per submission: practice_id, indicator_code, submitted_at (aware UTC), last_submission,
    fields (JSON text of [line, FIELD_NAME, VALUE] in file order) and field_count.

    A practice × indicator has one current submission (its LAST_SUBMISSION = Y rows, dated by the latest of
    their times) and any number of older ones (N rows), told apart by their submission time. The JSON is
    built in one pass over the sorted rows, each field name encoded once.
    """
    count = len(fields)
    practice = pd.Categorical(fields["practice_code"])
    ids_of_categories = np.array([practice_ids[code] for code in practice.categories], dtype=np.int64)
    indicator = pd.Categorical(fields["indicator_code"])
    current = fields["last_submission"].to_numpy(dtype=bool)
    # Naive UTC nanoseconds, NaT (the smallest int64) where unknown: so a maximum ignores unknown times. An
    # extract has a handful of distinct times among millions of rows: each is converted once.
    time_code, distinct = pd.factorize(pd.to_datetime(fields["submitted_at"]))
    utc = _aware_submission_times(pd.Series(distinct, dtype="datetime64[ns]")).dt.tz_localize(None)
    times = np.append(utc.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))[time_code]
    # Current rows form one submission whatever their times; older rows one per distinct time.
    time_code = np.where(current, -2, time_code)
    lines = fields["line"].to_numpy(dtype=np.int64)
    order = np.lexsort((lines, time_code, ~current, indicator.codes, practice.codes))
    keys = np.stack([practice.codes[order], indicator.codes[order], current[order], time_code[order]]).astype(
        np.int64
    )
    starts = (
        np.flatnonzero(np.r_[True, (keys[:, 1:] != keys[:, :-1]).any(axis=0)]) if count else np.array([], int)
    )

    name = pd.Categorical(fields["field_name"])
    encoded_names = np.array([json.dumps(str(n)) for n in name.categories], dtype=object)
    elements = [
        f"[{line},{encoded},{value}]"
        for line, encoded, value in zip(
            lines[order].tolist(),
            encoded_names[name.codes[order]].tolist(),
            fields["value"].to_numpy(dtype=np.int64)[order].tolist(),
            strict=True,
        )
    ]
    bounds = np.r_[starts, count].tolist()
    joined = ["[" + ",".join(elements[a:b]) + "]" for a, b in itertools.pairwise(bounds)]
    del elements
    first = order[starts]
    submission_times = (
        np.maximum.reduceat(times.view(np.int64)[order], starts).view("datetime64[ns]")
        if count
        else np.array([], dtype="datetime64[ns]")
    )
    return pd.DataFrame(
        {
            "practice_id": ids_of_categories[practice.codes[first]] if count else np.array([], np.int64),
            "indicator_code": indicator.categories.to_numpy(dtype=object)[indicator.codes[first]],
            "submitted_at": submission_times,
            "last_submission": current[first],
            "fields": pd.Series(joined, dtype=object),
            "field_count": np.diff(np.r_[starts, count]).astype(np.int64),
        }
    )


def _aware_submission_times(naive: pd.Series) -> pd.Series:
    """SUBMIT_DATE and SUBMIT_TIME are English wall-clock times; the hour lost to the clocks going forward is
    moved on, and the doubled hour is unknowable, so it becomes unknown."""
    times = pd.to_datetime(naive)
    if times.dt.tz is None:
        times = times.dt.tz_localize(settings.TIME_ZONE, ambiguous="NaT", nonexistent="shift_forward")
    return times.dt.tz_convert("UTC")


def _formatted_once(times, format: str) -> np.ndarray:
    """Times as text (None when unknown), formatting each distinct time once: an extract has a handful."""
    codes, distinct = pd.factorize(pd.Series(times))
    text = np.append(pd.DatetimeIndex(distinct).strftime(format).to_numpy(dtype=object), None)
    return text[codes]


def _supersede(
    cursor, *, extract: Extract, current: pd.DataFrame, postgres: bool
) -> tuple[pd.DataFrame, int]:
    """Mark the held submissions the incoming current ones replace, in one UPDATE over a staging table of
    incoming keys. Returns the incoming practice × indicator pairs whose held submission is newer (with the
    extract holding it), and how many field values were superseded."""
    submissions = ExtractSubmission._meta.db_table
    date = connection.ops.adapt_datefield_value(extract.achievement_date)
    year = extract.service_year_id
    # A first load of a year and date has nothing to supersede: skip the staging altogether.
    cursor.execute(
        f"SELECT 1 FROM {submissions} WHERE service_year_id = %s AND achievement_date = %s "  # noqa: S608
        "AND superseded_by_id IS NULL LIMIT 1",
        [year, date],
    )
    if cursor.fetchone() is None:
        return pd.DataFrame(columns=["practice_id", "indicator_code", "kept_extract_id"]), 0
    _drop_scratch(cursor)
    columns = ", ".join(f"{name} {types[0 if postgres else 1]}" for name, types in _STAGING_COLUMNS.items())
    cursor.execute(f"CREATE TEMPORARY TABLE {STAGING} ({columns})")
    keys = current[["practice_id", "indicator_code"]].assign(
        submitted_at=_formatted_once(
            current["submitted_at"], POSTGRES_DATETIME_FORMAT if postgres else SQLITE_DATETIME_FORMAT
        )
    )
    if postgres:
        buffer = io.StringIO()
        keys.to_csv(buffer, header=False, index=False)
        buffer.seek(0)
        cursor.cursor.copy_expert(
            f"COPY {STAGING} ({', '.join(keys.columns)}) FROM STDIN WITH (FORMAT csv)", buffer
        )
        cursor.execute(f"ANALYZE {STAGING}")
    else:
        sql = f"INSERT INTO {STAGING} (practice_id, indicator_code, submitted_at) VALUES (%s, %s, %s)"  # noqa: S608
        cursor.executemany(sql, list(keys.itertuples(index=False, name=None)))
    # Per incoming practice × indicator meeting a held current submission: the held row, and its extract
    # again when it was submitted later than the incoming one (so it stays current).
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE {OUTCOME} AS
        SELECT held.id AS held_id, held.practice_id, held.indicator_code, held.field_count,
               CASE WHEN held.submitted_at > incoming.submitted_at THEN held.extract_id END AS kept_extract_id
        FROM {STAGING} AS incoming
        JOIN {submissions} AS held
          ON held.service_year_id = %s AND held.achievement_date = %s AND held.superseded_by_id IS NULL
         AND held.practice_id = incoming.practice_id AND held.indicator_code = incoming.indicator_code
        """,  # noqa: S608
        [year, date],
    )
    cursor.execute(
        f"SELECT practice_id, indicator_code, kept_extract_id FROM {OUTCOME} "  # noqa: S608
        "WHERE kept_extract_id IS NOT NULL"
    )
    kept = pd.DataFrame(cursor.fetchall(), columns=["practice_id", "indicator_code", "kept_extract_id"])
    cursor.execute(
        f"SELECT COALESCE(SUM(field_count), 0) FROM {OUTCOME} WHERE kept_extract_id IS NULL"  # noqa: S608
    )
    superseded = int(cursor.fetchone()[0])
    cursor.execute(
        f"""
        UPDATE {submissions} SET superseded_by_id = %s
        WHERE id IN (SELECT held_id FROM {OUTCOME} WHERE kept_extract_id IS NULL)
        """,  # noqa: S608
        [extract.pk],
    )
    _drop_scratch(cursor)
    return kept, superseded


def _drop_scratch(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
    cursor.execute(f"DROP TABLE IF EXISTS {OUTCOME}")


def _stored_frame(extract: Extract, submissions: pd.DataFrame, datetime_format: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "extract_id": extract.pk,
            "service_year_id": extract.service_year_id,
            "achievement_date": extract.achievement_date.isoformat(),
            "practice_id": submissions["practice_id"].to_numpy(),
            "indicator_code": submissions["indicator_code"].to_numpy(),
            "submitted_at": _formatted_once(submissions["submitted_at"], datetime_format),
            "last_submission": submissions["last_submission"].to_numpy(),
            "fields": submissions["fields"].to_numpy(),
            "field_count": submissions["field_count"].to_numpy(),
            "superseded_by_id": submissions["superseded_by_id"].to_numpy(),
        },
        columns=list(_STORED_COLUMNS),
    )


def _copy_submissions(cursor, extract: Extract, submissions: pd.DataFrame) -> None:
    """COPY in PostgreSQL's text format, the lines joined directly: the JSON is full of quotes, which CSV
    would double and pandas' writer would check field by field."""
    stored = _stored_frame(extract, submissions, POSTGRES_DATETIME_FORMAT)
    escaped = {"indicator_code", "fields"}
    text = {name: _copy_text(stored[name], escape=name in escaped) for name in _STORED_COLUMNS}
    sql = f"COPY {ExtractSubmission._meta.db_table} ({', '.join(_STORED_COLUMNS)}) FROM STDIN"
    rows = list(zip(*text.values(), strict=True))
    for start in range(0, len(rows), COPY_CHUNK_ROWS):
        buffer = io.StringIO("".join("\t".join(row) + "\n" for row in rows[start : start + COPY_CHUNK_ROWS]))
        cursor.cursor.copy_expert(sql, buffer)  # Django's wrapper hides psycopg2's copy_expert


def _copy_text(column: pd.Series, *, escape: bool) -> list[str]:
    """A column as COPY text values: \\N for null, t/f for booleans, backslashes doubled where text may hold
    them (JSON escapes). No value holds a raw tab or line break: JSON escapes them, and indicator codes are
    the ruleset's."""
    if column.dtype == bool:
        return np.where(column.to_numpy(), "t", "f").tolist()
    values = column.astype(object).where(column.notna(), None).tolist()
    if escape:
        return ["\\N" if value is None else str(value).replace("\\", "\\\\") for value in values]
    return ["\\N" if value is None else str(value) for value in values]


def _insert_submissions(cursor, extract: Extract, submissions: pd.DataFrame) -> None:
    # Django stores SQLite datetimes as naive UTC text, booleans as 0/1 and JSON as text.
    stored = _stored_frame(extract, submissions, SQLITE_DATETIME_FORMAT)
    stored["last_submission"] = stored["last_submission"].astype(int)
    stored = stored.astype(object).where(stored.notna(), None)
    placeholders = ", ".join(["%s"] * len(_STORED_COLUMNS))
    sql = (
        f"INSERT INTO {ExtractSubmission._meta.db_table} ({', '.join(_STORED_COLUMNS)}) "  # noqa: S608
        f"VALUES ({placeholders})"
    )
    rows = list(stored.itertuples(index=False, name=None))
    for start in range(0, len(rows), INSERT_BATCH_ROWS):
        cursor.executemany(sql, rows[start : start + INSERT_BATCH_ROWS])


FIELD_ROW_COLUMNS = ["practice_code", "indicator_code", "field_name", "value"]


def current_field_rows(
    *, service_year_id: int, achievement_date, practice_codes=None, indicator_codes=None
) -> pd.DataFrame:
    """The current stored field rows of a year and date as practice_code, indicator_code, field_name, value,
    in one query; on PostgreSQL the submissions are unnested by the database and streamed out with
    `COPY … TO STDOUT`."""
    rows = ExtractSubmission.objects.filter(
        service_year_id=service_year_id, achievement_date=achievement_date, superseded_by__isnull=True
    )
    if practice_codes is not None:
        rows = rows.filter(practice__code__in=list(practice_codes))
    if indicator_codes is not None:
        rows = rows.filter(indicator_code__in=list(indicator_codes))
    if connection.vendor == "postgresql":
        return _unnested_on_postgres(rows)
    exploded = [
        (code, indicator, name, value)
        for code, indicator, fields in rows.values_list("practice__code", "indicator_code", "fields")
        for _, name, value in fields
    ]
    return pd.DataFrame.from_records(exploded, columns=FIELD_ROW_COLUMNS).astype({"value": np.int64})


def _unnested_on_postgres(rows) -> pd.DataFrame:
    sql, params = rows.values_list("practice__code", "indicator_code", "fields").query.sql_with_params()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        selected = raw.mogrify(sql, params).decode()
        unnested = (
            f"SELECT s.col1, s.col2, f.field ->> 1, f.field ->> 2 FROM ({selected}) AS s (col1, col2, col3) "  # noqa: S608
            "CROSS JOIN LATERAL jsonb_array_elements(s.col3) AS f (field)"
        )
        buffer = io.BytesIO()
        raw.copy_expert(f"COPY ({unnested}) TO STDOUT WITH (FORMAT csv)", buffer)
    if not buffer.tell():
        return pd.DataFrame({column: pd.Series(dtype=object) for column in FIELD_ROW_COLUMNS}).astype(
            {"value": np.int64}
        )
    buffer.seek(0)
    return pd.read_csv(
        buffer,
        names=FIELD_ROW_COLUMNS,
        dtype={"practice_code": "category", "indicator_code": "category", "field_name": "category"},
        keep_default_na=False,
        na_filter=False,
    ).astype({"value": np.int64})
