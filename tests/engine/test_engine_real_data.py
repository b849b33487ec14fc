"""The engine against real published points: ISD Scotland's QOF 2015/16, 870 practices (shared/real_qof).

Of the 59,175 scored rows, 59,152 match the published points to 2 dp. The other 23 are adjustments made after
calculation (shared/real_qof/README.md, quirk 2): 22 rows of practice 78190 published higher than the
formula gives, and practice 39087's DM014 published at 11 points with denominator 0. Any row that changes
either way is named, so a change to the engine that moves real practices' points cannot pass unnoticed.
"""

import gzip
from decimal import Decimal

import pandas as pd
import pytest

from engine import YearParameters, calculate_qof, parse_extract, readers
from tests.conftest import SHARED

ISD = SHARED / "real_qof" / "isd_scotland_2015_16"
SCORED = {"ok", "tie"}  # the other rows are suppressed (denominator under 5) or partial yes/no credit
# (practice, indicator): points in hundredths the formula gives where the publication was adjusted.
ADJUSTED_IN_THE_PUBLICATION = {
    ("39087", "DM014"): 0,
    ("78190", "AST003(S)"): 1922, ("78190", "CHD007(S)"): 691, ("78190", "CKD004(S)"): 485,
    ("78190", "COPD003(S)"): 642, ("78190", "COPD007(S)"): 580, ("78190", "CVD-PP002(S)"): 141,
    ("78190", "DM006(S)"): 250, ("78190", "DM008(S)"): 714, ("78190", "DM009(S)"): 778,
    ("78190", "DM012(S)"): 331, ("78190", "DM018(S)"): 291, ("78190", "HYP006(S)"): 4506,
    ("78190", "MH002(S)"): 588, ("78190", "MH003(S)"): 388, ("78190", "MH004(S)"): 310,
    ("78190", "MH006(S)"): 360, ("78190", "MH007(S)"): 360, ("78190", "MH010"): 150,
    ("78190", "PAD002(S)"): 170, ("78190", "SMOK004(S)"): 875, ("78190", "SMOK005(S)"): 2260,
    ("78190", "STIA003(S)"): 432,
}  # fmt: skip


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    if not ISD.exists():
        pytest.fail(f"the real published data are missing: {ISD}")
    directory = tmp_path_factory.mktemp("isd")
    for name in ("INDICATOR_VALUES.csv", "MANUAL.csv"):
        (directory / name).write_bytes(gzip.decompress((ISD / "case" / f"{name}.gz").read_bytes()))
    ruleset = readers.load_ruleset(ISD / "RULESET_DEP003_fitted.csv")
    practices = readers.load_practices(ISD / "case" / "PRACTICES.csv")
    codes = set(practices["practice_code"])
    extract = parse_extract(
        readers.read_extract_frame(directory / "INDICATOR_VALUES.csv"),
        practice_codes=codes,
        ruleset=ruleset,
        pca_codes=readers.load_pca_codes(readers.SHIPPED_PCA_REFERENCE),
        quality_service="QOF1516",
    )
    result = calculate_qof(
        ruleset,
        extract.values,
        practices,
        # Scotland's payments follow other rules: only points are compared.
        YearParameters(point_value=Decimal(1), average_list_size=Decimal(1)),
        manual_answers=readers.load_manual_answers(directory / "MANUAL.csv", ruleset, codes),
    )
    published = pd.read_csv(ISD / "case" / "EXPECTED_POINTS.csv.gz", dtype={"PRACTICE_CODE": str})
    published = published[published["STATUS"].isin(SCORED)]
    calculated = result.indicators[["practice_code", "indicator_code", "points_hundredths"]]
    return published.merge(
        calculated,
        left_on=["PRACTICE_CODE", "INDICATOR_CODE"],
        right_on=["practice_code", "indicator_code"],
        how="left",
        validate="one_to_one",
    )


def test_the_engine_reproduces_59152_of_59175_published_scores(compared):
    published = (compared["EXPECTED_POINTS"] * 100).round().astype("int64")
    matches = compared["points_hundredths"].eq(published)
    assert len(compared) == 59_175
    assert int(matches.sum()) == 59_152


def test_only_the_publications_own_adjustments_differ_and_by_what_the_formula_gives(compared):
    published = (compared["EXPECTED_POINTS"] * 100).round().astype("int64")
    differing = compared[compared["points_hundredths"].ne(published)]
    found = {
        (row.PRACTICE_CODE, row.INDICATOR_CODE): int(row.points_hundredths) for row in differing.itertuples()
    }
    changed = {
        key: (ADJUSTED_IN_THE_PUBLICATION.get(key), found.get(key))
        for key in set(found) | set(ADJUSTED_IN_THE_PUBLICATION)
        if ADJUSTED_IN_THE_PUBLICATION.get(key) != found.get(key)
    }
    assert not changed, (
        "rows whose calculated points moved ((practice, indicator): (was, now) in hundredths; None where "
        f"the row matched the publication): {dict(sorted(changed.items()))}"
    )
