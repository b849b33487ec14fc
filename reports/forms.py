from django import forms

from engine.explain import MAX_COUNT
from engine.ruleset import MANUAL, PERCENTAGE


class WhatIfForm(forms.Form):
    """Counts to try on one line: nothing is saved. Only the fields the line's kind has are shown."""

    FIELDS = ("numerator", "denominator", "answer")

    numerator = forms.IntegerField(
        label="Numerator",
        min_value=0,
        max_value=MAX_COUNT,
        widget=forms.NumberInput(attrs={"class": "nhsuk-input nhsuk-input--width-10"}),
    )
    denominator = forms.IntegerField(
        label="Denominator",
        min_value=0,
        max_value=MAX_COUNT,
        widget=forms.NumberInput(attrs={"class": "nhsuk-input nhsuk-input--width-10"}),
    )
    answer = forms.ChoiceField(
        label="Answer", choices=[("yes", "Yes"), ("no", "No")], widget=forms.RadioSelect
    )

    def __init__(self, *args, line, **kwargs):
        super().__init__(*args, **kwargs)
        kind = line.rule.kind
        keep = {"numerator", "denominator"} if kind == PERCENTAGE else {"answer"} if kind == MANUAL else set()
        for name in set(self.fields) - keep:
            del self.fields[name]
        if not self.is_bound:
            result = line.result
            self.initial = {
                "numerator": result.numerator or 0,
                "denominator": result.denominator or 0,
                "answer": "yes" if result.manual_answer else "no",
            }

    def clean(self):
        data = super().clean()
        numerator, denominator = data.get("numerator"), data.get("denominator")
        if numerator is not None and denominator is not None and numerator > denominator:
            self.add_error("numerator", "The numerator cannot be more than the denominator.")
        return data

    def changes(self) -> dict:
        data = self.cleaned_data
        if "answer" in self.fields:
            return {"manual_answer": data["answer"] == "yes"}
        return {"numerator": data["numerator"], "denominator": data["denominator"]}


class OpportunityFilterForm(forms.Form):
    """Narrow a commissioner's opportunities (a list, not a queryset, so django-filter does not apply)."""

    practice = forms.CharField(
        label="Practice code or name", required=False, widget=forms.TextInput(attrs={"class": "nhsuk-input"})
    )
    indicator = forms.CharField(
        label="Indicator or group code",
        required=False,
        widget=forms.TextInput(attrs={"class": "nhsuk-input"}),
    )
    sub_icb = forms.CharField(
        label="Sub-ICB code", required=False, widget=forms.TextInput(attrs={"class": "nhsuk-input"})
    )

    def apply(self, opportunities):
        """The rows that match (reports.opportunities.OpportunityRows.filtered)."""
        if not self.is_valid():
            return opportunities
        data = self.cleaned_data
        return opportunities.filtered(
            practice=data["practice"].strip().lower(),
            indicator=data["indicator"].strip().upper(),
            sub_icb=data["sub_icb"].strip().upper(),
        )
