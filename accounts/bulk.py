"""Rows written at national scale: COPY on PostgreSQL, which skips building a model instance per row (most
of bulk_create's time at tens of thousands of rows); bulk_create elsewhere (SQLite in the demo and tests).
`copy_rows` takes model rows of any text (CSV); `copy_frame` takes frames of numbers and codes by the
hundred thousand (PostgreSQL's text format, built by Arrow)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

BATCH_ROWS = 5000
COPY_SLICE_ROWS = 20_000


def copy_rows(model, columns: list[str], rows: list[tuple]) -> int:
    """Insert `rows` (values in the order of `columns`, model attribute names such as "user_id") inside the
    caller's transaction. JSON fields take Python values; None is NULL."""
    if not rows:
        return 0
    json_columns = {
        index
        for index, name in enumerate(columns)
        if model._meta.get_field(name).get_internal_type() == "JSONField"
    }
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            (model(**dict(zip(columns, row, strict=True))) for row in rows), batch_size=BATCH_ROWS
        )
        return len(rows)
    buffer = io.StringIO()
    for row in rows:
        values = (
            json.dumps(value) if index in json_columns and value is not None else value
            for index, value in enumerate(row)
        )
        buffer.write(",".join(_csv(value) for value in values) + "\n")
    buffer.seek(0)
    names = ", ".join(model._meta.get_field(name).column for name in columns)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY {model._meta.db_table} ({names}) FROM STDIN WITH (FORMAT csv)", buffer
        )
    return len(rows)


def _csv(value) -> str:
    """Every value quoted and NULL bare, so that COPY tells an empty string from NULL."""
    if value is None:
        return ""
    return '"' + str(value).replace('"', '""') + '"'


def copy_frame(cursor, table: str, frame: pd.DataFrame, **lazy: Callable[[int, int], pa.Array]) -> None:
    """Write a frame whose columns are `table`'s column names with one `COPY … FROM STDIN` in PostgreSQL's
    text format; `lazy` names further columns by a function giving the COPY text of rows start…stop - 1,
    called as those rows are sent.

    Each column becomes text in one step of Arrow's kernels, and the lines of a slice of rows are joined
    there too, so Python makes no string per value or per row (pandas' CSV writer formats value by value,
    and took most of a result chunk's write); a slice is built while the database stores the last one (two
    processes, two cores)."""
    columns = [_copy_text(frame[name]) for name in frame.columns]
    count = len(frame)
    starts = iter(range(0, count, COPY_SLICE_ROWS))

    class Slices:
        def read(self, size=-1):  # psycopg2 sends whatever one read returns, and stops at b""
            start = next(starts, None)
            if start is None:
                return b""
            stop = min(start + COPY_SLICE_ROWS, count)
            parts = [column.slice(start, stop - start) for column in columns]
            parts += [text(start, stop) for text in lazy.values()]
            return _joined_lines(pc.binary_join_element_wise(*parts, "\t"))

    sql = f"COPY {table} ({', '.join([*frame.columns, *lazy])}) FROM STDIN"
    # Django's wrapper hides psycopg2's copy_expert; its errors are made Django's (IntegrityError and so on).
    with connection.wrap_database_errors:
        cursor.cursor.copy_expert(sql, Slices())


def _joined_lines(lines: pa.StringArray) -> bytes:
    """The strings followed each by a line break, as one block of UTF-8: Arrow keeps them end to end."""
    lines = pc.binary_join_element_wise(lines, "\n", "")
    _, offsets, data = lines.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(data)[offsets[0] : offsets[-1]].tobytes()


def _copy_text(column: pd.Series) -> pa.StringArray:
    """A column as COPY text values: \\N for missing, true/false for booleans, numbers as their shortest
    exact text (Arrow's, which round-trips every float), anything else as text with its backslashes doubled
    (JSON escapes). No value holds a raw tab or line break: JSON escapes them, and codes are the ruleset's."""
    try:
        text = pa.array(column, from_pandas=True).cast(pa.string())
    except (pa.ArrowException, TypeError):  # objects of mixed kinds: each written as str() writes it
        text = pa.array([None if pd.isna(value) else str(value) for value in column], type=pa.string())
    if column.dtype.kind not in "biuf":
        text = pc.replace_substring(text, "\\", "\\\\")
    return pc.fill_null(text, "\\N")
