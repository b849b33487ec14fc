import pytest

from cqrs_portal.tasks import ping


@pytest.mark.redis
def test_a_real_worker_executes_tasks_from_redis(celery_worker_queue):
    result = ping.apply_async(queue=celery_worker_queue)
    assert result.get(timeout=30) == "pong"
    assert result.successful()
