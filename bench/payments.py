"""A national month of payments on PostgreSQL: generate every practice's aspiration instalments and year-end
balance, release the month's batch with its agency file, then release the same cut-off again.

Targets (issue 16): generation plus release with the file under 5 s; the second release under 0.5 s. The
baseline, measured in the same run, writes the same aspiration lines through the ORM's bulk_create, as
code without the INSERT … SELECT would.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cqrs_bench_pay uv run python bench/payments.py
"""

import os
import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cqrs_portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cqrs_bench_pay")

from scratch_database import ensure_database  # noqa: E402

if not os.environ["DATABASE_URL"].startswith("postgres"):
    sys.exit("this benchmark needs PostgreSQL: set DATABASE_URL")
ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts import actions as account_actions  # noqa: E402
from accounts.models import Organisation, OrganisationType  # noqa: E402
from accounts.organisation_import import read_mapping  # noqa: E402
from calculation.models import CalculationRun, PracticeResult, Publication  # noqa: E402
from participation.models import QualityService, ServiceYear  # noqa: E402
from payments import actions, schedule  # noqa: E402
from payments.models import AgencyFile, PaymentBatch, PaymentLine  # noqa: E402

MAPPING = REPO / "fixtures" / "organisations" / "qof_manual_mappings_2023_24.csv"
# Years in the future, so every line is approved before its month's cut-off, as in a live year.
FIRST, SECOND = 2030, 2031
TARGET_MONTH_SECONDS, TARGET_AGAIN_SECONDS = 5.0, 0.5


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def prepare() -> tuple[ServiceYear, ServiceYear, list[Organisation]]:
    call_command("migrate", verbosity=0)
    if Organisation.objects.filter(type=OrganisationType.PRACTICE).count() < 6000:
        account_actions.import_organisations(
            mapping=read_mapping(MAPPING), effective_date=date(2023, 4, 1), by=None
        )
    with transaction.atomic():
        AgencyFile.objects.all().delete()
        PaymentLine.objects.all().delete()
        PaymentBatch.objects.all().delete()
        Publication.objects.filter(service_year__financial_year__in=(FIRST, SECOND)).delete()
        PracticeResult.objects.filter(run__service_year__financial_year__in=(FIRST, SECOND)).delete()
        CalculationRun.objects.filter(service_year__financial_year__in=(FIRST, SECOND)).delete()
    service, _ = QualityService.objects.get_or_create(code="QOF", defaults={"name": "QOF", "kind": "qof"})
    years = []
    for financial_year, value, rate in ((FIRST, "230.00", "0.80"), (SECOND, "236.50", "0.80")):
        year, _ = ServiceYear.objects.get_or_create(
            code=f"QOF{financial_year % 100:02d}{(financial_year + 1) % 100:02d}",
            defaults={
                "service": service,
                "financial_year": financial_year,
                "name": f"QOF {financial_year}",
                "start_date": date(financial_year, 4, 1),
                "end_date": date(financial_year + 1, 3, 31),
                "point_value": Decimal(value),
                "aspiration_rate": Decimal(rate),
                "manual_entry_deadline": date(financial_year + 1, 3, 31),
            },
        )
        years.append(year)
    practices = list(Organisation.objects.filter(type=OrganisationType.PRACTICE).order_by("code"))
    rng = random.Random(16)
    for year, with_aspiration in ((years[0], True), (years[1], False)):
        run = CalculationRun.objects.create(
            kind="year_end",
            scope="national",
            service_year=year,
            achievement_date=year.end_date,
            status="published",
        )
        rows = []
        for practice in practices:
            payment = Decimal(rng.randint(2_000_000, 25_000_000)) / 100
            annual = (payment * Decimal("0.8")).quantize(Decimal("0.01")) if with_aspiration else None
            monthly = (annual / 12).quantize(Decimal("0.01"), rounding="ROUND_DOWN") if annual else None
            rows.append(
                PracticeResult(
                    run=run,
                    practice=practice,
                    indicator_run=run,
                    list_size_cpi=9000,
                    list_size_prevalence=9000,
                    points=Decimal("500"),
                    payment=payment,
                    aspiration_annual=annual,
                    aspiration_monthly=monthly,
                    aspiration_last_month=annual - 11 * monthly if annual else None,
                )
            )
        PracticeResult.objects.bulk_create(rows, batch_size=2000)
        Publication.objects.create(service_year=year, achievement_date=year.end_date, run=run)
    return years[0], years[1], practices


