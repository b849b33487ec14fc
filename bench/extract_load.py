"""National-scale benchmark of loading a year-end extract into PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cqrs_bench uv run python bench/extract_load.py

Sets up a scratch database (created if missing, migrated, and emptied of earlier extracts) with the real
2023/24 organisation mapping (6,410 practices), the shipped rulesets and QOF 2023/24 participation for
every practice; writes a synthetic national extract (engine.synthetic, ~3.5 M field rows); then times
`load_extract` (parse, validate, COPY, supersede, insert) and a second load of a superseding extract with
later submission times, printing time and peak memory against the targets: under 60 s and under 4 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scratch_database import ensure_database  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/cqrs_bench"
TARGET_SECONDS = 60.0
TARGET_PEAK_BYTES = 4 * 1024**3


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--practices", type=int, default=None, help="use the first N practices (default all)")
    arguments = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("this benchmark needs PostgreSQL: set DATABASE_URL")
    ensure_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cqrs_portal.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from accounts.actions import import_organisations
    from accounts.models import Organisation, OrganisationType
    from accounts.organisation_import import parse_mapping
    from engine import synthetic
    from extracts.actions import load_extract
    from extracts.models import CurrentSubmission, CurrentSubmissionSet, Extract, ExtractSubmission
    from participation.actions import load_rulesets
    from participation.models import Participation, ServiceYear
    from participation.ruleset_files import RULESETS_DIR, read_rulesets

    call_command("migrate", verbosity=0)
    mapping_path = REPO / "fixtures" / "organisations" / "qof_manual_mappings_2023_24.csv"
    import_organisations(
        mapping=parse_mapping(mapping_path.read_text(encoding="utf-8-sig")),
        effective_date=timezone.localdate(),
        by=None,
    )
    load_rulesets(rulesets=read_rulesets(RULESETS_DIR), by=None)
    year = ServiceYear.objects.get(code="QOF2324")
    practices = list(Organisation.objects.filter(type=OrganisationType.PRACTICE).order_by("code"))
    practices = practices[: arguments.practices]
    # The scratch database is the benchmark's own: start every run from no extracts and full participation.
    with connection.cursor() as cursor:
        tables = [
            model._meta.db_table
            for model in (CurrentSubmission, CurrentSubmissionSet, ExtractSubmission, Extract)
        ]
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    missing = {p.pk for p in practices} - set(
        Participation.objects.filter(service_year=year).values_list("practice_id", flat=True)
    )
    Participation.objects.bulk_create(
        [
            Participation(
                service_year=year, practice_id=pk, start_date=year.start_date, end_date=year.end_date,
                created_at=timezone.now(),
            )
            for pk in sorted(missing)
        ],
        batch_size=5000,
    )  # fmt: skip
    codes = [practice.code for practice in practices]

    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        first = synthetic.write_extract(
            synthetic.year_end_extract(codes, seed=2324), Path(scratch) / "QOF2324_year_end.csv"
        )
        second = synthetic.write_extract(
            synthetic.year_end_extract(codes, seed=2325, submitted="05/04/2024"),
            Path(scratch) / "QOF2324_year_end_resubmitted.csv",
        )
        print(f"two synthetic extracts of {first.stat().st_size / 1e6:.0f} MB built in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        memory_before = peak_bytes()

        start = time.perf_counter()
        result = load_extract(path=first, file_name=first.name, by=None)
        first_seconds = time.perf_counter() - start
        first_peak = peak_bytes()

        start = time.perf_counter()
        superseding = load_extract(path=second, file_name=second.name, by=None)
        second_seconds = time.perf_counter() - start

        start = time.perf_counter()
        again = load_extract(path=first, file_name=first.name, by=None)
        duplicate_seconds = time.perf_counter() - start

    extract = result.extract
    print(f"rows stored: {extract.row_count:,} for {extract.practice_count:,} practices × "
          f"{extract.indicator_count} indicators")  # fmt: skip
    print(f"first load (parse, validate, COPY, insert):  {first_seconds:8.2f} s")
    print(f"superseding load ({superseding.extract.superseded_row_count:,} values superseded): "
          f"{second_seconds:8.2f} s")  # fmt: skip
    print(f"same file again (recognised: {again.already_loaded}):  {duplicate_seconds:8.2f} s")
    print(f"peak memory (before loading: {memory_before / 1024**3:.2f} GB): {first_peak / 1024**3:8.2f} GB")
    for name, met in [
        (f"first load < {TARGET_SECONDS:.0f} s", first_seconds < TARGET_SECONDS),
        (f"superseding load < {TARGET_SECONDS:.0f} s", second_seconds < TARGET_SECONDS),
        ("peak memory < 4 GB", max(first_peak, peak_bytes()) < TARGET_PEAK_BYTES),
    ]:
        print(f"target {name}: {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
