"""What crashed requests and tasks leave behind is removed at start-up and hourly."""

import datetime as dt
import os
import time

from django.core.files.uploadedfile import SimpleUploadedFile

from cqrs_portal import housekeeping
from extracts import actions
from extracts.models import ExtractUpload
from tests.factories import user_with_roles


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_scratch_files_are_removed_and_fresh_ones_kept(tmp_path, settings):
    settings.STALE_FILE_SECONDS = 3600
    stale, fresh = tmp_path / "abc.upload", tmp_path / "def.upload"
    stale.write_bytes(b"x" * 1024)
    fresh.write_bytes(b"y")
    age(stale, 7200)
    assert housekeeping.remove_stale_scratch_files(directory=tmp_path) == [stale]
    assert not stale.exists() and fresh.exists()


def test_uploads_no_worker_finished_are_failed_and_orphaned_files_removed(tree, upload_storage, settings):
    support = user_with_roles(tree["ENG"], "support")
    waiting = actions.receive_upload(upload=SimpleUploadedFile("a.csv", b"QUALITY_SERVICE\r\n"), by=support)
    stuck = actions.receive_upload(upload=SimpleUploadedFile("b.csv", b"QUALITY_SERVICE\r\n"), by=support)
    ExtractUpload.objects.filter(pk=stuck.pk).update(uploaded_at=stuck.uploaded_at - dt.timedelta(days=1))
    age(upload_storage / stuck.stored_name, 86400)
    orphan = upload_storage / "20260101-000000-orphan.csv"  # stored, but its row never committed
    orphan.write_bytes(b"QUALITY_SERVICE\r\n")
    age(orphan, 86400)

    removed = actions.remove_stale_uploads(older_than=3600)

    stuck.refresh_from_db()
    assert stuck.status == ExtractUpload.Status.FAILED and "No worker" in stuck.error
    assert not (upload_storage / stuck.stored_name).exists() and not orphan.exists()
    assert (upload_storage / waiting.stored_name).exists() and removed == 1


def test_a_worker_starting_and_the_hourly_beat_tidy_up(settings):
    from cqrs_portal import tasks

    assert settings.CELERY_BEAT_SCHEDULE["cqrs-portal-tidy-up"]["task"] == tasks.tidy_up.name
    assert settings.FILE_UPLOAD_TEMP_DIR.is_dir()
