"""Shared fixtures.

Services (PostgreSQL, Redis and a worker, Chromium) are required with CI=true: a missing one fails the test
there, and only outside CI does it skip.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from hypothesis import settings as hypothesis_settings

from tests.factories import build_organisation_tree

# Property tests check values, not speed: on a shared two-core machine an example can take longer than
# hypothesis's default 200 ms without anything being wrong. Speed is measured in bench/.
hypothesis_settings.register_profile("portal", deadline=None)
hypothesis_settings.load_profile("portal")

IN_CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def require_service(name: str, available: bool, how: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{name} is required with CI=true: {how}", pytrace=False)
    pytest.skip(f"{name} is not available here ({how}); CI runs this test")


def pytest_collection_modifyitems(items):
    # The longest tests start first (a stable sort keeps the rest in order): started late, a five-minute
    # test runs on alone while the other test process has nothing left to do.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_sessionstart(session):
    if IN_CI:
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.postgresql":
            pytest.exit(
                f"CI=true needs PostgreSQL (DATABASE_URL); the tests would run on {engine}", returncode=1
            )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production hashing is deliberately slow; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Links in emails point at the test client's host.
    settings.PORTAL_BASE_URL = "http://testserver"


@pytest.fixture(autouse=True)
def _force_login_with_a_second_factor(monkeypatch):
    """`client.force_login` stands for a whole sign-in, so it includes the second factor: the user is given
    an authenticator (as at enrolment) and the session records it as used, as the verify page would."""
    from django.test.client import ClientMixin
    from django_otp import DEVICE_ID_SESSION_KEY

    from tests.factories import enrolled_authenticator

    original = ClientMixin.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = enrolled_authenticator(user).persistent_id
        session.save()

    monkeypatch.setattr(ClientMixin, "force_login", force_login)


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    """Rate limits count in the cache; each test starts with none spent. Each test gets keys of its own
    rather than a flushed cache: with Redis the cache shares its database with Celery's broker and with the
    other test processes, and flushing it lost their queued tasks and their counts mid-test."""
    import uuid

    settings.CACHES = {
        name: {**definition, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
        for name, definition in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def _celery_runs_in_process(request):
    """Unit tests run tasks in-process; tests marked `redis` talk to a real broker and worker instead."""
    from cqrs_portal.celery import app

    if request.node.get_closest_marker("redis"):
        yield
        return
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def postgresql(db):
    from django.db import connection

    require_service(
        "PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database"
    )


@pytest.fixture
def tree(db):
    return build_organisation_tree()


@pytest.fixture
def upload_storage(settings, tmp_path):
    """Extract uploads kept in this test's own directory, not the checkout's."""
    location = tmp_path / "uploads"
    settings.STORAGES = {
        **settings.STORAGES,
        "extract_uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location},
        },
    }
    return location


@pytest.fixture
def world(tree, upload_storage, tmp_path):
    """One of everything the portal's URLs take (tests.walk_world)."""
    from tests.walk_world import build_world

    return build_world(tmp_path)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def celery_worker_queue():
    """A real Celery worker process consuming a queue of this test session's own, against REDIS_URL."""
    from django.conf import settings

    redis_url = settings.REDIS_URL
    require_service(
        "Redis", bool(redis_url) and _reachable(redis_url, 6379), "set REDIS_URL to a running Redis"
    )
    from cqrs_portal.celery import app

    queue = f"tests-{uuid.uuid4().hex[:8]}"
    node = f"{queue}@{socket.gethostname()}"
    environment = {**os.environ, "REDIS_URL": redis_url, "CELERY_QUEUE": queue}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cqrs_portal", "worker", "--pool=solo", "-Q", queue,
         "-n", node,
         "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
        cwd=REPO, env=environment,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[node], timeout=1):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start (exit status {worker.poll()})")
        yield queue
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


