"""Primary Care Networks as at a date: which practices are members, who is the nominated payee, and the
PCN aggregate of practices' figures (DOMAIN.md §7a; accounts.PcnMembership holds ODS start and end dates).

Membership is dated, so an aggregate is always "as at" an achievement date: a practice that joins or
leaves mid-year counts towards the PCN it was in on that date, and re-running the date after a membership
change gives the new aggregate.
"""

from __future__ import annotations

from datetime import date

import pandas as pd


def _in_force(frame: pd.DataFrame, as_at: date) -> pd.Series:
    day = pd.Timestamp(as_at)
    starts = pd.to_datetime(frame["start_date"])
    ends = pd.to_datetime(frame["end_date"])
    return (starts <= day) & (ends.isna() | (ends >= day))


def members_as_at(memberships: pd.DataFrame, as_at: date) -> pd.DataFrame:
    """practice_code, pcn_code of the memberships in force on ``as_at`` (start and end days included).

    memberships: practice_code, pcn_code, start_date, end_date (blank while open).
    A practice in two PCNs on the same day is a data error, refused.
    """
    current = memberships.loc[_in_force(memberships, as_at), ["practice_code", "pcn_code"]]
    twice = current["practice_code"][current["practice_code"].duplicated()]
    if not twice.empty:
        raise ValueError(f"practices in two PCNs on {as_at}: {', '.join(sorted(set(twice)))}")
    return current.reset_index(drop=True)


def payees_as_at(payees: pd.DataFrame, as_at: date) -> pd.DataFrame:
    """pcn_code, payee_code of the nominations in force on ``as_at``; one per PCN, else refused.

    payees: pcn_code, payee_code, start_date, end_date (blank while open).
    """
    current = payees.loc[_in_force(payees, as_at), ["pcn_code", "payee_code"]]
    twice = current["pcn_code"][current["pcn_code"].duplicated()]
    if not twice.empty:
        raise ValueError(f"PCNs with two nominated payees on {as_at}: {', '.join(sorted(set(twice)))}")
    return current.reset_index(drop=True)


def aggregate_to_pcns(
    values: pd.DataFrame, memberships: pd.DataFrame, as_at: date, columns: list[str]
) -> pd.DataFrame:
    """pcn_code, practices (how many members had figures), and each of ``columns`` summed over the PCN's
    members as at ``as_at``. values: practice_code and ``columns`` (integers). Practices in no PCN on the
    date are left out; PCNs with no member holding figures are absent."""
    return sum_over_members(values, members_as_at(memberships, as_at), columns)


def sum_over_members(values: pd.DataFrame, members: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """As aggregate_to_pcns, over members already found (members_as_at) for several sums on one date."""
    joined = values[["practice_code", *columns]].merge(members, on="practice_code", how="inner")
    grouped = joined.groupby("pcn_code", sort=True)
    totals = grouped[columns].sum()
    totals.insert(0, "practices", grouped.size())
    return totals.reset_index()
