"""Storing a validated extract as practice × indicator submissions in bulk, and reading the current ones back.

A submission row holds every field row of one practice × indicator submission ([line, FIELD_NAME, VALUE],
JSON), so a national extract is under half a million rows rather than 3.5 million (docs/adr/0010). The rows
are built in one pass over the sorted field rows and written by `COPY` on PostgreSQL, by batched inserts on
SQLite (the embedded demo), and never updated. Which submission is current lives in the narrow
`CurrentSubmission` row of its key.

On PostgreSQL the current rows of each service year and achievement date are a partition of their own, and
a load builds the year and date's new partition in a fresh table and swaps it in: no held row is updated
or deleted, so a reload writes what a first load writes. When the file's current submissions have exactly
the held keys and none is older than the latest held (`CurrentSubmissionSet`), the new partition is the
file's submissions alone; otherwise one statement merges the held rows in. On SQLite one upsert of the rows
does the same. Either way the number of queries never depends on the number of rows.

Supersession (docs/adr/0005-extracts-and-manual-entry.md): a practice × indicator submission in the new file
replaces the current submission held for that practice, indicator and achievement date, unless the held one
was submitted later (by SUBMIT_DATE/SUBMIT_TIME); then the incoming one is stored but never current.
Submissions marked LAST_SUBMISSION = N are stored and never current.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.db import connection

from accounts.bulk import copy_frame
from engine import ROLE_TOTALS, role_totals

from .models import CurrentSubmission, CurrentSubmissionSet, Extract, ExtractSubmission

# Table names below are Django's own db_table, never input: hence the S608 waivers.
INSERT_BATCH_ROWS = 5_000
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
POSTGRES_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S+00"

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
    *ROLE_TOTALS,
)


@dataclass(frozen=True)
class StoreOutcome:
    # Field values of earlier extracts that this one superseded.
    superseded_row_count: int
    # Practice × indicator submissions older than the values already held, stored as superseded.
    older_submission_count: int


def store_fields(
    *, extract: Extract, fields: pd.DataFrame, practice_ids: dict[str, int], pca_codes: frozenset[str]
) -> StoreOutcome:
    """Group `fields` (an engine `Extract.fields` frame) into submissions, store them as `extract`'s, and
    supersede.

    Must run inside the caller's transaction, holding the service year's lock, so that two loads for one
    year and date cannot interleave.
    """
    postgres = connection.vendor == "postgresql"
    submissions, fields_json = submissions_frame(fields, practice_ids, pca_codes)
    incoming = CurrentKeys.of(submissions)
    with connection.cursor() as cursor:
        if postgres:
            # No wait for the WAL flush at commit: a load lost to a crash in that instant is simply loaded
            # again (same checksum).
            cursor.execute("SET LOCAL synchronous_commit = off")
            copy_frame(
                cursor,
                ExtractSubmission._meta.db_table,
                _stored_frame(extract, submissions, POSTGRES_DATETIME_FORMAT),
                fields=functools.partial(fields_json.text, for_copy=True),
            )
        else:
            stored = _stored_frame(extract, submissions, SQLITE_DATETIME_FORMAT)
            stored["fields"] = fields_json.texts()
            _insert_submissions(cursor, stored)
        del submissions, fields_json
        if postgres:
            return _swap_in_current_partition(cursor, extract=extract, incoming=incoming)
        return _make_current(cursor, extract=extract, incoming_current=incoming.count)


@dataclass(frozen=True)
class CurrentKeys:
    """An extract's current (LAST_SUBMISSION = Y) submissions in a few numbers: how many, their fields, the
    earliest and latest known submission time, and the SHA-256 of their keys."""

    count: int
    field_count: int
    earliest: dt.datetime | None
    latest: dt.datetime | None
    digest: str

    @classmethod
    def of(cls, submissions: pd.DataFrame) -> CurrentKeys:
        current = submissions[submissions["last_submission"]]
        keys = current[["practice_id", "indicator_code"]].sort_values(["practice_id", "indicator_code"])
        times = pd.to_datetime(current["submitted_at"]).dropna()
        return cls(
            count=len(current),
            field_count=int(current["field_count"].sum()),
            earliest=_aware_utc(times.min()) if len(times) else None,
            latest=_aware_utc(times.max()) if len(times) else None,
            digest=hashlib.sha256(
                "\n".join(keys["practice_id"].astype(str) + "\t" + keys["indicator_code"]).encode()
            ).hexdigest(),
        )

    def replaces_every_key_of(self, held: CurrentSubmissionSet | None) -> bool:
        """True when the held current submissions have exactly these keys and none was submitted later than
        any of these (0005's rule, where an unknown time never keeps a held submission)."""
        if held is None or held.key_digest != self.digest:
            return False
        return (
            held.latest_submitted_at is None
            or self.earliest is None
            or held.latest_submitted_at <= self.earliest
        )


# The SHA-256 of a set of keys, as `CurrentKeys.of` computes it: "practice_id<TAB>indicator_code" lines,
# sorted by practice id and then code by code point, joined by newlines.
_KEY_DIGEST_SQL = (
    "encode(sha256(convert_to(COALESCE(string_agg(practice_id::text || chr(9) || indicator_code, chr(10) "
    "ORDER BY practice_id, indicator_code COLLATE \"C\"), ''), 'UTF8')), 'hex')"
)


def _aware_utc(naive) -> dt.datetime:
    return pd.Timestamp(naive).tz_localize("UTC").to_pydatetime()


@dataclass(frozen=True)
class FieldsJSON:
    """The submissions' field rows, sorted by submission (`bounds`: where each starts, then the end), as the
    JSON text of each submission's [line, FIELD_NAME, VALUE] rows. Built by Arrow's string kernels a slice of
    submissions at a time as they are written (`text`), so that COPY stores one slice while the next is
    built and no Python string is made per field."""

    lines: np.ndarray  # int64, sorted by submission
    name_codes: np.ndarray  # positions in `encoded_names`
    encoded_names: list[str]  # each distinct FIELD_NAME as JSON, once
    values: np.ndarray  # int64
    bounds: np.ndarray  # int64, len = submissions + 1

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def text(self, start: int, stop: int, *, for_copy: bool) -> pa.StringArray:
        """Submissions start…stop - 1 as JSON text; doubled backslashes for COPY's text format."""
        names = pa.array(self.encoded_names, type=pa.string())
        if for_copy:
            names = pc.replace_substring(names, "\\", "\\\\")
        first, last = int(self.bounds[start]), int(self.bounds[stop])
        elements = pc.binary_join_element_wise(
            "[",
            pa.array(self.lines[first:last]).cast(pa.string()),
            ",",
            names.take(pa.array(self.name_codes[first:last])),
            ",",
            pa.array(self.values[first:last]).cast(pa.string()),
            "]",
            "",
        )
        offsets = pa.array(self.bounds[start : stop + 1] - first, type=pa.int32())
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, elements), ",")
        return pc.binary_join_element_wise("[", joined, "]", "")

    def texts(self) -> list[str]:
        return self.text(0, len(self), for_copy=False).to_pylist()


