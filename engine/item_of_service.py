"""Item-of-service payments (DOMAIN.md §7a): count × fee, the fee by programme × cohort × year.

Money is int64 pence; a fee is a whole number of pence, so a line's amount is exact without rounding.
Caps: a component capped by the register (the LD health check) may never take the year's cumulative count
above the practice's register as at each achievement date. A claim over it is refused with its line named,
as a bad extract is: nothing of the claims is paid until they are corrected.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from .errors import ProblemCollector
from .rounding import decimal_to_scaled_int

CLAIM_COLUMNS = ["line", "practice_code", "achievement_date", "component", "count"]


def fee_pence(rate: Decimal | str) -> int:
    """A fee in £ as whole pence; a fee with a fraction of a penny is refused."""
    return decimal_to_scaled_int(Decimal(str(rate)), 2)


def calculate_items(
    claims: pd.DataFrame,
    fees: pd.DataFrame,
    registers: pd.DataFrame | None = None,
    *,
    source: str = "claims",
) -> pd.DataFrame:
    """Payment lines for a year's claims so far.

    claims: line (1-based, for messages), practice_code, achievement_date, component (the cohort), count;
    every achievement date of the year so far, so that caps see the cumulative count.
    fees: component, fee_pence (int), capped_by_register (bool).
    registers: practice_code, achievement_date, register — needed when a claimed component is capped.
    Returns the claims with fee_pence and amount_pence; raises InputError naming every bad line.
    """
    problems = ProblemCollector(source)
    frame = claims[CLAIM_COLUMNS].merge(
        fees[["component", "fee_pence", "capped_by_register"]], on="component", how="left", validate="m:1"
    )
    lines = frame["line"].to_numpy()
    counts = pd.to_numeric(frame["count"], errors="coerce")
    bad_count = (counts.isna() | (counts < 0) | (counts != counts.round())).to_numpy()
    problems.add_rows(lines[bad_count], "count", lambda i: "must be a whole number of 0 or more")
    no_fee = frame["fee_pence"].isna().to_numpy()
    unknown = frame["component"].to_numpy()[no_fee]
    problems.add_rows(lines[no_fee], "component", lambda i: f"no fee for {unknown[i]!r} in this year")
    duplicated = frame.duplicated(["practice_code", "achievement_date", "component"], keep="first").to_numpy()
    problems.add_rows(
        lines[duplicated], "component", lambda i: "claimed twice for the same practice and achievement date"
    )
    problems.raise_if_any()

    frame["count"] = counts.astype(np.int64)
    frame["fee_pence"] = frame["fee_pence"].astype(np.int64)
    frame["capped_by_register"] = frame["capped_by_register"].astype(bool)
    _check_caps(frame, registers, problems)
    problems.raise_if_any()

    frame["amount_pence"] = frame["count"].to_numpy() * frame["fee_pence"].to_numpy()
    return frame.drop(columns="capped_by_register").sort_values("line", ignore_index=True)


def _check_caps(frame: pd.DataFrame, registers: pd.DataFrame | None, problems: ProblemCollector) -> None:
    capped = frame[frame["capped_by_register"]]
    if capped.empty:
        return
    if registers is None:
        registers = pd.DataFrame(columns=["practice_code", "achievement_date", "register"])
    capped = capped.sort_values(["practice_code", "component", "achievement_date"])
    cumulative = capped.groupby(["practice_code", "component"], sort=False)["count"].cumsum()
    capped = capped.assign(cumulative=cumulative.to_numpy()).merge(
        registers[["practice_code", "achievement_date", "register"]],
        on=["practice_code", "achievement_date"],
        how="left",
        validate="m:1",
    )
    lines = capped["line"].to_numpy()
    register = pd.to_numeric(capped["register"])
    missing = register.isna().to_numpy()
    problems.add_rows(
        lines[missing], "count", lambda i: "no register for the practice at this date to cap it"
    )
    over = (~missing) & (capped["cumulative"].to_numpy() > register.fillna(0).to_numpy())
    over_rows = capped[over]
    cumulatives, limits = over_rows["cumulative"].to_numpy(), register[over].to_numpy()
    dates, components = over_rows["achievement_date"].to_numpy(), over_rows["component"].to_numpy()
    problems.add_rows(
        lines[over],
        "count",
        lambda i: (
            f"{components[i]}: {cumulatives[i]} in the year to {pd.Timestamp(dates[i]).date()} "
            f"would exceed the register of {int(limits[i])}"
        ),
    )


def practice_totals(lines: pd.DataFrame) -> pd.DataFrame:
    """practice_code, achievement_date, count, amount_pence summed over components."""
    return lines.groupby(["practice_code", "achievement_date"], as_index=False)[
        ["count", "amount_pence"]
    ].sum()
