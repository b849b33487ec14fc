import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from .models import Declaration, pounds
from .templatetags.declaration_tags import declaration_state_tag

# The states a bulk step starts from: only these rows can be selected.
SELECTABLE = {Declaration.State.AWAITING_COMMISSIONER, Declaration.State.AWAITING_FINANCE}


class DeclarationTable(tables.Table):
    select = tables.Column(empty_values=(), orderable=False, verbose_name="Select", exclude_from_export=True)
    practice_code = tables.Column(accessor="practice__code", verbose_name="ODS code")
    practice_name = tables.Column(accessor="practice__name", verbose_name="Practice")
    sub_icb = tables.Column(accessor="practice__parent__code", verbose_name="Sub-ICB")
    service_year = tables.Column(accessor="service_year__code", verbose_name="Service")
    achievement_date = tables.DateColumn(verbose_name="Achievement date", format="j M Y")
    points = tables.Column(verbose_name="Points", attrs={"td": {"class": "numeric"}})
    payment = tables.Column(verbose_name="Payment", attrs={"td": {"class": "numeric"}})
    state = tables.Column(verbose_name="Status")

    class Meta:
        model = Declaration
        fields = [
            "select", "practice_code", "practice_name", "sub_icb", "service_year", "achievement_date",
            "points", "payment", "state",
        ]  # fmt: skip
        attrs = {"class": "nhsuk-table"}
        empty_text = "No declarations match."

    def render_select(self, record):
        if record.state not in SELECTABLE:
            return ""
        return format_html(
            '<div class="nhsuk-checkboxes"><div class="nhsuk-checkboxes__item">'
            '<input class="nhsuk-checkboxes__input" type="checkbox" name="declaration" value="{}" id="d-{}" '
            "data-selectable>"
            '<label class="nhsuk-label nhsuk-checkboxes__label" for="d-{}">'
            '<span class="nhsuk-u-visually-hidden">Select {}</span></label></div></div>',
            record.pk, record.pk, record.pk, record.practice.code,
        )  # fmt: skip

    def render_practice_code(self, record, value):
        return format_html('<a href="{}">{}</a>', reverse("declarations:detail", args=[record.pk]), value)

    def value_practice_code(self, value):
        return value

    def render_payment(self, value):
        return pounds(value)

    def value_payment(self, value):
        return value

    def render_state(self, record):
        return declaration_state_tag(record.state)

    def value_state(self, record):
        return record.get_state_display()