def baseline(second: ServiceYear) -> float:
    """One month of the same aspiration lines (6,410) through bulk_create, their foreign keys checked, in a
    transaction rolled back: a per-line cost to compare with the INSERT … SELECT's (a twelfth of the lines,
    to keep the run short)."""
    source = PracticeResult.objects.filter(
        run__publications__service_year__financial_year=FIRST
    ).select_related("practice")
    (y, m), number = schedule.instalment_months(second)[0], 1
    now = timezone.now()
    started = time.perf_counter()
    # The month's dates once, as the INSERT … SELECT has them: payment_date reads the year's release schedule,
    # and a query per line would time that query rather than bulk_create.
    achievement_date, due_date = schedule.month_end(y, m), schedule.payment_date(y, m)
    with transaction.atomic():
        lines = [
            PaymentLine(
                reference=f"ASP-BASE-{result.practice.code}-{number:02d}",
                payee_id=result.practice_id,
                commissioner_id=result.practice.parent_id,
                service_year=second,
                achievement_date=achievement_date,
                instalment=number,
                component="ASPIRATION",
                amount=result.aspiration_monthly,
                due_date=due_date,
                status="approved",
                approved_at=now,
                run_id=result.run_id,
            )
            for result in source
        ]
        PaymentLine.objects.bulk_create(lines, batch_size=5000)
        # The foreign keys are checked at commit, which the rollback skips: check them now, as the commit of
        # the INSERT … SELECT does within its time.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def cpu_seconds() -> float | None:
    """CPU used so far by this process and its database backend, or None if the server's processes cannot be
    read (not on this machine). On a shared machine the wall clock also counts the time spent waiting for a
    core; the CPU does not, so it shows whether a change did less work when the load moved."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + time.process_time()


def main() -> None:
    _first, second, practices = prepare()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; {len(practices):,} practices")
    base = baseline(second)

    cpu_before = cpu_seconds()
    started = time.perf_counter()
    aspiration = actions.approve_aspiration_nationally(service_year=second)
    generated_aspiration = time.perf_counter() - started
    balances = actions.approve_year_end_nationally(service_year=second)
    generated = time.perf_counter() - started
    april = schedule.release_for_month(SECOND, 4)
    batch, _ = actions.release(cutoff=april.cutoff, by=None)
    month = time.perf_counter() - started
    cpu_after = cpu_seconds()

    started = time.perf_counter()
    again, created = actions.release(cutoff=april.cutoff, by=None)
    second_release = time.perf_counter() - started
    assert not created and again.pk == batch.pk

    print(f"aspiration instalments generated: {aspiration:,} lines in {generated_aspiration:.2f} s")
    per_line_sql = generated_aspiration / aspiration
    per_line_orm = base / len(practices)
    print(
        f"  baseline, one month's {len(practices):,} lines through bulk_create: {base:.2f} s; per line "
        f"{per_line_orm * 1e6:.0f} µs against {per_line_sql * 1e6:.0f} µs "
        f"(INSERT … SELECT {per_line_orm / per_line_sql:.1f}× faster)"
    )
    print(f"year-end balances generated: {balances:,} lines; generation total {generated:.2f} s")
    print(
        f"national month released: {batch.reference}, {batch.line_count:,} lines, £{batch.total:,.2f}, "
        f"agency file {len(batch.agency_file.content) / 1e6:.1f} MB sha256 {batch.agency_file.sha256[:12]}…"
    )
    print(
        f"generate + release with the agency file: {month:.2f} s "
        f"({verdict(month < TARGET_MONTH_SECONDS)} the {TARGET_MONTH_SECONDS:.0f} s target)"
    )
    if cpu_before is not None and cpu_after is not None:
        print(f"  of which CPU, the database backend's and this process's: {cpu_after - cpu_before:.2f} s")
    print(
        f"second release of the same cut-off: {second_release * 1000:.0f} ms, nothing added "
        f"({verdict(second_release < TARGET_AGAIN_SECONDS)} the {TARGET_AGAIN_SECONDS} s target)"
    )
    load = os.getloadavg()
    print(
        f"machine load (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
