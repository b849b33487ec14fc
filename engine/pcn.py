"""Primary Care Network payments (DOMAIN.md §4, PCN paragraph) from reference/pcn_rates.csv.

Rounding (our decision, ADR 0002): the annual amount rate × population is rounded half-up to the penny,
then paid monthly exactly as aspiration is — eleven instalments of annual/12 rounded down, the twelfth
takes the remainder — so the months always add up to the annual amount.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from .aspiration import split_into_instalments
from .rounding import decimal_to_scaled_int, round_half_up_quotient

# Weighted list sizes are fractional; four places is more than any published weighting carries.
POPULATION_PLACES = 4


def calculate_pcn_payments(rates: pd.DataFrame, populations: pd.DataFrame) -> pd.DataFrame:
    """rates: payment, rate_gbp (Decimal £ per patient per year), one year's rows.
    populations: payee_code, payment, population (int or Decimal; practice or PCN list at 1 January).
    Returns payee_code, payment, annual_pence, monthly_pence (months 1–11), last_month_pence.
    """
    joined = populations.merge(rates[["payment", "rate_gbp"]], on="payment", how="left")
    if joined["rate_gbp"].isna().any():
        unknown = sorted(set(joined.loc[joined["rate_gbp"].isna(), "payment"]))
        raise ValueError(f"no rate for payment(s) {unknown}")
    rate_fractions = [Fraction(Decimal(str(rate))) for rate in joined["rate_gbp"]]
    population = np.array(
        [decimal_to_scaled_int(Decimal(str(value)), POPULATION_PLACES) for value in joined["population"]],
        dtype=np.int64,
    )
    annual = round_half_up_quotient(
        [population, np.array([rate.numerator for rate in rate_fractions], dtype=np.int64), 100],
        [np.array([rate.denominator for rate in rate_fractions], dtype=np.int64), 10**POPULATION_PLACES],
    )
    monthly, last = split_into_instalments(annual)
    return pd.DataFrame(
        {
            "payee_code": joined["payee_code"].to_numpy(),
            "payment": joined["payment"].to_numpy(),
            "annual_pence": annual,
            "monthly_pence": monthly,
            "last_month_pence": last,
        }
    )
