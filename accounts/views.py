from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from .models import OrganisationType
from .permissions import may_manage_users
from .selectors import organisation_for, organisations_below, users_and_roles_at


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
        "members": users_and_roles_at(organisation) if may_manage_users(request.user, organisation) else None,
        # A commissioner's or NHS England's page lists what lies below it: ICB-only roles reach their
        # sub-ICB locations and practices from here.
        "below": organisations_below(organisation) if organisation.type != OrganisationType.PRACTICE else [],
    }
    return render(request, "accounts/organisation_detail.html", context)
