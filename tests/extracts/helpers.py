"""Builders for the achievement tests: rulesets, participation through the real actions, extract files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.core.management import call_command

from accounts.models import Organisation
from participation import actions as participation_actions
from participation.models import ServiceYear
from tests.engine.engine_extract_helpers import HEADER, extract_row

__all__ = ["HEADER", "extract_row", "load_rulesets", "participate", "practice_rows", "write_extract"]


def load_rulesets() -> ServiceYear:
    call_command("load_rulesets", verbosity=0)
    return ServiceYear.objects.get(code="QOF2324")


def participate(codes, service_year: ServiceYear, start: date | None = None, end: date | None = None) -> None:
    """Offer, accept and approve, as the system would, so the practices participate from start to end."""
    start, end = start or service_year.start_date, end or service_year.end_date
    practices = list(Organisation.objects.filter(code__in=codes))
    summary = participation_actions.offer_service(
        service_year=service_year,
        practices=practices,
        start_date=start,
        end_date=end,
        response_date=end,
        target_date=end,
        by=None,
    )
    for offer in summary.offers:
        participation_actions.accept_offer(offer=offer, by=None)
    participation_actions.approve_offers(offers=summary.offers, by=None)


def practice_rows(
    practice: str, *, numerator: int = 30, submitted: str = "02/04/2024", last="Y"
) -> list[str]:
    """A register, a percentage indicator with PCAs, and a manual answer for one practice."""

    def row(indicator, field, value):
        text = extract_row(practice, indicator, field, str(value), last=last)
        return text.replace("02/04/2024", submitted)

    return [
        row("AF001", "Atrial Fibrillation Register", 40),
        row("AF006", "Atrial Fibrillation Register", 40),
        row("AF006", "Numerator", numerator),
        row("AF006", "Denominator", 35),
        row("AF006", "AFIBINV1", 3),
        row("AF006", "DIAG1_DAT", 4),
        row("QI013", "Yes/No Flag", 1),
    ]


def write_extract(directory: Path, rows: list[str], name: str = "extract.csv") -> Path:
    path = directory / name
    path.write_bytes("\r\n".join([HEADER, *rows, ""]).encode())
    return path


def set_manual_deadline(service_year: ServiceYear, deadline: date) -> ServiceYear:
    return participation_actions.update_service_year(
        service_year=service_year, changes={"manual_entry_deadline": deadline}, by=None
    )
