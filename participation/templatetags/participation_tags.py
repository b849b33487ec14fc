from django import template

from participation.tables import state_tag

register = template.Library()


@register.filter
def offer_state_tag(state: str):
    """An offer's state as an NHS.UK tag, coloured as in the participation table."""
    return state_tag(state)


@register.filter
def day(value) -> str:
    return f"{value.day} {value:%B %Y}" if value else ""
