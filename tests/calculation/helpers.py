"""Builders for calculation-run tests: the worked example's 8 practices loaded through the real actions."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import Organisation
from accounts.organisation_import import parse_mapping
from calculation import actions, tasks
from calculation.models import CalculationRun
from extracts.actions import load_extract
from participation.models import ServiceYear
from tests.extracts.helpers import load_rulesets, participate
from tests.factories import TREE_ROWS, mapping_csv

EXAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "examples" / "qof_2023_24_small"
YEAR_END = timezone.datetime(2024, 3, 31).date()
# The worked example's practices, spread over the test tree's sub-ICB locations so that a national run has
# several commissioner chunks (and someone just outside each scope).
EXAMPLE_ROWS = [
    ("Z73000", "U00001", "01A", "QAA", "Y01"),
    ("Z92001", "U00001", "01A", "QAA", "Y01"),
    ("Z32002", "U00002", "01B", "QAA", "Y01"),
    ("Z72003", "U00002", "01B", "QAA", "Y01"),
    ("Z85004", "U00003", "02A", "QBB", "Y02"),
    ("Z10005", "U00003", "02A", "QBB", "Y02"),
    ("Z98006", "U00003", "02A", "QBB", "Y02"),
    ("Z90007", "U00003", "02A", "QBB", "Y02"),
]


def example_tree() -> dict[str, Organisation]:
    account_actions.import_organisations(
        mapping=parse_mapping(mapping_csv([*TREE_ROWS, *EXAMPLE_ROWS])),
        effective_date=timezone.localdate(),
        by=None,
    )
    return {organisation.code: organisation for organisation in Organisation.objects.all()}


def load_worked_example() -> ServiceYear:
    """The 2023/24 ruleset, the example's practices participating, their extract and list sizes stored."""
    year = load_rulesets()
    participate([code for code, *_ in EXAMPLE_ROWS], year)
    load_extract(path=EXAMPLE / "INDICATOR_VALUES.csv", file_name="INDICATOR_VALUES.csv", by=None)
    call_command("load_list_sizes", str(EXAMPLE / "practices.csv"), service="QOF2324", verbosity=0)
    return year


def run_to_the_end(capture, **fields) -> CalculationRun:
    """Start a run as the pages do, and let every queued task run in-process; returns the run as it ended."""
    fields.setdefault("achievement_date", YEAR_END)
    fields.setdefault("by", None)
    with capture(execute=True):
        run = actions.start_run(**fields)
        tasks.queue_run(run)
    run.refresh_from_db()
    return run


def expected_totals() -> list[tuple[str, str, str]]:
    lines = (EXAMPLE / "expected" / "PRACTICE_TOTALS.csv").read_text().splitlines()[1:]
    return [tuple(line.split(",")) for line in lines]


def load_in_year_extract(directory: Path, achievement_date: str) -> None:
    """The example's extract again at an earlier month end, as an in-year extract would arrive."""
    text = (EXAMPLE / "INDICATOR_VALUES.csv").read_text()
    path = directory / f"INDICATOR_VALUES_{achievement_date}.csv"
    path.write_text(text.replace(",20240331,", f",{achievement_date},"), newline="")
    load_extract(path=path, file_name=path.name, by=None)


NEXT_YEAR_END = timezone.datetime(2025, 3, 31).date()


def prepare_next_year() -> ServiceYear:
    """QOF 2024/25 with every example practice taking part and the example's list sizes (1 January 2024 for
    CPI, so that 2023/24's year end can calculate its aspiration too)."""
    from calculation.actions import load_list_sizes
    from engine import readers

    year = ServiceYear.objects.get(code="QOF2425")
    participate([code for code, *_ in EXAMPLE_ROWS], year)
    sizes = readers.load_practices(EXAMPLE / "practices.csv")
    rows = [
        (row.practice_code, int(row.list_size_cpi), int(row.list_size_prevalence))
        for row in sizes.itertuples()
    ]
    load_list_sizes(service_year=year, rows=rows, by=None)
    return year


def load_next_year_extract(
    directory: Path, *, achievement_date="20250331", without=(), zero_registers=()
) -> None:
    """The worked example's extract as QOF 2024/25's at `achievement_date`, with the practices `without`
    sending nothing (as when one supplier's extract is lost) and every register of `zero_registers` at 0."""
    lines = (EXAMPLE / "INDICATOR_VALUES.csv").read_text().splitlines()
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split(",")
        if fields[2] in without:
            continue
        fields[0], fields[3] = "QOF2425", achievement_date
        if fields[2] in zero_registers and fields[5].lower().endswith("register"):
            fields[6] = "0"
        kept.append(",".join(fields))
    path = directory / f"INDICATOR_VALUES_QOF2425_{achievement_date}.csv"
    path.write_text("\r\n".join([*kept, ""]), newline="")
    load_extract(path=path, file_name=path.name, by=None)


def load_next_year(directory: Path, *, without=(), zero_registers=()) -> ServiceYear:
    """QOF 2024/25 prepared and its year-end extract loaded (see load_next_year_extract)."""
    year = prepare_next_year()
    load_next_year_extract(directory, without=without, zero_registers=zero_registers)
    return year
