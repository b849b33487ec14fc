from celery import shared_task
from django.utils import timezone

from . import actions
from .models import ServiceYear


@shared_task(name="participation.expire_lapsed_offers", time_limit=15 * 60, soft_time_limit=14 * 60)
def expire_lapsed_offers() -> int:
    """Nightly: offers nobody answered by their response date expire. Returns how many did."""
    return len(actions.expire_lapsed_offers(today=timezone.localdate(), by=None))


@shared_task(name="participation.record_automatic_participation", time_limit=15 * 60, soft_time_limit=14 * 60)
def record_automatic_participation() -> int:
    """Nightly: practices opened since a year with automatic participation began take part in it too."""
    years = ServiceYear.objects.filter(automatic_participation=True, end_date__gte=timezone.localdate())
    return sum(len(actions.record_automatic_participation(service_year=year, by=None)) for year in years)
