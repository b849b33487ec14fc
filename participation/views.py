import tempfile

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_safe
from django_tables2 import RequestConfig

from accounts.permissions import Permission, may_nationally
from accounts.selectors import practices_visible_to
from accounts.tabular import download

from . import actions
from .filters import ParticipationFilter
from .forms import (
    DeclineForm,
    EndParticipationForm,
    IndicatorForm,
    MilestoneForm,
    OfferForm,
    RuleParameterForm,
    RulesetUploadForm,
    ServiceRateForm,
    ServiceYearForm,
)
from .models import TRANSITIONS, Indicator, Milestone, Offer, RuleParameter, ServiceRate, ServiceYear
from .selectors import (
    current_service_year,
    default_offer_dates,
    not_yet_offered,
    offer_for,
    offer_history,
    offerable_service_years,
    offers_answerable_by,
    offers_for_practice_users,
    offers_visible_to,
    participation_overview_for,
    practices_offerable_by,
    rates_and_rules_of,
    recent_offerable_service_years,
    ruleset_of,
    service_years_to_manage,
    service_years_with_timetables,
    timetable_for,
    timetable_to_manage,
    transitions_open_to,
    year_value,
    years_without_a_ruleset,
)
from .tables import ParticipationTable


def _refusal(error: ValidationError) -> str:
    return " ".join(error.messages)


@login_required
@require_http_methods(["GET", "POST"])
def participation_list(request):
    """Every practice the user can see and where it stands for one service year; bulk approve or withdraw."""
    if request.method == "POST":
        return _bulk_transition(request)
    years = ServiceYear.objects.select_related("service").order_by("-financial_year", "service__code")
    code = request.GET.get("service_year")
    service_year = get_object_or_404(years, code=code) if code else current_service_year()
    if service_year is None:
        return render(request, "participation/participation_list.html", {"years": years})
    overview = participation_overview_for(request.user, service_year)
    participation_filter = ParticipationFilter(request.GET, queryset=overview)
    table = ParticipationTable(participation_filter.qs)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    if response := download(request, table, f"participation-{service_year.code}"):
        return response
    context = {
        "years": years,
        "service_year": service_year,
        "table": table,
        "filter": participation_filter,
        "commissions": bool(practices_offerable_by(request.user).exists()),
    }
    return render(request, "participation/participation_list.html", context)


def _bulk_transition(request):
    offers = list(offers_visible_to(request.user).filter(pk__in=request.POST.getlist("offer")))
    transition = request.POST.get("transition")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("participation:participation_list")
    if not offers:
        messages.error(request, "Select at least one offer.")
        return redirect(back)
    bulk_actions = {"approve": actions.approve_offers, "withdraw": actions.withdraw_offers}
    if transition not in bulk_actions:
        raise Http404
    try:
        done = bulk_actions[transition](offers=offers, by=request.user)
    except ValidationError as error:
        messages.error(request, f"Nothing was changed. {_refusal(error)}")
    else:
        verb = TRANSITIONS[transition].verb
        messages.success(request, f"{len(done)} offer{'s' if len(done) != 1 else ''} {verb}.")
    return redirect(back)


