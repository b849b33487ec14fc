from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / ".." / "shared" / "examples" / "qof_2023_24_small"
RULESET = REPO / "fixtures" / "reference" / "qof_2023_24_indicators.csv"
OUTPUTS = ("ACHIEVEMENT.csv", "PAYMENT_LINES.csv", "PRACTICE_TOTALS.csv")


def run(*arguments: str | Path) -> None:
    call_command("calculate_qof", *(str(argument) for argument in arguments))


def example_arguments(out: Path, values: Path = EXAMPLE / "INDICATOR_VALUES.csv") -> list:
    return ["--values", values, "--practices", EXAMPLE / "practices.csv", "--out", out]


@pytest.mark.parametrize(
    "parameters",
    [
        ["--year", "2023/24"],
        ["--ruleset", RULESET, "--point-value", "213.43", "--average-list-size", "9639"],
    ],
)
def test_calculator_reproduces_the_worked_example(tmp_path, parameters):
    run(*parameters, *example_arguments(tmp_path))

    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (EXAMPLE / "expected" / name).read_bytes(), name
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(OUTPUTS)


def test_manual_file_overrides_extract_answers(tmp_path):
    manual = tmp_path / "manual.csv"
    manual.write_text("PRACTICE_CODE,INDICATOR_CODE,VALUE\nZ10005,QI013,No\n")
    out = tmp_path / "out"

    run("--year", "2023/24", "--manual", manual, *example_arguments(out))

    lines = (out / "PAYMENT_LINES.csv").read_text().splitlines()
    assert "Z10005,QI013,0.00,0.00" in lines
    totals = (out / "PRACTICE_TOTALS.csv").read_text().splitlines()
    assert totals[1].startswith("Z10005,355.86,")  # 382.86 less QI013's 27 points


def test_invalid_extract_exits_with_line_and_field_and_writes_nothing(tmp_path):
    values = tmp_path / "values.csv"
    text = (EXAMPLE / "INDICATOR_VALUES.csv").read_text()
    values.write_text(text.replace("AF006,Numerator,84,", "AF006,Numerator,-84,", 1), newline="")
    out = tmp_path / "out"

    with pytest.raises(CommandError) as excinfo:
        run("--year", "2023/24", *example_arguments(out, values))

    assert f"{values}: line 10, field VALUE: '-84' is negative" in str(excinfo.value)
    assert not out.exists() or not any(out.iterdir())


def test_invalid_practices_file_names_line_and_field(tmp_path):
    practices = tmp_path / "practices.csv"
    practices.write_text("PRACTICE_CODE,LIST_SIZE_CPI,LIST_SIZE_PREVALENCE\nZ73000,many,13960\n")

    with pytest.raises(CommandError, match="line 2, field LIST_SIZE_CPI"):
        run(
            "--year",
            "2023/24",
            "--values",
            EXAMPLE / "INDICATOR_VALUES.csv",
            "--practices",
            practices,
            "--out",
            tmp_path,
        )

    assert not any(tmp_path.glob("*.csv.*")) and not (tmp_path / "ACHIEVEMENT.csv").exists()


def test_year_and_explicit_parameters_are_mutually_exclusive(tmp_path):
    with pytest.raises(CommandError, match="either --year"):
        run("--year", "2023/24", "--point-value", "1", *example_arguments(tmp_path))


def test_exit_status_is_one_and_no_traceback_for_a_missing_file(tmp_path):
    missing = tmp_path / "missing.csv"
    command = [sys.executable, REPO / "manage.py", "calculate_qof", "--year", "2023/24"]
    command += ["--values", missing, "--practices", missing, "--out", tmp_path]

    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)

    assert completed.returncode == 1
    assert "CommandError: cannot read input" in completed.stderr and "Traceback" not in completed.stderr