def submissions_frame(
    fields: pd.DataFrame, practice_ids: dict[str, int], pca_codes: frozenset[str]
) -> tuple[pd.DataFrame, FieldsJSON]:
    """One row per submission: practice_id, indicator_code, submitted_at (aware UTC), last_submission,
    field_count, and the totals of its fields by role (engine.ROLE_TOTALS), which are what a calculation
    reads; and, in the same order, their fields as JSON text of [line, FIELD_NAME, VALUE] in file order.

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
    sorted_values = fields["value"].to_numpy(dtype=np.int64)[order]
    sorted_name_codes = name.codes[order]
    sorted_names = pd.Categorical.from_codes(sorted_name_codes, dtype=name.dtype)
    totals = role_totals(sorted_names, sorted_values, starts, pca_codes)
    fields_json = FieldsJSON(
        lines=lines[order],
        name_codes=sorted_name_codes,
        encoded_names=[json.dumps(str(n)) for n in name.categories],
        values=sorted_values,
        bounds=np.r_[starts, count].astype(np.int64),
    )
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
            "field_count": np.diff(np.r_[starts, count]).astype(np.int64),
            **totals,
        }
    ), fields_json


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


def partition_name(service_year_id: int, achievement_date: dt.date) -> str:
    """The PostgreSQL partition of `CurrentSubmission` that holds a service year and date's current rows."""
    return f"{CurrentSubmission._meta.db_table}_{service_year_id}_{achievement_date:%Y%m%d}"


