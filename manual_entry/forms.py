from django import forms

from .wording import wording_of

YES, NO = "yes", "no"


class ManualEntryForm(forms.Form):
    """One field per manual indicator: Yes/No radios, or a count where the indicator is answered with one."""

    def __init__(self, *args, rows, disabled: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.indicators = {}
        for indicator, answer in rows:
            name = indicator.code
            self.indicators[name] = indicator
            label = f"{indicator.code}: {indicator.group_description}"
            if indicator.answered_with_count:
                self.fields[name] = forms.IntegerField(
                    label=label,
                    min_value=0,
                    required=False,
                    disabled=disabled,
                    initial=answer.count if answer else None,
                    widget=forms.NumberInput(
                        attrs={
                            "class": "nhsuk-input nhsuk-input--width-5",
                            "aria-describedby": f"id_{name}-hint",
                        }
                    ),
                )
            else:
                initial = None if answer is None or answer.answer is None else (YES if answer.answer else NO)
                self.fields[name] = forms.ChoiceField(
                    label=label,
                    choices=[(YES, "Yes"), (NO, "No")],
                    required=False,
                    disabled=disabled,
                    initial=initial,
                    widget=forms.RadioSelect,
                )
            self.fields[name].points = indicator.points
            self.fields[name].wording = wording_of(indicator.code)
            self.fields[name].answer = answer

    def answers(self) -> dict[str, bool | int | None]:
        """Indicator code → True/False, a count, or None where left blank."""
        answers = {}
        for name, value in self.cleaned_data.items():
            if self.indicators[name].answered_with_count:
                answers[name] = value
            else:
                answers[name] = {YES: True, NO: False}.get(value)
        return answers
