"""Offline QOF year-end calculator: extract and list sizes in, the three published tables out. No database."""

from __future__ import annotations

import os
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from engine import InputError, YearParameters, calculate_qof, outputs, parse_extract, readers


class Command(BaseCommand):
    help = (
        "Calculate QOF achievement and payments from a CQRS field-level extract and write ACHIEVEMENT.csv, "
        "PAYMENT_LINES.csv and PRACTICE_TOTALS.csv. Invalid input writes nothing and exits with status 1."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--year", help="e.g. 2023/24: the shipped ruleset and year parameters")
        parser.add_argument("--ruleset", type=Path, help="ruleset CSV (columns as fixtures/reference)")
        parser.add_argument("--point-value", help="£ per point, e.g. 213.43")
        parser.add_argument("--average-list-size", help="national average list size for CPI, e.g. 9639")
        parser.add_argument("--values", type=Path, required=True, help="INDICATOR_VALUES.csv (CQRS extract)")
        parser.add_argument("--practices", type=Path, required=True, help="PRACTICE_CODE,LIST_SIZE_CPI,...")
        parser.add_argument("--pca-reference", type=Path, default=readers.SHIPPED_PCA_REFERENCE)
        parser.add_argument("--manual", type=Path, help="PRACTICE_CODE,INDICATOR_CODE,VALUE (Yes/No)")
        parser.add_argument(
            "--manual-default", choices=("yes", "no"), default="no", help="missing answer counts as"
        )
        parser.add_argument("--out", type=Path, required=True, help="directory for the three output files")

    def handle(self, *args, **options) -> None:
        self.started = time.perf_counter()
        ruleset_path, parameters = self._ruleset_and_parameters(options)
        try:
            tables = self._calculate(ruleset_path, parameters, options)
        except InputError as error:
            raise CommandError(f"invalid input, nothing written:\n{error.describe()}") from error
        except OSError as error:
            raise CommandError(f"cannot read input, nothing written: {error}") from error
        self._write(options["out"], tables)
        self._progress(f"wrote {', '.join(tables)} to {options['out']}")

    def _ruleset_and_parameters(self, options) -> tuple[Path, YearParameters]:
        manual_default = options["manual_default"] == "yes"
        explicit = [options["ruleset"], options["point_value"], options["average_list_size"]]
        if options["year"]:
            if any(value is not None for value in explicit):
                raise CommandError("give either --year or --ruleset, --point-value and --average-list-size")
            ruleset = readers.SHIPPED_RULESETS.get(options["year"])
            if ruleset is None:
                raise CommandError(f"no shipped ruleset for {options['year']}; give --ruleset and parameters")
            try:
                parameters = readers.load_year_parameters(options["year"])
            except InputError as error:
                raise CommandError(error.describe()) from error
            return ruleset, YearParameters(
                parameters.point_value, parameters.average_list_size, manual_default=manual_default
            )
        if any(value is None for value in explicit):
            raise CommandError("--ruleset, --point-value and --average-list-size are required without --year")
        point_value = _positive_decimal(options["point_value"], "--point-value")
        average = _positive_decimal(options["average_list_size"], "--average-list-size")
        return options["ruleset"], YearParameters(point_value, average, manual_default)

    def _calculate(self, ruleset_path: Path, parameters: YearParameters, options) -> dict[str, str]:
        ruleset = readers.load_ruleset(ruleset_path)
        practices = readers.load_practices(options["practices"])
        pca_codes = readers.load_pca_codes(options["pca_reference"])
        practice_codes = set(practices["practice_code"])
        manual = None
        if options["manual"]:
            manual = readers.load_manual_answers(options["manual"], ruleset, practice_codes)
        self._progress("read ruleset, practices and reference data")

        frame = readers.read_extract_frame(options["values"])
        self._progress(f"read extract: {len(frame):,} rows")
        extract = parse_extract(
            frame,
            practice_codes=practice_codes,
            ruleset=ruleset,
            pca_codes=pca_codes,
            source=str(options["values"]),
        )
        del frame
        for warning in extract.warnings:
            self.stderr.write(f"warning: {options['values']}: {warning}")
        self._progress(f"validated extract {extract.quality_service} {extract.achievement_date:%Y-%m-%d}")

        result = calculate_qof(ruleset, extract.values, practices, parameters, manual_answers=manual)
        self._progress(f"calculated {len(result.indicators):,} indicator results")
        tables = {
            "ACHIEVEMENT.csv": outputs.to_csv_text(outputs.achievement_table(result.indicators, ruleset)),
            "PAYMENT_LINES.csv": outputs.to_csv_text(outputs.payment_lines_table(result.indicators)),
            "PRACTICE_TOTALS.csv": outputs.to_csv_text(outputs.practice_totals_table(result.practice_totals)),
        }
        self._progress("formatted outputs")
        return tables

    def _write(self, directory: Path, tables: dict[str, str]) -> None:
        """Every table goes to a temporary file first, so a failure leaves no partial set of outputs."""
        directory.mkdir(parents=True, exist_ok=True)
        staged: list[tuple[str, Path]] = []
        try:
            for name, text in tables.items():
                temporary = directory / f".{name}.{os.getpid()}.tmp"
                staged.append((name, temporary))
                temporary.write_text(text, encoding="utf-8", newline="")
            for name, temporary in staged:
                temporary.replace(directory / name)
        except OSError as error:
            for _, temporary in staged:
                temporary.unlink(missing_ok=True)
            raise CommandError(f"could not write outputs to {directory}: {error}") from error

    def _progress(self, stage: str) -> None:
        self.stderr.write(f"[{time.perf_counter() - self.started:7.2f} s] {stage}")


def _positive_decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise CommandError(f"{option}: {text!r} is not a number") from error
    if not value.is_finite() or value <= 0:
        raise CommandError(f"{option}: {text!r} must be a positive number")
    return value
