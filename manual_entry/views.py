from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from accounts.permissions import Permission, may_nationally
from accounts.selectors import practice_for
from participation.models import ServiceYear

from . import actions
from .forms import ManualEntryForm
from .selectors import (
    manual_entry_sheet,
    missing_manual_answers,
    service_year_for_practice,
    service_years_of_practice,
)


@login_required
@require_safe
def manual_entry_years(request, code):
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    years = list(service_years_of_practice(practice))
    return render(request, "manual_entry/manual_entry_years.html", {"practice": practice, "years": years})


@login_required
@require_http_methods(["GET", "POST"])
def manual_entry(request, code, year):
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    service_year = service_year_for_practice(practice, year)
    sheet = manual_entry_sheet(user=request.user, practice=practice, service_year=service_year)
    read_only = not sheet.may_enter or sheet.locked
    # A POST always reaches the action, which decides who may enter and until when.
    posted = request.method == "POST"
    form = ManualEntryForm(
        request.POST if posted else None, rows=sheet.rows, disabled=read_only and not posted
    )
    if posted and form.is_valid():
        try:
            changed = actions.enter_manual_answers(
                practice=practice, service_year=service_year, answers=form.answers(), by=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved {len(changed)} answer{'s' if len(changed) != 1 else ''}.")
            return redirect("manual_entry:manual_entry", code=practice.code, year=service_year.code)
    return render(
        request, "manual_entry/manual_entry.html", {"sheet": sheet, "form": form, "read_only": read_only}
    )


@login_required
@require_http_methods(["GET", "POST"])
def set_missing_answers(request, year):
    # The page is for Service Management; the POST goes to the action, which refuses anyone else itself.
    if request.method == "GET" and not may_nationally(request.user, Permission.MANAGE_SERVICES):
        raise Http404
    service_year = get_object_or_404(ServiceYear, code=year)
    if request.method == "POST":
        created = actions.set_missing_answers_to_yes(service_year=service_year, by=request.user)
        messages.success(request, f"{created} missing answer{'s' if created != 1 else ''} set to Yes.")
        return redirect("manual_entry:set_missing_answers", year=service_year.code)
    missing = missing_manual_answers(service_year)
    context = {
        "service_year": service_year,
        "indicator_count": missing.indicator_count,
        "participating": missing.participating,
        "missing": missing.missing,
    }
    return render(request, "manual_entry/set_missing_answers.html", context)
