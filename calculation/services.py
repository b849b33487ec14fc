"""Inputs of the services not paid in points that calculation reads from the database (the rates are in
participation.selectors; docs/adr/0015-service-kinds.md)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from accounts.models import PcnMembership
from participation.models import NominatedPayee


def _dated_frame(rows, fields: list[str], columns: list[str], on_or_before: dt.date | None) -> pd.DataFrame:
    """Dated rows (ODS start and end dates) as a frame, those started by `on_or_before`, in one query."""
    if on_or_before is not None:
        rows = rows.filter(start_date__lte=on_or_before)
    dated = ["start_date", "end_date"]
    return pd.DataFrame.from_records(list(rows.values_list(*fields, *dated)), columns=[*columns, *dated])


def memberships_frame(on_or_before: dt.date | None = None) -> pd.DataFrame:
    """practice_code, pcn_code, start_date, end_date of every PCN membership (ODS dates)."""
    fields, columns = ["practice__code", "pcn__code"], ["practice_code", "pcn_code"]
    return _dated_frame(PcnMembership.objects.all(), fields, columns, on_or_before)


def payees_frame(on_or_before: dt.date | None = None) -> pd.DataFrame:
    """pcn_code, payee_code, start_date, end_date of every nomination of a PCN's payee practice."""
    fields, columns = ["pcn__code", "payee__code"], ["pcn_code", "payee_code"]
    return _dated_frame(NominatedPayee.objects.all(), fields, columns, on_or_before)
