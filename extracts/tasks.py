"""Loading an uploaded extract in the background: the upload's id in, the action called."""

import logging

from celery import shared_task
from django.db import transaction

from . import actions

logger = logging.getLogger(__name__)


@shared_task(name="extracts.load_upload", time_limit=30 * 60, soft_time_limit=29 * 60)
def load_extract_upload(upload_id: int) -> str:
    try:
        return actions.load_upload(upload_id=upload_id).status
    except Exception as error:
        logger.exception("extract upload %s failed", upload_id)
        actions.fail_upload(
            upload_id=upload_id, error=f"The load stopped unexpectedly ({type(error).__name__})."
        )
        raise


def load_after_commit(upload) -> None:
    transaction.on_commit(lambda: load_extract_upload.delay(upload.pk))
