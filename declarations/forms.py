from django import forms

STATEMENT = (
    "I declare that the achievement shown is a true and complete record of the services this practice "
    "provided, and that the practice may be paid for it."
)


class DeclareForm(forms.Form):
    statement = forms.BooleanField(
        required=True,
        label=STATEMENT,
        error_messages={"required": "Tick the declaration statement to declare this achievement."},
        widget=forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}),
    )
    notes = forms.CharField(
        required=False,
        max_length=2000,
        label="Notes for your commissioner (optional)",
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        label="Why are you rejecting it? The practice sees this.",
        error_messages={"required": "Say why it is rejected: the practice sees the reason."},
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )


ALL_SERVICES = ""


class FreezeForm(forms.Form):
    service_year = forms.ChoiceField(
        label="Freeze",
        required=False,
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
        help_text="One service year, or every service.",
    )
    reason = forms.CharField(
        max_length=1000,
        label="Reason, shown to every affected user",
        error_messages={
            "required": "Say why declarations and approvals are frozen: every affected user sees it."
        },
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )

    def __init__(self, *args, service_years, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service_year"].choices = [
            (ALL_SERVICES, "All services"),
            *((y.code, y.name) for y in service_years),
        ]
