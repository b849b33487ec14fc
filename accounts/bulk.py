"""Rows written at national scale: COPY on PostgreSQL, which skips building a model instance per row (most
of bulk_create's time at tens of thousands of rows); bulk_create elsewhere (SQLite in the demo and tests)."""

from __future__ import annotations

import io
import json

from django.db import connection

BATCH_ROWS = 5000


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
