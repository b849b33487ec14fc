from celery import shared_task
from celery.signals import worker_ready

from . import housekeeping


@shared_task(name="cqrs_portal.ping")
def ping() -> str:
    """Answered by any live worker; used by health checks and by CI to prove a real worker runs tasks."""
    return "pong"


@shared_task(name="cqrs_portal.tidy_up", time_limit=10 * 60, soft_time_limit=9 * 60)
def tidy_up() -> dict[str, int]:
    """Hourly: scratch files and uploads that crashed requests or tasks left behind."""
    return housekeeping.tidy_up()


@worker_ready.connect
def tidy_up_when_a_worker_starts(**kwargs) -> None:
    housekeeping.tidy_up()
