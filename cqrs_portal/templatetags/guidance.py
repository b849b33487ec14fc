from django import template

from cqrs_portal.guidance import PAGES

register = template.Library()


@register.inclusion_tag("includes/guidance.html")
def guidance(page: str) -> dict:
    """The guidance panel of a main page: `{% guidance "declarations" %}`."""
    return {"page": page, "guidance": PAGES[page]}
