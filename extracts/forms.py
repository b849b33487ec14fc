from django import forms


class ExtractUploadForm(forms.Form):
    file = forms.FileField(
        label="Extract file",
        help_text="A CQRS field-level extract in CSV (QUALITY_SERVICE,NAME,ORG_CODE,ACH_DATE,…).",
        widget=forms.ClearableFileInput(attrs={"class": "nhsuk-file-upload", "accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, limit: int, too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = limit
        self.too_large = too_large

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError("The extract must be a CSV file (a name ending in .csv).")
        if upload.size > self.limit:
            raise forms.ValidationError(f"The extract must be smaller than {self.limit:,} bytes.")
        return upload

    def clean(self):
        if self.too_large:
            self.errors.pop("file", None)
            self.add_error("file", f"The extract must be smaller than {self.limit:,} bytes.")
        return super().clean()
