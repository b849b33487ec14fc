"""Points with thresholds at PCN level: the Investment and Impact Fund (DOMAIN.md §7a; ADR 0019).

The member practices' numerators, denominators and registers are summed to the PCN they were in on the
achievement date (engine.network: dated memberships, both end days included). Per PCN × indicator:

- achievement A = 100 × N / D and points = G × clamp((A − LT) / (UT − LT), 0, 1), rounded half-up to
  hundredths from the exact value: the QOF arithmetic itself (qof.percentage_points_hundredths);
- money = points × £ per point × list-size adjustment × prevalence adjustment, rounded half-up to the
  penny from the rounded points (as a QOF line, DOMAIN.md §4.4 and §4.8), where
  list-size adjustment = PCN list / national mean PCN list = L × n / ΣL over the n PCNs calculated, and
  prevalence adjustment (indicators with a prevalence basis only) = PCN prevalence / national PCN
  prevalence = (R / P) / (ΣR / ΣP), the national figure a ratio of totals over the same PCNs, as QOF's
  national prevalence is (DOMAIN.md §4.7; the list-weighted mean of PCN prevalences, see ADR 0019).

Every money figure is a ratio of integer products rounded once (rounding.round_half_up_quotient), so it is
exact. Points are int64 hundredths and money int64 pence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from .network import members_as_at, payees_as_at
from .qof import percentage_points_hundredths, scaled_column
from .rounding import round_half_up_quotient
from .ruleset import PERCENTAGE, register_source_indicators

VALUE_COLUMNS = ["numerator", "denominator", "register"]


@dataclass(frozen=True)
class NetworkPointsResult:
    """lines: one row per PCN × indicator; pcn_totals: one per PCN; national: the figures every PCN's
    adjustments were divided by (pcns, list_total, and per group register_total and population_total)."""

    lines: pd.DataFrame
    pcn_totals: pd.DataFrame
    national: pd.DataFrame


def pcn_aggregates(
    values: pd.DataFrame, practices: pd.DataFrame, memberships: pd.DataFrame, as_at: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, lists) summed over each PCN's members as at ``as_at``.

    values: practice_code, indicator_code, numerator, denominator, register (nullable integers; a blank is
    0). practices: practice_code, list_size (for the list-size adjustment), list_size_prevalence. Returns
    pcn_code, indicator_code and the three sums; and pcn_code, practices, list_size, list_size_prevalence.
    Practices in no PCN on the date are left out; a PCN none of whose members has values is absent.
    """
    members = members_as_at(memberships, as_at)
    member_values = values[["practice_code", "indicator_code", *VALUE_COLUMNS]].merge(
        members, on="practice_code", how="inner"
    )
    for column in VALUE_COLUMNS:
        member_values[column] = _whole(member_values[column].fillna(0), column)
    if (member_values["numerator"] > member_values["denominator"]).any() or (
        member_values[VALUE_COLUMNS] < 0
    ).to_numpy().any():
        raise ValueError("values must satisfy 0 <= numerator <= denominator and registers 0 or more")
    summed = (
        member_values.groupby(["pcn_code", "indicator_code"], sort=True)[VALUE_COLUMNS].sum().reset_index()
    )
    with_values = members[members["practice_code"].isin(member_values["practice_code"])]
    lists = with_values.merge(
        practices[["practice_code", "list_size", "list_size_prevalence"]], on="practice_code", how="left"
    )
    if lists[["list_size", "list_size_prevalence"]].isna().to_numpy().any():
        missing = sorted(set(lists.loc[lists["list_size"].isna(), "practice_code"]))
        raise ValueError(f"no list size for {', '.join(missing[:10])}")
    grouped = lists.groupby("pcn_code", sort=True)
    pcn_lists = grouped[["list_size", "list_size_prevalence"]].sum().astype(np.int64)
    pcn_lists.insert(0, "practices", grouped.size())
    return summed, pcn_lists.reset_index()


