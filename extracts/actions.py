"""Every write to extracts: loading a file (from the command line or an upload's task) and uploads.
Keyword-only, atomic, audited."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Organisation, OrganisationType
from accounts.permissions import Permission, guarded, nationally, system_step
from engine import InputError, Problem, parse_extract, readers
from engine.claims import claims_from_fields, parse_claims
from engine.errors import ProblemCollector
from engine.extract import FIRST_DATA_LINE
from engine.item_of_service import calculate_items
from participation.models import ServiceYear
from participation.selectors import engine_ruleset, fees_frame, participation_periods

from .models import Extract, ExtractUpload
from .selectors import shipped_pca_codes
from .store import current_field_rows, store_fields

# Problems kept on a rejected upload for its page; the count of the rest is kept beside them.
KEPT_PROBLEMS = 200


class ExtractRejected(InputError):
    """The file was refused as a whole and nothing was stored; `problems` name line and field."""


@dataclass(frozen=True)
class LoadResult:
    extract: Extract
    # False when a file with the same SHA-256 had already been loaded: nothing was changed.
    created: bool

    @property
    def already_loaded(self) -> bool:
        return not self.created


def _file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


@guarded(nationally(Permission.SUPPORT))
def load_extract(*, path: Path, file_name: str, by, service_year: ServiceYear | None = None) -> LoadResult:
    """Validate a CQRS extract file and store every value of it, or nothing (DOMAIN.md §5).

    The service year is the file's QUALITY_SERVICE unless given. A file already loaded (same SHA-256) is
    recognised and changes nothing. Raises ExtractRejected listing the problems by line and field.
    `by=None` is the system (the command line, the demo loader); a person must hold national Support.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > settings.EXTRACT_MAX_BYTES:
        raise ExtractRejected(
            file_name,
            [
                Problem(
                    1, "(file)", f"the file is {size:,} bytes; the limit is {settings.EXTRACT_MAX_BYTES:,}"
                )
            ],
        )
    checksum = _file_checksum(path)
    existing = Extract.objects.filter(checksum=checksum).select_related("service_year").first()
    if existing is not None:
        return LoadResult(extract=existing, created=False)

    # Parsing takes seconds to a minute at national scale: do it before taking any lock.
    practice_ids = _practice_ids()
    try:
        frame = readers.read_extract_frame(path, source=file_name)
        service_year = service_year or _service_year_of(frame, file_name)
        claims = service_year.payment_kind == ServiceYear.PaymentKind.ITEM_OF_SERVICE
        if claims:
            fees, _ = fees_frame(service_year)
            parsed = parse_claims(
                frame,
                practice_codes=practice_ids.keys(),
                components=fees,
                quality_service=service_year.code,
                source=file_name,
            )
        else:
            parsed = parse_extract(
                frame,
                practice_codes=practice_ids.keys(),
                ruleset=engine_ruleset(service_year),
                pca_codes=shipped_pca_codes(),
                quality_service=service_year.code,
                source=file_name,
            )
        del frame
        _check_date_in_year(parsed.achievement_date, service_year, file_name)
        _check_participation(parsed.fields, service_year, parsed.achievement_date, file_name)
        if claims:
            _check_claims_against_the_year(parsed, service_year, fees, file_name)
    except ExtractRejected:
        raise
    except InputError as error:
        raise ExtractRejected(error.source, error.problems, error.total) from error
    return _store(
        parsed=parsed,
        service_year=service_year,
        file_name=file_name,
        checksum=checksum,
        practice_ids=practice_ids,
        by=by,
    )


@transaction.atomic
def _store(
    *, parsed, service_year: ServiceYear, file_name: str, checksum: str, practice_ids: dict[str, int], by
) -> LoadResult:
    # One load at a time per service year, so supersession sees every earlier extract of it.
    ServiceYear.objects.select_for_update().filter(pk=service_year.pk).first()
    existing = Extract.objects.filter(checksum=checksum).first()
    if existing is not None:
        return LoadResult(extract=existing, created=False)
    fields = parsed.fields
    extract = Extract.objects.create(
        service_year=service_year,
        achievement_date=parsed.achievement_date,
        file_name=Path(file_name).name[:255],
        checksum=checksum,
        uploaded_by=by if by is not None and by.is_authenticated else None,
        uploaded_at=timezone.now(),
        row_count=len(fields),
        practice_count=fields["practice_code"].nunique(),
        indicator_count=fields["indicator_code"].nunique(),
        warnings=list(parsed.warnings),
    )
    outcome = store_fields(
        extract=extract, fields=fields, practice_ids=practice_ids, pca_codes=shipped_pca_codes()
    )
    warnings = list(parsed.warnings)
    if outcome.older_submission_count:
        warnings.append(
            f"{outcome.older_submission_count} practice × indicator submission(s) were older than the values "
            "already held; they are stored as superseded and the held values stay current"
        )
    extract.superseded_row_count = outcome.superseded_row_count
    extract.warnings = warnings
    extract.save(update_fields=["superseded_row_count", "warnings"])
    audit.record(
        actor=by,
        action="extract.loaded",
        obj=extract,
        after={
            "file_name": extract.file_name,
            "checksum": checksum,
            "service_year": service_year.code,
            "achievement_date": extract.achievement_date.isoformat(),
            "rows": extract.row_count,
            "practices": extract.practice_count,
            "superseded_rows": extract.superseded_row_count,
        },
    )
    return LoadResult(extract=extract, created=True)


