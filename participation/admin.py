from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.admin import ReadOnlyAdmin
from accounts.permissions import Permission, may_nationally

from . import actions
from .models import (
    Indicator,
    Milestone,
    Offer,
    Participation,
    Provenance,
    QualityService,
    RuleParameter,
    ServiceRate,
    ServiceYear,
)
from .selectors import service_years_with_flags

DESCRIBED = {
    "definition": "The definition (points, kind, patient lists, income protection) is",
    "thresholds": "The thresholds are",
}


def provenance_flags(*flags: tuple[str, str]) -> str:
    """Labels for values not confirmed, e.g. ("thresholds", "inferred"); "confirmed" when there are none."""
    shown = [(confidence, f"{what} {confidence}") for what, confidence in flags if confidence != "confirmed"]
    if not shown:
        return "confirmed"
    return format_html_join(
        " ", '<strong class="ruleset-flag ruleset-flag--{}">{}</strong>', ((c, text) for c, text in shown)
    )


class RulesetAdmin(admin.ModelAdmin):
    """National Service Management edits; other national staff read. Every save goes through the audited
    action a subclass names in `create_object` and `update_object`, and values whose provenance is not
    confirmed are flagged in lists and on forms."""

    change_form_template = "admin/participation/ruleset_change_form.html"

    class Media:
        css = {"all": ["participation/admin.css"]}

    def manages_services(self, request) -> bool:
        # The admin asks several times per page; the answer cannot change within one request.
        if not hasattr(request, "_manages_services"):
            request._manages_services = may_nationally(request.user, Permission.MANAGE_SERVICES)
        return request._manages_services

    def has_module_permission(self, request):
        return super().has_module_permission(request) or self.manages_services(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self.manages_services(request)

    def has_add_permission(self, request):
        return self.manages_services(request)

    def has_change_permission(self, request, obj=None):
        return self.manages_services(request)

    def has_delete_permission(self, request, obj=None):
        # Rulesets are corrected, never deleted: results and payments refer to them.
        return False

    def save_model(self, request, obj, form, change):
        model_fields = {f.name for f in obj._meta.concrete_fields}
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in model_fields}
            saved = self.update_object(obj, changes=changes, by=request.user)
        else:
            values = {name: value for name, value in form.cleaned_data.items() if name in model_fields}
            saved = self.create_object(values=values, by=request.user)
        obj.pk = saved.pk
        obj._state.adding = False

    def provenance_warnings(self, obj) -> list[str]:
        return []

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["provenance_warnings"] = self.provenance_warnings(obj) if obj is not None else []
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(QualityService)
class QualityServiceAdmin(RulesetAdmin):
    list_display = ["code", "name", "kind"]

    def create_object(self, *, values, by):
        return actions.create_quality_service(values=values, by=by)

    def update_object(self, obj, *, changes, by):
        return actions.update_quality_service(service=obj, changes=changes, by=by)

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []


