from django import template
from django.utils.html import format_html

from declarations.models import Declaration, pounds

register = template.Library()
State = Declaration.State

COLOURS = {
    State.AWAITING_NETWORK: "nhsuk-tag--purple",
    State.AWAITING_PRACTICE: "nhsuk-tag--orange",
    State.AWAITING_COMMISSIONER: "nhsuk-tag--yellow",
    State.AWAITING_FINANCE: "nhsuk-tag--blue",
    State.APPROVED: "nhsuk-tag--green",
    State.SENT: "nhsuk-tag--grey",
    State.WITHDRAWN: "nhsuk-tag--white",
}


@register.filter
def declaration_state_tag(state: str):
    return format_html('<strong class="nhsuk-tag {}">{}</strong>', COLOURS.get(state, ""), State(state).label)


@register.filter
def money(amount) -> str:
    return "" if amount is None else pounds(amount)
