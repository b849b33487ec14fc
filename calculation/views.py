from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe
from django_tables2 import RequestConfig

from accounts.models import Organisation, OrganisationType
from accounts.permissions import Permission
from accounts.selectors import practice_for

from . import actions, selectors, tasks
from .forms import (
    PayeeNominationForm,
    PcnMembershipForm,
    PrevalenceDecisionForm,
    RecalculationForm,
    YearEndRunForm,
)
from .publication import rerun_consequences
from .tables import RunTable


@login_required
@require_safe
def run_list(request):
    table = RunTable(selectors.runs_for(request.user))
    RequestConfig(request, paginate={"per_page": 25}).configure(table)
    context = {"table": table, "may_run": selectors.may_run_calculations(request.user)}
    return render(request, "calculation/run_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def start_year_end_run(request):
    if request.method == "GET":
        selectors.require_calculation_rights(request.user)
    form = YearEndRunForm(request.POST or None)
    consequences = []
    if request.method == "POST" and form.is_valid():
        year = form.cleaned_data["service_year"]
        consequences = _unconfirmed(form, service_year=year, achievement_date=year.end_date)
    if request.method == "POST" and form.is_valid():
        try:
            run = actions.start_run(
                service_year=year,
                achievement_date=year.end_date,
                by=request.user,
                reason=form.cleaned_data["reason"] or f"{year.label} year end",
            )
        except actions.RunUnderWay as under_way:
            return _join(request, under_way)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            tasks.queue_run(run)
            return redirect("calculation:run_detail", pk=run.pk)
    return render(request, "calculation/start_year_end.html", {"form": form, "consequences": consequences})


def _unconfirmed(form, **scope) -> list[str]:
    """What the run could change (declarations reverted or flagged), and a form error until Support ticks
    that they have read it."""
    consequences = rerun_consequences(**scope)
    if consequences and not form.cleaned_data.get("confirm"):
        form.add_error("confirm", "Read what this run could change, then tick the box to start it.")
    return consequences


def _join(request, under_way: actions.RunUnderWay):
    """A second request for a scope's run (a double click, or two people at once) watches the first one."""
    messages.info(request, under_way.message)
    return redirect("calculation:run_detail", pk=under_way.run.pk)


@login_required
@require_safe
def run_detail(request, pk):
    run = selectors.run_for(request.user, pk)
    context = {"run": run, "may_run": selectors.may_run_calculations(request.user)}
    return render(request, "calculation/run_detail.html", context)


@login_required
@require_safe
def run_progress(request, pk):
    """The progress fragment htmx swaps in every two seconds until the run finishes."""
    run = selectors.run_for(request.user, pk)
    context = {"run": run, "may_run": selectors.may_run_calculations(request.user)}
    return render(request, "calculation/run_progress.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def retry_run(request, pk):
    run = selectors.run_for(request.user, pk)
    if request.method == "GET":
        context = {"run": run, "may_run": selectors.may_run_calculations(request.user)}
        return render(request, "calculation/retry.html", context)
    try:
        run = actions.retry_run(run=run, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        tasks.queue_run(run)
    return redirect("calculation:run_detail", pk=run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def recalculate_practice(request, code):
    practice = practice_for(request.user, code, Permission.VIEW_ACHIEVEMENT)
    if request.method == "GET":
        selectors.require_calculation_rights(request.user)
    form = RecalculationForm(request.POST or None, dates=selectors.dates_with_data())
    consequences = []
    if request.method == "POST" and form.is_valid():
        service_year, achievement_date = form.cleaned_data["run_date"]
        consequences = _unconfirmed(
            form, service_year=service_year, achievement_date=achievement_date, organisation=practice
        )
    if request.method == "POST" and form.is_valid():
        try:
            run = actions.start_run(
                service_year=service_year,
                achievement_date=achievement_date,
                organisation=practice,
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except actions.RunUnderWay as under_way:
            return _join(request, under_way)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            tasks.queue_run(run)
            return redirect("calculation:run_detail", pk=run.pk)
    context = {"form": form, "practice": practice, "consequences": consequences}
    return render(request, "calculation/recalculate.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def prevalence_review(request, pk):
    """A held run's national prevalence against last year's, and Support's decision on it."""
    run = selectors.run_for(request.user, pk)
    form = PrevalenceDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        decision, note = form.cleaned_data["decision"], form.cleaned_data["note"]
        try:
            if decision == "confirm":
                run = actions.confirm_prevalence(run=run, by=request.user, note=note)
                tasks.queue_run(run)
                messages.success(request, "The national prevalence is confirmed and frozen; the run goes on.")
            else:
                run = actions.reject_prevalence(run=run, by=request.user, reason=note)
                messages.success(
                    request, "The run failed and froze nothing. Retry it once the data is put right."
                )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("calculation:run_detail", pk=run.pk)
    context = {
        "page": selectors.prevalence_review_page(run),
        "form": form,
        "may_run": selectors.may_run_calculations(request.user),
    }
    return render(request, "calculation/prevalence_review.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def pcn_membership(request, code):
    """A practice's PCN memberships over time, and for its commissioner the form recording a move: the
    network dates already published after it are recalculated (docs/adr/0018-network-declarations.md)."""
    practice = practice_for(request.user, code)
    form = PcnMembershipForm(request.POST or None, pcns=selectors.pcn_choices())
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["pcn"]
        pcn = None if chosen == "none" else Organisation.objects.get(code=chosen, type=OrganisationType.PCN)
        try:
            change = actions.change_pcn_membership(
                practice=practice, pcn=pcn, start_date=form.cleaned_data["start_date"], by=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Membership recorded." + _queue_recalculations(change.runs))
            return redirect("calculation:pcn_membership", code=practice.code)
    context = {
        "practice": practice,
        "memberships": selectors.pcn_memberships_of(practice),
        "form": form,
        "may_change": selectors.may_change_pcn_membership(request.user, practice),
        "network_participation": selectors.network_participation_of(practice),
    }
    return render(request, "calculation/pcn_membership.html", context)


def _queue_recalculations(runs) -> str:
    """Queue the recalculations a network change started; what to add to its message about them."""
    for run in runs:
        tasks.queue_run(run)
    if not runs:
        return " No published network date follows it."
    recalculated = ", ".join(f"{r.service_year.code} {r.achievement_date:%-d %B %Y}" for r in runs)
    return f" Recalculating {recalculated}."


@login_required
@require_http_methods(["GET", "POST"])
def pcn_payee(request, code):
    """A PCN's nominated payees over time, its members and whether each takes part in the Network Contract
    DES, and for its commissioner (or Service Management) the form nominating a payee from a day: the
    network dates already published after it are recalculated (docs/adr/0018-network-declarations.md)."""
    pcn = selectors.pcn_for(request.user, code)
    today = timezone.localdate()
    form = PayeeNominationForm(
        request.POST or None, members_on=lambda on: selectors.pcn_member_choices(pcn, on), today=today
    )
    if request.method == "POST" and form.is_valid():
        payee = Organisation.objects.get(code=form.cleaned_data["payee"], type=OrganisationType.PRACTICE)
        try:
            nominated = actions.nominate_payee(
                pcn=pcn, payee=payee, start_date=form.cleaned_data["start_date"], by=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"{payee.name} is the PCN's payee from {nominated.nomination.start_date:%-d %B %Y}."
                + _queue_recalculations(nominated.runs),
            )
            return redirect("calculation:pcn_payee", code=pcn.code)
    context = {
        "pcn": pcn,
        "nominations": selectors.payee_nominations_of(pcn),
        "network": selectors.network_members(pcn, today),
        "form": form,
        "may_nominate": selectors.may_nominate_payee(request.user, pcn),
    }
    return render(request, "calculation/pcn_payee.html", context)
