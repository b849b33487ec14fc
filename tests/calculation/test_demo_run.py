"""The demo's run to watch (cqrs_portal.demo.watchable_run, `make demo-run`): taken through its stages one
at a time, so the progress its page shows moves from nothing done to published."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from calculation.models import CalculationRun, Publication
from cqrs_portal.demo import demo_run_date, watchable_run
from tests.calculation.helpers import example_tree, load_in_year_extract, load_worked_example


def test_a_watchable_run_moves_through_its_stages_and_publishes(db, tmp_path):
    example_tree()
    year = load_worked_example()
    load_in_year_extract(tmp_path, "20231231")
    assert demo_run_date(year) == date(2023, 12, 31)
    seen = []

    run = watchable_run(
        year,
        date(2023, 12, 31),
        pause=0,
        step=lambda run: seen.append((run.stage, run.progress_done, run.progress_total, run.percent_done)),
    )

    Stage = CalculationRun.Stage
    assert seen[0][0] == Stage.WAITING and seen[-1] == (Stage.DONE, seen[-1][2], seen[-1][2], 100)
    achievement = [step for step in seen if step[0] == Stage.ACHIEVEMENT]
    assert achievement and achievement[0][1] == 0  # the bar starts empty and fills as chunks finish
    assert [step[3] for step in seen] == sorted(step[3] for step in seen)
    assert run.status == CalculationRun.Status.PUBLISHED
    assert Publication.objects.filter(run=run).exists()


def test_the_command_refuses_without_demo_data(db):
    with pytest.raises(CommandError, match="make demo"):
        call_command("demo_run", pause=0, stdout=StringIO())
