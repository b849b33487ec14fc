from celery import shared_task
from django.utils import timezone

from . import actions, selectors


@shared_task(name="payments.release_due", time_limit=15 * 60, soft_time_limit=14 * 60)
def release_due() -> str | None:
    """Every 15 minutes: pay newly approved year-end declarations their balance, and release this month's
    batch once its cut-off has passed. Returns the batch's reference."""
    actions.pay_approved_declarations()
    cutoff = selectors.due_cutoff(timezone.now())
    if cutoff is None:
        return None
    batch, _ = actions.release(cutoff=cutoff, by=None)
    return batch.reference
