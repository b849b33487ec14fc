from django import forms


class WriteOffForm(forms.Form):
    reference = forms.CharField(max_length=60)
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class AcknowledgementForm(forms.Form):
    file = forms.FileField(label="Acknowledgement file (CSV: LINE_REFERENCE,STATUS,REASON)")


class AspirationAmountForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            ("agreed", "Agreed with the commissioner"),
            ("provisional", "Provisional, to be replaced once last year is calculated"),
            ("calculated", "The calculated amount (replaces the amount in force)"),
        ]
    )
    annual = forms.DecimalField(
        required=False, min_value=0, max_digits=12, decimal_places=2, label="Annual amount (£)"
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
