from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from engine import reduce_fields, reduce_role_totals, role_totals
from tests.engine.engine_extract_helpers import extract_row, valid_rows


def test_fields_hold_every_row_of_a_ruleset_indicator_with_its_line(write_extract, parse):
    older = extract_row("A10001", "AF006", "Numerator", "20", last="N")
    unknown = extract_row("A10001", "COPD009MI1", "Numerator", "1")
    extract = parse(write_extract([*valid_rows(), older, unknown]))

    fields = extract.fields
    assert len(fields) == len(valid_rows()) + 1
    assert fields["line"].tolist() == list(range(2, 2 + len(valid_rows()) + 1))
    superseded = fields[~fields["last_submission"]]
    assert superseded[["line", "indicator_code", "field_name", "value"]].values.tolist() == [
        [10, "AF006", "Numerator", 20]
    ]
    assert fields["submitted_at"].iat[0] == pd.Timestamp(2024, 4, 2, 11, 19, 50)
    assert fields["value"].dtype == np.int64


def test_unreadable_submission_time_is_unknown_and_warned_about(write_extract, parse):
    rows = valid_rows()
    rows[0] = rows[0].replace("02/04/2024", "2024-04-02")
    extract = parse(write_extract(rows))

    assert pd.isna(extract.fields["submitted_at"].iat[0])
    assert extract.fields["submitted_at"].notna().sum() == len(rows) - 1
    assert any("SUBMIT_DATE" in warning for warning in extract.warnings)


def test_reducing_the_current_fields_gives_the_parsed_values(write_extract, parse, ruleset, pca_codes):
    rows = [*valid_rows("A10001"), *valid_rows("A10002")]
    rows.append(extract_row("A10002", "AF006", "Denominator", "99", last="N"))
    extract = parse(write_extract(rows))

    current = extract.fields[extract.fields["last_submission"]]
    reduced = reduce_fields(current, ruleset=ruleset, pca_codes=pca_codes)

    assert_frame_equal(reduced, extract.values)
    assert extract.achievement_date == dt.date(2024, 3, 31)


def role_totals_of(fields: pd.DataFrame, pca_codes) -> pd.DataFrame:
    """The current submissions of `fields` as the loader stores them for a calculation: one row each with
    its totals by role."""
    current = fields[fields["last_submission"]].sort_values(
        ["practice_code", "indicator_code"], kind="stable"
    )
    keys = current[["practice_code", "indicator_code"]].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
    totals = role_totals(
        pd.Categorical(current["field_name"]), current["value"].to_numpy(), starts, pca_codes
    )
    return pd.DataFrame({"practice_code": keys[starts, 0], "indicator_code": keys[starts, 1], **totals})


def test_the_stored_totals_by_role_reduce_to_the_parsed_values(write_extract, parse, ruleset, pca_codes):
    rows = [*valid_rows("A10001"), *valid_rows("A10002")]
    rows.append(extract_row("A10002", "AF006", "Denominator", "99", last="N"))
    extract = parse(write_extract(rows))

    totals = role_totals_of(extract.fields, pca_codes)

    assert (
        len(totals)
        == extract.fields.loc[extract.fields["last_submission"], ["practice_code", "indicator_code"]]
        .drop_duplicates()
        .shape[0]
    )
    assert_frame_equal(reduce_role_totals(totals, ruleset=ruleset), extract.values)


def test_reducing_no_fields_gives_an_empty_values_frame(ruleset, pca_codes):
    empty = pd.DataFrame({"practice_code": [], "indicator_code": [], "field_name": [], "value": []})

    reduced = reduce_fields(empty, ruleset=ruleset, pca_codes=pca_codes)

    assert reduced.empty
    assert list(reduced.columns) == [
        "practice_code", "indicator_code", "register", "numerator", "denominator", "pcas", "manual_answer",
    ]  # fmt: skip


practice_rows = st.lists(
    st.tuples(
        st.sampled_from(["A10001", "A10002", "A10003"]),
        st.integers(0, 500),
        st.integers(0, 500),
        st.integers(0, 50),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda row: row[0],
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(practice_rows)
def test_reduction_of_stored_rows_matches_the_parser_on_random_extracts(
    write_extract, parse, ruleset, pca_codes, rows
):
    lines = []
    for practice, a, b, pca, answer in rows:
        numerator, denominator = min(a, b), max(a, b)
        lines += [
            extract_row(practice, "AF001", "Atrial Fibrillation Register", str(denominator)),
            extract_row(practice, "AF006", "Atrial Fibrillation Register", str(denominator)),
            extract_row(practice, "AF006", "Numerator", str(numerator)),
            extract_row(practice, "AF006", "Denominator", str(denominator)),
            extract_row(practice, "AF006", "AFIBINV1", str(pca)),
            extract_row(practice, "QI013", "Yes/No Flag", str(int(answer))),
        ]
    extract = parse(write_extract(lines), practices=("A10001", "A10002", "A10003"))

    shuffled = extract.fields.sample(frac=1, random_state=len(lines))
    reduced = reduce_fields(shuffled, ruleset=ruleset, pca_codes=pca_codes)

    assert_frame_equal(reduced, extract.values)
    totals = role_totals_of(shuffled, pca_codes).sample(frac=1, random_state=len(lines))
    assert_frame_equal(reduce_role_totals(totals, ruleset=ruleset), extract.values)