def _check_claims_against_the_year(
    parsed, service_year: ServiceYear, fees: pd.DataFrame, file_name: str
) -> None:
    """Claims are judged with the year's other claims held, as the run will pay them: the file's claims
    replace those held for its date, and a capped component's cumulative count may never pass the register
    at any date of the year (engine.item_of_service). Refused with the line named, nothing stored."""
    on = parsed.achievement_date
    values = parsed.values
    claims = [
        pd.DataFrame(
            {
                "line": values["line"].to_numpy(dtype=np.int64),
                "practice_code": values["practice_code"].to_numpy(dtype=object),
                "achievement_date": pd.Timestamp(on),
                "component": values["component"].to_numpy(dtype=object),
                "count": values["count"].to_numpy(dtype=np.int64),
            }
        )
    ]
    sent = values[values["register"].notna()]
    registers = [
        pd.DataFrame(
            {
                "practice_code": sent["practice_code"].to_numpy(dtype=object),
                "achievement_date": pd.Timestamp(on),
                "register": sent["register"].to_numpy(dtype=np.int64),
            }
        ).drop_duplicates(["practice_code", "achievement_date"])
    ]
    held_dates = (
        Extract.objects.filter(service_year=service_year)
        .exclude(achievement_date=on)
        .values_list("achievement_date", flat=True)
        .distinct()
    )
    for held_on in sorted(set(held_dates)):
        held_claims, held_registers = claims_from_fields(
            current_field_rows(service_year_id=service_year.pk, achievement_date=held_on), held_on
        )
        claims.append(held_claims)
        registers.append(held_registers)
    try:
        calculate_items(
            pd.concat(claims, ignore_index=True),
            fees,
            pd.concat(registers, ignore_index=True),
            source=file_name,
        )
    except InputError as error:
        raise ExtractRejected(file_name, error.problems, error.total) from error


def _practice_ids() -> dict[str, int]:
    """Every practice, open or closed: the parser's list of known codes and the store's code → id map."""
    return dict(
        Organisation.objects.filter(type=OrganisationType.PRACTICE).values_list("code", "pk").order_by("code")
    )


def _service_year_of(frame: pd.DataFrame, file_name: str) -> ServiceYear:
    services = frame["QUALITY_SERVICE"]
    counts = services.value_counts()
    code = str(counts.index[0]).strip() if len(counts) else ""
    service_year = ServiceYear.objects.filter(code=code).first() if code else None
    if service_year is None:
        line = int(services.eq(counts.index[0]).to_numpy().argmax()) + FIRST_DATA_LINE if code else 1
        raise ExtractRejected(
            file_name, [Problem(line, "QUALITY_SERVICE", f"{code!r} is not a service year known here")]
        )
    return service_year


def _check_date_in_year(achievement_date: date, service_year: ServiceYear, file_name: str) -> None:
    if not service_year.start_date <= achievement_date <= service_year.end_date:
        raise ExtractRejected(
            file_name,
            [
                Problem(
                    FIRST_DATA_LINE,
                    "ACH_DATE",
                    f"{achievement_date:%Y%m%d} is outside {service_year.code} "
                    f"({service_year.start_date:%d %B %Y} to {service_year.end_date:%d %B %Y})",
                )
            ],
        )


def _check_participation(fields: pd.DataFrame, service_year: ServiceYear, on: date, file_name: str) -> None:
    """Data flows only for practices participating on the achievement date (DOMAIN.md §5, §7)."""
    participating = [
        code
        for code, periods in participation_periods(service_year).items()
        if any(start <= on and (end is None or on <= end) for start, end in periods)
    ]
    refused = ~fields["practice_code"].isin(participating).to_numpy()
    if not refused.any():
        return
    problems = ProblemCollector(file_name)
    rows = fields.loc[refused, ["line", "practice_code"]]
    lines, codes = rows["line"].to_numpy(), rows["practice_code"].astype(str).to_numpy()
    problems.add_rows(
        lines,
        "ORG_CODE",
        lambda i: f"practice {codes[i]} is not participating in {service_year.code} on {on:%d %B %Y}",
    )
    raise ExtractRejected(file_name, problems.problems, problems.total)


