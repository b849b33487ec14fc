import django_tables2 as tables

from .models import CalculationRun


class RunTable(tables.Table):
    id = tables.Column(verbose_name="Run", linkify=("calculation:run_detail", [tables.A("pk")]))
    kind = tables.Column(verbose_name="Kind")
    scope = tables.Column(verbose_name="Scope", empty_values=(), order_by="scope")
    service_year = tables.Column(verbose_name="Service year")
    achievement_date = tables.DateColumn(verbose_name="Achievement date", format="j M Y")
    status = tables.Column(verbose_name="Status")
    created_at = tables.DateTimeColumn(verbose_name="Started", format="j M Y H:i")
    triggered_by = tables.Column(verbose_name="By", default="Scheduled")

    class Meta:
        model = CalculationRun
        fields = [
            "id",
            "kind",
            "scope",
            "service_year",
            "achievement_date",
            "status",
            "created_at",
            "triggered_by",
        ]
        attrs = {"class": "nhsuk-table"}
        empty_text = "No calculation runs yet."

    def render_scope(self, record):
        if record.organisation_id is None:
            return record.get_scope_display()
        return f"{record.get_scope_display()} {record.organisation.code}"
