"""Celery wiring: routing to the gpu queue, and a real worker consuming from real Redis."""

import os
import subprocess

import pytest
from celery import Celery

from study_site.celery import app
from study_site.tests.helpers import REPO, child_env
from study_site.worker import worker_argv


def test_training_tasks_are_routed_to_the_gpu_queue_and_others_to_default():
    router = app.amqp.router
    assert router.route({}, "benchmark.tasks.run_benchmark")["queue"].name == "gpu"
    assert router.route({}, "study_site.ping")["queue"].name == "default"


def test_only_json_is_accepted_and_there_is_no_global_time_limit():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.task_time_limit is None
    assert app.conf.worker_prefetch_multiplier == 1


@pytest.mark.redis
@pytest.mark.slow
def test_a_task_sent_through_redis_is_executed_by_a_worker_process(redis_url, tmp_path):
    worker = subprocess.Popen(
        worker_argv(hostname=f"test-{os.getpid()}@%h"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(
            DEBUG="1",
            VAR_DIR=str(tmp_path),
            CELERY_BROKER_URL=redis_url,
            CELERY_RESULT_BACKEND=redis_url,
        ),
    )
    client = Celery("test-client", broker=redis_url, backend=redis_url, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    try:
        result = client.send_task(
            "study_site.ping", args=[f"hello from {os.getpid()}"], queue="default"
        )
        assert result.get(timeout=90) == f"hello from {os.getpid()}"
    finally:
        worker.terminate()
        log, _ = worker.communicate(timeout=30)
    assert "study_site.ping" in log
    assert "succeeded" in log
