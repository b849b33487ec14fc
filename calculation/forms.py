import datetime as dt
from contextlib import suppress

from django import forms

from accounts.nhsuk_forms import DateField, NamedModelChoiceField
from participation.models import ServiceYear


class YearEndRunForm(forms.Form):
    service_year = NamedModelChoiceField(
        queryset=ServiceYear.objects.order_by("-financial_year", "code"),
        to_field_name="code",
        label="Service year",
        empty_label="Choose a service year",  # never Django's "---------"
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
        error_messages={"required": "Choose the service year to calculate."},
    )
    reason = forms.CharField(
        label="Why is this run needed?",
        required=False,
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )
    confirm = forms.BooleanField(
        required=False,
        label="I have read what this run could change, and want to start it",
        widget=forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}),
    )


class RecalculationForm(forms.Form):
    """Recalculate one practice at a date that has extract data: only such dates are offered."""

    run_date = forms.ChoiceField(
        label="Service year and achievement date", widget=forms.Select(attrs={"class": "nhsuk-select"})
    )
    reason = forms.CharField(
        label="Reason for the recalculation",
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )
    confirm = forms.BooleanField(
        required=False,
        label="I have read what this run could change, and want to start it",
        widget=forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}),
    )

    def __init__(self, *args, dates, **kwargs):
        """`dates`: (service year code, service year name, achievement date) that have extract data."""
        super().__init__(*args, **kwargs)
        self.fields["run_date"].choices = [
            (f"{code}|{on.isoformat()}", f"{name} at {on:%-d %B %Y}") for code, name, on in dates
        ]

    def clean_run_date(self) -> tuple[ServiceYear, dt.date]:
        code, on = self.cleaned_data["run_date"].split("|")
        return ServiceYear.objects.get(code=code), dt.date.fromisoformat(on)


class PrevalenceDecisionForm(forms.Form):
    """Support's decision on a held run's national prevalence: confirm it, or reject it (the run fails)."""

    decision = forms.ChoiceField(
        label="Your decision",
        choices=[
            ("confirm", "The figures are right: freeze them and calculate"),
            ("reject", "The figures are wrong: fail the run, freeze nothing"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Why",
        help_text="Recorded with your decision: which practices closed, or what is missing and who fixes it.",
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 3}),
    )


class PcnMembershipForm(forms.Form):
    """A practice joining a PCN, or leaving its own, from a day (as ODS records it)."""

    pcn = forms.ChoiceField(
        label="Primary care network",
        help_text="The PCN the practice joins, or None if it leaves its PCN and joins no other.",
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
    )
    start_date = DateField(
        label="From",
        help_text="The first day in the new PCN (its ODS start date); the current one ends the day before.",
    )

    def __init__(self, *args, pcns: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pcn"].choices = [
            ("", "Choose a PCN"),
            ("none", "None: the practice leaves its PCN"),
            *pcns,
        ]


class PayeeNominationForm(forms.Form):
    """The member practice a PCN nominates to declare for it and be paid, from a day. The practices offered
    are the PCN's members on the day given (today until one is given), by name."""

    start_date = DateField(
        label="From",
        help_text="The first day the practice is the PCN's payee; the one in force ends the day before.",
    )
    payee = forms.ChoiceField(
        label="Payee practice",
        help_text="A member practice of the PCN on that day.",
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
        error_messages={
            "required": "Choose the practice the PCN nominates.",
            "invalid_choice": "Choose a practice that is a member of the PCN on that day.",
        },
    )

    field_order = ["start_date", "payee"]

    def __init__(self, *args, members_on, today: dt.date, **kwargs):
        """`members_on(day)`: the PCN's members on that day as (code, name)."""
        super().__init__(*args, **kwargs)
        on = today
        if self.is_bound:
            with suppress(forms.ValidationError):  # reported by the form's own validation
                on = self.fields["start_date"].clean(self["start_date"].value()) or today
            self.fields["start_date"].widget.parts_in_error = set()
        self.fields["payee"].choices = [("", "Choose a practice"), *members_on(on)]
