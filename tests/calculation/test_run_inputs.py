"""A run reads the extract once, in its first stage, and its chunks calculate from what that stage left."""

import pytest
from pandas.testing import assert_frame_equal

from calculation import actions, pipeline
from calculation.models import CalculationRun, RunInput
from extracts.selectors import current_extract_values
from tests.calculation.helpers import (
    YEAR_END,
    example_tree,
    expected_totals,
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
        assert_frame_equal(pipeline.chunk_values(run, codes, rules), expected)


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
