from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import OrganisationType
from accounts.permissions import Permission, may, may_nationally
from accounts.selectors import commissioner_or_national_for, practice_for
from accounts.tabular import csv_response, pounds
from participation.models import ServiceYear

from . import actions, selectors
from .charts import cumulative_svg
from .forms import AcknowledgementForm, AspirationAmountForm, WriteOffForm
from .models import PaymentBatch, PaymentLine

P = Permission
COMMISSIONERS = {OrganisationType.ICB, OrganisationType.SUB_ICB}


def _national_finance(user) -> None:
    if not may_nationally(user, P.MANAGE_FINANCE):
        raise Http404


@login_required
@require_safe
def statement(request, code):
    practice = practice_for(request.user, code, P.VIEW_FINANCE)
    years = selectors.payment_years([practice])
    year = selectors.chosen_year(years, request.GET.get("year"))
    page = selectors.statement(practice, year) if year else None
    if page and request.GET.get("format") == "csv":
        headers = ["REFERENCE", "COMPONENT", "ACHIEVEMENT_DATE", "DUE_DATE", "STATUS", "AMOUNT_GBP",
                   "RUNNING_TOTAL_GBP", "BATCH"]  # fmt: skip
        rows = [
            [
                row.line.reference,
                row.line.component,
                row.line.achievement_date,
                row.line.due_date,
                row.when,
                f"{row.line.amount:.2f}",
                f"{row.running_total:.2f}",
                row.line.batch.reference if row.line.batch else "",
            ]
            for row in page["rows"]
        ]
        return csv_response(headers, rows, f"payments-{practice.code}-{year.code}")
    context = {
        "practice": practice,
        "years": years,
        "year": year,
        "page": page,
        "chart": cumulative_svg([row.running_total for row in page["rows"]], page["achievement"])
        if page
        else "",
        "may_write_off": may(request.user, P.MANAGE_FINANCE, practice),
    }
    return render(request, "payments/statement.html", context)


@login_required
@require_POST
def write_off(request, code):
    practice = practice_for(request.user, code, P.VIEW_FINANCE)
    form = WriteOffForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the line's reference and the reason for writing it off.")
        return redirect("payments:statement", code=practice.code)
    line = get_object_or_404(PaymentLine, payee=practice, reference=form.cleaned_data["reference"])
    try:
        actions.write_off(line=line, reason=form.cleaned_data["reason"], by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{line.reference} is written off.")
    return redirect(f"{_statement_url(practice)}?year={line.service_year.code}")


def _statement_url(practice):
    return reverse("payments:statement", kwargs={"code": practice.code})


@login_required
@require_http_methods(["GET", "POST"])
def aspiration(request, code):
    """A practice's aspiration for a year: the calculated amount, and the amount commissioner finance agreed
    or set provisionally instead, with its history and the adjustments replacing it made."""
    practice = practice_for(request.user, code, P.VIEW_FINANCE)
    years = list(
        ServiceYear.objects.filter(payment_kind=ServiceYear.PaymentKind.POINTS).order_by("-financial_year")
    )
    year = selectors.chosen_year(years, request.GET.get("year") or request.POST.get("year"))
    if year is None:
        raise Http404
    here = f"{reverse('payments:aspiration', kwargs={'code': practice.code})}?year={year.code}"
    form = AspirationAmountForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, "Choose the kind of amount and give the reason (and the annual amount).")
            return redirect(here)
        try:
            amount, adjustment = actions.set_aspiration_amount(
                practice=practice, service_year=year, kind=form.cleaned_data["kind"],
                annual=form.cleaned_data["annual"], reason=form.cleaned_data["reason"], by=request.user,
            )  # fmt: skip
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            replaced = (
                f"; adjustment {adjustment.reference} of {pounds(adjustment.amount)} awaits approval"
                if adjustment
                else ""
            )
            messages.success(
                request,
                f"{year.name} aspiration for {practice.code} is now {pounds(amount.annual)} "
                f"({amount.get_kind_display().lower()}){replaced}.",
            )
        return redirect(here)
    context = {
        "practice": practice,
        "years": years,
        "year": year,
        "page": selectors.aspiration_page(practice, year),
        "form": form,
        "may_set": may(request.user, P.MANAGE_FINANCE, practice),
    }
    return render(request, "payments/aspiration.html", context)


