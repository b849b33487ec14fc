"""Inputs of the services not paid in points, read from the database into the engine's frames
(engine/item_of_service.py, engine/capitation.py; docs/adr/0015-service-kinds.md)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from accounts.models import PcnMembership
from engine.item_of_service import fee_pence
from participation.models import ServiceRate, ServiceYear


class NotThatKind(Exception):
    """The service year is not paid the way the caller asked (item of service or capitation)."""


def _rates(service_year: ServiceYear, kind: str) -> list[ServiceRate]:
    if service_year.payment_kind != kind:
        raise NotThatKind(
            f"{service_year.code} is paid by {service_year.get_payment_kind_display().lower()}, "
            f"not {ServiceYear.PaymentKind(kind).label.lower()}"
        )
    return list(ServiceRate.objects.filter(service_year=service_year).order_by("component"))


def fees_frame(service_year: ServiceYear) -> tuple[pd.DataFrame, list[ServiceRate]]:
    """component, fee_pence, capped_by_register for an item-of-service year; and the rates not confirmed."""
    rates = _rates(service_year, ServiceYear.PaymentKind.ITEM_OF_SERVICE)
    frame = pd.DataFrame(
        {
            "component": [rate.component for rate in rates],
            "fee_pence": [fee_pence(rate.rate) for rate in rates],
            "capped_by_register": [rate.capped_by_register for rate in rates],
        }
    )
    return frame, [rate for rate in rates if not rate.confirmed]


def capitation_rates_frame(service_year: ServiceYear) -> tuple[pd.DataFrame, list[ServiceRate]]:
    """component, rate, unit, population, paid_to for a capitation year; and the rates not confirmed."""
    rates = _rates(service_year, ServiceYear.PaymentKind.CAPITATION)
    frame = pd.DataFrame.from_records(
        [(rate.component, rate.rate, rate.unit, rate.population, rate.paid_to) for rate in rates],
        columns=["component", "rate", "unit", "population", "paid_to"],
    )
    return frame, [rate for rate in rates if not rate.confirmed]


def memberships_frame(on_or_before: dt.date | None = None) -> pd.DataFrame:
    """practice_code, pcn_code, start_date, end_date of every PCN membership (ODS dates), one query."""
    rows = PcnMembership.objects.all()
    if on_or_before is not None:
        rows = rows.filter(start_date__lte=on_or_before)
    return pd.DataFrame.from_records(
        list(rows.values_list("practice__code", "pcn__code", "start_date", "end_date")),
        columns=["practice_code", "pcn_code", "start_date", "end_date"],
    )
