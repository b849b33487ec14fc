from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from accounts.permissions import may
from achievement.models import CalculationRun

from . import actions, exports, selectors
from .charts import points_by_domain_svg
from .filters import ProviderFilter
from .forms import RecalculationForm, YearEndRunForm
from .tables import ProviderTable, RunTable


@login_required
def run_list(request):
    table = RunTable(selectors.runs_for(request.user))
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    return render(request, "achievement/calculation/run_list.html", {"table": table})


@login_required
@require_http_methods(["GET", "POST"])
def start_year_end_run(request):
    selectors.runs_for(request.user)  # support only
    form = YearEndRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        year = form.cleaned_data["service_year"]
        try:
            run = actions.start_run(
                service_year=year,
                achievement_date=year.end_date,
                kind=CalculationRun.Kind.YEAR_END,
                by=request.user,
                reason=form.cleaned_data["reason"] or f"{year.label} year end",
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("calculation:run_detail", pk=run.pk)
    return render(request, "achievement/calculation/start_year_end.html", {"form": form})


@login_required
def run_detail(request, pk):
    run = selectors.run_for(request.user, pk)
    return render(request, "achievement/calculation/run_detail.html", {"run": run})


@login_required
def run_progress(request, pk):
    """The progress fragment htmx swaps in every two seconds until the run finishes."""
    run = selectors.run_for(request.user, pk)
    return render(request, "achievement/calculation/run_progress.html", {"run": run})


@login_required
@require_http_methods(["GET", "POST"])
def retry_run(request, pk):
    run = selectors.run_for(request.user, pk)
    if request.method == "GET":
        return render(request, "achievement/calculation/retry.html", {"run": run})
    try:
        actions.retry_run(run=run, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("calculation:run_detail", pk=run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def recalculate_practice(request, code):
    selectors.runs_for(request.user)  # support only
    practice = selectors.practice_for_report(request.user, code)
    form = RecalculationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = actions.start_run(
                service_year=form.cleaned_data["service_year"],
                achievement_date=form.cleaned_data["achievement_date"],
                kind=CalculationRun.Kind.RECALCULATION,
                organisation=practice,
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("calculation:run_detail", pk=run.pk)
    return render(request, "achievement/calculation/recalculate.html", {"form": form, "practice": practice})


@login_required
def practice_summary(request, code):
    practice = selectors.practice_for_report(request.user, code)
    publications = selectors.publications_for(practice)
    publication = selectors.chosen_publication(publications, request.GET.get("publication"))
    summary = selectors.practice_summary(practice, publication) if publication else None
    context = {
        "practice": practice,
        "publications": publications,
        "publication": publication,
        "summary": summary,
        "chart": points_by_domain_svg(summary.domains) if summary else "",
        "shows_money": may(request.user, "view_finance", practice),
        "may_recalculate": selectors.may_run_calculations(request.user),
    }
    return render(request, "achievement/calculation/practice_summary.html", context)


@login_required
def provider_report(request, code):
    organisation = selectors.commissioner_for_report(request.user, code)
    publications = selectors.publications_for()
    publication = selectors.chosen_publication(publications, request.GET.get("publication"))
    results = selectors.provider_results(organisation, publication)
    provider_filter = ProviderFilter(request.GET, queryset=results)
    table = ProviderTable(provider_filter.qs, publication=publication)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    export_format = request.GET.get("_export")
    if TableExport.is_valid_format(export_format) and publication is not None:
        name = (
            f"achievement-{organisation.code}-{publication.service_year.code}-{publication.achievement_date}"
        )
        return TableExport(export_format, table).response(f"{name}.{export_format}")
    context = {
        "organisation": organisation,
        "publications": publications,
        "publication": publication,
        "table": table,
        "filter": provider_filter,
    }
    return render(request, "achievement/calculation/provider_report.html", context)


def _export(request, code, lines, suffix):
    from accounts.selectors import organisation_for

    organisation = organisation_for(request.user, code, selectors.VIEW_ACHIEVEMENT)
    publication = selectors.chosen_publication(selectors.publications_for(), request.GET.get("publication"))
    if publication is None:
        return HttpResponse("No published achievement yet.\n", content_type="text/plain")
    rows = selectors.export_rows(organisation, publication)
    response = StreamingHttpResponse(lines(rows, publication), content_type="text/csv")
    name = (
        f"{publication.service_year.code}-{publication.achievement_date:%Y%m%d}-{organisation.code}-{suffix}"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@login_required
def publication_export(request, code):
    return _export(request, code, exports.publication_lines, "ACHIEVEMENT")


@login_required
def achieved_points_export(request, code):
    return _export(request, code, exports.achieved_points_lines, "ACHIEVED_POINTS")


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request):
    if request.method == "POST":
        actions.mark_notifications_read(user=request.user)
        return redirect("calculation:notifications")
    return render(
        request,
        "achievement/calculation/notifications.html",
        {"notifications": selectors.notifications_for(request.user)},
    )
