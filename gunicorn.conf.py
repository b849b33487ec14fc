"""How `make serve` runs the portal: gunicorn, the production WSGI server, with settings from the
environment. See docs/deployment.md."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Requests wait on the database more than on the CPU: two threads per process, processes per core.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
threads = int(os.environ.get("WEB_THREADS", "2"))
# A national upload streams ~450 MB; the load itself runs in a worker, so this is ample.
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))
# Behind the TLS proxy; the proxy's address is trusted for X-Forwarded-Proto only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
wsgi_app = "cqrs_portal.wsgi:application"


def on_starting(server):
    """Remove what a killed server left behind before serving again."""
    import django

    django.setup()
    from cqrs_portal.housekeeping import tidy_up

    tidy_up()