@login_required
@require_safe
def commissioner(request, code):
    organisation = commissioner_or_national_for(request.user, code, P.VIEW_FINANCE)
    years = list(
        ServiceYear.objects.filter(payment_lines__isnull=False).distinct().order_by("-financial_year")
    )
    all_years = list(ServiceYear.objects.order_by("-financial_year"))
    year = selectors.chosen_year(years, request.GET.get("year"))
    context = {
        "organisation": organisation,
        "years": years,
        "year": year,
        "all_years": all_years,
        "page": selectors.commissioner_payments(organisation, year),
        "may_approve": organisation.type in COMMISSIONERS
        and may(request.user, P.MANAGE_FINANCE, organisation),
        "may_release": may_nationally(request.user, P.MANAGE_FINANCE),
    }
    return render(request, "payments/commissioner.html", context)


@login_required
@require_POST
def approve(request, code):
    organisation = commissioner_or_national_for(request.user, code, P.VIEW_FINANCE)
    if organisation.type not in COMMISSIONERS:
        raise Http404
    service_year = get_object_or_404(ServiceYear, code=request.POST.get("year", ""))
    what = request.POST.get("what")
    try:
        if what == "aspiration":
            written = actions.approve_aspiration(
                service_year=service_year, commissioner=organisation, by=request.user
            )
            messages.success(
                request, f"{service_year.name} aspiration approved: {written} new instalment lines."
            )
        elif what == "year_end":
            written = actions.approve_year_end(
                service_year=service_year, commissioner=organisation, by=request.user
            )
            messages.success(request, f"{service_year.name} year end approved: {written} new balance lines.")
        else:
            lines = list(
                PaymentLine.objects.filter(
                    status=PaymentLine.Status.AWAITING_APPROVAL,
                    reference__in=request.POST.getlist("reference"),
                )
            )
            approved = actions.approve_lines(commissioner=organisation, lines=lines, by=request.user)
            messages.success(request, f"{approved} adjustment{'s' if approved != 1 else ''} approved.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("payments:commissioner", code=organisation.code)


@login_required
@require_http_methods(["GET", "POST"])
def release(request):
    """Finance's preview of what releasing now would send, and the release itself: every approved line due
    by the next payment date goes into one batch with its agency file."""
    if request.method == "POST":
        batch, _ = actions.release(cutoff=timezone.now(), by=request.user)
        messages.success(
            request,
            f"Released {batch.reference}: {batch.line_count} lines, £{batch.total:,.2f}, "
            f"paid {batch.payment_date:%-d %B %Y}.",
        )
        return redirect("payments:release")
    _national_finance(request.user)
    context = {"page": selectors.release_preview(timezone.now()), "form": AcknowledgementForm()}
    return render(request, "payments/release.html", context)


@login_required
@require_POST
def acknowledgement(request):
    form = AcknowledgementForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose the acknowledgement file to import.")
        return redirect("payments:release")
    try:
        text = form.cleaned_data["file"].read().decode("utf-8-sig")
        record = actions.import_acknowledgement(text=text, by=request.user)
    except UnicodeDecodeError:
        messages.error(request, "The acknowledgement file must be UTF-8 text.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Imported: {record.paid} paid, {record.rejected} rejected (returned to finance), "
            f"{record.unchanged} already recorded.",
        )
    return redirect("payments:release")


@login_required
@require_safe
def agency_file(request, reference):
    _national_finance(request.user)
    batch = get_object_or_404(PaymentBatch.objects.select_related("agency_file"), reference=reference)
    response = HttpResponse(batch.agency_file.content.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{batch.agency_file.filename}"'
    response["X-Content-SHA256"] = batch.agency_file.sha256
    return response