def refresh_current_statistics(service_year_id: int, achievement_date: dt.date) -> None:
    """Fresh planner statistics for a service year and date's current rows, before a run reads them
    (PostgreSQL; nothing on SQLite). A load leaves them to the run: analysing the partition alone takes
    0.2 s nationally, where analysing the partitioned table sampled every year and date's (0.4–0.7 s).

    Taken under the lock a load takes, so no load swaps the partition away in between; like the ANALYZE of
    the whole table it replaces, it is held to the end of the caller's transaction."""
    if connection.vendor != "postgresql":
        return
    name = partition_name(service_year_id, achievement_date)
    with connection.cursor() as cursor:
        if _lock_and_find_partition(cursor, name):
            cursor.execute(f"ANALYZE {name}")


def _lock_and_find_partition(cursor, name: str) -> bool:
    """Take the lock every load takes on the current submissions' table (SHARE UPDATE EXCLUSIVE: loads queue
    behind it, readers do not), then say whether the partition `name` exists: no load can swap it away now
    until the caller's transaction ends."""
    cursor.execute(f"LOCK TABLE {CurrentSubmission._meta.db_table} IN SHARE UPDATE EXCLUSIVE MODE")
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


# A current row's columns after its service year and date.
_KEPT_COLUMNS = (
    *("practice_id", "indicator_code", "submission_id", "extract_id", "submitted_at", "field_count"),
    *ROLE_TOTALS,
)


def _swap_in_current_partition(cursor, *, extract: Extract, incoming: CurrentKeys) -> StoreOutcome:
    """Build the year and date's current rows into a fresh table and swap it in for the held partition
    (docs/adr/0010). A fresh table is written like a first load, whether or not rows were held: its pages are
    new, its primary key is built once at the end, and the held partition is dropped whole, not row by row.

    Loads of every year queue here for the table (SHARE UPDATE EXCLUSIVE: readers carry on), so that no two
    of them can each hold a lock on it that the other's swap needs. The swap itself takes the table from
    readers for the moment before commit."""
    table = CurrentSubmission._meta.db_table
    year_id, on = extract.service_year_id, extract.achievement_date
    held_name, fresh = partition_name(year_id, on), f"{table}_{extract.pk}"
    kept = ", ".join(_KEPT_COLUMNS)
    held_exists = _lock_and_find_partition(cursor, held_name)
    if held_exists:
        # An emptied partition (the table truncated) holds nothing to merge, whatever its set row says.
        cursor.execute(f"SELECT EXISTS (SELECT FROM {held_name})")  # noqa: S608
        (held_rows,) = cursor.fetchone()
    else:
        held_rows = False
    held_set = CurrentSubmissionSet.objects.filter(service_year_id=year_id, achievement_date=on).first()
    cursor.execute(
        f"CREATE TABLE {fresh} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        "CONSTRAINT in_scope CHECK (service_year_id = %s AND achievement_date = %s))",
        [year_id, on],
    )
    incoming_rows = (
        "SELECT practice_id, indicator_code, id AS submission_id, extract_id, submitted_at, field_count, "  # noqa: S608
        f"{', '.join(ROLE_TOTALS)} FROM {ExtractSubmission._meta.db_table} "
        "WHERE extract_id = %s AND last_submission"
    )
    if not held_rows or incoming.replaces_every_key_of(held_set):
        held_fields = held_set.field_count if held_rows else 0
        cursor.execute(
            f"INSERT INTO {fresh} (service_year_id, achievement_date, {kept}) "  # noqa: S608
            f"SELECT %s, %s, {kept} FROM ({incoming_rows}) AS i",
            [year_id, on, extract.pk],
        )
        made_current, fields_of_others = incoming.count, 0
        summary = (incoming.digest, incoming.field_count, incoming.latest)
    else:
        cursor.execute(f"SELECT COALESCE(SUM(field_count), 0) FROM {held_name}")  # noqa: S608
        (held_fields,) = cursor.fetchone()
        _merge_into(cursor, fresh=fresh, held=held_name, incoming_rows=incoming_rows, extract=extract)
        cursor.execute(
            "SELECT count(*) FILTER (WHERE extract_id = %s), "  # noqa: S608
            "COALESCE(SUM(field_count) FILTER (WHERE extract_id <> %s), 0), "
            f"{_KEY_DIGEST_SQL}, COALESCE(SUM(field_count), 0), max(submitted_at) FROM {fresh}",
            [extract.pk, extract.pk],
        )
        made_current, fields_of_others, *summary = cursor.fetchone()
    cursor.execute(
        f"ALTER TABLE {fresh} ADD CONSTRAINT {fresh}_pkey PRIMARY KEY "
        "(service_year_id, achievement_date, practice_id, indicator_code)"
    )
    if held_exists:
        cursor.execute(f"DROP TABLE {held_name}")
    cursor.execute(f"ALTER TABLE {fresh} RENAME TO {held_name}")
    # The CHECK above implies the partition's bounds, so attaching does not scan the rows again.
    cursor.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {held_name} FOR VALUES FROM (%s, %s) TO (%s, %s)",
        [year_id, on, year_id, on + dt.timedelta(days=1)],
    )
    digest, field_count, latest = summary
    CurrentSubmissionSet.objects.update_or_create(
        service_year_id=year_id,
        achievement_date=on,
        defaults={
            "key_digest": digest,
            "field_count": field_count,
            "latest_submitted_at": latest,
        },
    )
    return StoreOutcome(
        superseded_row_count=int(held_fields) - int(fields_of_others),
        older_submission_count=incoming.count - int(made_current),
    )


