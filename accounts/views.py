from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from achievement.selectors import annotate_year_end_checklist, year_end_checklists

from .filters import PracticeFilter
from .models import OrganisationType
from .permissions import may_manage_users
from .selectors import (
    active_memberships_of,
    memberships_at,
    organisation_for,
    practice_list_for,
    practices_held_by,
)
from .tables import PracticeTable


@login_required
def home(request):
    memberships = list(active_memberships_of(request.user))
    organisations = {}
    for membership in memberships:
        organisations.setdefault(membership.organisation, []).append(membership.get_role_display())
    checklists = year_end_checklists(practices_held_by(request.user))
    year_end = [(o, checklists[o.pk]) for o in organisations if o.pk in checklists]
    return render(request, "accounts/home.html", {"organisations": organisations, "year_end": year_end})


@login_required
def practice_list(request):
    practices, checklist = annotate_year_end_checklist(practice_list_for(request.user))
    practice_filter = PracticeFilter(request.GET, queryset=practices)
    table = PracticeTable(practice_filter.qs, checklist=checklist)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    export_format = request.GET.get("_export")
    if TableExport.is_valid_format(export_format):
        return TableExport(export_format, table, exclude_columns=()).response(f"practices.{export_format}")
    return render(request, "accounts/practice_list.html", {"table": table, "filter": practice_filter})


@login_required
def organisation_detail(request, code):
    organisation = organisation_for(request.user, code)
    lineage = []
    parent = organisation.parent
    while parent is not None:
        lineage.append(parent)
        parent = parent.parent
    context = {
        "organisation": organisation,
        "lineage": list(reversed(lineage)),
        "pcn_memberships": organisation.pcn_memberships.select_related("pcn").order_by("-start_date")
        if organisation.type == OrganisationType.PRACTICE
        else [],
        "members": memberships_at(organisation) if may_manage_users(request.user, organisation) else None,
    }
    return render(request, "accounts/organisation_detail.html", context)
