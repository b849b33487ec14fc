"""Capitation payments (DOMAIN.md §4 PCN paragraph, §7a): rate × population, paid monthly.

- per patient per year (Network Participation Payment, Core PCN Funding, Enhanced Access): the annual
  amount rate × list at 1 January is rounded half-up to the penny, then paid as twelve instalments, eleven
  of annual/12 rounded down and the twelfth (March) taking the remainder, the convention of
  engine/pcn.py (ADR 0002), so a year's instalments always add up to the annual amount;
- per bed per month (Care Home Premium): rate × this month's beds, rounded half-up to the penny.

Populations may be fractional (weighted lists) and are held exactly in ten-thousandths of a patient.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from .network import members_as_at, payees_as_at, sum_over_members
from .rounding import round_half_up_quotient

MONTHS = 12
POPULATION_SCALE = 10_000
PER_PATIENT_PER_YEAR = "per_patient_per_year"
PER_BED_PER_MONTH = "per_bed_per_month"


def scaled_population(values: pd.Series) -> np.ndarray:
    """Populations as int64 ten-thousandths: integers directly, decimals (Decimal or text) exactly.

    Refuses negatives, floats (never exact) and more than four decimal places."""
    if values.dtype.kind in "iu":
        scaled = values.to_numpy(dtype=np.int64) * POPULATION_SCALE
    elif values.dtype.kind == "f":
        raise TypeError("populations must be integers or decimals, not floats")
    else:
        text = values.astype(str).str.strip()
        parts = text.str.extract(r"^(\d+)(?:\.(\d{0,4}))?$")
        if parts[0].isna().any():
            raise ValueError(
                f"populations must be 0 or more with at most 4 places: {text[parts[0].isna()].iloc[0]!r}"
            )
        fraction = parts[1].fillna("").str.ljust(4, "0")
        scaled = (
            parts[0].astype(np.int64).to_numpy() * POPULATION_SCALE + fraction.astype(np.int64).to_numpy()
        )
    if (scaled < 0).any():
        raise ValueError("populations cannot be negative")
    return scaled


def calculate_capitation(populations: pd.DataFrame, rates: pd.DataFrame, *, month: int) -> pd.DataFrame:
    """Capitation lines for instalment ``month`` (1 = April … 12 = March).

    populations: payee_code, component, population (int, Decimal or decimal text).
    rates: component, rate (Decimal £), unit (per_patient_per_year | per_bed_per_month).
    Returns populations' columns with population_e4 (the population in ten-thousandths), annual_pence
    (per-year components; 0 for per-bed ones, whose amount follows the month's beds) and amount_pence.
    """
    scaled = populations.drop(columns="population").assign(
        population_e4=scaled_population(populations["population"])
    )
    return _pay(scaled, rates, month=month)


def _pay(lines: pd.DataFrame, rates: pd.DataFrame, *, month: int) -> pd.DataFrame:
    if not 1 <= month <= MONTHS:
        raise ValueError(f"month must be 1 to 12, not {month}")
    joined = lines.merge(rates[["component", "rate", "unit"]], on="component", how="left", validate="m:1")
    if joined["rate"].isna().any():
        unknown = sorted(set(joined.loc[joined["rate"].isna(), "component"]))
        raise ValueError(f"no rate for {', '.join(unknown)} in this year")
    unknown_units = set(joined["unit"]) - {PER_PATIENT_PER_YEAR, PER_BED_PER_MONTH}
    if unknown_units:
        raise ValueError(f"not a capitation unit: {', '.join(sorted(unknown_units))}")
    population = joined["population_e4"].to_numpy(dtype=np.int64)
    yearly = (joined["unit"] == PER_PATIENT_PER_YEAR).to_numpy()
    if (~yearly & (population % POPULATION_SCALE != 0)).any():
        raise ValueError("care-home beds must be whole numbers")
    # A handful of distinct rates: turn each into an exact fraction once, then index.
    distinct = {rate: Fraction(Decimal(str(rate))) for rate in joined["rate"].unique()}
    codes = pd.Categorical(joined["rate"], categories=list(distinct)).codes
    numerators = np.array([f.numerator for f in distinct.values()], dtype=np.int64)[codes]
    denominators = np.array([f.denominator for f in distinct.values()], dtype=np.int64)[codes]
    # pence = rate × population × 100 = (num / den) × (population_e4 / 10_000) × 100
    pence = round_half_up_quotient([numerators, population, 100], [denominators, POPULATION_SCALE])
    instalment = pence // MONTHS
    if month == MONTHS:
        instalment = pence - (MONTHS - 1) * instalment
    result = joined.drop(columns=["rate", "unit"])
    result["annual_pence"] = np.where(yearly, pence, 0)
    result["amount_pence"] = np.where(yearly, instalment, pence)
    return result


def network_contract_month(
    *,
    practices: pd.DataFrame,
    memberships: pd.DataFrame,
    payees: pd.DataFrame,
    rates: pd.DataFrame,
    as_at: date,
    month: int,
    care_home_beds: pd.DataFrame | None = None,
    hold_without_payee: bool = False,
) -> pd.DataFrame:
    """One month of the Network Contract DES: every capitation line, to practices and nominated payees.

    practices: practice_code, registered, weighted, adjusted (lists at 1 January; weighted may be decimal).
    memberships: practice_code, pcn_code, start_date, end_date; payees: pcn_code, payee_code, start_date,
    end_date. rates: component, rate, unit, population (registered|weighted|adjusted|beds), paid_to
    (practice|nominated_payee). care_home_beds: pcn_code, beds (this month's CQC count).
    Practice components are paid to each practice in a PCN on ``as_at``; PCN components on the sum of the
    members' lists as at ``as_at``, to the payee nominated on that date. A PCN without one is refused by
    name, or with ``hold_without_payee`` its aggregate is left out (its members' own lines stay): nobody
    can declare or be paid it until a payee is nominated (Awaiting Network Achievement, ADR 0018).
    Returns payee_code, pcn_code, practice_code (blank on PCN lines), component, population_e4,
    annual_pence, amount_pence.
    """
    members = members_as_at(memberships, as_at)
    needed = sorted(set(rates["population"]) - {"beds"})
    scaled = pd.DataFrame({"practice_code": practices["practice_code"].to_numpy()})
    for column in needed:
        scaled[column] = scaled_population(practices[column])
    pcn_sums = sum_over_members(scaled, members, needed)
    frames = []
    for row in rates.itertuples(index=False):
        if row.paid_to == "practice":
            lines = scaled[["practice_code", row.population]].merge(members, on="practice_code")
            lines["payee_code"] = lines["practice_code"]
        elif row.population == "beds":
            beds = care_home_beds if care_home_beds is not None else _no_beds()
            lines = pd.DataFrame(
                {"pcn_code": beds["pcn_code"].to_numpy(), "beds": scaled_population(beds["beds"])}
            ).assign(practice_code="")
        else:
            lines = pcn_sums[["pcn_code", row.population]].assign(practice_code="")
        lines = lines.rename(columns={row.population: "population_e4"})
        frames.append(lines.assign(component=row.component))
    lines = pd.concat(frames, ignore_index=True)
    pcn_lines = (lines["practice_code"] == "").to_numpy()
    if pcn_lines.any():
        nominated = payees_as_at(payees, as_at).set_index("pcn_code")["payee_code"]
        lines.loc[pcn_lines, "payee_code"] = lines.loc[pcn_lines, "pcn_code"].map(nominated)
        missing = lines.loc[pcn_lines & lines["payee_code"].isna().to_numpy(), "pcn_code"]
        if not missing.empty and hold_without_payee:
            lines = lines[~(pcn_lines & lines["payee_code"].isna().to_numpy())]
        elif not missing.empty:
            raise ValueError(f"no nominated payee on {as_at} for {', '.join(sorted(set(missing)))}")
    paid = _pay(
        lines[["payee_code", "pcn_code", "practice_code", "component", "population_e4"]], rates, month=month
    )
    return paid[
        [
            "payee_code",
            "pcn_code",
            "practice_code",
            "component",
            "population_e4",
            "annual_pence",
            "amount_pence",
        ]
    ]


def _no_beds() -> pd.DataFrame:
    return pd.DataFrame({"pcn_code": pd.Series(dtype=object), "beds": pd.Series(dtype=np.int64)})


def population_to_decimal(values) -> list[Decimal]:
    """Ten-thousandths back to Decimals for the database and reports."""
    return [Decimal(int(value)).scaleb(-4) for value in values]
