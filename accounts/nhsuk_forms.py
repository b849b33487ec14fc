"""NHS.UK form patterns for every app's forms. The date input: three boxes (day, month, year) and the design
system's error wording; every date field in the portal's forms is a `DateField` from here, so a person types
a date the same way everywhere and is told the same thing when part of it is missing ("Start date must
include a month"). `NHSModelForm`: the design system's classes and no "---------" empty choice."""

from datetime import date

import django_filters
from django import forms
from django.core.exceptions import ValidationError

PARTS = ("day", "month", "year")


class DateParts(forms.MultiWidget):
    """Three numeric boxes named `<name>-day`, `<name>-month`, `<name>-year`; the error summary links to
    the day box. `parts_in_error` is set by the field so that only the box at fault is outlined red."""

    template_name = "accounts/date_input.html"  # in the app, where the default form renderer looks
    use_fieldset = True

    def __init__(self, attrs=None):
        boxes = {part: forms.TextInput(attrs={"inputmode": "numeric"}) for part in PARTS}
        super().__init__(boxes, attrs)
        self.parts_in_error: set[str] = set()

    def decompress(self, value):
        if isinstance(value, date):
            return [value.day, value.month, value.year]
        return [None, None, None]

    def value_from_datadict(self, data, files, name):
        return [(data.get(f"{name}-{part}") or "").strip() for part in PARTS]

    def value_omitted_from_data(self, data, files, name):
        return all(f"{name}-{part}" not in data for part in PARTS)

    def id_for_label(self, id_):
        return f"{id_}-day" if id_ else id_

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        for part, subwidget in zip(PARTS, context["widget"]["subwidgets"], strict=True):
            subwidget["part"] = part
            subwidget["label"] = part.capitalize()
            subwidget["attrs"]["id"] = f"{attrs.get('id', name)}-{part}"
            subwidget["name"] = f"{name}-{part}"
            subwidget["in_error"] = part in self.parts_in_error or "all" in self.parts_in_error
        return context


class DateField(forms.Field):
    """A day typed as three numbers. Errors follow the NHS.UK date input guidance: say which part is missing
    or that the date is not real, naming the field by its label."""

    widget = DateParts

    def __init__(self, *, label: str, **kwargs):
        super().__init__(label=label, **kwargs)

    def prepare_value(self, value):
        return value

    def _refuse(self, message: str, *parts: str):
        self.widget.parts_in_error = set(parts) or {"all"}
        raise ValidationError(message, code="invalid")

    def to_python(self, value):
        self.widget.parts_in_error = set()
        if isinstance(value, date):
            return value
        if not value or not any(value):
            return None
        day, month, year = value
        missing = [part for part, text in zip(PARTS, value, strict=True) if not text]
        if missing:
            return self._refuse(f"{self.label} must include a {' and a '.join(missing)}", *missing)
        not_numbers = [part for part, text in zip(PARTS, value, strict=True) if not text.isdigit()]
        if not_numbers:
            return self._refuse(f"{self.label} must be a real date", *not_numbers)
        if len(year) != 4:
            return self._refuse("Year must include 4 numbers", "year")
        try:
            return date(int(year), int(month), int(day))
        except ValueError:
            return self._refuse(f"{self.label} must be a real date")

    def validate(self, value):
        if value is None and self.required:
            self.widget.parts_in_error = {"all"}
            raise ValidationError(f"Enter the {self.label[0].lower()}{self.label[1:]}", code="required")


class NHSModelForm(forms.ModelForm):
    """A model form in NHS.UK dress: the design system's classes on every widget, dates as the three-box
    input, and an empty choice that says what it means rather than Django's "---------"."""

    empty_choice = "Not applicable"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in list(self.fields.items()):
            if isinstance(field, forms.DateField):
                field = self.fields[name] = DateField(
                    label=field.label, required=field.required, help_text=field.help_text
                )
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "nhsuk-checkboxes__input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "nhsuk-select"
                field.choices = [
                    (value, label if value != "" else self.empty_choice) for value, label in field.choices
                ]
            elif isinstance(widget, forms.Textarea):
                widget.attrs.update({"class": "nhsuk-textarea", "rows": 3})
            elif isinstance(widget, forms.NumberInput):
                widget.attrs["class"] = "nhsuk-input nhsuk-input--width-10"
            elif isinstance(widget, forms.TextInput):
                widget.attrs["class"] = "nhsuk-input"


class NamedModelChoiceField(forms.ModelChoiceField):
    """Choices by name, never by code: "Quality and Outcomes Framework 2023/24", not "QOF2324"."""

    def label_from_instance(self, obj):
        return obj.name


class NamedModelChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = NamedModelChoiceField
