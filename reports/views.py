from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from accounts.permissions import Permission, may
from accounts.selectors import commissioner_or_national_for, organisation_for, practice_for
from calculation.selectors import may_run_calculations

from . import exports, selectors
from .charts import points_by_domain_svg
from .filters import ProviderFilter
from .tables import ProviderTable


@login_required
@require_safe
def practice_summary(request, code):
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    publications = selectors.publications_for(practice)
    publication = selectors.chosen_publication(publications, request.GET.get("publication"))
    summary = selectors.practice_summary(practice, publication) if publication else None
    context = {
        "practice": practice,
        "publications": publications,
        "publication": publication,
        "summary": summary,
        "chart": points_by_domain_svg(summary.domains) if summary else "",
        "shows_money": may(request.user, Permission.VIEW_FINANCE, practice),
        "may_recalculate": may_run_calculations(request.user),
    }
    return render(request, "reports/practice_summary.html", context)


@login_required
@require_safe
def provider_report(request, code):
    organisation = commissioner_or_national_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
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
    return render(request, "reports/provider_report.html", context)


def _export(request, code, lines, suffix):
    organisation = organisation_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
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
@require_safe
def publication_export(request, code):
    return _export(request, code, exports.publication_lines, "ACHIEVEMENT")


@login_required
@require_safe
def achieved_points_export(request, code):
    return _export(request, code, exports.achieved_points_lines, "ACHIEVED_POINTS")
