"""Removing what crashed requests and tasks leave behind: scratch upload files and orphaned uploads.

Run when a web server or worker starts and every hour by beat. Only files older than STALE_FILE_SECONDS are
touched, so a request or task still writing one is never disturbed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings

from extracts.actions import remove_stale_uploads

logger = logging.getLogger(__name__)


def remove_stale_scratch_files(*, directory: Path | None = None, older_than: int | None = None) -> list[Path]:
    """Delete files in the upload scratch directory older than `older_than` seconds."""
    directory = Path(directory or settings.FILE_UPLOAD_TEMP_DIR)
    cutoff = time.time() - (settings.STALE_FILE_SECONDS if older_than is None else older_than)
    removed = []
    for path in directory.glob("*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue  # another process removed it first
    return removed


def tidy_up() -> dict[str, int]:
    scratch = remove_stale_scratch_files()
    uploads = remove_stale_uploads(older_than=settings.STALE_FILE_SECONDS)
    if scratch or uploads:
        logger.info("removed %s stale scratch files and %s stale uploads", len(scratch), uploads)
    return {"scratch_files": len(scratch), "uploads": uploads}
