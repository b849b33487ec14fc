"""A run reads the extract once, in its first stage, and its chunks calculate from what that stage left."""

import datetime as dt
from collections import Counter

import pytest
from django.db import connection
from pandas.testing import assert_frame_equal

from accounts.models import Organisation, OrganisationType
from calculation import actions, pipeline
from calculation.models import CalculationRun, RunInput
from extracts.selectors import current_extract_values
from extracts.store import partition_name
from tests.calculation.helpers import (
    YEAR_END,
    example_tree,
    expected_totals,
    load_in_year_extract,
    load_worked_example,
    run_to_the_end,
)
from tests.calculation.test_calculation_runs import published_totals


@pytest.fixture
def year(db):
    example_tree()
    return load_worked_example()


def test_chunks_read_the_values_the_first_stage_left_exactly_as_the_extract_reduces_them(year):
    run = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None)
    commissioners = actions.begin_run(run_id=run.pk, attempt=run.attempt)

    assert RunInput.objects.filter(run=run).count() == len(commissioners) == 3
    extract = current_extract_values(service_year=year, achievement_date=YEAR_END)
    rules = pipeline.engine_ruleset(year)
    for commissioner_id in commissioners:
        codes = pipeline.practice_codes_in_chunk(run, commissioner_id)
        expected = extract[extract["practice_code"].isin(codes)].reset_index(drop=True)
        assert_frame_equal(pipeline.chunk_inputs(run, codes, rules).values, expected)


def test_chunks_carry_the_inputs_their_queries_would_read(year):
    run = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None)
    commissioners = actions.begin_run(run_id=run.pk, attempt=run.attempt)
    run.refresh_from_db()
    rules = pipeline.engine_ruleset(year)

    for commissioner_id in commissioners:
        codes = pipeline.practice_codes_in_chunk(run, commissioner_id)
        chunk = pipeline.chunk_inputs(run, codes, rules)
        with_values = sorted(chunk.values["practice_code"].unique())
        prepared, queried = chunk.prepared.of(with_values), pipeline.practice_inputs(run, with_values, rules)
        for name in ("practices", "answers", "base_points", "prevalence", "next_year_sizes"):
            mine, theirs = getattr(prepared, name), getattr(queried, name)
            if theirs is None:
                assert mine is None, name
                continue
            order = list(theirs.columns[:2])
            assert_frame_equal(
                mine.sort_values(order).reset_index(drop=True),
                theirs.sort_values(order).reset_index(drop=True),
                check_index_type=False,
                obj=name,
            )
        assert prepared.mapping == queried.mapping


def test_a_chunk_queries_none_of_its_inputs(year, django_capture_on_commit_callbacks, monkeypatch):
    prepared = []
    real = pipeline.practice_inputs

    def counted(run, codes, rules):
        prepared.append(len(codes))
        return real(run, codes, rules)

    monkeypatch.setattr(pipeline, "practice_inputs", counted)
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)

    assert run.status == CalculationRun.Status.PUBLISHED and run.progress_total == 3
    assert prepared == [8]  # every practice with values, once, in the first stage
    assert sorted(published_totals(run)) == sorted(expected_totals())


def test_chunks_hold_whole_commissioners_up_to_the_configured_size_with_the_same_figures(
    year, django_capture_on_commit_callbacks, settings
):
    settings.CALCULATION_CHUNK_PRACTICES = 1000
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)

    assert run.status == CalculationRun.Status.PUBLISHED and (run.progress_done, run.progress_total) == (1, 1)
    assert RunInput.objects.filter(run=run).values("chunk").distinct().count() == 1
    assert RunInput.objects.filter(run=run).count() == 3
    assert sorted(published_totals(run)) == sorted(expected_totals())

    settings.CALCULATION_CHUNK_PRACTICES = 4
    chunks = pipeline.commissioner_chunks(run)
    assert [pk for chunk in chunks for pk in chunk] == pipeline.commissioners_to_calculate(run)
    held = Counter(
        Organisation.objects.filter(type=OrganisationType.PRACTICE).values_list("parent_id", flat=True)
    )
    for chunk in chunks[:-1]:  # each closes at the commissioner that takes it to the size
        assert sum(held[pk] for pk in chunk) >= 4 > sum(held[pk] for pk in chunk[:-1])


def test_chunks_do_not_read_extract_fields_again(year, django_capture_on_commit_callbacks, monkeypatch):
    reads = []
    real = pipeline.current_extract_values

    def counted(**kwargs):
        reads.append(kwargs.get("practice_codes"))
        return real(**kwargs)

    monkeypatch.setattr(pipeline, "current_extract_values", counted)
    run = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)

    assert run.status == CalculationRun.Status.PUBLISHED
    assert reads == [None]  # one national read, in the first stage
    assert sorted(published_totals(run)) == sorted(expected_totals())


def test_inputs_of_finished_runs_are_deleted_when_the_next_run_begins(
    year, django_capture_on_commit_callbacks
):
    first = run_to_the_end(django_capture_on_commit_callbacks, service_year=year)
    assert RunInput.objects.filter(run=first).exists()

    second = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None, kind=first.kind)
    actions.begin_run(run_id=second.pk, attempt=second.attempt)

    assert not RunInput.objects.filter(run=first).exists()
    assert RunInput.objects.filter(run=second).exists()


def analysed(table: str) -> bool:
    """Whether PostgreSQL holds planner statistics for `table`'s columns (only ANALYZE writes them)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT FROM pg_stats WHERE tablename = %s)", [table])
        return cursor.fetchone()[0]


def test_postgresql_the_first_stage_analyses_its_own_dates_current_rows_only(postgresql, year, tmp_path):
    load_in_year_extract(tmp_path, "20231231")
    this_date, other_date = (partition_name(year.pk, day) for day in (YEAR_END, dt.date(2023, 12, 31)))
    assert not analysed(this_date) and not analysed(other_date)  # a load leaves it to the run

    run = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None)
    actions.begin_run(run_id=run.pk, attempt=run.attempt)

    assert analysed(this_date)
    assert not analysed(other_date)  # analysing the whole partitioned table would have sampled it too
