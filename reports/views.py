from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_safe
from django_tables2 import RequestConfig

from accounts.models import OrganisationType
from accounts.permissions import Permission, may
from accounts.selectors import commissioner_or_national_for, organisation_for, practice_for
from accounts.tabular import download
from calculation.selectors import may_read_runs, may_run_calculations
from engine.ruleset import MANUAL, PERCENTAGE
from payments.selectors import payment_state_of, payment_states

from . import explain, exports, forecast, opportunities, selectors
from .charts import distribution_svg, forecast_svg, points_by_domain_svg, threshold_curve_svg, trend_svgs
from .filters import ProviderFilter
from .forms import OpportunityFilterForm, WhatIfForm
from .page_cache import cached_fragment, publications_key
from .tables import ForecastTable, OpportunityTable, ProviderTable


@login_required
@require_safe
def practice_summary(request, code):
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    publications = list(selectors.publications_for(practice))
    publication = selectors.chosen_publication(
        selectors.publications_for(practice), request.GET.get("publication"), listed=publications
    )
    shows_money = may(request.user, Permission.VIEW_FINANCE, practice)
    context = {
        "practice": practice,
        "publications": publications,
        "publication": publication,
        "shows_money": shows_money,
        "payment_state": payment_state_of(practice, publication) if publication and shows_money else None,
        "may_recalculate": may_run_calculations(request.user),
        "query": f"?publication={publication.pk}" if publication else "",
    }

    def body() -> str:
        summary = selectors.practice_summary(practice, publication) if publication else None
        charts = {
            "chart": points_by_domain_svg(summary.domains) if summary else "",
            "trend_charts": trend_svgs(summary.trend, shows_money=shows_money) if summary else [],
        }
        return render_to_string(SUMMARY_BODY, {**context, "summary": summary, **charts}, request)

    # The trend lists the year's other publications: they are part of the key.
    key = (practice.pk, publication and publication.pk, publications_key(publications))
    # The payment status moves with releases and acknowledgements, not with publications.
    key += (context["shows_money"], context["may_recalculate"], context["payment_state"])
    context["body"] = cached_fragment(SUMMARY_BODY, key, body)
    return render(request, "reports/practice_summary.html", context)


SUMMARY_BODY = "reports/includes/practice_summary_body.html"


@login_required
@require_safe
def provider_report(request, code):
    organisation = commissioner_or_national_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    publications = list(selectors.publications_for())
    publication = selectors.chosen_publication(
        selectors.publications_for(), request.GET.get("publication"), listed=publications
    )
    results = selectors.provider_results(organisation, publication)
    provider_filter = ProviderFilter(request.GET, queryset=results)
    states = (
        payment_states(publication.service_year, publication.achievement_date, results.values("practice_id"))
        if publication is not None
        else {}
    )

    def table() -> ProviderTable:
        table = ProviderTable(provider_filter.qs, publication=publication, payment_states=states)
        RequestConfig(request, paginate={"per_page": 50}).configure(table)
        return table

    if publication is not None:
        name = (
            f"achievement-{organisation.code}-{publication.service_year.code}-{publication.achievement_date}"
        )
        if request.GET.get("_export") and (response := download(request, table(), name)):
            return response
    context = {
        "organisation": organisation,
        "publications": publications,
        "publication": publication,
        "filter": provider_filter,
        "is_commissioner": organisation.type in COMMISSIONERS,
    }
    # The filters, sorting and page are all in the query string.
    key = (organisation.pk, publication and publications_key([publication]), sorted(request.GET.lists()))
    key += (sorted(states.items()),)  # payment statuses move with releases, not with publications

    def fragment() -> str:
        # The distribution chart counts the practices the filters list, from the same published figures: it
        # is kept with the table, under the same key.
        bands = selectors.achievement_distribution(provider_filter.qs, publication) if publication else []
        charts = {"bands": bands, "distribution": distribution_svg(bands)}
        return render_to_string(PROVIDER_TABLE, {**context, **charts, "table": table()}, request)

    context["table_html"] = cached_fragment(PROVIDER_TABLE, key, fragment)
    return render(request, "reports/provider_report.html", context)


PROVIDER_TABLE = "reports/includes/provider_table.html"


def _export(request, code, lines, suffix):
    organisation = organisation_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    publication = selectors.chosen_publication(selectors.publications_for(), request.GET.get("publication"))
    if publication is None:
        return HttpResponse("No published achievement yet.\n", content_type="text/plain")
    rows = selectors.export_rows(organisation, publication)
    # The provider report's filters travel with its download links: the file holds the practices listed.
    chosen = ProviderFilter(request.GET, queryset=selectors.provider_results(organisation, publication))
    if any(request.GET.get(name) for name in chosen.filters):
        if not chosen.is_valid():
            return HttpResponse(
                "The filter is not valid: go back and correct it.\n", status=400, content_type="text/plain"
            )
        rows = rows.filter(practice_id__in=chosen.qs.values("practice_id"))
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


def _calculation_for(request, code):
    """The practice (in the user's scope), the publication asked for, and its explained calculation."""
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    publications = selectors.publications_for(practice)
    publication = selectors.chosen_publication(publications, request.GET.get("publication"))
    calculation = explain.practice_calculation(practice, publication) if publication else None
    return {
        "practice": practice,
        "publications": publications,
        "publication": publication,
        "calculation": calculation,
        "shows_money": may(request.user, Permission.VIEW_FINANCE, practice),
        "may_read_runs": may_read_runs(request.user),
        "query": f"?publication={publication.pk}" if publication else "",
    }


