"""National calculation runs on real Celery workers, and the report pages over national results.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cqrs_bench REDIS_URL=redis://127.0.0.1:6379/3 \
        uv run python bench/calculation_run.py

The database is created if missing. The first time, it is filled with the national organisation mapping,
the shipped rulesets, participation for every practice and a synthetic national 2023/24 extract (6,410
practices × 76 indicators, bench/engine.py) with list sizes; later runs reuse them. Then it times, each from
stored extract to published results with national prevalence recalculated: a national year-end run with one
worker and with two; a single-practice recalculation; the practice summary report and the commissioner
report for the largest commissioner.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from national import Workers, load_list_sizes, participate_everyone  # noqa: E402
from scratch_database import ensure_database  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cqrs_portal.settings")
QUEUE = f"bench-{uuid.uuid4().hex[:8]}"
os.environ["CELERY_QUEUE"] = QUEUE

TARGET_ONE_WORKER_SECONDS = 60
TARGET_SPEEDUP = 1.5
TARGET_RECALCULATION_SECONDS = 2
TARGET_SUMMARY_SECONDS = 0.2
TARGET_COMMISSIONER_SECONDS = 0.5
YEAR_END = date(2024, 3, 31)


if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
    sys.exit("set DATABASE_URL (PostgreSQL) and REDIS_URL: this benchmark runs real workers")
ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from signed_in import signed_in_client  # noqa: E402

from accounts import actions as account_actions  # noqa: E402
from accounts.models import Organisation, OrganisationType, User  # noqa: E402
from accounts.organisation_import import read_mapping  # noqa: E402
from accounts.roles import Role  # noqa: E402
from calculation import actions, tasks  # noqa: E402
from calculation.models import CalculationRun, FrozenPrevalence, IndicatorResult  # noqa: E402
from cqrs_portal.celery import app  # noqa: E402
from extracts.actions import load_extract  # noqa: E402
from extracts.models import Extract  # noqa: E402
from participation.models import ServiceYear  # noqa: E402

MAPPING = REPO / "fixtures" / "organisations" / "qof_manual_mappings_2023_24.csv"


def prepare() -> ServiceYear:
    call_command("migrate", verbosity=0)
    if not Organisation.objects.filter(type=OrganisationType.PRACTICE).exists():
        print("importing the national organisation mapping…")
        account_actions.import_organisations(
            mapping=read_mapping(MAPPING), effective_date=date(2023, 4, 1), by=None
        )
    call_command("load_rulesets", verbosity=0)
    year = ServiceYear.objects.get(code="QOF2324")
    if not Extract.objects.filter(service_year=year, achievement_date=YEAR_END).exists():
        from bench.engine import build_inputs

        participate_everyone(year)
        with tempfile.TemporaryDirectory() as directory:
            print("building and loading a synthetic national extract…")
            values, practices_csv = build_inputs(Path(directory), None)
            started = time.perf_counter()
            load_extract(path=values, file_name="national.csv", by=None)
            print(f"  loaded in {time.perf_counter() - started:.1f} s")
            load_list_sizes(year, practices_csv)
    return year


def timed_run(year: ServiceYear, **fields) -> tuple[float, CalculationRun]:
    started = time.perf_counter()
    with transaction.atomic():
        run = actions.start_run(service_year=year, achievement_date=YEAR_END, by=None, **fields)
        tasks.queue_run(run)
    while True:
        run.refresh_from_db()
        if run.is_finished:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if run.status != CalculationRun.Status.PUBLISHED:
        sys.exit(f"run {run.pk} {run.status}: {run.error}")
    return seconds, run


def national_run(year: ServiceYear, workers: Workers, count: int) -> float:
    # Unfreeze so that each timed run calculates national prevalence too, as the first year-end run does.
    FrozenPrevalence.objects.filter(service_year=year, achievement_date=YEAR_END).delete()
    workers.start(count)
    try:
        seconds, run = timed_run(year, kind=CalculationRun.Kind.YEAR_END)
    finally:
        workers.stop()
    rows = IndicatorResult.objects.filter(run=run).count()
    print(
        f"national year end, {count} worker(s): {seconds:.1f} s for {rows:,} indicator results (run {run.pk})"
    )
    return seconds


def page_seconds(client: Client, url: str, repeats: int = 7) -> float:
    client.get(url)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main() -> None:
    app.conf.task_default_queue = QUEUE
    year = prepare()
    workers = Workers(QUEUE)
    one = national_run(year, workers, 1)
    two = national_run(year, workers, 2)
    workers.start(1)
    try:
        practice = Organisation.objects.filter(type=OrganisationType.PRACTICE).order_by("code").first()
        recalculation, _ = timed_run(
            year, kind=CalculationRun.Kind.RECALCULATION, organisation=practice, reason="Benchmark"
        )
    finally:
        workers.stop()

    support = User.objects.filter(email="bench.support@nhs.net").first()
    if support is None:
        support = User.objects.create_user(email="bench.support@nhs.net", full_name="Bench Support")
        national = Organisation.objects.get(type=OrganisationType.NATIONAL)
        account_actions.grant_role(user=support, organisation=national, role=Role.SUPPORT, by=None)
    client = signed_in_client(support, SERVER_NAME="localhost")
    largest = max(
        Organisation.objects.filter(type=OrganisationType.ICB),
        key=lambda icb: Organisation.objects.filter(
            parent__parent=icb, type=OrganisationType.PRACTICE
        ).count(),
    )
    summary = page_seconds(client, reverse("reports:practice_summary", kwargs={"code": practice.code}))
    commissioner = page_seconds(client, reverse("reports:provider_report", kwargs={"code": largest.code}))

    print()
    print(f"national run, one worker: {one:.1f} s ({verdict(one < TARGET_ONE_WORKER_SECONDS)} < 60 s)")
    speedup = one / two
    faster = verdict(speedup >= TARGET_SPEEDUP)
    print(f"national run, two workers: {two:.1f} s, {speedup:.2f}× ({faster} ≥ 1.5×)")
    print(
        f"single-practice recalculation: {recalculation:.2f} s "
        f"({verdict(recalculation < TARGET_RECALCULATION_SECONDS)} < 2 s)"
    )
    summary_verdict = verdict(summary < TARGET_SUMMARY_SECONDS)
    print(f"practice summary report: {summary * 1000:.0f} ms ({summary_verdict} < 200 ms)")
    print(
        f"commissioner report ({largest.code}): {commissioner * 1000:.0f} ms "
        f"({verdict(commissioner < TARGET_COMMISSIONER_SECONDS)} < 500 ms)"
    )


if __name__ == "__main__":
    main()
