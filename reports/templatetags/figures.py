"""Filters for showing exact figures: fractions to a few decimals, marked when they go on."""

from decimal import Decimal
from fractions import Fraction

from django import template

from accounts import tabular
from engine.explain import decimal_places

register = template.Library()


@register.filter
def exact(value, places=6):
    """An exact value (a Fraction, Decimal or int) to `places` decimals, with … when it goes on."""
    if value is None or value == "":
        return ""
    return decimal_places(Fraction(value), int(places))


@register.filter
def percent(value, places=4):
    """A fraction (0.0305) as a percentage to `places` decimals (3.0500…%), exactly."""
    if value is None or value == "":
        return ""
    return f"{decimal_places(Fraction(value) * 100, int(places))}%"


@register.filter
def pounds(value):
    """£1,234.56; negative amounts as −£1,234.56: the one rule every page and table uses."""
    return tabular.pounds(value)


@register.filter
def points(value):
    """Points to two decimals, thousands separated."""
    return tabular.points(value)


@register.filter
def signed(value):
    """+1.25 / −1.25 / 0.00, for changes."""
    amount = Decimal(value)
    return f"+{amount}" if amount > 0 else (f"−{abs(amount)}" if amount < 0 else f"{amount}")
