import os
import subprocess
import sys

import pytest
from django.test import override_settings

from tests.conftest import REPO
from tests.factories import user_with_roles

PRODUCTION_LIKE = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "cqrs.example.nhs.uk",
    "DATABASE_URL": "postgres://cqrs@db.internal:5432/cqrs",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "PORTAL_BASE_URL": "https://cqrs.example.nhs.uk",
}


def manage(*arguments, **environment):
    # The browser tests' async-safety opt-out must not leak into a deployment check.
    inherited = set(PRODUCTION_LIKE) | {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG"}
    clean = {key: value for key, value in os.environ.items() if key not in inherited}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_checks_pass_with_production_like_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_LIKE)
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "PORTAL_BASE_URL"]
)
def test_production_refuses_to_start_without_each_required_setting(missing):
    environment = {key: value for key, value in PRODUCTION_LIKE.items() if key != missing}
    result = manage("check", **environment)
    assert result.returncode != 0
    assert f"{missing} is not set. With DEBUG off the portal needs" in result.stderr


def test_debug_is_off_unless_asked_for_so_nothing_falls_back_silently():
    environment = {k: v for k, v in PRODUCTION_LIKE.items() if k not in {"DEBUG", "DATABASE_URL"}}
    result = manage("check", **environment)
    assert result.returncode != 0 and "DATABASE_URL is not set" in result.stderr


def test_production_refuses_the_published_development_key():
    from cqrs_portal.settings import DEVELOPMENT_SECRET_KEY

    result = manage("check", **{**PRODUCTION_LIKE, "SECRET_KEY": DEVELOPMENT_SECRET_KEY})
    assert result.returncode != 0 and "published development key" in result.stderr


def test_embedded_mode_needs_no_other_variables():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER)",
        DEBUG="true",
        DATABASE_URL="",
        REDIS_URL="",
    )
    assert result.stdout.splitlines()[-1].split() == ["django.db.backends.sqlite3", "True"], result.stderr


@pytest.mark.parametrize(
    ("address", "status"), [("192.168.10.20", 302), ("10.1.2.3", 403), ("not-an-ip", 403)]
)
def test_network_allow_list_refuses_other_addresses(client, address, status):
    import ipaddress

    with override_settings(ALLOWED_NETWORKS=[ipaddress.ip_network("192.168.0.0/16")]):
        assert client.get("/", REMOTE_ADDR=address).status_code == status


def test_network_allow_list_is_off_by_default(client, settings):
    assert settings.ALLOWED_NETWORKS == []
    assert client.get("/", REMOTE_ADDR="203.0.113.9").status_code == 302


def test_csrf_is_enforced_on_sign_in(tree):
    from django.test import Client

    user_with_roles(tree["A00001"], "view")
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/sign-in/", {"username": "x@nhs.net", "password": "y"}).status_code == 403
