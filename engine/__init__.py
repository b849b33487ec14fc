"""The calculation engine: pure functions over pandas frames (no Django, no I/O outside ``readers``).

Points are int64 hundredths and money int64 pence throughout; convert with
``rounding.hundredths_to_decimal`` at the boundaries. See docs/adr/0002-calculation-engine.md.
"""

from .aspiration import (
    MONEY_BASE,
    POINTS_CPI,
    aspiration_rule_for,
    calculate_aspiration,
    split_into_instalments,
    year_end_balance,
)
from .errors import InputError, Problem
from .extract import ROLE_TOTALS, Extract, parse_extract, reduce_fields, reduce_role_totals, role_totals
from .pcn import calculate_pcn_payments
from .qof import QofResult, YearParameters, calculate_qof, national_prevalence
from .rounding import hundredths_to_decimal, round_half_up_quotient
from .ruleset import validate_ruleset

__all__ = [
    "MONEY_BASE",
    "POINTS_CPI",
    "ROLE_TOTALS",
    "Extract",
    "InputError",
    "Problem",
    "QofResult",
    "YearParameters",
    "aspiration_rule_for",
    "calculate_aspiration",
    "calculate_pcn_payments",
    "calculate_qof",
    "hundredths_to_decimal",
    "national_prevalence",
    "parse_extract",
    "reduce_fields",
    "reduce_role_totals",
    "role_totals",
    "round_half_up_quotient",
    "split_into_instalments",
    "validate_ruleset",
    "year_end_balance",
]
