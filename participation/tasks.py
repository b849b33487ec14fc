from celery import shared_task
from django.utils import timezone

from . import actions


@shared_task(name="participation.expire_lapsed_offers", time_limit=15 * 60, soft_time_limit=14 * 60)
def expire_lapsed_offers() -> int:
    """Nightly: offers nobody answered by their response date expire. Returns how many did."""
    return len(actions.expire_lapsed_offers(today=timezone.localdate()))
