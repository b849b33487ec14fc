"""Checks of a national prevalence before it is frozen, against the previous year's (DOMAIN.md §4.7).

National prevalence moves every practice's APDF, so one supplier's practices missing from the extract once
moved every practice's payment by up to 2%. Before the figures are used, they are compared with last year's
frozen ones, and what looks wrong is flagged for Support to confirm:

- `practices_missing`: practices that were in last year's calculation, still take part, and sent nothing
  now, holding at least MISSING_POPULATION_SHARE of last year's registered population between them (one
  supplier's practices, a region's upload). Each missing practice is listed as a `missing_practice` note.
- `population_fall`: the registered population of the practices in both calculations fell by more than
  POPULATION_FALL (list sizes lost or loaded wrong; practices that left are the missing ones' concern).
- `group_change`: a group's national prevalence moved by more than GROUP_CHANGE of itself.
- `registers_zero`: a practice whose registers are all zero now, after a register last year.

Thresholds are deliberately simple; the page shows every group's change and every missing practice, so
Support judges from the figures, not from the flag alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING_POPULATION_SHARE = 0.01
POPULATION_FALL = 0.01
GROUP_CHANGE = 0.10

PRACTICES_MISSING = "practices_missing"
MISSING_PRACTICE = "missing_practice"
POPULATION_FALL_FLAG = "population_fall"
GROUP_CHANGE_FLAG = "group_change"
REGISTERS_ZERO = "registers_zero"

FLAG_COLUMNS = ("kind", "outlier", "group_code", "practice_code", "current", "previous", "message")


@dataclass(frozen=True)
class LastYear:
    """The previous year's frozen figures. registers: practice_code, register (the sum of its group
    registers); practices: practice_code, list_size_prevalence (every practice in its calculation);
    prevalence: group_code, register_total, population_total."""

    registers: pd.DataFrame
    practices: pd.DataFrame
    prevalence: pd.DataFrame


def prevalence_flags(
    *,
    registers: pd.DataFrame,
    practices: pd.DataFrame,
    prevalence: pd.DataFrame,
    last_year: LastYear,
    participating: set[str] | None = None,
) -> pd.DataFrame:
    """FLAG_COLUMNS, one row per flag; `outlier` rows need Support's confirmation, the rest are notes.

    registers: practice_code, register, as the prevalence stage reads them (one row per practice × group
    register field); practices: practice_code, list_size_prevalence of every practice in this calculation;
    prevalence: this calculation's national totals; participating: practice codes taking part on the
    achievement date (None: every practice of last year still does).
    """
    flags: list[dict] = []
    flags += _missing_practices(practices, last_year, participating)
    flags += _population(practices, last_year)
    flags += _groups(prevalence, last_year.prevalence)
    flags += _registers_zero(registers, practices, last_year.registers)
    return pd.DataFrame.from_records(flags, columns=list(FLAG_COLUMNS))


def _flag(kind, outlier, message, *, group="", practice="", current=None, previous=None) -> dict:
    return {
        "kind": kind, "outlier": outlier, "group_code": group, "practice_code": practice,
        "current": current, "previous": previous, "message": message,
    }  # fmt: skip


def _missing_practices(practices, last_year: LastYear, participating) -> list[dict]:
    before = last_year.practices
    missing = before[~before["practice_code"].isin(practices["practice_code"])]
    if participating is not None:
        missing = missing[missing["practice_code"].isin(participating)]
    if missing.empty:
        return []
    population_before = int(before["list_size_prevalence"].sum())
    missing_population = int(missing["list_size_prevalence"].sum())
    share = missing_population / population_before if population_before else 0.0
    flags = [
        _flag(
            MISSING_PRACTICE, False,
            f"{code} was in last year's calculation ({int(size):,} patients) and sent no data",
            practice=code, previous=int(size),
        )
        for code, size in missing[["practice_code", "list_size_prevalence"]].itertuples(index=False)
    ]  # fmt: skip
    outlier = share >= MISSING_POPULATION_SHARE
    flags.insert(
        0,
        _flag(
            PRACTICES_MISSING,
            outlier,
            f"{len(missing):,} practice{'s' if len(missing) != 1 else ''} still taking part sent no data, "
            f"with {missing_population:,} patients: {share:.1%} of last year's registered population",
            current=missing_population,
            previous=population_before,
        ),
    )
    return flags


def _population(practices, last_year: LastYear) -> list[dict]:
    both = practices.merge(last_year.practices, on="practice_code", suffixes=("", "_before"))
    now = int(both["list_size_prevalence"].sum())
    before = int(both["list_size_prevalence_before"].sum())
    if not before or now >= before * (1 - POPULATION_FALL):
        return []
    return [
        _flag(
            POPULATION_FALL_FLAG,
            True,
            f"The registered population of the {len(both):,} practices in both years' calculations fell from "
            f"{before:,} to {now:,} ({(now - before) / before:.1%})",
            current=now,
            previous=before,
        )
    ]


def _groups(prevalence: pd.DataFrame, previous: pd.DataFrame) -> list[dict]:
    joined = prevalence.merge(previous, on="group_code", suffixes=("", "_before"))
    flags = []
    for row in joined.itertuples(index=False):
        now = row.register_total / row.population_total if row.population_total else 0.0
        before = (
            row.register_total_before / row.population_total_before if row.population_total_before else 0.0
        )
        if not before:
            continue
        change = (now - before) / before
        if abs(change) > GROUP_CHANGE:
            flags.append(
                _flag(
                    GROUP_CHANGE_FLAG,
                    True,
                    f"National prevalence of {row.group_code} moved from {before:.4%} to {now:.4%} "
                    f"({change:+.1%})",
                    group=row.group_code,
                    current=now,
                    previous=before,
                )
            )
    return flags


def _registers_zero(registers, practices, previous) -> list[dict]:
    totals = (
        registers.assign(register=registers["register"].fillna(0).astype(np.int64))
        .groupby("practice_code")["register"]
        .sum()
        .reindex(practices["practice_code"].to_numpy(), fill_value=0)
    )
    before = previous.set_index("practice_code")["register"].reindex(totals.index).fillna(0)
    dropped = totals[(totals == 0) & (before > 0)]
    return [
        _flag(
            REGISTERS_ZERO, True,
            f"{code}: every register is 0 now; last year its registers added up to {int(before[code]):,}",
            practice=code, current=0, previous=int(before[code]),
        )
        for code in dropped.index
    ]  # fmt: skip
