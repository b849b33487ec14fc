"""Reads of stored extracts: the current values a calculation needs, and the pages of support staff."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import pandas as pd
from django.db.models import QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Organisation
from accounts.permissions import Permission, may_nationally
from engine import readers, reduce_role_totals
from participation.models import ServiceYear
from participation.selectors import engine_ruleset

from .models import Extract, ExtractSubmission, ExtractUpload
from .store import current_role_totals


def current_extract_values(
    *,
    service_year: ServiceYear,
    achievement_date: dt.date,
    ruleset: pd.DataFrame | None = None,
    practice_codes=None,
) -> pd.DataFrame:
    """The current stored extract values of a year and achievement date in the engine's values layout:
    practice_code, indicator_code, register, numerator, denominator, pcas (nullable Int64), manual_answer
    (nullable boolean), one row per practice × ruleset indicator with values. One query for the values
    (and one for the year's ruleset when the caller has not read it already): the current submissions'
    totals by role, reduced by the ruleset as their field rows would be."""
    ruleset = engine_ruleset(service_year) if ruleset is None else ruleset
    totals = current_role_totals(
        service_year_id=service_year.pk, achievement_date=achievement_date, practice_codes=practice_codes
    )
    return reduce_role_totals(totals, ruleset=ruleset)


@cache
def shipped_pca_codes() -> frozenset[str]:
    return readers.load_pca_codes(readers.SHIPPED_PCA_REFERENCE)


def may_load_extracts(user) -> bool:
    return may_nationally(user, Permission.SUPPORT)


def require_extract_loading_rights(user) -> None:
    """Extracts are national Support's work; to anyone else their pages do not exist, as anything out of
    scope is a 404. (The upload form's POST goes to the action, which refuses anyone else itself.)"""
    if not may_load_extracts(user):
        raise Http404


def extracts_for(user) -> QuerySet[Extract]:
    require_extract_loading_rights(user)
    return Extract.objects.select_related("service_year", "uploaded_by").order_by("-uploaded_at", "-id")


def extract_for(user, pk: int) -> Extract:
    return get_object_or_404(extracts_for(user), pk=pk)


def upload_for(user, pk: int) -> ExtractUpload:
    require_extract_loading_rights(user)
    return get_object_or_404(ExtractUpload.objects.select_related("uploaded_by", "extract"), pk=pk)


def values_superseded_later(extract: Extract) -> int:
    """How many of this extract's current (Y) values are no longer current: replaced by a later extract, or
    older than the values held when it came in. Its own N rows are not counted."""
    superseded = ExtractSubmission.objects.filter(
        extract=extract, last_submission=True, current__isnull=True
    ).aggregate(values=Sum("field_count"))
    return superseded["values"] or 0


@dataclass(frozen=True)
class SourceRow:
    """One stored extract field of a practice × indicator, and where it came from."""

    extract_id: int
    file_name: str
    line: int | None  # the line of the file (not recorded for values stored before lines were kept)
    field_name: str
    value: int
    submitted_at: dt.datetime | None
    loaded_at: dt.datetime
    current: bool


def source_rows(
    *, service_year: ServiceYear, achievement_date: dt.date, practice: Organisation, indicator_code: str
) -> list[SourceRow]:
    """The stored extract fields a calculation of this practice × indicator reads, with their extract file
    and line, in field order. One query, through the index of current submissions.

    Only the current submission's fields are returned: superseded ones are kept for audit, but finding them
    for one practice would scan every stored submission (docs/adr/0010-year-end-speed.md keeps that index off
    for load speed).
    """
    submissions = ExtractSubmission.objects.filter(
        current__service_year_id=service_year.pk,
        current__achievement_date=achievement_date,
        current__practice_id=practice.pk,
        current__indicator_code=indicator_code,
    ).values_list("extract_id", "extract__file_name", "fields", "submitted_at", "extract__uploaded_at")
    rows = [
        SourceRow(extract_id, file_name, line, field_name, value, submitted_at, loaded_at, True)
        for extract_id, file_name, fields, submitted_at, loaded_at in submissions
        for line, field_name, value in fields
    ]
    return sorted(rows, key=lambda row: row.field_name)
