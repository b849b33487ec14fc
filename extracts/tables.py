import django_tables2 as tables

from accounts.tabular import CountColumn

from .models import Extract


class ExtractTable(tables.Table):
    id = tables.LinkColumn("extracts:extract_detail", args=[tables.A("pk")], verbose_name="Extract")
    file_name = tables.Column(verbose_name="File")
    service_year = tables.Column(accessor="service_year__code", verbose_name="Service year")
    achievement_date = tables.DateColumn(format="j M Y", verbose_name="Achievement date")
    uploaded_at = tables.DateTimeColumn(format="j M Y H:i", verbose_name="Loaded")
    uploaded_by = tables.Column(verbose_name="Loaded by", empty_values=(), order_by="uploaded_by__full_name")
    practice_count = CountColumn(verbose_name="Practices")
    row_count = CountColumn(verbose_name="Values")
    superseded_row_count = CountColumn(verbose_name="Earlier values superseded")

    class Meta:
        model = Extract
        fields = [
            "id", "file_name", "service_year", "achievement_date", "uploaded_at", "uploaded_by",
            "practice_count", "row_count", "superseded_row_count",
        ]  # fmt: skip
        attrs = {"class": "nhsuk-table"}
        order_by = "-uploaded_at"

    def render_uploaded_by(self, record):
        return self.value_uploaded_by(record)

    def value_uploaded_by(self, record):
        # An extract the system loaded has no user; a user may have no full name. The download names both.
        user = record.uploaded_by
        if user is None:
            return "The system"
        return user.full_name or user.email
