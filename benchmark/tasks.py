"""Celery interface of benchmark runs: take an id, call the service. Routed to the gpu queue.

``acks_late`` + ``reject_on_worker_lost``: the message is acknowledged only when the task
returns, so a worker that dies mid-run (OOM, lost machine) leaves it to be delivered
again; the service makes the second delivery a clean new attempt (see
benchmark/services/execution.py). The soft limit fires first so the run is marked failed
with a message; the hard limit is the backstop.
"""

import socket

from celery import shared_task
from django.conf import settings

from benchmark.services.execution import run_execute
from benchmark.services.scoring import scoring_execute


@shared_task(
    name="benchmark.tasks.run_benchmark",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.BENCHMARK_TASK_TIME_LIMIT,
    soft_time_limit=max(settings.BENCHMARK_TASK_TIME_LIMIT - 60, 1),
)
def run_benchmark(self, run_id: int) -> str:
    hostname = self.request.hostname or socket.gethostname()
    return run_execute(run_id=run_id, hostname=hostname, task_id=self.request.id)


@shared_task(
    name="benchmark.tasks.score_images",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.BENCHMARK_TASK_TIME_LIMIT,
    soft_time_limit=max(settings.BENCHMARK_TASK_TIME_LIMIT - 60, 1),
)
def score_images(job_id: int) -> str:
    """Score a job's images with its run's checkpoint (see benchmark/services/scoring.py)."""
    return scoring_execute(job_id=job_id)
