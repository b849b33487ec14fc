"""Issue 11 items 7 and 9: the client address behind trusted proxies, the idle timeout, the
Content-Security-Policy, no-store on signed-in pages and downloads, and no weak SECRET_KEY in production."""

import ipaddress
import time

import pytest
from django.test import RequestFactory
from django.urls import reverse

from accounts.client_address import client_address
from cqrs_portal.middleware import IDLE_KEY
from tests.cqrs_portal.test_settings import PRODUCTION_LIKE, manage
from tests.factories import user_with_roles


def networks(*cidrs):
    return [ipaddress.ip_network(cidr) for cidr in cidrs]


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "client"),
    [
        ((), "127.0.0.1", "10.1.2.3", "127.0.0.1"),  # no trusted proxies: the header is ignored
        (("127.0.0.1/32",), "127.0.0.1", "10.1.2.3", "10.1.2.3"),
        (("127.0.0.1/32",), "127.0.0.1", "10.1.2.3, 192.0.2.1", "192.0.2.1"),  # right-most untrusted
        (("127.0.0.1/32", "172.16.0.0/12"), "127.0.0.1", "10.1.2.3, 172.16.0.5", "10.1.2.3"),
        (("127.0.0.1/32",), "192.0.2.7", "10.1.2.3", "192.0.2.7"),  # not from the proxy: ignored
        (("127.0.0.1/32",), "127.0.0.1", "not-an-address", ""),
    ],
)
def test_the_client_is_the_right_most_address_not_a_trusted_proxy(
    settings, trusted, remote, forwarded, client
):
    settings.TRUSTED_PROXIES = networks(*trusted)
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client


def test_the_allow_list_checks_the_client_behind_a_trusted_proxy(client, settings):
    settings.ALLOWED_NETWORKS = networks("10.0.0.0/8")
    assert client.get("/sign-in/", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403
    settings.TRUSTED_PROXIES = networks("127.0.0.1/32")
    assert client.get("/sign-in/", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200
    assert client.get("/sign-in/", HTTP_X_FORWARDED_FOR="10.1.2.3, 8.8.8.8").status_code == 403


def test_an_idle_session_ends_after_the_timeout(client, tree, settings):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    client.force_login(user_with_roles(tree["A00001"], "view"))
    assert client.get(reverse("home:index")).status_code == 200
    session = client.session
    session[IDLE_KEY] = int(time.time()) - 29 * 60
    session.save()
    assert client.get(reverse("home:index")).status_code == 200  # active within the half hour
    session = client.session
    session[IDLE_KEY] = int(time.time()) - 31 * 60
    session.save()
    response = client.get(reverse("home:index"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert client.get(reverse("home:index")).status_code == 302


def test_pages_carry_a_content_security_policy_without_inline_script(client, tree):
    client.force_login(user_with_roles(tree["A00001"], "view"))
    response = client.get(reverse("home:index"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in response.content.decode()


def test_signed_in_pages_and_downloads_are_not_stored(client, tree):
    assert "no-store" not in client.get(reverse("accessibility")).get("Cache-Control", "")
    client.force_login(user_with_roles(tree["01A"], "view"))
    assert client.get(reverse("home:index"))["Cache-Control"] == "no-store"
    download = client.get(reverse("home:practice_list"), {"_export": "csv"})
    assert "attachment" in download["Content-Disposition"] and download["Cache-Control"] == "no-store"


@pytest.mark.parametrize("key", ["django-insecure-" + "x1y2z3" * 10, "short-but-random-9f8e7d", "a" * 60])
def test_production_refuses_a_weak_secret_key(key):
    result = manage("check", **{**PRODUCTION_LIKE, "SECRET_KEY": key})
    assert result.returncode != 0 and "SECRET_KEY is too weak" in result.stderr
