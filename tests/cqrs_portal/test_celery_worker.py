import pytest
from celery.result import allow_join_result

from cqrs_portal.tasks import ping


@pytest.mark.redis
def test_a_real_worker_executes_tasks_from_redis(celery_worker_queue):
    result = ping.apply_async(queue=celery_worker_queue)
    # Waiting on a result is refused once anything in this test process has booted worker machinery (the
    # flag is process-wide); this test is the client of a worker in another process, so it may wait.
    with allow_join_result():
        assert result.get(timeout=30) == "pong"
    assert result.successful()