def calculate_network_points(
    *,
    ruleset: pd.DataFrame,
    values: pd.DataFrame,
    practices: pd.DataFrame,
    memberships: pd.DataFrame,
    payees: pd.DataFrame,
    point_value: Decimal,
    as_at: date,
    hold_without_payee: bool = False,
) -> NetworkPointsResult:
    """Points and money of every PCN × indicator as at ``as_at`` (module docstring for the arithmetic).

    ruleset: a validated ruleset frame (ruleset.validate_ruleset) of percentage indicators; a prevalence
    adjusted indicator's group must have a register-source indicator whose values carry the register.
    values, practices: as pcn_aggregates. memberships, payees: as engine.network.
    The national figures are taken over every PCN calculated, before any is held: a PCN without a payee
    on the date is refused by name, or with ``hold_without_payee`` left out (Awaiting Network Achievement,
    ADR 0018), without changing anyone else's money.
    Returns lines: pcn_code, payee_code, indicator_code, group_code, numerator, denominator, register,
    list_size, list_size_prevalence, achievement (float, NaN when D = 0), points_hundredths,
    maximum_hundredths, list_adjustment and prevalence_adjustment (floats, reported only), payment_pence.
    """
    if (ruleset["kind"] != PERCENTAGE).any():
        others = ", ".join(ruleset.loc[ruleset["kind"] != PERCENTAGE, "indicator_code"])
        raise ValueError(f"PCN-level points are for percentage indicators only, not {others}")
    unknown = sorted(set(values["indicator_code"]) - set(ruleset["indicator_code"]))
    if unknown:
        raise ValueError(f"values name indicators outside the ruleset: {', '.join(unknown[:10])}")
    summed, lists = pcn_aggregates(values, practices, memberships, as_at)
    if lists.empty:
        raise ValueError(f"no PCN has a member with values on {as_at}")

    # The grid: every PCN calculated × every indicator; an indicator no member reported scores 0.
    pcn_codes = lists["pcn_code"].to_numpy(dtype=object)
    grid = pd.MultiIndex.from_product(
        [pcn_codes, ruleset["indicator_code"].to_numpy(dtype=object)], names=["pcn_code", "indicator_code"]
    )
    lines = summed.set_index(["pcn_code", "indicator_code"]).reindex(grid, fill_value=0).reset_index()
    lines = lines.merge(lists, on="pcn_code", how="left")
    rules = ruleset.set_index("indicator_code").loc[lines["indicator_code"]].reset_index()
    numerator = lines["numerator"].to_numpy(dtype=np.int64)
    denominator = lines["denominator"].to_numpy(dtype=np.int64)
    points = percentage_points_hundredths(
        numerator,
        denominator,
        maximum=scaled_column(rules, "points"),
        lower=scaled_column(rules, "lower_threshold"),
        upper=scaled_column(rules, "upper_threshold"),
    )
    maximum = round_half_up_quotient([scaled_column(rules, "points"), 100], [10**4])

    # List-size adjustment L × n / ΣL, and prevalence (R × ΣP) / (P × ΣR) through the group's register.
    n_pcns = len(lists)
    list_total = int(lists["list_size"].sum())
    if list_total <= 0:
        raise ValueError("the PCNs calculated have no patients")
    list_size = lines["list_size"].to_numpy(dtype=np.int64)
    register, national = _group_registers(ruleset, lines, lists)
    adjusted = rules["prevalence_adjusted"].to_numpy(dtype=bool)
    population = lines["list_size_prevalence"].to_numpy(dtype=np.int64)
    group_totals = national.set_index("group_code")
    register_total = rules["group_code"].map(group_totals["register_total"]).fillna(1).to_numpy(np.int64)
    population_total = rules["group_code"].map(group_totals["population_total"]).fillna(1).to_numpy(np.int64)
    # A group with no register anywhere owes nothing for it (as QOF's APDF of 0).
    no_register = adjusted & (register_total == 0)
    prevalence_num = [
        np.where(adjusted, np.where(no_register, 0, register), 1),
        np.where(adjusted, population_total, 1),
    ]
    prevalence_den = [
        np.where(adjusted & (population > 0), population, 1),
        np.where(adjusted & ~no_register, register_total, 1),
    ]
    if (adjusted & (population == 0) & (register > 0)).any():
        raise ValueError("a PCN with a register has no registered population")
    value = Fraction(Decimal(str(point_value)))
    payment = round_half_up_quotient(
        [points, value.numerator, list_size, n_pcns, *prevalence_num],
        [value.denominator, list_total, *prevalence_den],
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        achievement = np.where(denominator > 0, 100 * numerator / np.maximum(denominator, 1), np.nan)
        prevalence_adjustment = (prevalence_num[0] * prevalence_num[1]) / (
            prevalence_den[0] * prevalence_den[1]
        )
    lines = lines.assign(
        group_code=rules["group_code"].to_numpy(dtype=object),
        register=register,
        achievement=achievement,
        points_hundredths=points,
        maximum_hundredths=maximum,
        list_adjustment=list_size * n_pcns / list_total,
        prevalence_adjustment=prevalence_adjustment,
        payment_pence=payment,
    )
    lines = _with_payees(lines, payees, as_at, hold_without_payee)
    totals = (
        lines.groupby(["pcn_code", "payee_code"], sort=True)[["points_hundredths", "payment_pence"]]
        .sum()
        .reset_index()
    )
    national = national.assign(pcns=n_pcns, list_total=list_total)
    columns = [
        "pcn_code", "payee_code", "indicator_code", "group_code", "numerator", "denominator", "register",
        "list_size", "list_size_prevalence", "achievement", "points_hundredths", "maximum_hundredths",
        "list_adjustment", "prevalence_adjustment", "payment_pence",
    ]  # fmt: skip
    return NetworkPointsResult(
        lines=lines[columns].reset_index(drop=True), pcn_totals=totals, national=national
    )


def _group_registers(
    ruleset: pd.DataFrame, lines: pd.DataFrame, lists: pd.DataFrame
) -> tuple[np.ndarray, pd.DataFrame]:
    """Each line's PCN register of its group (from the group's register-source indicator), and per group
    the national register and population totals over every PCN calculated."""
    sources = register_source_indicators(ruleset)
    source_of_group = dict(zip(sources["group_code"], sources["indicator_code"], strict=True))
    source_rows = lines[lines["indicator_code"].isin(sources["indicator_code"])]
    by_pcn_source = source_rows.set_index(["pcn_code", "indicator_code"])["register"]
    groups = ruleset.set_index("indicator_code")["group_code"]
    source_code = lines["indicator_code"].map(groups).map(source_of_group)
    keys = pd.MultiIndex.from_arrays([lines["pcn_code"], source_code.fillna("")])
    register = by_pcn_source.reindex(keys).fillna(0).to_numpy(dtype=np.int64)
    population_total = int(lists["list_size_prevalence"].sum())
    totals = source_rows.groupby("indicator_code")["register"].sum()
    national = pd.DataFrame(
        {
            "group_code": sources["group_code"].to_numpy(dtype=object),
            "register_total": sources["indicator_code"].map(totals).fillna(0).astype(np.int64).to_numpy(),
            "population_total": np.full(len(sources), population_total, dtype=np.int64),
        }
    )
    return register, national


def _with_payees(lines: pd.DataFrame, payees: pd.DataFrame, as_at: date, hold: bool) -> pd.DataFrame:
    nominated = payees_as_at(payees, as_at).set_index("pcn_code")["payee_code"]
    lines = lines.assign(payee_code=lines["pcn_code"].map(nominated))
    missing = lines["payee_code"].isna()
    if missing.any() and not hold:
        raise ValueError(
            f"no nominated payee on {as_at} for {', '.join(sorted(set(lines.loc[missing, 'pcn_code'])))}"
        )
    return lines[~missing]


def _whole(column: pd.Series, what: str) -> np.ndarray:
    array = pd.to_numeric(column, errors="raise").to_numpy()
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.floor(array)):
            raise ValueError(f"{what} must be whole numbers")
    elif array.dtype.kind not in "iu":
        raise ValueError(f"{what} must be whole numbers")
    return array.astype(np.int64)
