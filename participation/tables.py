import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import Organisation

from .models import Offer
from .selectors import AUTOMATIC, OVERVIEW_STATES

STATE_LABELS = dict(OVERVIEW_STATES)
SELECTABLE = {Offer.State.OFFERED, Offer.State.ACCEPTED}
TAG_COLOURS = {
    Offer.State.OFFERED: "blue",
    Offer.State.ACCEPTED: "yellow",
    Offer.State.APPROVED: "green",
    Offer.State.DECLINED: "red",
    AUTOMATIC: "aqua-green",
}


def state_tag(state: str):
    return format_html(
        '<strong class="nhsuk-tag nhsuk-tag--{}">{}</strong>',
        TAG_COLOURS.get(state, "grey"),
        STATE_LABELS.get(state, state),
    )


def _period(record) -> str:
    if record.participation_start is None:
        return ""
    start, end = record.participation_start, record.participation_end
    return f"{start.day} {start:%b %Y} to {end.day} {end:%b %Y}"


class ParticipationTable(tables.Table):
    """A commissioner's practices and where each stands for one service year."""

    select = tables.Column(empty_values=(), orderable=False, verbose_name="Select", exclude_from_export=True)
    code = tables.Column(verbose_name="ODS code")
    name = tables.Column(verbose_name="Practice")
    sub_icb = tables.Column(accessor="parent__code", verbose_name="Sub-ICB", order_by="parent__code")
    offer_state = tables.Column(verbose_name="State", empty_values=())
    response_date = tables.DateColumn(verbose_name="Respond by", format="j M Y")
    participation = tables.Column(
        verbose_name="Participating",
        empty_values=(),
        order_by=("participation_start", "participation_end"),
        exclude_from_export=True,
    )
    # Downloads carry the period as two dates a spreadsheet can sort and compare.
    participation_start = tables.DateColumn(verbose_name="Participating from", visible=False)
    participation_end = tables.DateColumn(verbose_name="Participating to", visible=False)

    class Meta:
        model = Organisation
        fields = [
            "select", "code", "name", "sub_icb", "offer_state", "response_date", "participation",
            "participation_start", "participation_end",
        ]  # fmt: skip
        attrs = {"class": "nhsuk-table"}
        empty_text = "No practices match."

    def render_select(self, record):
        if record.offer_state not in SELECTABLE:
            return ""
        return format_html(
            '<div class="nhsuk-checkboxes"><div class="nhsuk-checkboxes__item">'
            '<input class="nhsuk-checkboxes__input" type="checkbox" name="offer" value="{}" id="offer-{}">'
            '<label class="nhsuk-label nhsuk-checkboxes__label" for="offer-{}">'
            '<span class="nhsuk-u-visually-hidden">Select {}</span></label></div></div>',
            record.offer_id,
            record.offer_id,
            record.offer_id,
            record.code,
        )

    def render_code(self, record, value):
        if record.offer_id is None:
            return value
        return format_html(
            '<a href="{}">{}</a>', reverse("participation:offer_detail", args=[record.offer_id]), value
        )

    def value_code(self, value):
        return value

    def render_offer_state(self, value):
        return state_tag(value)

    def value_offer_state(self, value):
        return STATE_LABELS.get(value, value)

    def render_participation(self, record):
        return _period(record) or "—"