@login_required
@require_safe
def explain_indicator(request, code, indicator):
    """How one indicator line earned its points and pounds, recomputed; and what if its counts changed."""
    context = _calculation_for(request, code)
    calculation = context["calculation"]
    if calculation is None:
        return render(request, "reports/explain_indicator.html", context)
    line = calculation.line(indicator)
    if line is None:
        raise Http404
    form = what_if = None
    if line.rule.kind in {PERCENTAGE, MANUAL} and not line.result.income_protected:
        submitted = any(name in request.GET for name in WhatIfForm.FIELDS)
        form = WhatIfForm(request.GET if submitted else None, line=line)
        if submitted and form.is_valid():
            what_if = explain.what_if(calculation, line, **form.changes())
    context.update(
        line=line,
        sources=explain.line_sources(calculation, line),
        next_patients=explain.next_patients(calculation, line),
        form=form,
        what_if=what_if,
        changes=calculation.changes_to([line.code]),
    )
    if line.rule.kind == PERCENTAGE and not line.result.income_protected:
        context["curve"] = threshold_curve_svg(line.rule, line.explanation)
        if what_if is not None:
            context["what_if_curve"] = threshold_curve_svg(line.rule, line.explanation, what_if.explanation)
    if request.headers.get("HX-Request") == "true" and form is not None:
        return render(request, "reports/includes/what_if_result.html", context)
    return render(request, "reports/explain_indicator.html", context)


def _explain_part(request, code, part_of, level):
    context = _calculation_for(request, code)
    calculation = context["calculation"]
    if calculation is not None:
        part = part_of(calculation)
        if part is None:
            raise Http404
        context.update(
            part=part, level=level, changes=calculation.changes_to([line.code for line in part.lines])
        )
    return render(request, "reports/explain_part.html", {**context, "level": level})


@login_required
@require_safe
def explain_practice(request, code):
    """The practice's total points and payment: the sum of its domains, and next year's aspiration."""
    return _explain_part(request, code, lambda calculation: calculation.practice_part, "practice")


@login_required
@require_safe
def explain_domain(request, code, domain):
    return _explain_part(request, code, lambda calculation: calculation.domain(domain), "domain")


@login_required
@require_safe
def explain_group(request, code, group):
    return _explain_part(request, code, lambda calculation: calculation.group(group), "group")


COMMISSIONERS = {OrganisationType.ICB, OrganisationType.SUB_ICB}


def _opportunity_page(request, organisation, publications, template, **extra):
    publication = selectors.chosen_publication(publications, request.GET.get("publication"))
    shows_money = may(request.user, Permission.VIEW_FINANCE, organisation)
    found = (
        opportunities.opportunities(organisation, publication, by_money=shows_money) if publication else None
    )
    filter_form = OpportunityFilterForm(request.GET or None)
    rows = filter_form.apply(found.opportunities) if found else []

    table = OpportunityTable(rows, publication=publication, shows_money=shows_money, **extra)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    if publication is not None:
        year, on = publication.service_year.code, publication.achievement_date
        if response := download(request, table, f"opportunities-{organisation.code}-{year}-{on}"):
            return response
    context = {
        "organisation": organisation,
        "practice": organisation,
        "publications": publications,
        "publication": publication,
        "found": found,
        "table": table,
        "filter": {"form": filter_form},
        "shows_money": shows_money,
    }
    return render(request, template, context)


@login_required
@require_safe
def opportunities_page(request, code):
    """A practice's opportunities: unanswered manual indicators first, then patients by what each is worth."""
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    return _opportunity_page(
        request,
        practice,
        selectors.publications_for(practice),
        "reports/opportunities.html",
        exclude=["practice"],
    )


@login_required
@require_safe
def commissioner_opportunities(request, code):
    """The biggest opportunities across a commissioner's practices."""
    organisation = commissioner_or_national_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    if organisation.type not in COMMISSIONERS:
        raise Http404
    return _opportunity_page(
        request, organisation, selectors.publications_for(), "reports/commissioner_opportunities.html"
    )


def _forecast_for(request, organisation, practice=None):
    years = forecast.forecast_years(practice)
    code = request.GET.get("year")
    year = get_object_or_404(years, code=code) if code else years.first()
    return {
        "organisation": organisation,
        "practice": organisation,
        "years": years,
        "year": year,
        "forecast": forecast.forecast(organisation, year) if year else None,
        "shows_money": may(request.user, Permission.VIEW_FINANCE, organisation),
    }


@login_required
@require_safe
def forecast_page(request, code):
    """The practice's forecast year end from its in-year runs, the aspiration and balance that follow."""
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    context = _forecast_for(request, practice, practice)
    result = context["forecast"]
    item = result.practices[0] if result and result.practices else None
    context.update(item=item, chart=forecast_svg(item, result.service_year) if item else "")
    return render(request, "reports/forecast.html", context)


@login_required
@require_safe
def commissioner_forecast(request, code):
    """Forecast totals for a commissioner's practices, and each practice's forecast."""
    organisation = commissioner_or_national_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    if organisation.type not in COMMISSIONERS:
        raise Http404
    context = _forecast_for(request, organisation)
    result = context["forecast"]
    table = ForecastTable(result.practices if result else [], shows_money=context["shows_money"])
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    if result is not None:
        name = f"forecast-{organisation.code}-{result.service_year.code}-{result.as_of.achievement_date}"
        if response := download(request, table, name):
            return response
    context["table"] = table
    return render(request, "reports/commissioner_forecast.html", context)
