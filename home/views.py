"""Pages that gather several apps: each user's home page and the practice list with its checklist."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from accounts.selectors import active_memberships_of, practice_list_for, practices_held_by
from declarations.selectors import work_list

from .checklist import annotate_year_end_checklist, year_end_checklists
from .filters import PracticeFilter
from .tables import PracticeTable


@login_required
@require_safe
def index(request):
    organisations = {}
    for membership in active_memberships_of(request.user):
        organisations.setdefault(membership.organisation, []).append(membership.get_role_display())
    checklists = year_end_checklists(practices_held_by(request.user))
    year_end = [(o, checklists[o.pk]) for o in organisations if o.pk in checklists]
    context = {"organisations": organisations, "year_end": year_end, "work": work_list(request.user)}
    return render(request, "home/home.html", context)


@login_required
@require_safe
def practice_list(request):
    practices, checklist = annotate_year_end_checklist(practice_list_for(request.user))
    practice_filter = PracticeFilter(request.GET, queryset=practices)
    table = PracticeTable(practice_filter.qs, checklist=checklist)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    export_format = request.GET.get("_export")
    if TableExport.is_valid_format(export_format):
        return TableExport(export_format, table, exclude_columns=()).response(f"practices.{export_format}")
    return render(request, "home/practice_list.html", {"table": table, "filter": practice_filter})