# ---- Uploads through the portal: received in the request, loaded by a worker ----


def _upload_storage():
    return storages["extract_uploads"]


@guarded(nationally(Permission.SUPPORT))
@transaction.atomic
def receive_upload(*, upload, by) -> ExtractUpload:
    """Keep an uploaded file until a worker loads it. Nothing is validated here: the request returns at once
    and the whole-file checks run in the task, whose result the upload's page shows."""
    stored_name = _upload_storage().save(f"{timezone.now():%Y%m%d-%H%M%S}-{Path(upload.name).name}", upload)
    received = ExtractUpload.objects.create(
        file_name=Path(upload.name).name[:255], stored_name=stored_name, size=upload.size, uploaded_by=by
    )
    audit.record(
        actor=by, action="extract.upload_received", obj=received, after={"file_name": received.file_name}
    )
    return received


@system_step
def load_upload(*, upload_id: int) -> ExtractUpload:
    """Validate and load an upload's file as its uploader, record the outcome, and delete the file.

    Runs once per upload: an upload no longer waiting (a redelivered task) is left as it is.
    """
    with transaction.atomic():
        upload = ExtractUpload.objects.select_for_update().select_related("uploaded_by").get(pk=upload_id)
        if upload.status != ExtractUpload.Status.RECEIVED:
            return upload
        upload.status, upload.started_at = ExtractUpload.Status.LOADING, timezone.now()
        upload.save(update_fields=["status", "started_at"])
    storage = _upload_storage()
    outcome = {}
    try:
        result = load_extract(
            path=Path(storage.path(upload.stored_name)), file_name=upload.file_name, by=upload.uploaded_by
        )
    except ExtractRejected as error:
        outcome["status"] = ExtractUpload.Status.REJECTED
        outcome["problems"] = [
            {"line": p.line, "field": p.field, "message": p.message} for p in error.problems[:KEPT_PROBLEMS]
        ]
        outcome["problem_count"] = error.total
    except PermissionDenied:
        outcome["status"] = ExtractUpload.Status.FAILED
        outcome["error"] = (
            f"{upload.uploaded_by} no longer holds national Support, so the file was not loaded."
        )
    else:
        outcome["extract"] = result.extract
        outcome["status"] = (
            ExtractUpload.Status.ALREADY_LOADED if result.already_loaded else ExtractUpload.Status.LOADED
        )
    finally:
        storage.delete(upload.stored_name)
    return _finish_upload(upload_id=upload_id, **outcome)


@system_step
def fail_upload(*, upload_id: int, error: str) -> ExtractUpload:
    """An upload whose task crashed: say so, and delete its file; nothing of it was stored."""
    upload = ExtractUpload.objects.get(pk=upload_id)
    _upload_storage().delete(upload.stored_name)
    return _finish_upload(upload_id=upload_id, status=ExtractUpload.Status.FAILED, error=error)


@transaction.atomic
def _finish_upload(*, upload_id: int, **outcome) -> ExtractUpload:
    upload = ExtractUpload.objects.select_for_update().get(pk=upload_id)
    for name, value in outcome.items():
        setattr(upload, name, value)
    upload.finished_at = timezone.now()
    upload.save()
    audit.record(
        actor=None,
        action="extract.upload_finished",
        obj=upload,
        after={"status": upload.status, "extract": upload.extract_id, "problems": upload.problem_count},
    )
    return upload


@system_step
def remove_stale_uploads(*, older_than: int) -> int:
    """Delete upload files no unfinished upload waits for (a web server died between storing the file and
    committing its row), and fail uploads no worker has finished within `older_than` seconds, deleting
    their files: nothing of theirs was stored. Returns how many files were removed."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than)
    for upload in ExtractUpload.objects.filter(
        status__in=[ExtractUpload.Status.RECEIVED, ExtractUpload.Status.LOADING], uploaded_at__lt=cutoff
    ).only("pk"):
        fail_upload(upload_id=upload.pk, error="No worker finished loading the file in time.")
    storage = _upload_storage()
    waiting = set(
        ExtractUpload.objects.filter(
            status__in=[ExtractUpload.Status.RECEIVED, ExtractUpload.Status.LOADING]
        ).values_list("stored_name", flat=True)
    )
    removed = 0
    try:
        _, names = storage.listdir("")
    except FileNotFoundError:
        return 0
    for name in names:
        if name in waiting or storage.get_modified_time(name) >= cutoff:
            continue
        storage.delete(name)
        removed += 1
    return removed
