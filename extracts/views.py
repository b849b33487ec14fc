from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_safe
from django_tables2 import RequestConfig

from accounts.exports import is_export_format, table_export

from . import actions, selectors, tasks
from .filters import ExtractFilter
from .forms import ExtractUploadForm
from .tables import ExtractTable


@login_required
@require_safe
def extract_list(request):
    extract_filter = ExtractFilter(request.GET, queryset=selectors.extracts_for(request.user))
    table = ExtractTable(extract_filter.qs)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    export_format = request.GET.get("_export")
    if is_export_format(export_format):
        return table_export(export_format, table, f"extracts.{export_format}")
    context = {
        "table": table,
        "filter": extract_filter,
        "may_load": selectors.may_load_extracts(request.user),
    }
    return render(request, "extracts/extract_list.html", context)


@login_required
@require_safe
def extract_detail(request, pk):
    extract = selectors.extract_for(request.user, pk)
    context = {"extract": extract, "superseded_later": selectors.values_superseded_later(extract)}
    return render(request, "extracts/extract_detail.html", context)


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
    if request.method == "GET":
        selectors.require_extract_loading_rights(request.user)
    limit = settings.EXTRACT_UPLOAD_MAX_BYTES
    request.upload_handlers.insert(0, ExtractSizeLimitHandler(request, limit=limit))
    return _extract_upload(request)


@csrf_protect
def _extract_upload(request):
    limit = settings.EXTRACT_UPLOAD_MAX_BYTES
    if request.method != "POST":
        return render(request, "extracts/extract_upload.html", {"form": ExtractUploadForm(limit=limit)})
    form = ExtractUploadForm(
        request.POST, request.FILES, limit=limit, too_large=getattr(request, "extract_too_large", False)
    )
    if not form.is_valid():
        return render(request, "extracts/extract_upload.html", {"form": form}, status=400)
    upload = actions.receive_upload(upload=form.cleaned_data["file"], by=request.user)
    tasks.load_after_commit(upload)
    return redirect("extracts:upload_detail", pk=upload.pk)


@login_required
@require_safe
def upload_detail(request, pk):
    upload = selectors.upload_for(request.user, pk)
    return render(request, "extracts/upload_detail.html", {"upload": upload})


@login_required
@require_safe
def upload_progress(request, pk):
    """The fragment htmx swaps in every two seconds until the upload is loaded or refused."""
    upload = selectors.upload_for(request.user, pk)
    return render(request, "extracts/upload_progress.html", {"upload": upload})
