import django_tables2 as tables

from accounts.models import Organisation


class PracticeTable(tables.Table):
    code = tables.LinkColumn("accounts:organisation_detail", args=[tables.A("code")], verbose_name="ODS code")
    name = tables.Column(verbose_name="Practice")
    pcn = tables.Column(verbose_name="PCN", empty_values=(), orderable=False)
    pcn_code = tables.Column(verbose_name="PCN code", empty_values=(), orderable=False, visible=False)
    sub_icb = tables.Column(accessor="parent__name", verbose_name="Sub-ICB location", order_by="parent__name")
    icb = tables.Column(accessor="parent__parent__code", verbose_name="ICB", order_by="parent__parent__code")
    year_end = tables.Column(verbose_name="Year-end checklist", empty_values=(), orderable=False)

    class Meta:
        model = Organisation
        fields = ["code", "name", "pcn", "pcn_code", "sub_icb", "icb", "year_end"]
        attrs = {"class": "nhsuk-table"}

    def __init__(self, *args, checklist=None, **kwargs):
        # `checklist`: a home.checklist.ChecklistContext for rows annotated with the year-end checklist.
        if checklist is None:
            kwargs["exclude"] = (*kwargs.get("exclude", ()), "year_end")
        super().__init__(*args, **kwargs)
        self.checklist = checklist
        if checklist is not None:
            self.columns["year_end"].column.verbose_name = f"Year end {checklist.service_year.label}"

    def render_year_end(self, record):
        checklist = self.checklist.of(record)
        if checklist.complete:
            return "Complete"
        # Say what is still to do as what it is, then what is done: never a count of done items
        # followed by the list of things not done.
        to_do = "; ".join(item.label for item in checklist.outstanding)
        done = "; ".join(item.label for item in checklist.items if item.done)
        return f"Still to do: {to_do}." + (f" Done: {done}." if done else "")

    def value_code(self, value):
        return value

    def value_year_end(self, record):
        checklist = self.checklist.of(record)
        return "; ".join(f"{item.label}: {'yes' if item.done else 'no'}" for item in checklist.items)

    def render_pcn(self, record):
        memberships = getattr(record, "current_pcn_memberships", [])
        return memberships[0].pcn.name if memberships else "Not in a PCN"

    def value_pcn(self, record):
        memberships = getattr(record, "current_pcn_memberships", [])
        return memberships[0].pcn.name if memberships else ""

    def value_pcn_code(self, record):
        # Shown only in downloads, where a spreadsheet wants the code in a column of its own.
        memberships = getattr(record, "current_pcn_memberships", [])
        return memberships[0].pcn.code if memberships else ""
