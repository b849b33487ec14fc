"""National prevalence against last year's: the outliers Support must confirm before it is frozen."""

from __future__ import annotations

import pandas as pd

from engine.prevalence_checks import (
    GROUP_CHANGE_FLAG,
    MISSING_PRACTICE,
    POPULATION_FALL_FLAG,
    PRACTICES_MISSING,
    REGISTERS_ZERO,
    LastYear,
    prevalence_flags,
)

CODES = [f"A{i:05d}" for i in range(100)]


def practices(codes, size=10_000) -> pd.DataFrame:
    return pd.DataFrame({"practice_code": codes, "list_size_prevalence": size})


def registers(codes, value=300) -> pd.DataFrame:
    return pd.DataFrame({"practice_code": codes, "register": value})


def prevalence(register_total, population_total, group="AF") -> pd.DataFrame:
    return pd.DataFrame(
        {"group_code": [group], "register_total": [register_total], "population_total": [population_total]}
    )


LAST_YEAR = LastYear(
    registers=registers(CODES), practices=practices(CODES), prevalence=prevalence(30_000, 1_000_000)
)


def test_a_year_like_the_last_raises_nothing():
    flags = prevalence_flags(
        registers=registers(CODES), practices=practices(CODES), prevalence=prevalence(30_500, 1_010_000),
        last_year=LAST_YEAR,
    )  # fmt: skip
    assert flags.empty


def test_one_suppliers_practices_missing_are_flagged_and_listed():
    present = CODES[30:]  # a supplier's 30 practices sent nothing
    flags = prevalence_flags(
        registers=registers(present), practices=practices(present), prevalence=prevalence(21_000, 700_000),
        last_year=LAST_YEAR, participating=set(CODES),
    )  # fmt: skip
    summary = flags[flags["kind"] == PRACTICES_MISSING].iloc[0]
    assert summary["outlier"] and "30 practices" in summary["message"] and "30.0%" in summary["message"]
    assert sorted(flags.loc[flags["kind"] == MISSING_PRACTICE, "practice_code"]) == CODES[:30]
    assert not flags.loc[flags["kind"] == MISSING_PRACTICE, "outlier"].any()
    # Prevalence itself barely moved: the missing practices are the flag, not the ratio.
    assert set(flags["kind"]) == {PRACTICES_MISSING, MISSING_PRACTICE}


def test_list_sizes_fallen_for_the_same_practices_are_flagged():
    flags = prevalence_flags(
        registers=registers(CODES), practices=practices(CODES, size=9_000),
        prevalence=prevalence(30_000, 900_000), last_year=LAST_YEAR,
    )  # fmt: skip
    fall = flags[flags["kind"] == POPULATION_FALL_FLAG].iloc[0]
    assert fall["outlier"] and "-10.0%" in fall["message"]


def test_practices_that_left_the_service_are_not_missing():
    present = CODES[30:]
    flags = prevalence_flags(
        registers=registers(present), practices=practices(present), prevalence=prevalence(21_000, 700_000),
        last_year=LAST_YEAR, participating=set(present),
    )  # fmt: skip
    assert PRACTICES_MISSING not in set(flags["kind"])


def test_a_practice_whose_registers_all_fell_to_zero_and_a_group_that_jumped_are_flagged():
    now = registers(CODES)
    now.loc[now["practice_code"] == "A00007", "register"] = 0
    flags = prevalence_flags(
        registers=now, practices=practices(CODES), prevalence=prevalence(40_000, 1_000_000),
        last_year=LAST_YEAR,
    )  # fmt: skip
    zero = flags[flags["kind"] == REGISTERS_ZERO]
    assert zero["practice_code"].tolist() == ["A00007"] and zero["outlier"].all()
    group = flags[flags["kind"] == GROUP_CHANGE_FLAG].iloc[0]
    assert group["group_code"] == "AF" and "+33.3%" in group["message"]
