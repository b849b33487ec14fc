"""Declaration-day load: the production server (gunicorn, `make serve`) on loopback, national data in
PostgreSQL, Locust users doing what practices, commissioners and Support do on the day, and a national year
end published in the middle of it.

    uv run python bench/load.py [--users 50] [--minutes 5]

The scratch database (DATABASE_URL, default cqrs_bench_load; REDIS_URL, default index 5) is created if
missing and filled the first time as bench/explain.py fills its own: the national organisation mapping,
rulesets, participation for every practice, a synthetic national 2023/24 extract and list sizes, and a
published national year end (whose publication opens a declaration for every practice). Then, each time:

- sessions are opened for practice users (Declaration Management at practices whose declaration still
  awaits them), commissioner users (Approval Management at sub-ICB locations) and Support;
- `make serve` starts gunicorn with the production settings, and a Celery worker starts beside it;
- Locust (bench/load_locustfile.py) runs --users users for --minutes minutes: practice users open their
  Achievement Summary Report and their declaration and declare; commissioners open their Detailed Provider
  Achievement Report and the declarations list and bulk-approve what awaits them; Support watches the
  runs. One Support user starts the national year end a fifth of the way in; the worker calculates and
  publishes it while the load goes on (afterwards the bench waits for it to finish);
- it prints requests per second, p50/p95/p99 per page, errors, the database connections seen, when the
  year end published, and whether the targets are met: zero errors, p95 under 300 ms and p99 under 1 s on
  every page, the year end published within the test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scratch_database import ensure_database  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/cqrs_bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"
# Known to the bench and the server alike: sessions opened here must be valid there.
SECRET_KEY = "bench-load-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
QUEUE = "bench-load"
TARGET_P95_MS = 300
TARGET_P99_MS = 1000
PRACTICE_SESSIONS = 400
# As `make worker` runs it: sharing the machine with the web server, the batch calculation yields the CPU to
# people's requests.
WORKER_NICENESS = "10"
STARTUP_SECONDS = 20 * 60
COMMISSIONER_SESSIONS = 60


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50, help="concurrent Locust users (default 50)")
    parser.add_argument("--minutes", type=float, default=5, help="how long the load lasts (default 5)")
    parser.add_argument(
        "--web-processes", type=int, help="gunicorn processes (WEB_CONCURRENCY; default gunicorn.conf.py's)"
    )
    parser.add_argument("--web-threads", type=int, help="threads per process (WEB_THREADS; default 2)")
    arguments = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    if not database_url.startswith("postgres"):
        sys.exit("this benchmark needs PostgreSQL: set DATABASE_URL")
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="true",
        SECRET_KEY=SECRET_KEY,
        CELERY_QUEUE=QUEUE,
        LOG_LEVEL="WARNING",  # not a line per session opened
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cqrs_portal.settings")
    ensure_database(database_url)
    import django

    django.setup()

    from explain import prepare

    prepare()
    sessions = open_sessions()
    print(
        f"sessions: {len(sessions['practice'])} practice users, "
        f"{len(sessions['commissioner'])} commissioners, {len(sessions['support'])} Support"
    )
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        sessions_file = directory / "sessions.json"
        sessions_file.write_text(json.dumps(sessions))
        port = free_port()
        environment = production_environment(database_url, redis_url, port, arguments)
        server = start(["make", "--no-print-directory", "serve"], environment, directory / "serve.log")
        worker = start(
            ["nice", "-n", WORKER_NICENESS, "uv", "run", "--frozen", "celery", "-A", "cqrs_portal", "worker",
             "--concurrency=1", "-Q", QUEUE, "--loglevel=WARNING"],
            environment,
            directory / "worker.log",
        )  # fmt: skip
        try:
            wait_for_port(port, server, directory / "serve.log")
            results = run_load(arguments, port, sessions_file, directory, database_url)
        finally:
            for process in (server, worker):
                stop(process)
    report(arguments, results)


def open_sessions() -> dict:
    """Signed-in sessions for the users Locust plays, opened here so the load measures the pages rather than
    password hashing (which is deliberately slow, and which one sign-in per person per day pays)."""
    from signed_in import signed_in_client

    from accounts import actions as account_actions
    from accounts.models import Organisation, OrganisationType, User
    from accounts.roles import Role
    from calculation.models import Publication
    from declarations.models import Declaration

    publication = Publication.objects.get(service_year__code="QOF2324", achievement_date="2024-03-31")
    waiting = (
        Declaration.objects.filter(
            service_year=publication.service_year,
            achievement_date=publication.achievement_date,
            state=Declaration.State.AWAITING_PRACTICE,
        )
        .select_related("practice")
        .order_by("?")[:PRACTICE_SESSIONS]
    )
    sessions = {"practice": [], "commissioner": [], "support": [], "service_year": "QOF2324"}

    def session_of(email: str, name: str, organisation, roles) -> str:
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email=email, full_name=name
        )
        held = set(user.memberships.filter(ended_at__isnull=True).values_list("organisation_id", "role"))
        for role in roles:
            if (organisation.pk, role) not in held:
                account_actions.grant_role(user=user, organisation=organisation, role=role, by=None)
        return signed_in_client(user).cookies["sessionid"].value

    for declaration in waiting:
        code = declaration.practice.code
        session = session_of(
            f"load.{code.lower()}@nhs.net",
            f"Practice {code}",
            declaration.practice,
            [Role.DECLARATION_MANAGEMENT],
        )
        sessions["practice"].append({"session": session, "code": code, "declaration": declaration.pk})
    commissioners = Organisation.objects.filter(
        type=OrganisationType.SUB_ICB, children__type=OrganisationType.PRACTICE
    ).distinct()
    for commissioner in commissioners.order_by("?")[:COMMISSIONER_SESSIONS]:
        session = session_of(
            f"load.{commissioner.code.lower()}@nhs.net",
            f"Commissioner {commissioner.code}",
            commissioner,
            [Role.APPROVAL_MANAGEMENT, Role.VIEW],
        )
        sessions["commissioner"].append({"session": session, "code": commissioner.code})
    national = Organisation.objects.get(type=OrganisationType.NATIONAL)
    for number in range(3):
        session = session_of(f"load.support{number}@nhs.net", f"Support {number}", national, [Role.SUPPORT])
        sessions["support"].append({"session": session, "code": national.code})
    return sessions


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_environment(database_url: str, redis_url: str, port: int, arguments) -> dict:
    """As docs/deployment.md says, with loopback standing in for the TLS proxy (X-Forwarded-Proto)."""
    environment = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    environment.update(
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        CSRF_TRUSTED_ORIGINS="https://127.0.0.1",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_QUEUE=QUEUE,
        PORTAL_BASE_URL="https://127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="WARNING",
    )
    if arguments.web_processes:
        environment["WEB_CONCURRENCY"] = str(arguments.web_processes)
    if arguments.web_threads:
        environment["WEB_THREADS"] = str(arguments.web_threads)
    return environment


def start(command: list[str], environment: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_for_port(port: int, server: subprocess.Popen, log: Path) -> None:
    # `make serve` migrates and collects (and compresses) the static files first: minutes on a busy machine,
    # which is no failure of the server's.
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(
                    f"make serve did not start within {STARTUP_SECONDS} s (exit {server.poll()}):\n"
                    f"{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)


def run_load(arguments, port: int, sessions_file: Path, directory: Path, database_url: str) -> dict:
    from django.db import connection

    from calculation.models import CalculationRun

    seconds = int(arguments.minutes * 60)
    before = CalculationRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        max_connections = int(cursor.fetchone()[0])
    connection.close()  # so that the connections counted are the server's and the worker's alone
    connections: list[int] = []
    done = threading.Event()

    def watch_connections() -> None:
        import psycopg2

        watcher = psycopg2.connect(database_url)
        watcher.autocommit = True
        with watcher.cursor() as cursor:
            while not done.wait(1):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
                connections.append(cursor.fetchone()[0] - 1)  # not this watcher's own
        watcher.close()

    watcher = threading.Thread(target=watch_connections, daemon=True)
    watcher.start()
    prefix = directory / "locust"
    started = time.time()
    locust = subprocess.run(
        ["uv", "run", "--frozen", "locust", "-f", str(REPO / "bench" / "load_locustfile.py"), "--headless",
         "--users", str(arguments.users), "--spawn-rate", str(max(1, arguments.users // 10)),
         "--run-time", f"{seconds}s", "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix),
         "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"],
        cwd=REPO,
        env={**os.environ, "LOAD_SESSIONS": str(sessions_file), "LOAD_YEAR_END_AFTER": str(seconds // 5)},
        capture_output=True,
        text=True,
    )  # fmt: skip
    ended = time.time()
    done.set()
    watcher.join()
    # Let the year end finish (the worker is stopped afterwards): a run left running would hold its scope.
    deadline = time.monotonic() + 600
    while (
        time.monotonic() < deadline
        and CalculationRun.objects.filter(pk__gt=before, status__in=["queued", "running"]).exists()
    ):
        time.sleep(2)
    if not (prefix.parent / "locust_stats.csv").exists():
        sys.exit(f"locust failed ({locust.returncode}):\n{locust.stderr[-3000:]}")
    runs = list(
        CalculationRun.objects.filter(pk__gt=before, scope=CalculationRun.Scope.NATIONAL).values(
            "pk", "status", "created_at", "published_at", "error"
        )
    )
    with (prefix.parent / "locust_stats.csv").open() as stats:
        rows = list(csv.DictReader(stats))
    failures_file = prefix.parent / "locust_failures.csv"
    failures = failures_file.read_text() if failures_file.exists() else ""
    return {
        "rows": rows, "connections": connections, "runs": runs, "started": started, "ended": ended,
        "failures": failures, "max_connections": max_connections,
    }  # fmt: skip


def web_processes(arguments) -> int:
    return arguments.web_processes or (os.cpu_count() or 1) * 2 + 1  # gunicorn.conf.py's default


def report(arguments, results: dict) -> None:
    rows, connections = results["rows"], results["connections"]
    load = os.getloadavg()
    print()
    print(
        f"{arguments.users} users for {arguments.minutes:g} min against gunicorn ({web_processes(arguments)} "
        f"processes x {arguments.web_threads or 2} threads) and 1 Celery worker; machine load (1, 5, 15 min) "
        f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on {os.cpu_count()} cores"
    )
    heading = ("page", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"{heading[0]:<34} " + " ".join(f"{name:>8}" for name in heading[1:]))
    pages_ok = True
    total = None
    for row in rows:
        line = (
            f"{row['Name']:<34} {row['Request Count']:>8} {row['Failure Count']:>8} "
            f"{float(row['Requests/s']):>8.1f} {row['50%']:>8} {row['95%']:>8} {row['99%']:>8}"
        )
        if row["Name"] == "Aggregated":
            total = row
            print("-" * len(line))
        elif int(row["Request Count"]) and (
            float(row["95%"]) >= TARGET_P95_MS or float(row["99%"]) >= TARGET_P99_MS
        ):
            pages_ok = False
            line += "  MISSES"
        print(line)
    errors = int(total["Failure Count"]) if total else -1
    print(
        f"requests per second: {float(total['Requests/s']):.1f}; errors: {errors}"
        if total
        else "no requests were made"
    )
    if results["failures"].strip():
        print("failures:\n" + results["failures"].strip())
    if connections:
        print(
            f"database connections (every second): max {max(connections)}, "
            f"mean {sum(connections) / len(connections):.1f}, of PostgreSQL's max_connections "
            f"{results['max_connections']}"
        )
    published = [
        run
        for run in results["runs"]
        if run["status"] == "published" and run["published_at"].timestamp() <= results["ended"]
    ]
    for run in results["runs"]:
        when = ""
        if run["published_at"]:
            when = (
                f", published {run['published_at'].timestamp() - results['started']:.0f} s into the load "
                f"({(run['published_at'] - run['created_at']).total_seconds():.0f} s after it started)"
            )
        print(f"national year-end run {run['pk']}: {run['status']}{when} {run['error'][:200]}")
    verdicts = {
        "zero errors": errors == 0,
        f"p95 < {TARGET_P95_MS} ms and p99 < {TARGET_P99_MS} ms on every page": pages_ok,
        "a national year end published during the load": bool(published),
    }
    for target, met in verdicts.items():
        print(f"target {target}: {'met' if met else 'NOT MET'}")
    print("all targets met" if all(verdicts.values()) else "targets NOT all met")


if __name__ == "__main__":
    main()
