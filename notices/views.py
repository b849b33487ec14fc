"""Service notices: readers see those addressed to them and dismiss the banner; Service Management
publishes, corrects and archives them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.permissions import Permission, may_nationally
from notifications.tasks import email_after_commit

from . import actions, selectors
from .forms import NoticeForm


def _manages_notices(user) -> bool:
    return may_nationally(user, Permission.MANAGE_SERVICES)


def _managed_notice(user, pk: int):
    if not _manages_notices(user):
        raise Http404
    return get_object_or_404(selectors.all_notices(), pk=pk)


@login_required
@require_safe
def notice_list(request):
    manages = _manages_notices(request.user)
    notices = selectors.all_notices().filter(selectors.in_force()) if manages else None
    context = {
        "notices": notices if manages else selectors.notices_in_force_for(request.user),
        "manages": manages,
    }
    return render(request, "notices/notice_list.html", context)


@login_required
@require_safe
def notice_archive(request):
    return render(
        request, "notices/archive.html", {"notices": selectors.archived_notices_for(request.user)[:200]}
    )


@login_required
@require_http_methods(["GET", "POST"])
def notice_create(request):
    if not _manages_notices(request.user):
        raise Http404
    form = NoticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            notice = actions.publish_notice(values=form.values(), by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if notice.urgent:
                email_after_commit()
            messages.success(
                request, f"Published: “{notice.title}”.{' Emailed to its readers.' if notice.urgent else ''}"
            )
            return redirect("notices:list")
    return render(request, "notices/notice_form.html", {"form": form, "notice": None})


@login_required
@require_http_methods(["GET", "POST"])
def notice_edit(request, pk):
    notice = _managed_notice(request.user, pk)
    if not notice.in_force:
        raise Http404
    form = NoticeForm(request.POST or None, initial=NoticeForm.initial_for(notice))
    if request.method == "POST" and form.is_valid():
        was_urgent = notice.urgent
        try:
            notice = actions.edit_notice(notice=notice, values=form.values(), by=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if notice.urgent and not was_urgent:
                email_after_commit()
            messages.success(request, f"Saved: “{notice.title}”.")
            return redirect("notices:list")
    return render(request, "notices/notice_form.html", {"form": form, "notice": notice})


@login_required
@require_http_methods(["GET", "POST"])
def notice_archive_confirm(request, pk):
    notice = _managed_notice(request.user, pk)
    if request.method == "POST":
        try:
            actions.archive_notice(notice=notice, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Archived: “{notice.title}” is no longer shown.")
        return redirect("notices:list")
    return render(request, "notices/archive_confirm.html", {"notice": notice})


@login_required
@require_POST
def notice_dismiss(request, pk):
    notice = selectors.notice_for(request.user, pk)
    actions.dismiss_notice(notice=notice, by=request.user)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure()):
        back = "/"
    return redirect(back or "/")
