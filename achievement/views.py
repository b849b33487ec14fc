import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from accounts.models import OrganisationType
from accounts.selectors import organisation_for
from participation.models import ServiceYear
from participation.permissions import may_manage_services

from . import actions
from .filters import ExtractFilter
from .forms import ExtractUploadForm, ManualEntryForm
from .selectors import (
    extract_for,
    extracts_list,
    manual_entry_sheet,
    may_load_extracts,
    missing_manual_answers,
    service_year_for_practice,
    service_years_of_practice,
    values_superseded_later,
)
from .tables import ExtractTable

# Problems listed on the page; the count of the rest is shown after them.
SHOWN_PROBLEMS = 25


def _require_support(user) -> None:
    if not may_load_extracts(user):
        raise Http404


@login_required
def extract_list(request):
    _require_support(request.user)
    extract_filter = ExtractFilter(request.GET, queryset=extracts_list())
    table = ExtractTable(extract_filter.qs)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    export_format = request.GET.get("_export")
    if TableExport.is_valid_format(export_format):
        return TableExport(export_format, table).response(f"extracts.{export_format}")
    return render(request, "achievement/extract_list.html", {"table": table, "filter": extract_filter})


@login_required
def extract_detail(request, pk):
    extract = extract_for(request.user, pk)
    context = {"extract": extract, "superseded_later": values_superseded_later(extract)}
    return render(request, "achievement/extract_detail.html", context)


class ExtractSizeLimitHandler(FileUploadHandler):
    """Stops reading an upload as soon as it passes the limit, before it fills the disk."""

    def __init__(self, request=None, limit: int = 0):
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.extract_too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


@csrf_exempt  # the CSRF check reads the body, so it runs below once the size limit is in place
@login_required
@require_http_methods(["GET", "POST"])
def extract_upload(request):
    _require_support(request.user)
    limit = settings.EXTRACT_UPLOAD_MAX_BYTES
    request.upload_handlers.insert(0, ExtractSizeLimitHandler(request, limit=limit))
    return _extract_upload(request)


@csrf_protect
def _extract_upload(request):
    limit = settings.EXTRACT_UPLOAD_MAX_BYTES
    if request.method != "POST":
        return render(request, "achievement/extract_upload.html", {"form": ExtractUploadForm(limit=limit)})
    form = ExtractUploadForm(
        request.POST, request.FILES, limit=limit, too_large=getattr(request, "extract_too_large", False)
    )
    if not form.is_valid():
        return render(request, "achievement/extract_upload.html", {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    try:
        with _on_disk(upload) as path:
            result = actions.load_extract(path=path, file_name=upload.name, by=request.user)
    except actions.ExtractRejected as error:
        context = {
            "form": ExtractUploadForm(limit=limit),
            "file_name": upload.name,
            "problems": error.problems[:SHOWN_PROBLEMS],
            "more_problems": error.total - min(len(error.problems), SHOWN_PROBLEMS),
        }
        return render(request, "achievement/extract_upload.html", context, status=400)
    extract = result.extract
    if result.already_loaded:
        messages.info(
            request,
            f"{upload.name} is identical to extract {extract.pk}, loaded on "
            f"{extract.uploaded_at:%d %B %Y at %H:%M}. Nothing was changed.",
        )
    else:
        messages.success(
            request,
            f"{upload.name} was loaded: {extract.row_count:,} values for {extract.practice_count} practices.",
        )
    return redirect("achievement:extract_detail", pk=extract.pk)


class _on_disk:
    """The upload's path on disk: Django's temporary file when it streamed there, else a copy."""

    def __init__(self, upload):
        self.upload = upload
        self.copy = None

    def __enter__(self) -> Path:
        if hasattr(self.upload, "temporary_file_path"):
            return Path(self.upload.temporary_file_path())
        self.copy = tempfile.NamedTemporaryFile(suffix=".csv")
        for chunk in self.upload.chunks():
            self.copy.write(chunk)
        self.copy.flush()
        return Path(self.copy.name)

    def __exit__(self, *exc):
        if self.copy is not None:
            self.copy.close()
        return False


# ---- Manual entry ----


def _practice(request, code: str):
    practice = organisation_for(request.user, code, "view_achievement")
    if practice.type != OrganisationType.PRACTICE:
        raise Http404
    return practice


@login_required
def manual_entry_years(request, code):
    practice = _practice(request, code)
    years = list(service_years_of_practice(practice))
    return render(request, "achievement/manual_entry_years.html", {"practice": practice, "years": years})


@login_required
@require_http_methods(["GET", "POST"])
def manual_entry(request, code, year):
    practice = _practice(request, code)
    service_year = service_year_for_practice(practice, year)
    sheet = manual_entry_sheet(user=request.user, practice=practice, service_year=service_year)
    read_only = not sheet.may_enter or sheet.locked
    form = ManualEntryForm(request.POST or None, rows=sheet.rows, disabled=read_only)
    if request.method == "POST" and not read_only and form.is_valid():
        try:
            changed = actions.enter_manual_answers(
                practice=practice, service_year=service_year, answers=form.answers(), by=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved {len(changed)} answer{'s' if len(changed) != 1 else ''}.")
            return redirect("achievement:manual_entry", code=practice.code, year=service_year.code)
    return render(
        request, "achievement/manual_entry.html", {"sheet": sheet, "form": form, "read_only": read_only}
    )


@login_required
@require_http_methods(["GET", "POST"])
def set_missing_answers(request, year):
    if not may_manage_services(request.user):
        raise Http404
    service_year = get_object_or_404(ServiceYear, code=year)
    if request.method == "POST":
        created = actions.set_missing_answers_to_yes(service_year=service_year, by=request.user)
        messages.success(request, f"{created} missing answer{'s' if created != 1 else ''} set to Yes.")
        return redirect("achievement:set_missing_answers", year=service_year.code)
    missing = missing_manual_answers(service_year)
    context = {
        "service_year": service_year,
        "indicator_count": missing.indicator_count,
        "participating": missing.participating,
        "missing": missing.missing,
    }
    return render(request, "achievement/set_missing_answers.html", context)
