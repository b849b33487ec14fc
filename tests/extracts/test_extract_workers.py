"""An extract uploaded through the page is loaded by a real Celery worker, not in the request."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from extracts.models import Extract, ExtractUpload
from tests.extracts.helpers import HEADER, load_rulesets, participate, practice_rows
from tests.factories import build_organisation_tree, user_with_roles

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_the_upload_request_returns_at_once_and_a_worker_loads_the_file(
    client, workers_on_test_database, upload_storage, monkeypatch
):
    # The worker is another process: it finds the uploaded file where this one put it.
    monkeypatch.setitem(workers_on_test_database.environment, "EXTRACT_UPLOAD_ROOT", str(upload_storage))
    tree = build_organisation_tree()
    year = load_rulesets()
    participate(["A00001"], year)
    client.force_login(user_with_roles(tree["ENG"], "support"))
    workers_on_test_database.start()

    upload = SimpleUploadedFile("national.csv", "\r\n".join([HEADER, *practice_rows("A00001"), ""]).encode())
    started = time.monotonic()
    response = client.post(reverse("extracts:extract_upload"), {"file": upload})
    assert response.status_code == 302 and time.monotonic() - started < 5

    received = ExtractUpload.objects.get()
    deadline = time.monotonic() + 60
    while not received.is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
        received.refresh_from_db()
    assert received.status == ExtractUpload.Status.LOADED, received.error or received.problems
    assert received.extract == Extract.objects.get() and received.extract.row_count == 7
    assert not (upload_storage / received.stored_name).exists()
    assert b"Loaded" in client.get(response.url).content
