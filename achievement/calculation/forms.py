from django import forms

from participation.models import ServiceYear


class YearEndRunForm(forms.Form):
    service_year = forms.ModelChoiceField(
        queryset=ServiceYear.objects.order_by("-financial_year", "code"),
        to_field_name="code",
        label="Service year",
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
    )
    reason = forms.CharField(
        label="Why is this run needed?",
        required=False,
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )


class RecalculationForm(forms.Form):
    service_year = forms.ModelChoiceField(
        queryset=ServiceYear.objects.filter(publications__isnull=False)
        .distinct()
        .order_by("-financial_year"),
        to_field_name="code",
        label="Service year",
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
    )
    achievement_date = forms.DateField(
        label="Achievement date",
        help_text="For example, 2024-03-31",
        widget=forms.DateInput(attrs={"class": "nhsuk-input nhsuk-input--width-10"}),
    )
    reason = forms.CharField(
        label="Reason for the recalculation",
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )
