"""Inputs of the services not paid in points that calculation reads from the database (the rates are in
participation.selectors; docs/adr/0015-service-kinds.md)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from accounts.models import PcnMembership


def memberships_frame(on_or_before: dt.date | None = None) -> pd.DataFrame:
    """practice_code, pcn_code, start_date, end_date of every PCN membership (ODS dates), one query."""
    rows = PcnMembership.objects.all()
    if on_or_before is not None:
        rows = rows.filter(start_date__lte=on_or_before)
    return pd.DataFrame.from_records(
        list(rows.values_list("practice__code", "pcn__code", "start_date", "end_date")),
        columns=["practice_code", "pcn_code", "start_date", "end_date"],
    )
