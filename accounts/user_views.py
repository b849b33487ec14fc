"""Pages for User Administrators: invite users, give and end roles, lock, unlock and retire accounts."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import actions
from .forms import GrantRoleForm, InviteUserForm
from .models import RoleGrantRequest
from .permissions import may_manage_users, organisations_managed_by
from .selectors import (
    memberships_of,
    organisation_for,
    pending_grant_for,
    pending_grants_for,
    user_managed_by,
)


@login_required
@require_http_methods(["GET", "POST"])
def invite_user(request, code):
    organisation = organisation_for(request.user, code)
    # The form is only for user administrators; a POST goes to the action, which checks for itself.
    if request.method == "GET" and not may_manage_users(request.user, organisation):
        raise PermissionDenied
    form = InviteUserForm(request.POST or None, organisation=organisation)
    if request.method == "POST" and form.is_valid():
        try:
            user = actions.create_user(
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                organisation=organisation,
                role=form.cleaned_data["role"],
                by=request.user,
                request=request,
            )
        except ValidationError as error:
            form.add_error("email", error)
        else:
            # The same words whether the address was new, already had an account, or had been retired.
            messages.success(
                request,
                f"We have emailed {user.email}. A link to set up a new account lasts 14 days; roles that "
                "approve or pay declarations start once a second administrator confirms them.",
            )
            return redirect("accounts:organisation_detail", code=organisation.code)
    return render(request, "accounts/invite_user.html", {"organisation": organisation, "form": form})


@login_required
@require_safe
def user_detail(request, pk):
    managed_user = user_managed_by(request.user, pk)
    managed = organisations_managed_by(request.user).order_by("code")
    # The role list depends on the organisation, so the organisation is chosen first (or is the only one).
    chosen = managed.filter(code=request.GET.get("organisation", "")).first()
    if chosen is None and request.GET.get("organisation") is None:
        first_two = list(managed[:2])
        chosen = first_two[0] if len(first_two) == 1 else None
    context = {
        "managed_user": managed_user,
        "memberships": memberships_of(managed_user, seen_by=request.user),
        "pending_grants": pending_grants_for(managed_user, seen_by=request.user),
        "organisations": managed if chosen is None else None,
        "chosen": chosen,
        "may_choose_another": "organisation" in request.GET,
        "grant_form": GrantRoleForm(organisations=managed, organisation=chosen) if chosen else None,
    }
    return render(request, "accounts/user_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def retire(request, pk):
    """Retiring closes an account for good, so it is asked for on a page of its own and confirmed."""
    managed_user = user_managed_by(request.user, pk)
    if request.method == "POST":
        _attempt(request, lambda: actions.retire_user(user=managed_user, by=request.user), "Account retired.")
        return redirect("accounts:user_detail", pk=managed_user.pk)
    context = {"managed_user": managed_user, "roles": memberships_of(managed_user, seen_by=request.user)}
    return render(request, "accounts/retire_user.html", context)


@login_required
@require_POST
def grant_role(request, pk):
    managed_user = user_managed_by(request.user, pk)
    form = GrantRoleForm(request.POST, organisations=organisations_managed_by(request.user))
    if form.is_valid():
        try:
            granted = actions.grant_role(
                user=managed_user,
                organisation=form.cleaned_data["organisation"],
                role=form.cleaned_data["role"],
                by=request.user,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            if isinstance(granted, RoleGrantRequest):
                messages.success(
                    request, "This role needs a second administrator: it starts once another confirms it."
                )
            else:
                messages.success(request, "Role given.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("accounts:user_detail", pk=managed_user.pk)


@login_required
@require_POST
def confirm_grant(request, pk, grant_pk):
    managed_user = user_managed_by(request.user, pk)
    grant_request = pending_grant_for(request.user, managed_user, grant_pk)
    _attempt(
        request,
        lambda: actions.confirm_role_grant(grant_request=grant_request, by=request.user),
        "Role confirmed.",
    )
    return redirect("accounts:user_detail", pk=managed_user.pk)


@login_required
@require_POST
def refuse_grant(request, pk, grant_pk):
    managed_user = user_managed_by(request.user, pk)
    grant_request = pending_grant_for(request.user, managed_user, grant_pk)
    _attempt(
        request,
        lambda: actions.refuse_role_grant(grant_request=grant_request, by=request.user),
        "Role refused.",
    )
    return redirect("accounts:user_detail", pk=managed_user.pk)


@login_required
@require_POST
def end_role(request, pk, membership_pk):
    managed_user = user_managed_by(request.user, pk)
    membership = get_object_or_404(
        managed_user.memberships.filter(Q(ended_at__isnull=True)), pk=membership_pk
    )
    _attempt(request, lambda: actions.end_membership(membership=membership, by=request.user), "Role ended.")
    return redirect("accounts:user_detail", pk=managed_user.pk)


@login_required
@require_POST
def set_locked(request, pk, locked):
    managed_user = user_managed_by(request.user, pk)
    done = "Account locked." if locked else "Account unlocked."
    _attempt(
        request, lambda: actions.set_user_locked(user=managed_user, locked=locked, by=request.user), done
    )
    return redirect("accounts:user_detail", pk=managed_user.pk)


@login_required
@require_POST
def reset_second_factor(request, pk):
    managed_user = user_managed_by(request.user, pk)
    _attempt(
        request,
        lambda: actions.reset_second_factor(user=managed_user, by=request.user),
        "Security code reset: they will set up their authenticator app when they next sign in.",
    )
    return redirect("accounts:user_detail", pk=managed_user.pk)


def _attempt(request, action, success: str) -> None:
    """Run an action and report a refusal of its rules as a message. A refusal of permission is not caught:
    it is a 403 page, as everywhere."""
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, success)
