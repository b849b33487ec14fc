"""`make serve`, run the documented way with production settings, serves the portal with gunicorn and its own
static files, and a person can sign in through it."""

import http.client
import os
import re
import signal
import socket
import subprocess
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from django.conf import global_settings
from django.db import connection

from tests.conftest import REPO
from tests.factories import PASSWORD, build_organisation_tree, user_with_roles

pytestmark = [pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """Just enough of a browser over plain HTTP: cookies kept by hand, since the production cookies are
    Secure and the TLS proxy in front of the server is stood in for by X-Forwarded-Proto."""

    def __init__(self, port: int):
        self.port, self.cookies = port, SimpleCookie()

    def request(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ) -> http.client.HTTPResponse:
        connection_ = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{key}={morsel.value}" for key, morsel in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = "https://127.0.0.1/sign-in/"
        connection_.request(method, path, body=data, headers=headers)
        response = connection_.getresponse()
        response.text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        return response


@pytest.fixture
def served(postgresql):
    yield from _serve()


@pytest.fixture
def served_behind_a_proxy(postgresql):
    """The portal for the NHS network only (10.0.0.0/8 here), behind a proxy at 127.0.0.1."""
    yield from _serve(ALLOWED_NETWORKS="10.0.0.0/8", TRUSTED_PROXIES="127.0.0.1/32")


def _serve(**extra):
    database = connection.settings_dict
    port = free_port()
    environment = {
        # As a person's shell has it: no DEBUG, and no DJANGO_SETTINGS_MODULE (pytest-django sets one).
        **{key: value for key, value in os.environ.items() if key not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}},
        "DEBUG": "false",
        "SECRET_KEY": "a-long-random-secret-for-the-serve-test-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": "https://127.0.0.1",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST'] or 'localhost'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "PORTAL_BASE_URL": "https://127.0.0.1",
        "SECURE_SSL_REDIRECT": "true",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        **extra,
    }
    server = subprocess.Popen(
        ["make", "--no-print-directory", "serve"],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode() if server.poll() is not None else ""
                    pytest.fail(f"make serve did not start (exit {server.poll()}):\n{output}")
                time.sleep(0.2)
        yield Browser(port)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def test_make_serve_runs_gunicorn_with_its_static_files_and_a_user_signs_in(served, settings):
    # The server hashes passwords as production does, not with the tests' fast hasher.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    tree = build_organisation_tree()
    user = user_with_roles(tree["A00001"], "view", full_name="Served Person")

    page = served.request("GET", "/sign-in/")
    assert page.status == 200 and page.headers["Server"].startswith("gunicorn")
    stylesheet = re.search(r'href="(/static/nhsuk/nhsuk-frontend\.min\.[0-9a-f]+\.css)"', page.text)
    assert stylesheet, "static files are not served under hashed, cacheable names"
    css = served.request("GET", stylesheet.group(1))
    assert css.status == 200 and "max-age=315360000" in css.headers["Cache-Control"]

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    signed_in = served.request(
        "POST", "/sign-in/", {"csrfmiddlewaretoken": token, "username": user.email, "password": PASSWORD}
    )
    assert signed_in.status == 302 and signed_in.headers["Location"] == "/"
    home = served.request("GET", "/")
    assert home.status == 200 and "Welcome, Served" in home.text

    # Without the proxy's X-Forwarded-Proto the request came over plain HTTP: it is sent to HTTPS.
    insecure = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    insecure.request("GET", "/sign-in/", headers={"Host": "127.0.0.1"})
    redirect = insecure.getresponse()
    assert redirect.status == 301 and redirect.headers["Location"].startswith("https://")


def test_behind_gunicorn_the_allow_list_checks_the_client_the_trusted_proxy_names(served_behind_a_proxy):
    def status(forwarded_for):
        served_behind_a_proxy.cookies.clear()
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
        return served_behind_a_proxy.request("GET", "/sign-in/", headers=headers).status

    assert status("10.1.2.3") == 200
    assert status("192.0.2.1") == 403
    # A client cannot slip an allowed address in front of its own: the proxy appends the real one.
    assert status("10.1.2.3, 192.0.2.1") == 403
    # The proxy itself, with no client named, is not a client on the NHS network.
    assert status(None) == 403
