from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from .models import OrganisationType
from .permissions import may_manage_users
from .selectors import memberships_at, organisation_for


@login_required
@require_safe
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