def _merge_into(cursor, *, fresh: str, held: str, incoming_rows: str, extract: Extract) -> None:
    """The held current rows and the incoming ones, each key's held row kept where it was submitted later or
    the file does not have the key, in one statement. A hash join over both: the incoming rows were written
    moments ago and have no statistics, on which the planner would choose a loop of index probes."""
    chosen = ", ".join(f"CASE WHEN keep THEN h.{column} ELSE i.{column} END" for column in _KEPT_COLUMNS[2:])
    cursor.execute("SET LOCAL enable_nestloop = off")
    cursor.execute("SET LOCAL enable_mergejoin = off")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute(
        f"INSERT INTO {fresh} (service_year_id, achievement_date, {', '.join(_KEPT_COLUMNS)}) "  # noqa: S608
        "SELECT %s, %s, COALESCE(i.practice_id, h.practice_id), "
        f"COALESCE(i.indicator_code, h.indicator_code), {chosen} FROM ({incoming_rows}) AS i "
        f"FULL JOIN {held} AS h ON h.practice_id = i.practice_id AND h.indicator_code = i.indicator_code "
        "CROSS JOIN LATERAL (SELECT i.practice_id IS NULL "
        "OR COALESCE(h.submitted_at > i.submitted_at, FALSE) AS keep) AS k",
        [extract.service_year_id, extract.achievement_date, extract.pk],
    )
    for setting in ("enable_nestloop", "enable_mergejoin", "work_mem"):
        cursor.execute(f"RESET {setting}")


