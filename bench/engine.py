"""National-scale benchmark of the extract parser, the QOF engine and the offline calculator.

    uv run python bench/engine.py [--practices N] [--keep DIR]

Builds a synthetic but plausible extract for the real 2023/24 practice codes × the 76 indicators of the
2023/24 ruleset (the field layout of each indicator copied from the worked example), then times:
pandas.read_csv of that file alone, parsing, the engine, `manage.py calculate_qof` end to end (as a
subprocess, for its peak memory), and a per-row pure-Python implementation of the same engine.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from achievement.engine import readers  # noqa: E402
from achievement.engine.extract import EXTRACT_COLUMNS  # noqa: E402
from achievement.engine.qof import YearParameters, calculate_qof  # noqa: E402

SHARED = REPO.parent / "shared"
EXAMPLE = SHARED / "examples" / "qof_2023_24_small" / "INDICATOR_VALUES.csv"
PRACTICE_MAPPINGS = SHARED / "qof_data" / "NHSDigital_QOF__QOF_MANUAL_MAPPINGS.csv"
RULESET = REPO / "fixtures" / "reference" / "qof_2023_24_indicators.csv"
POINT_VALUE = Decimal("213.43")
AVERAGE_LIST = Decimal(9639)
TARGET_ENGINE_SECONDS = 2.0
TARGET_SPEEDUP = 50
TARGET_END_TO_END_RATIO = 3.0
TARGET_PEAK_BYTES = 4 * 1024**3


def build_inputs(directory: Path, n_practices: int | None, seed: int = 2324) -> tuple[Path, Path]:
    """Write INDICATOR_VALUES.csv and PRACTICES.csv for the national practice list; return their paths."""
    rng = np.random.default_rng(seed)
    codes = pd.read_csv(PRACTICE_MAPPINGS, usecols=["PRACTICE_CODE"], dtype=str)["PRACTICE_CODE"].to_numpy()
    codes = np.sort(codes)[:n_practices]
    list_size = np.clip(rng.lognormal(np.log(9000), 0.5, len(codes)), 1000, 80000).astype(np.int64)
    practices = pd.DataFrame(
        {
            "PRACTICE_CODE": codes,
            "LIST_SIZE_CPI": list_size,
            "LIST_SIZE_PREVALENCE": (list_size * rng.uniform(0.98, 1.03, len(codes))).astype(np.int64),
        }
    )
    practices_path = directory / "PRACTICES.csv"
    practices.to_csv(practices_path, index=False)

    template = pd.read_csv(EXAMPLE, dtype=str, keep_default_na=False)
    template = template[template["ORG_CODE"] == template["ORG_CODE"].iat[0]].reset_index(drop=True)
    group = template["IND_CODE"].str.extract(r"^([A-Z]+)", expand=False)
    n_fields, n = len(template), len(codes)

    # One register per practice × group (registers ~ prevalence × list size), shared by all its indicators.
    groups = pd.Index(group.unique())
    prevalence = rng.uniform(0.004, 0.15, len(groups))
    registers = rng.binomial(list_size[:, None], prevalence[None, :])
    field = template["FIELD_NAME"].to_numpy()
    is_register = np.char.endswith(np.char.lower(field.astype(str)), "register")
    group_position = groups.get_indexer(group)
    register = registers[:, group_position]
    # Numerator and denominator of one indicator must pair up: draw per indicator, then broadcast.
    indicator = pd.Index(template["IND_CODE"].unique())
    indicator_position = indicator.get_indexer(template["IND_CODE"])
    group_of_indicator = groups.get_indexer(indicator.str.extract(r"^([A-Z]+)")[0])
    denominator = (registers[:, group_of_indicator] * 0.8).astype(np.int64)[:, indicator_position]
    numerator = rng.binomial(denominator, rng.uniform(0.3, 1.0, (n, len(indicator)))[:, indicator_position])
    value = rng.integers(0, 25, (n, n_fields))
    value = np.where(is_register, register, value)
    value = np.where(field == "Denominator", denominator, value)
    value = np.where(field == "Numerator", numerator, value)
    value = np.where(field == "Yes/No Flag", rng.random((n, n_fields)) < 0.9, value)

    frame = pd.DataFrame(
        {
            "QUALITY_SERVICE": "QOF2324",
            "NAME": "Quality and Outcomes Framework 2023/24",
            "ORG_CODE": np.repeat(codes, n_fields),
            "ACH_DATE": "20240331",
            "IND_CODE": np.tile(template["IND_CODE"].to_numpy(), n),
            "FIELD_NAME": np.tile(field, n),
            "VALUE": value.ravel().astype(np.int64),
            "DEFAULT_VALUES_USED": "None",
            "SUBMIT_USER_ID": "AUTOMATED",
            "SUBMIT_DATE": "02/04/2024",
            "SUBMIT_TIME": "11:19:50",
            "LAST_SUBMISSION": "Y",
        },
        columns=list(EXTRACT_COLUMNS),
    )
    values_path = directory / "INDICATOR_VALUES.csv"
    frame.to_csv(values_path, index=False, lineterminator="\r\n")
    return values_path, practices_path


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def per_row_baseline(ruleset: pd.DataFrame, values: pd.DataFrame, practices: pd.DataFrame) -> dict[str, int]:
    """The obvious implementation: one Python iteration per practice × indicator with exact Fractions."""
    rules = {row["indicator_code"]: row for row in ruleset.to_dict("records")}
    sources = {
        row["group_code"]: code
        for code, row in rules.items()
        if row["kind"] == "register" or row["carries_register"]
    }
    lists = {row["practice_code"]: row for row in practices.to_dict("records")}
    data = {(row["practice_code"], row["indicator_code"]): row for row in values.to_dict("records")}
    population_total = sum(row["list_size_prevalence"] for row in lists.values())
    register_total: dict[str, int] = {}
    for (_practice, code), row in data.items():
        group = rules[code]["group_code"]
        if sources.get(group) == code and row["register"] is not pd.NA:
            register_total[group] = register_total.get(group, 0) + int(row["register"])
    totals: dict[str, int] = {}
    for practice, size in lists.items():
        total = 0
        for code, rule in rules.items():
            row = data.get((practice, code), {})
            maximum = Fraction(rule["points"])
            if rule["kind"] == "percentage":
                numerator, denominator = row.get("numerator", pd.NA), row.get("denominator", pd.NA)
                if denominator is pd.NA or denominator == 0:
                    points = Fraction(0)
                else:
                    achieved = Fraction(100 * int(numerator), int(denominator))
                    lower, upper = Fraction(rule["lower_threshold"]), Fraction(rule["upper_threshold"])
                    share = (achieved - lower) / (upper - lower)
                    points = maximum * min(max(share, Fraction(0)), Fraction(1))
            elif rule["kind"] == "register":
                register = row.get("register", pd.NA)
                points = maximum if (register is not pd.NA and register > 0) else Fraction(0)
            else:
                points = maximum if row.get("manual_answer", pd.NA) is True else Fraction(0)
            hundredths = int(points * 100 + Fraction(1, 2))
            factor = Fraction(hundredths, 100) * Fraction(POINT_VALUE) * Fraction(size["list_size_cpi"], 9639)
            if rule["prevalence_adjusted"]:
                group = rule["group_code"]
                register_row = data.get((practice, sources[group]), {})
                register = int(register_row.get("register", 0) or 0)
                national = Fraction(register_total.get(group, 0), population_total)
                factor *= Fraction(register, size["list_size_prevalence"]) / national if national else 0
            total += int(factor * 100 + Fraction(1, 2))
        totals[practice] = total
    return totals


def run_command(values: Path, practices: Path, out: Path) -> tuple[float, int]:
    command = [
        sys.executable,
        str(REPO / "manage.py"),
        "calculate_qof",
        "--year",
        "2023/24",
        "--values",
        str(values),
        "--practices",
        str(practices),
        "--out",
        str(out),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, capture_output=True)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak_kib, before) * 1024


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--practices", type=int, default=None, help="use the first N practices (default all)")
    parser.add_argument("--keep", type=Path, default=None, help="write the inputs and outputs here")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the slow per-row baseline")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        directory = arguments.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        (values_path, practices_path), build_seconds = timed(build_inputs, directory, arguments.practices)
        size_mb = values_path.stat().st_size / 1e6
        print(f"synthetic extract: {values_path} ({size_mb:.0f} MB), built in {build_seconds:.1f} s")

        raw, read_csv_seconds = timed(pd.read_csv, values_path)
        rows = len(raw)
        del raw
        ruleset = readers.load_ruleset(RULESET)
        practices = readers.load_practices(practices_path)
        pca_codes = readers.load_pca_codes()
        extract, parse_seconds = timed(
            readers.read_extract,
            values_path,
            practice_codes=set(practices["practice_code"]),
            ruleset=ruleset,
            pca_codes=pca_codes,
        )
        parameters = YearParameters(point_value=POINT_VALUE, average_list_size=AVERAGE_LIST)
        # Best of three: the first call also pays one-off import and allocation costs.
        runs = [timed(calculate_qof, ruleset, extract.values, practices, parameters) for _ in range(3)]
        result, engine_seconds = runs[0][0], min(seconds for _, seconds in runs)
        command_seconds, peak_bytes = run_command(values_path, practices_path, directory / "out")

        print(f"rows: {rows:,} for {len(practices):,} practices × {len(ruleset)} indicators")
        print(f"pandas.read_csv alone:          {read_csv_seconds:8.2f} s")
        print(f"parse (read + validate):        {parse_seconds:8.2f} s")
        print(f"engine (national frames):       {engine_seconds:8.2f} s (best of 3)")
        print(f"calculate_qof end to end:       {command_seconds:8.2f} s")
        print(f"calculate_qof peak memory:      {peak_bytes / 1024**3:8.2f} GB")
        ratio = command_seconds / read_csv_seconds
        print(f"end to end / read_csv:          {ratio:8.2f} ×")
        checks = [
            (f"engine < {TARGET_ENGINE_SECONDS:.0f} s", engine_seconds < TARGET_ENGINE_SECONDS),
            (f"end to end < {TARGET_END_TO_END_RATIO:.0f}× read_csv", ratio < TARGET_END_TO_END_RATIO),
            ("peak memory < 4 GB", peak_bytes < TARGET_PEAK_BYTES),
        ]
        if not arguments.skip_baseline:
            baseline, baseline_seconds = timed(per_row_baseline, ruleset, extract.values, practices)
            totals = result.practice_totals
            engine_totals = dict(zip(totals["practice_code"], totals["payment_pence"].tolist(), strict=True))
            agree = baseline == engine_totals
            speedup = baseline_seconds / engine_seconds
            print(f"per-row pure Python baseline:   {baseline_seconds:8.2f} s (totals agree: {agree})")
            print(f"engine speed-up over baseline:  {speedup:8.1f} ×")
            checks.append((f"engine ≥ {TARGET_SPEEDUP}× faster than baseline", speedup >= TARGET_SPEEDUP))
            checks.append(("baseline and engine agree to the penny", agree))
        for name, met in checks:
            print(f"target {name}: {verdict(met)}")


if __name__ == "__main__":
    main()
