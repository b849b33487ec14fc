from django import forms


class WriteOffForm(forms.Form):
    reference = forms.CharField(max_length=60)
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class AcknowledgementForm(forms.Form):
    file = forms.FileField(label="Acknowledgement file (CSV: LINE_REFERENCE,STATUS,REASON)")
