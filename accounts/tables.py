import django_tables2 as tables

from .models import Organisation


class PracticeTable(tables.Table):
    code = tables.LinkColumn("accounts:organisation_detail", args=[tables.A("code")], verbose_name="ODS code")
    name = tables.Column(verbose_name="Practice")
    pcn = tables.Column(verbose_name="PCN", empty_values=(), orderable=False)
    sub_icb = tables.Column(accessor="parent__name", verbose_name="Sub-ICB location", order_by="parent__name")
    icb = tables.Column(accessor="parent__parent__code", verbose_name="ICB", order_by="parent__parent__code")

    class Meta:
        model = Organisation
        fields = ["code", "name", "pcn", "sub_icb", "icb"]
        attrs = {"class": "nhsuk-table"}

    def render_pcn(self, record):
        memberships = getattr(record, "current_pcn_memberships", [])
        return memberships[0].pcn.name if memberships else "Not in a PCN"

    def value_pcn(self, record):
        memberships = getattr(record, "current_pcn_memberships", [])
        return memberships[0].pcn.code if memberships else ""
