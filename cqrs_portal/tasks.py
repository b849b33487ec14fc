from celery import shared_task


@shared_task(name="cqrs_portal.ping")
def ping() -> str:
    """Answered by any live worker; used by health checks and by CI to prove a real worker runs tasks."""
    return "pong"
