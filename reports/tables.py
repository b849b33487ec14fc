import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from calculation.models import PracticeResult


class ProviderTable(tables.Table):
    """Detailed Provider Achievement Report: one row per practice a commissioner commissions."""

    code = tables.Column(accessor="practice__code", verbose_name="ODS code", order_by="practice__code")
    name = tables.Column(accessor="practice__name", verbose_name="Practice", order_by="practice__name")
    sub_icb = tables.Column(
        accessor="practice__parent__code", verbose_name="Sub-ICB location", order_by="practice__parent__code"
    )
    points = tables.Column(verbose_name="Points", attrs={"td": {"class": "portal-numeric"}})
    payment = tables.Column(verbose_name="Achievement payment (£)", attrs={"td": {"class": "portal-numeric"}})
    aspiration_monthly = tables.Column(
        verbose_name="Aspiration next year, monthly (£)", attrs={"td": {"class": "portal-numeric"}}
    )
    status = tables.Column(accessor="indicator_run__kind", verbose_name="Calculated by", orderable=False)

    class Meta:
        model = PracticeResult
        fields = ["code", "name", "sub_icb", "points", "payment", "aspiration_monthly", "status"]
        attrs = {"class": "nhsuk-table"}
        empty_text = "No published achievement for these practices."

    def __init__(self, *args, publication=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.publication = publication

    def render_code(self, record, value):
        url = reverse("reports:practice_summary", kwargs={"code": value})
        if self.publication is not None:
            url += f"?publication={self.publication.pk}"
        return format_html('<a href="{}">{}</a>', url, value)

    def render_status(self, record):
        run = record.indicator_run
        return f"{run.get_kind_display()} run {run.pk}, {run.created_at:%d %b %Y}"

    def value_status(self, record):
        return record.indicator_run.get_kind_display()