@admin.register(ServiceYear)
class ServiceYearAdmin(RulesetAdmin):
    list_display = [
        "code",
        "name",
        "payment_kind",
        "period",
        "point_value",
        "national_average_list_size",
        "aspiration_rate",
        "parameters",
        "ruleset",
        "base_year",
    ]
    list_filter = ["service", "payment_kind", "period", "parameters_confidence"]
    search_fields = ["code", "name"]
    fieldsets = [
        (None, {"fields": ["service", "financial_year", "code", "name", "start_date", "end_date"]}),
        ("Kind", {"fields": ["payment_kind", "period"]}),
        (
            "Money",
            {
                "fields": [
                    "point_value",
                    "national_average_list_size",
                    "aspiration_rate",
                    "max_points",
                    "parameters_confidence",
                    "parameters_note",
                ]
            },
        ),
        (
            "Workflow",
            {
                "fields": [
                    "automatic_participation",
                    "declaration_required",
                    "approval_required",
                    "missing_manual_answer_default",
                    "manual_entry_deadline",
                    "payment_cutoff",
                    "base_year",
                ]
            },
        ),
        ("Ruleset", {"fields": ["ruleset_source"]}),
    ]

    def create_object(self, *, values, by):
        return actions.create_service_year(values=values, by=by)

    def update_object(self, obj, *, changes, by):
        return actions.update_service_year(service_year=obj, changes=changes, by=by)

    def get_queryset(self, request):
        return service_years_with_flags()

    def get_readonly_fields(self, request, obj=None):
        # A year's identity is what results, declarations and payments hang off.
        return ["service", "financial_year", "code"] if obj is not None else []

    @admin.display(description="Parameters", ordering="parameters_confidence")
    def parameters(self, obj):
        return provenance_flags(("parameters", obj.parameters_confidence))

    @admin.display(description="Ruleset")
    def ruleset(self, obj):
        if not obj.indicator_count:
            return "no indicators"
        url = reverse("admin:participation_indicator_changelist") + f"?service_year__id__exact={obj.pk}"
        flagged = (
            format_html(
                ' <strong class="ruleset-flag ruleset-flag--inferred">{} not confirmed</strong>',
                obj.flagged_indicator_count,
            )
            if obj.flagged_indicator_count
            else ""
        )
        return format_html('<a href="{}">{} indicators</a>{}', url, obj.indicator_count, flagged)

    def provenance_warnings(self, obj):
        warnings = []
        if not obj.parameters_confirmed:
            warnings.append(f"Money parameters are {obj.parameters_confidence}: {obj.parameters_note}")
        if obj.payment_kind == ServiceYear.PaymentKind.POINTS and obj.national_average_list_size is None:
            warnings.append("The national average list size is unknown, so no CPI can be calculated.")
        rates = obj.rates.exclude(confidence=Provenance.CONFIRMED).count()
        if rates:
            warnings.append(f"{rates} rates of this year are not confirmed.")
        parameters = obj.rule_parameters.exclude(confidence=Provenance.CONFIRMED).count()
        if parameters:
            warnings.append(f"{parameters} rule parameters of this year are not confirmed.")
        flagged = obj.indicators.exclude(definition_confidence=Provenance.CONFIRMED) | obj.indicators.filter(
            threshold_confidence__in=[Provenance.SECONDARY, Provenance.INFERRED, Provenance.UNCONFIRMED]
        )
        count = flagged.distinct().count()
        if count:
            warnings.append(f"{count} indicators of this year carry values that are not confirmed.")
        return warnings


@admin.register(Indicator)
class IndicatorAdmin(RulesetAdmin):
    list_display = [
        "code",
        "service_year",
        "group_code",
        "domain_code",
        "kind",
        "points",
        "lower_threshold",
        "upper_threshold",
        "provenance",
        "income_protected",
    ]
    list_filter = [
        "service_year",
        "kind",
        "domain_code",
        "threshold_confidence",
        "definition_confidence",
        "income_protected",
    ]
    search_fields = ["code", "group_code", "group_description"]
    list_select_related = ["service_year"]
    list_per_page = 100
    fieldsets = [
        (
            None,
            {"fields": ["service_year", "code", "group_code", "group_description", "domain_code", "kind"]},
        ),
        ("Payment", {"fields": ["points", "prevalence_adjusted", "carries_register"]}),
        ("Patient lists", {"fields": ["patient_list", "additional_patient_list"]}),
        ("Thresholds", {"fields": ["lower_threshold", "upper_threshold", "threshold_confidence"]}),
        ("Income protection", {"fields": ["income_protected", "base_indicator_code"]}),
        ("Provenance", {"fields": ["definition_confidence", "provenance_note"]}),
    ]

    def create_object(self, *, values, by):
        return actions.create_indicator(values=values, by=by)

    def update_object(self, obj, *, changes, by):
        return actions.update_indicator(indicator=obj, changes=changes, by=by)

    def get_readonly_fields(self, request, obj=None):
        return ["service_year", "code"] if obj is not None else []

    @admin.display(description="Provenance")
    def provenance(self, obj):
        flags = [("definition", obj.definition_confidence)]
        if obj.threshold_confidence:
            flags.append(("thresholds", obj.threshold_confidence))
        return provenance_flags(*flags)

    def provenance_warnings(self, obj):
        warnings = [
            f"{DESCRIBED[what]} {confidence}: check against the year's guidance before relying on it."
            for what, confidence in obj.unconfirmed_values
        ]
        if warnings and obj.provenance_note:
            warnings.append(obj.provenance_note)
        return warnings


