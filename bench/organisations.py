"""Import the national organisation mapping twice and print the times (target: under 30 s on PostgreSQL).

Run with DATABASE_URL pointing at a scratch PostgreSQL database, e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cqrs_bench_organisations \
        uv run python bench/organisations.py
The database is created if missing and its organisation tables emptied first.
"""

import os
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cqrs_portal.settings")

from scratch_database import ensure_database  # noqa: E402

if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("this benchmark needs PostgreSQL: set DATABASE_URL")
ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from accounts import actions  # noqa: E402
from accounts.models import Organisation  # noqa: E402
from accounts.organisation_import import read_mapping  # noqa: E402

MAPPING = REPO / "fixtures" / "organisations" / "qof_manual_mappings_2023_24.csv"
TARGET_SECONDS = 30


def main() -> None:
    call_command("migrate", verbosity=0)
    # The scratch database is the benchmark's own: start from no organisations (and, by CASCADE, no PCN
    # memberships), whatever an earlier run left; deleting them row by row breaks the rule that every
    # organisation below national has a parent.
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Organisation._meta.db_table} CASCADE")
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    for attempt in ("first import", "second import"):
        started = time.perf_counter()
        summary = actions.import_organisations(
            mapping=read_mapping(MAPPING), effective_date=date(2023, 4, 1), by=None
        )
        seconds = time.perf_counter() - started
        verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
        print(f"{attempt}: {seconds:.2f} s ({verdict} the {TARGET_SECONDS} s target): {summary}")


if __name__ == "__main__":
    main()