def _make_current(cursor, *, extract: Extract, incoming_current: int) -> StoreOutcome:
    """Point each key of the extract's (just written) current submissions at it, unless the submission held
    for the key was submitted later. One upsert whatever the number of rows: a key seen for the first time
    is inserted, a held one is rewritten in place (docs/adr/0010). Its counts come from totals over the
    year and date's narrow rows before and after, not from a join."""
    current = CurrentSubmission._meta.db_table
    submissions = ExtractSubmission._meta.db_table
    key = [extract.service_year_id, connection.ops.adapt_datefield_value(extract.achievement_date)]
    totals = ", ".join(ROLE_TOTALS)
    updated_totals = ", ".join(f"{name} = excluded.{name}" for name in ROLE_TOTALS)
    in_scope = f"FROM {current} WHERE service_year_id = %s AND achievement_date = %s"
    cursor.execute(f"SELECT COALESCE(SUM(field_count), 0) {in_scope}", key)
    (held_fields,) = cursor.fetchone()
    cursor.execute(
        f"""
        INSERT INTO {current} AS held (service_year_id, achievement_date, practice_id, indicator_code,
                                       submission_id, extract_id, submitted_at, field_count, {totals})
        SELECT service_year_id, achievement_date, practice_id, indicator_code, id, extract_id, submitted_at,
               field_count, {totals}
        FROM {submissions} WHERE extract_id = %s AND last_submission
        ON CONFLICT (service_year_id, achievement_date, practice_id, indicator_code) DO UPDATE
        SET submission_id = excluded.submission_id, extract_id = excluded.extract_id,
            submitted_at = excluded.submitted_at, field_count = excluded.field_count, {updated_totals}
        WHERE NOT COALESCE(held.submitted_at > excluded.submitted_at, FALSE)
        """,  # noqa: S608
        [extract.pk],
    )
    cursor.execute(
        "SELECT COALESCE(SUM(CASE WHEN extract_id = %s THEN 1 ELSE 0 END), 0), "
        f"COALESCE(SUM(CASE WHEN extract_id = %s THEN 0 ELSE field_count END), 0) {in_scope}",
        [extract.pk, extract.pk, *key],
    )
    made_current, fields_of_others = (int(value) for value in cursor.fetchone())
    return StoreOutcome(
        superseded_row_count=int(held_fields) - fields_of_others,
        older_submission_count=incoming_current - made_current,
    )


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
            "field_count": submissions["field_count"].to_numpy(),
            **{name: submissions[name].array for name in ROLE_TOTALS},
        },
    )


def _insert_submissions(cursor, stored: pd.DataFrame) -> None:
    # Django stores SQLite datetimes as naive UTC text, booleans as 0/1 and JSON as text.
    stored = stored[list(_STORED_COLUMNS)].copy()
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
        current__service_year_id=service_year_id, current__achievement_date=achievement_date
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


def current_role_totals(*, service_year_id: int, achievement_date, practice_codes=None) -> pd.DataFrame:
    """The current submissions of a year and date as practice_code, indicator_code and their totals by role
    (engine.ROLE_TOTALS, nullable Int64), from the narrow current rows alone, in one query; on PostgreSQL
    streamed out with `COPY … TO STDOUT`."""
    rows = CurrentSubmission.objects.filter(
        service_year_id=service_year_id, achievement_date=achievement_date
    )
    if practice_codes is not None:
        rows = rows.filter(practice__code__in=list(practice_codes))
    columns = ["practice_code", "indicator_code", *ROLE_TOTALS]
    selected = rows.values_list("practice__code", "indicator_code", *ROLE_TOTALS)
    dtypes = {
        "practice_code": "category",
        "indicator_code": "category",
        **dict.fromkeys(ROLE_TOTALS, "Int64"),
    }
    if connection.vendor != "postgresql":
        return pd.DataFrame.from_records(list(selected), columns=columns).astype(dtypes)
    buffer = _copied_out(selected)
    if not buffer.tell():
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns}).astype(dtypes)
    buffer.seek(0)
    # Read as floats (exact: every total is far below 2**53) and made nullable integers in one step each:
    # pandas parses nullable integers value by value.
    frame = pd.read_csv(
        buffer, names=columns, dtype={"practice_code": "category", "indicator_code": "category"}
    )
    return frame.astype(dtypes)


def _copied_out(selected, wrap: str = "{}") -> io.BytesIO:
    """A values_list query's rows as CSV, streamed out by `COPY (…) TO STDOUT`; `wrap` places the query's SQL
    inside a larger one."""
    sql, params = selected.query.sql_with_params()
    with connection.cursor() as cursor:
        buffer = io.BytesIO()
        query = wrap.format(cursor.cursor.mogrify(sql, params).decode())
        cursor.cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buffer)
    return buffer


def _unnested_on_postgres(rows) -> pd.DataFrame:
    buffer = _copied_out(
        rows.values_list("practice__code", "indicator_code", "fields"),
        "SELECT s.col1, s.col2, f.field ->> 1, f.field ->> 2 FROM ({}) AS s (col1, col2, col3) "
        "CROSS JOIN LATERAL json_array_elements(s.col3::json) AS f (field)",
    )
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
