"""Inputs of the services not paid in points that calculation reads from the database (the rates are in
participation.selectors; docs/adr/0015-service-kinds.md)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from accounts.models import PcnMembership
from participation.models import NominatedPayee, ServiceYear
from participation.selectors import participating_practice_codes


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


def taking_part_on(year: ServiceYear, on: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The memberships and nominations of the practices taking part in a network year on `on`: a practice
    is in the Network Contract DES only while it is a member of a PCN (ODS dates) *and* its participation
    in the year (offered, accepted and approved) covers the date. A member not participating is neither
    paid nor counted in its PCN's lists; a payee not participating is no payee, so its PCN's aggregate
    waits for another nomination (docs/adr/0018-network-declarations.md, "Participation"). Three queries."""
    taking_part = participating_practice_codes(year, on=on)
    memberships, payees = memberships_frame(on), payees_frame(on)
    return (
        memberships[memberships["practice_code"].isin(taking_part)].reset_index(drop=True),
        payees[payees["payee_code"].isin(taking_part)].reset_index(drop=True),
    )
