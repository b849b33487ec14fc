"""What the audit trail's hash chain costs (docs/adr/0009-security.md): audited writes with the chain against
the same inserts without it, one at a time, in bulk and from concurrent writers, and verify_audit's speed.

Run with DATABASE_URL pointing at a scratch PostgreSQL database, e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cqrs_bench_audit uv run python bench/audit.py
The database is created if missing; its audit tables are emptied first.
"""

import os
import sys
import threading
import time
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
from django.db import connection, connections, transaction  # noqa: E402

from accounts import audit  # noqa: E402
from accounts.models import AuditChainHead, AuditEvent, User  # noqa: E402

SINGLE, BULK, WRITERS, PER_WRITER = 2000, 20_000, 4, 300
_unchained = iter(range(-1, -(10**9), -1))  # positions the chain never uses, for the baseline rows


def unchained_event(user) -> AuditEvent:
    """The same row, but with no chain: no head lock and no hash, as before the chain."""
    event = audit._event(actor=None, action="bench.write", obj=user, before=None, after={"role": "view"})
    event.position, event.previous_hash, event.hash = next(_unchained), "", ""
    return event


def single_writes(user, chained: bool) -> float:
    started = time.perf_counter()
    for _ in range(SINGLE):
        with transaction.atomic():
            if chained:
                audit.record(actor=None, action="bench.write", obj=user, after={"role": "view"})
            else:
                unchained_event(user).save()
    return time.perf_counter() - started


def bulk_write(user, chained: bool) -> float:
    started = time.perf_counter()
    with transaction.atomic():
        if chained:
            audit.record_many(
                actor=None, action="bench.bulk", changes=[(user, None, {"n": n}) for n in range(BULK)]
            )
        else:
            AuditEvent.objects.bulk_create([unchained_event(user) for _ in range(BULK)], batch_size=2000)
    return time.perf_counter() - started


def concurrent_writes(user, chained: bool) -> float:
    def writer():
        try:
            for _ in range(PER_WRITER):
                with transaction.atomic():
                    if chained:
                        audit.record(actor=None, action="bench.concurrent", obj=user, after={"n": 1})
                    else:
                        unchained_event(user).save()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_auditevent, accounts_auditchainhead")
    user = User.objects.filter(email="bench.audit@nhs.net").first() or User.objects.create_user(
        email="bench.audit@nhs.net", full_name="Bench"
    )
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    rows = [
        ("one event per transaction", SINGLE, single_writes),
        ("one transaction of many events", BULK, bulk_write),
        (f"{WRITERS} concurrent writers", WRITERS * PER_WRITER, concurrent_writes),
    ]
    for label, count, run in rows:
        baseline, chained = run(user, False), run(user, True)
        print(
            f"{label}: {count} events, unchained {baseline:.2f} s ({count / baseline:,.0f}/s), "
            f"chained {chained:.2f} s ({count / chained:,.0f}/s), ratio {chained / baseline:.2f}x"
        )
    with connection.cursor() as cursor:
        # verify_audit checks the chained events only: the baseline's rows are not part of the chain.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM accounts_auditevent WHERE position < 0")
        cursor.execute("SET session_replication_role = DEFAULT")
    chained_events = AuditChainHead.objects.get().position
    started = time.perf_counter()
    call_command("verify_audit", stdout=open(os.devnull, "w"))  # noqa: SIM115
    seconds = time.perf_counter() - started
    print(f"verify_audit: {chained_events} events in {seconds:.2f} s ({chained_events / seconds:,.0f}/s)")


if __name__ == "__main__":
    main()
