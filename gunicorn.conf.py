"""How `make serve` runs the portal: gunicorn, the production WSGI server, with settings from the
environment. See docs/deployment.md."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Requests wait on the database more than on the CPU: two threads per process, processes per core (5 × 2 on
# two cores). Every thread keeps one database connection (DATABASE_CONN_MAX_AGE), so this, not the number of
# users, bounds the connections a web machine opens: more users queue in gunicorn's backlog instead.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
threads = int(os.environ.get("WEB_THREADS", "2"))
# A national upload streams ~450 MB; the load itself runs in a worker, so this is ample.
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
# Idle connections are kept longer than the proxy's own upstream keep-alive (nginx: 60 s), so that the proxy,
# not gunicorn, closes them: a request sent on a connection the server is closing at that moment is reset and
# never answered (gunicorn's 2 s default dropped 1 of 4,661 requests in bench/load.py).
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))
# Behind the TLS proxy; the proxy's address is trusted for X-Forwarded-Proto only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
wsgi_app = "cqrs_portal.wsgi:application"


def on_starting(server):
    """Remove what a killed server left behind before serving again."""
    import django

    # Before the WSGI module (which sets the same default) is imported: `make serve` sets nothing itself.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cqrs_portal.settings")
    django.setup()
    from cqrs_portal.housekeeping import tidy_up

    tidy_up()
    _warn_if_connections_may_run_out(server)


def _warn_if_connections_may_run_out(server) -> None:
    """A web machine may hold workers × threads connections; warn when that is more than a quarter of
    PostgreSQL's max_connections, which also serves the other web machines, the workers (two each while they
    hold a lease) and beat. Past the limit PostgreSQL refuses connections, and requests fail."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        limit = int(cursor.fetchone()[0])
    connection.close()
    if workers * threads > limit // 4:
        server.log.warning(
            "gunicorn may open %s database connections (%s processes x %s threads) of PostgreSQL's %s: "
            "lower WEB_CONCURRENCY or WEB_THREADS, or raise max_connections",
            workers * threads, workers, threads, limit,
        )  # fmt: skip
