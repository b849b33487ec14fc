from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_tables2 import RequestConfig

from accounts.permissions import Permission, holds_anywhere, organisations_reachable
from accounts.tabular import download
from participation.models import ServiceYear

from . import actions
from .filters import DeclarationFilter
from .forms import DeclareForm, FreezeForm, RejectForm
from .models import STEPS, Declaration
from .selectors import (
    declaration_for,
    declarations_visible_to,
    declaring_practice,
    freezes_for,
    indicator_changes,
    may_confirm_adjustment,
    organisations_reading,
    reads_declarations,
    revision_for,
    revisions_of,
    steps_open_to,
)
from .tables import DeclarationTable


def _detail(request, declaration, *, declare_form=None, reject_form=None, status=200):
    context = {
        "declaration": declaration,
        "steps": steps_open_to(request.user, declaration),
        "declare_form": declare_form or DeclareForm(),
        "reject_form": reject_form or RejectForm(),
        "revisions": revisions_of(declaration),
        "declarer": declaring_practice(declaration),
    }
    return render(request, "declarations/detail.html", context, status=status)


@login_required
@require_safe
def detail(request, pk):
    """One declaration: its figures, where it stands, what happened to it, and the step open to the user."""
    return _detail(request, declaration_for(request.user, pk))


def _step(request, pk, take, done: str, **forms):
    """Run one step; on refusal show the declaration again with the reason (and the form's errors)."""
    declaration = declaration_for(request.user, pk)
    try:
        take(declaration)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        declaration = declaration_for(request.user, pk)
        return _detail(request, declaration, **forms)
    messages.success(request, done)
    return redirect("declarations:detail", pk=declaration.pk)


@login_required
@require_POST
def declare(request, pk):
    form = DeclareForm(request.POST)
    form.is_valid()  # an unticked statement still reaches the action, which refuses it (and the user) itself
    return _step(
        request,
        pk,
        lambda declaration: actions.declare(
            declaration=declaration,
            by=request.user,
            statement_accepted=bool(form.cleaned_data.get("statement")),
            notes=form.cleaned_data.get("notes", ""),
        ),
        "Declared. Your commissioner has been told it awaits their approval.",
        declare_form=form,
    )


def _approval(action, done: str):
    @login_required
    @require_POST
    def view(request, pk):
        return _step(request, pk, lambda declaration: action(declaration=declaration, by=request.user), done)

    return view


approve = _approval(actions.approve, "Approved. Finance has been told it awaits their financial approval.")
financially_approve = _approval(
    actions.financially_approve, "Financially approved. It will be paid in the next payment batch."
)


@login_required
@require_POST
def reject(request, pk):
    form = RejectForm(request.POST)
    form.is_valid()
    return _step(
        request,
        pk,
        lambda declaration: actions.reject(
            declaration=declaration, by=request.user, reason=form.cleaned_data.get("reason", "")
        ),
        "Rejected. The practice has been told why.",
        reject_form=form,
    )


@login_required
@require_safe
def revision(request, pk):
    """What a newer run changed for a declaration, and what happened to it."""
    revision = revision_for(request.user, pk)
    changes, unchanged = indicator_changes(
        revision.declaration.practice_id, revision.previous_run_id, revision.run_id
    )
    context = {
        "revision": revision,
        "changes": changes,
        "unchanged": unchanged,
        "may_confirm": revision.awaiting_commissioner and may_confirm_adjustment(request.user, revision),
    }
    return render(request, "declarations/revision.html", context)


BULK = {
    "approve": (actions.bulk_approve, "approve", "approved"),
    "financially_approve": (actions.bulk_financially_approve, "financially_approve", "financially approved"),
}