@login_required
@require_http_methods(["GET", "POST"])
def offer_create(request):
    """Offer a service year to many practices: choose the year, then the dates and the practices."""
    practices = practices_offerable_by(request.user)
    # The page is for commissioners; a POST goes to the action, which refuses anyone else itself.
    if request.method == "GET" and not practices.exists():
        raise Http404
    years = offerable_service_years()
    code = request.POST.get("service_year") or request.GET.get("service_year")
    service_year = get_object_or_404(years, code=code) if code else None
    search = request.GET.get("search", "").strip()
    # Practices already offered the year (or participating) are left out, as the hint says.
    open_to_offer = not_yet_offered(practices, service_year) if service_year is not None else practices
    listed = (
        open_to_offer.filter(Q(code__iexact=search) | Q(name__icontains=search)) if search else open_to_offer
    )
    form = None
    if service_year is not None:
        form = OfferForm(
            request.POST or None,
            service_year=service_year,
            practices=practices_visible_to(request.user),
            commissioned=practices,
            initial=default_offer_dates(service_year),
        )
        if request.method == "POST" and form.is_valid():
            try:
                summary = actions.offer_service(
                    service_year=service_year,
                    practices=form.cleaned_data["practices"],
                    start_date=form.cleaned_data["start_date"],
                    end_date=form.cleaned_data["end_date"],
                    response_date=form.cleaned_data["response_date"],
                    target_date=form.cleaned_data["target_date"],
                    by=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                count = len(summary.offers)
                messages.success(
                    request, f"{service_year.name} offered to {count} practice{'s' if count != 1 else ''}."
                )
                if summary.already_offered:
                    messages.info(
                        request,
                        "Not offered again (already offered or participating): "
                        f"{', '.join(summary.already_offered)}.",
                    )
                return redirect(
                    f"{reverse('participation:participation_list')}?service_year={service_year.code}"
                )
    selected = {str(pk) for pk in request.POST.getlist("practices")}
    context = {
        "years": _with(list(recent_offerable_service_years()), service_year),
        "default_year": service_year or current_service_year(),
        "service_year": service_year,
        "form": form,
        "listed": listed,
        "practice_count": practices.count(),
        "already_offered_count": practices.count() - open_to_offer.count() if service_year else 0,
        "search": search,
        "selected": selected,
    }
    return render(request, "participation/offer_form.html", context)


def _with(years: list, chosen) -> list:
    """The recent years, and an older one when it was asked for by its code."""
    return years if chosen is None or chosen in years else [chosen, *years]


@login_required
@require_safe
def offer_list(request):
    """Offers to the practices where the user works, to accept or decline."""
    offers = offers_for_practice_users(request.user).order_by(
        "-service_year__financial_year", "practice__code", "-offered_at"
    )
    awaiting = [offer for offer in offers if offer.state == Offer.State.OFFERED]
    answered = [offer for offer in offers if offer.state != Offer.State.OFFERED]
    responders = offers_answerable_by(request.user, awaiting)
    context = {"awaiting": awaiting, "answered": answered, "responders": responders}
    return render(request, "participation/offer_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def offer_detail(request, pk):
    offer = offer_for(request.user, pk)
    decline_form = DeclineForm(request.POST if request.POST.get("transition") == "decline" else None)
    end_form = EndParticipationForm(
        request.POST if request.POST.get("transition") == "end" else None,
        initial={"ended_on": min(timezone.localdate(), offer.end_date)},
    )
    if request.method == "POST":
        done = _transition(request, offer, decline_form=decline_form, end_form=end_form)
        if done:
            messages.success(request, f"The {offer} was {TRANSITIONS[done].verb}.")
            return redirect("participation:offer_detail", pk=offer.pk)
    open_to_user = transitions_open_to(request.user, offer)
    context = {
        "offer": offer,
        "participation": getattr(offer, "participation", None),
        "history": offer_history(offer),
        "may_respond": "accept" in open_to_user,
        "may_approve": "approve" in open_to_user,
        "may_withdraw": "withdraw" in open_to_user,
        "may_end": "end" in open_to_user,
        "decline_form": decline_form,
        "end_form": end_form,
    }
    return render(request, "participation/offer_detail.html", context)


def _transition(request, offer, *, decline_form, end_form) -> str | None:
    """Make the posted transition; the name of the one made, or None with the reason shown."""
    transition = request.POST.get("transition")
    by = request.user
    try:
        if transition == "accept":
            actions.accept_offer(offer=offer, by=by)
        elif transition == "decline":
            if not decline_form.is_valid():
                return None
            actions.decline_offer(offer=offer, reason=decline_form.cleaned_data["reason"], by=by)
        elif transition == "withdraw":
            actions.withdraw_offers(offers=[offer], by=by)
        elif transition == "approve":
            actions.approve_offers(offers=[offer], by=by)
        elif transition == "end":
            participation = getattr(offer, "participation", None)
            if participation is None or not end_form.is_valid():
                return None
            actions.end_participation(
                participation=participation, ended_on=end_form.cleaned_data["ended_on"], by=by
            )
        else:
            raise Http404
    except ValidationError as error:
        if transition == "end" and hasattr(error, "error_dict"):
            for name, errors in error.message_dict.items():
                end_form.add_error(name, errors)
        else:
            messages.error(request, _refusal(error))
        return None
    return transition


@login_required
@require_safe
def timetable(request):
    """A service year's year-end timetable, for everyone (DOMAIN.md §8)."""
    years = service_years_with_timetables()
    code = request.GET.get("service_year")
    chosen = get_object_or_404(ServiceYear.objects.all(), code=code) if code else None
    service_year = chosen or current_service_year()
    context = {
        "years": years,
        "service_year": service_year,
        "entries": timetable_for(service_year) if service_year is not None else [],
    }
    return render(request, "participation/timetable.html", context)


@login_required
@require_safe
def ruleset(request, year):
    """A service year's indicators with every value's provenance, for everyone: the rules practices are
    paid by are not a secret, and neither is how sure we are of them."""
    service_year, indicators = ruleset_of(year)
    rates, rule_parameters = rates_and_rules_of(service_year)
    context = {
        "service_year": service_year,
        "indicators": indicators,
        "rates": rates,
        "rule_parameters": rule_parameters,
        "may_load": may_nationally(request.user, Permission.MANAGE_SERVICES),
    }
    return render(request, "participation/ruleset.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def ruleset_upload(request):
    """Load a new year's ruleset from a file (Service Management); the action checks it whole."""
    if request.method == "GET" and not may_nationally(request.user, Permission.MANAGE_SERVICES):
        raise Http404
    form = RulesetUploadForm(request.POST or None, request.FILES or None, years=years_without_a_ruleset())
    problems = []
    if request.method == "POST" and form.is_valid():
        service_year, upload = form.cleaned_data["service_year"], form.cleaned_data["file"]
        with tempfile.NamedTemporaryFile(suffix=".csv", dir=settings.FILE_UPLOAD_TEMP_DIR) as copy:
            for chunk in upload.chunks():
                copy.write(chunk)
            copy.flush()
            try:
                loaded = actions.load_ruleset_file(
                    service_year=service_year, path=copy.name, file_name=upload.name, by=request.user
                )
            except actions.RulesetRejected as error:
                problems = error.problems
            else:
                messages.success(request, f"{len(loaded)} indicators loaded into {service_year.name}.")
                return redirect("participation:ruleset", year=service_year.code)
    status = 400 if problems else 200
    context = {"form": form, "problems": problems, "file_name": request.FILES.get("file")}
    return render(request, "participation/ruleset_upload.html", context, status=status)


# Service management (docs/adr/0017-service-management-and-charts.md): a service manager keeps the years,
# their timetables and rulesets here rather than in the Django admin. The pages are for national service
# managers (404 to anyone else); a POST goes to the action, which refuses anyone else itself.


def _manages_services(request) -> None:
    if request.method == "GET" and not may_nationally(request.user, Permission.MANAGE_SERVICES):
        raise Http404


def _saved(request, form, save) -> bool:
    """Hand the form's values to the action; the model's own checks come back as the form's errors."""
    if request.method != "POST" or not form.is_valid():
        return False
    try:
        save({name: form.cleaned_data[name] for name in form.Meta.fields})
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for name, messages_ in error.message_dict.items():
                form.add_error(name if name in form.fields else None, messages_)
        else:
            form.add_error(None, error.messages)
        return False
    return True


@login_required
@require_safe
def service_years(request):
    """Every service year with how sure we are of its parameters, and where to change them."""
    _manages_services(request)
    return render(request, "participation/service_years.html", {"years": service_years_to_manage()})


@login_required
@require_safe
def service_year(request, year):
    """One year as a summary list: its parameters, its timetable and its ruleset, each with a change link."""
    _manages_services(request)
    chosen = get_object_or_404(service_years_to_manage(), code=year)
    rates, rule_parameters = rates_and_rules_of(chosen)
    context = {
        "service_year": chosen,
        "timetable": timetable_to_manage(chosen),
        "indicator_count": chosen.indicators.count(),
        "unconfirmed_rates": sum(1 for rate in rates if not rate.confirmed),
        "unconfirmed_rules": sum(1 for parameter in rule_parameters if not parameter.confirmed),
    }
    return render(request, "participation/service_year.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def service_year_edit(request, year):
    _manages_services(request)
    chosen = get_object_or_404(ServiceYear.objects.all(), code=year)
    form = ServiceYearForm(request.POST or None, instance=ServiceYear.objects.get(pk=chosen.pk))

    def save(changes):
        actions.update_service_year(service_year=chosen, changes=changes, by=request.user)

    if _saved(request, form, save):
        messages.success(request, f"{chosen.name} saved.")
        return redirect("participation:service_year", year=chosen.code)
    context = {"service_year": chosen, "form": form, "heading": "Change the year's parameters"}
    return render(request, "participation/service_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def milestone_edit(request, year, kind):
    """Set one step of the year's timetable: changes the year's milestone of that kind, or adds it."""
    _manages_services(request)
    chosen = get_object_or_404(ServiceYear.objects.all(), code=year)
    if kind not in Milestone.Kind.values:
        raise Http404
    existing = chosen.milestones.filter(kind=kind).first()
    instance = existing or Milestone(service_year=chosen, kind=kind)
    form = MilestoneForm(request.POST or None, instance=instance)

    def save(changes):
        actions.set_milestone(service_year=chosen, kind=kind, changes=changes, by=request.user)

    if _saved(request, form, save):
        messages.success(request, f"{Milestone.Kind(kind).label} saved.")
        return redirect("participation:service_year", year=chosen.code)
    context = {"service_year": chosen, "form": form, "heading": Milestone.Kind(kind).label}
    return render(request, "participation/service_form.html", context)


# What of a year's ruleset a service manager may correct: the model, its form, and the guarded action.
RULESET_VALUES = {
    "indicator": (Indicator, IndicatorForm, lambda obj, changes, by: actions.update_indicator(
        indicator=obj, changes=changes, by=by)),
    "rate": (ServiceRate, ServiceRateForm, lambda obj, changes, by: actions.update_service_rate(
        rate=obj, changes=changes, by=by)),
    "rule": (RuleParameter, RuleParameterForm, lambda obj, changes, by: actions.update_rule_parameter(
        parameter=obj, changes=changes, by=by)),
}  # fmt: skip


def _named(what: str, obj) -> str:
    if what == "indicator":
        return f"indicator {obj.code}"
    if what == "rate":
        return f"the rate for {obj.description[0].lower()}{obj.description[1:]}"
    return f"{obj.get_rule_display()}: {obj.name}"


@login_required
@require_http_methods(["GET", "POST"])
def ruleset_value_edit(request, year, what, pk):
    """Correct one indicator, rate or rule constant of a year, and say how sure we are of it."""
    _manages_services(request)
    if what not in RULESET_VALUES:
        raise Http404
    model, form_class, update = RULESET_VALUES[what]
    chosen = get_object_or_404(ServiceYear.objects.all(), code=year)
    obj = year_value(chosen, model, pk)
    form = form_class(request.POST or None, instance=model.objects.get(pk=obj.pk))
    if _saved(request, form, lambda changes: update(obj, changes, request.user)):
        messages.success(request, f"{_named(what, obj)} saved.")
        return redirect("participation:ruleset", year=chosen.code)
    context = {"service_year": chosen, "form": form, "heading": f"Change {_named(what, obj)}"}
    return render(request, "participation/service_form.html", context)