@admin.register(Milestone)
class MilestoneAdmin(RulesetAdmin):
    """A year-end timetable (DOMAIN.md §8); practices and commissioners read it on the timetable page."""

    list_display = ["service_year", "kind", "starts_on", "ends_on", "note"]
    list_filter = ["service_year", "kind"]
    list_select_related = ["service_year"]
    fields = ["service_year", "kind", "starts_on", "ends_on", "note"]

    def create_object(self, *, values, by):
        return actions.create_milestone(values=values, by=by)

    def update_object(self, obj, *, changes, by):
        return actions.update_milestone(milestone=obj, changes=changes, by=by)

    def get_readonly_fields(self, request, obj=None):
        return ["service_year", "kind"] if obj is not None else []


@admin.register(ServiceRate)
class ServiceRateAdmin(RulesetAdmin):
    """Fees and capitation rates by year (DOMAIN.md §7a); values not confirmed are flagged until a service
    manager confirms or corrects them."""

    list_display = ["component", "service_year", "rate", "unit", "population", "paid_to", "provenance"]
    list_filter = ["service_year__service", "service_year", "unit", "confidence"]
    search_fields = ["component", "description", "source"]
    list_select_related = ["service_year"]
    fieldsets = [
        (None, {"fields": ["service_year", "component", "description"]}),
        ("Payment", {"fields": ["rate", "unit", "population", "paid_to", "capped_by_register", "cap_note"]}),
        ("Provenance", {"fields": ["confidence", "source"]}),
    ]

    def create_object(self, *, values, by):
        return actions.create_service_rate(values=values, by=by)

    def update_object(self, obj, *, changes, by):
        return actions.update_service_rate(rate=obj, changes=changes, by=by)

    def get_readonly_fields(self, request, obj=None):
        return ["service_year", "component"] if obj is not None else []

    @admin.display(description="Provenance", ordering="confidence")
    def provenance(self, obj):
        return provenance_flags(("rate", obj.confidence))

    def provenance_warnings(self, obj):
        if obj.confirmed:
            return []
        return [
            f"This rate is {obj.confidence}: check it against the year's SFE before relying on it.",
            obj.source,
        ]


@admin.register(RuleParameter)
class RuleParameterAdmin(RulesetAdmin):
    """Constants of year-versioned rules; unknown ones are configurable here and stay flagged."""

    list_display = ["name", "rule", "service_year", "value", "provenance"]
    list_filter = ["service_year", "rule", "confidence"]
    list_select_related = ["service_year"]
    fields = ["service_year", "rule", "name", "value", "confidence", "note"]

    def has_add_permission(self, request):
        # A rule's parameters are exactly those the engine reads; they come with the rule, not one by one.
        return False

    def update_object(self, obj, *, changes, by):
        return actions.update_rule_parameter(parameter=obj, changes=changes, by=by)

    def get_readonly_fields(self, request, obj=None):
        return ["service_year", "rule", "name"]

    @admin.display(description="Provenance", ordering="confidence")
    def provenance(self, obj):
        return provenance_flags(("value", obj.confidence))

    def provenance_warnings(self, obj):
        if obj.confirmed:
            return []
        return [f"This value is {obj.confidence}: {obj.note}"]


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    """Offers move only through the portal's audited transitions; national staff read them here."""

    list_display = [
        "service_year",
        "practice",
        "commissioner",
        "state",
        "start_date",
        "end_date",
        "response_date",
    ]
    list_filter = ["service_year", "state"]
    search_fields = ["practice__code", "practice__name", "commissioner__code"]
    list_select_related = ["service_year", "practice", "commissioner"]


@admin.register(Participation)
class ParticipationAdmin(ReadOnlyAdmin):
    list_display = ["service_year", "practice", "start_date", "end_date", "is_automatic"]
    list_filter = ["service_year"]
    search_fields = ["practice__code", "practice__name"]
    list_select_related = ["service_year", "practice"]

    @admin.display(boolean=True, description="Automatic")
    def is_automatic(self, obj):
        return obj.is_automatic