class WorkerPool:
    """Real Celery worker processes on one queue, started and killed on demand by a test."""

    def __init__(self, queue: str, environment: dict):
        self.queue, self.environment, self.workers = queue, environment, []

    def start(self) -> subprocess.Popen:
        from cqrs_portal.celery import app

        node = f"{self.queue}-{len(self.workers)}@{socket.gethostname()}"
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cqrs_portal", "worker", "--pool=solo", "-Q", self.queue,
             "-n", node, "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
            cwd=REPO, env=self.environment,
        )  # fmt: skip
        self.workers.append(worker)
        deadline = time.monotonic() + 60
        while not self._answers(app, node):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start (exit status {worker.poll()})")
        return worker

    @staticmethod
    def _answers(app, node: str) -> bool:
        # A connection of its own each time: a pooled one may be left over from a Redis the test restarted.
        with app.connection_for_write() as connection:
            return bool(app.control.ping(destination=[node], timeout=1, connection=connection))

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


@contextmanager
def _workers_on(redis_url: str):
    """A WorkerPool on the test's PostgreSQL database and `redis_url`, with this process sending its tasks
    to the pool's queue through that Redis."""
    from django.db import connection

    from cqrs_portal.celery import app

    database = connection.settings_dict
    database_url = (
        f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST'] or 'localhost'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    queue = f"tests-{uuid.uuid4().hex[:8]}"
    environment = {**os.environ, "REDIS_URL": redis_url, "CELERY_QUEUE": queue, "DATABASE_URL": database_url}
    previous = app.conf.task_default_queue, app.conf.broker_url, app.conf.result_backend
    app.conf.task_default_queue, app.conf.broker_url, app.conf.result_backend = queue, redis_url, redis_url
    _forget_broker_connections(app)
    pool = WorkerPool(queue, environment)
    try:
        yield pool
    finally:
        pool.stop_all()
        app.conf.task_default_queue, app.conf.broker_url, app.conf.result_backend = previous
        _forget_broker_connections(app)


def _forget_broker_connections(app) -> None:
    # Celery keeps its broker connections pooled: forget them so the next task goes to the Redis now set.
    # (kombu keeps the pool of each URL itself, so the previous Redis's pool is still there to go back to.)
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def workers_on_test_database(postgresql, settings):
    """Real workers that read and write this test's PostgreSQL database, on a queue of the test's own, and
    this process sending its tasks there. The test must be transactional so that workers see its rows."""
    redis_url = settings.REDIS_URL
    require_service(
        "Redis", bool(redis_url) and _reachable(redis_url, 6379), "set REDIS_URL to a running Redis"
    )
    with _workers_on(redis_url) as pool:
        yield pool


class OwnRedis:
    """A redis-server of the test's own, without persistence, that the test may stop and start again."""

    def __init__(self, directory: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory, self.process = directory, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not _reachable(self.url, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start (exit status {self.process.poll()})")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def own_redis(tmp_path):
    require_service("redis-server", bool(shutil.which("redis-server")), "install Debian's redis-server")
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def workers_on_own_redis(postgresql, own_redis):
    """Like workers_on_test_database, but through the test's own Redis (`own_redis`), which it may stop."""
    with _workers_on(own_redis.url) as pool:
        yield pool


@pytest.fixture(scope="session")
def chromium():
    executable = (
        os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    require_service("Chromium", bool(executable), "install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the live server's database work is still
    # synchronous and in other threads, so Django's async-safety guard does not apply here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, serving the static files from the apps and node_modules as `runserver`
    does. pytest-django looks for "django.contrib.staticfiles" by that name in INSTALLED_APPS; the portal
    installs it through its own config (cqrs_portal.apps), so without this the server looked in STATIC_ROOT,
    which only `collectstatic` fills, and every browser test ran without the NHS.UK stylesheet and script."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from pytest_django.live_server_helper import LiveServer

    address = request.config.getvalue("liveserver") or os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS")
    server = LiveServer(address or "localhost", start=False)
    server.thread.static_handler = StaticFilesHandler
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(chromium, live_server):
    # axe-core is injected as a script of the test's own; the portal's Content-Security-Policy (no inline
    # script) would refuse it, so the test's browser lets its own injection through.
    context = chromium.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
