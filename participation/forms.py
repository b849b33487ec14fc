from django import forms
from django.core.exceptions import ValidationError

from accounts.nhsuk_forms import DateField, NamedModelChoiceField, NHSModelForm

from .models import Indicator, Milestone, RuleParameter, ServiceRate, ServiceYear, validate_offer_dates

OFFER_DATES = ["start_date", "end_date", "response_date", "target_date"]


class OfferForm(forms.Form):
    """Offer one service year to many practices: the year is chosen first, the form brings its dates."""

    start_date = DateField(label="Start date", help_text="Participation starts on this day.")
    end_date = DateField(label="End date", help_text="Participation ends after this day.")
    response_date = DateField(
        label="Response date",
        help_text="Practices must accept or decline by this day; the offer then expires.",
    )
    target_date = DateField(
        label="Target date", help_text="The day you aim to have approved every practice's participation."
    )
    all_practices = forms.BooleanField(required=False, label="All the practices I commission")
    practices = forms.ModelMultipleChoiceField(queryset=None, required=False)

    def __init__(self, *args, service_year, practices, commissioned, **kwargs):
        """`practices`: those the user may choose from (every one they can see; the action refuses any they
        do not commission); `commissioned`: the ones "all the practices I commission" means."""
        super().__init__(*args, **kwargs)
        self.service_year = service_year
        self.fields["practices"].queryset = practices
        self.commissioned = commissioned

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("all_practices"):
            cleaned["practices"] = list(self.commissioned)
        elif not cleaned.get("practices") and "practices" not in self.errors:
            self.add_error("practices", "Choose at least one practice, or all the practices you commission.")
        if all(cleaned.get(name) for name in OFFER_DATES):
            try:
                validate_offer_dates(
                    service_year=self.service_year, **{name: cleaned[name] for name in OFFER_DATES}
                )
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    self.add_error(name, messages)
        return cleaned


class DeclineForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=1000,
        label="Reason for declining (optional)",
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )


class EndParticipationForm(forms.Form):
    ended_on = DateField(label="Last day of participation", help_text="No data is taken after this day.")


class RulesetUploadForm(forms.Form):
    service_year = NamedModelChoiceField(
        queryset=None,
        to_field_name="code",
        label="Service year",
        empty_label=None,
        help_text="Only years without a ruleset are listed.",
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
    )
    file = forms.FileField(
        label="Ruleset file",
        help_text="A CSV in the layout of the 2023/24 ruleset: indicator_code, group_code, "
        "group_description, domain_code, points, kind, … threshold_confidence; optionally points_confidence "
        "and source.",
        widget=forms.ClearableFileInput(attrs={"class": "nhsuk-file-upload", "accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, years, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service_year"].queryset = years


# Service management (docs/adr/0017-service-management-and-charts.md): each form lists the values a service
# manager may correct, always with the provenance beside the value it qualifies.


class ServiceYearForm(NHSModelForm):
    class Meta:
        model = ServiceYear
        fields = [
            "name",
            "point_value",
            "national_average_list_size",
            "aspiration_rate",
            "max_points",
            "parameters_confidence",
            "parameters_note",
            "ruleset_source",
            "declaration_required",
            "approval_required",
            "missing_manual_answer_default",
            "manual_entry_deadline",
        ]
        labels = {
            "point_value": "Value of a point (£)",
            "parameters_confidence": "How sure we are of the money parameters",
            "parameters_note": "Where the parameters were read, or why they are assumed",
            "missing_manual_answer_default": "A manual indicator left unanswered counts as",
            "manual_entry_deadline": "Manual-entry deadline",
        }


class MilestoneForm(NHSModelForm):
    class Meta:
        model = Milestone
        fields = ["starts_on", "ends_on", "note"]
        labels = {"starts_on": "Starts on", "ends_on": "Ends on", "note": "Note (optional)"}
        help_texts = {"ends_on": "The same day as the start for a one-day step."}


class IndicatorForm(NHSModelForm):
    class Meta:
        model = Indicator
        fields = [
            "points",
            "lower_threshold",
            "upper_threshold",
            "threshold_confidence",
            "definition_confidence",
            "provenance_note",
        ]
        labels = {
            "lower_threshold": "Lower threshold (%)",
            "upper_threshold": "Upper threshold (%)",
            "threshold_confidence": "How sure we are of the thresholds",
            "definition_confidence": "How sure we are of the definition",
            "provenance_note": "Where the values were read, or why they are assumed",
        }


class ServiceRateForm(NHSModelForm):
    class Meta:
        model = ServiceRate
        fields = ["rate", "confidence", "source", "cap_note"]
        labels = {
            "rate": "Rate (£)",
            "confidence": "How sure we are of the rate",
            "source": "Where the rate was read",
            "cap_note": "Cap (optional)",
        }


class RuleParameterForm(NHSModelForm):
    class Meta:
        model = RuleParameter
        fields = ["value", "confidence", "note"]
        labels = {"confidence": "How sure we are of the value"}
