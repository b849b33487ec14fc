import datetime as dt

from django import forms
from django.utils import timezone

from participation.models import QualityService

from .models import Audience

ALL_SERVICES = ""


class NoticeForm(forms.Form):
    title = forms.CharField(
        max_length=120,
        label="Title",
        error_messages={"required": "Enter a title"},
        widget=forms.TextInput(attrs={"class": "nhsuk-input"}),
    )
    body = forms.CharField(
        max_length=4000,
        label="Message",
        help_text="What has happened and what readers should do, as in a letter to them.",
        error_messages={"required": "Enter the message"},
        widget=forms.Textarea(attrs={"class": "nhsuk-textarea", "rows": 6}),
    )
    audience = forms.ChoiceField(
        label="Who is it for?",
        choices=Audience.choices,
        error_messages={"required": "Choose who the notice is for"},
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
    )
    service = forms.ChoiceField(
        label="Which service?",
        required=False,
        help_text="A notice about one service reaches the practices taking part in it.",
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
    )
    expires_on = forms.DateField(
        label="Show until (optional)",
        required=False,
        input_formats=["%d/%m/%Y", "%d %m %Y", "%Y-%m-%d"],
        help_text="The last day it is shown, for example 31/03/2027. Leave blank to show it until archived.",
        error_messages={"invalid": "Enter the last day as a date, for example 31/03/2027"},
        widget=forms.DateInput(attrs={"class": "nhsuk-input nhsuk-input--width-10"}, format="%d/%m/%Y"),
    )
    urgent = forms.BooleanField(
        label="Urgent: also email it to everyone it is for",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "nhsuk-checkboxes__input"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.services = {s.code: s for s in QualityService.objects.order_by("name")}
        self.fields["service"].choices = [
            (ALL_SERVICES, "All services"),
            *((code, service.name) for code, service in self.services.items()),
        ]

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("The last day shown must be today or later")
        return day

    def values(self) -> dict:
        """The action's values: the last day shown becomes the moment it expires (midnight after it)."""
        data = self.cleaned_data
        day = data["expires_on"]
        return {
            "title": data["title"].strip(),
            "body": data["body"].strip(),
            "audience": data["audience"],
            "service": self.services.get(data["service"]),
            "urgent": data["urgent"],
            "expires_at": timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
            if day
            else None,
        }

    @classmethod
    def initial_for(cls, notice) -> dict:
        expires = timezone.localtime(notice.expires_at) - dt.timedelta(days=1) if notice.expires_at else None
        return {
            "title": notice.title,
            "body": notice.body,
            "audience": notice.audience,
            "service": notice.service.code if notice.service_id else ALL_SERVICES,
            "urgent": notice.urgent,
            "expires_on": expires.date() if expires else None,
        }