@login_required
@require_http_methods(["GET", "POST"])
def declaration_list(request):
    """Declarations the user can read, filtered by service, status and sub-ICB; commissioners select some
    (or every one matching the filter) and approve or financially approve them in one request."""
    if not reads_declarations(request.user):
        raise Http404
    visible = (
        declarations_visible_to(request.user)
        .select_related("practice__parent")
        .filter(state__in=Declaration.LIVE_STATES)
    )
    query = request.POST.get("filter", "") if request.method == "POST" else request.GET.urlencode()
    found = DeclarationFilter(
        QueryDict(query) if request.method == "POST" else request.GET,
        queryset=visible,
        sub_icbs=organisations_reading(request.user),
    )
    if request.method == "POST":
        return _bulk_step(request, found.qs, query)
    table = DeclarationTable(found.qs.order_by("service_year__code", "practice__code"))
    RequestConfig(request, paginate={"per_page": 100}).configure(table)
    if exported := download(request, table, "declarations"):
        return exported
    counts = dict(found.qs.values_list("state").annotate(n=Count("pk")).order_by())
    context = {
        "filter": found,
        "table": table,
        "query": query,
        "may_approve": holds_anywhere(Permission.APPROVE_DECLARATIONS)(request.user, {}),
        "may_finance": holds_anywhere(Permission.MANAGE_FINANCE)(request.user, {}),
        "awaiting_approval": counts.get(Declaration.State.AWAITING_COMMISSIONER, 0),
        "awaiting_finance": counts.get(Declaration.State.AWAITING_FINANCE, 0),
    }
    return render(request, "declarations/declaration_list.html", context)


def _bulk_step(request, matching, query):
    back = f"{reverse('declarations:list')}?{query}" if query else reverse("declarations:list")
    step = request.POST.get("step")
    if step not in BULK:
        raise Http404
    action, name, verb = BULK[step]
    if request.POST.get("scope") == "all":
        # Every matching declaration waiting for this step at a practice the user may take it for.
        source, permission = STEPS[name]
        entitled = organisations_reachable(request.user, permission).values("pk")
        chosen = matching.filter(state=source, practice__in=entitled)
    else:
        chosen = matching.filter(pk__in=[pk for pk in request.POST.getlist("declaration") if pk.isdigit()])
    chosen = list(chosen.select_related(None).only("pk", "practice_id"))
    if not chosen:
        messages.error(request, "Select at least one declaration.")
        return redirect(back)
    try:
        outcome = action(declarations=chosen, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        skipped = (
            f" {outcome.skipped} had already moved on and were left as they are." if outcome.skipped else ""
        )
        messages.success(request, f"{outcome.done} declaration{pluralize(outcome.done)} {verb}.{skipped}")
    return redirect(back)


@login_required
@require_http_methods(["GET", "POST"])
def freezes(request):
    """Freeze declarations and approvals of one service year or of all, with a reason; see and lift them."""
    every = freezes_for(request.user)
    years = ServiceYear.objects.order_by("-financial_year", "service__code")
    form = FreezeForm(request.POST or None, service_years=years)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["service_year"]
        try:
            actions.freeze(
                service_year=years.get(code=code) if code else None,
                reason=form.cleaned_data["reason"],
                by=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Frozen. Every affected user now sees the reason on every page.")
            return redirect("declarations:freezes")
    context = {
        "form": form,
        "standing": [f for f in every if f.standing],
        "lifted": [f for f in every if not f.standing][:50],
    }
    return render(request, "declarations/freezes.html", context)


@login_required
@require_POST
def unfreeze(request, pk):
    freeze = get_object_or_404(freezes_for(request.user), pk=pk)
    try:
        actions.unfreeze(freeze=freeze, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Lifted: declarations and approvals for {freeze.scope_label} may go on.")
    return redirect("declarations:freezes")


@login_required
@require_POST
def confirm_adjustment(request, pk):
    revision = revision_for(request.user, pk)
    try:
        actions.confirm_adjustment(revision=revision, by=request.user, note=request.POST.get("note", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Confirmed: the difference will be paid or recovered as an adjustment.")
    return redirect("declarations:revision", pk=revision.pk)
