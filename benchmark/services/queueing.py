"""Putting runs on the gpu queue, once the transaction that created them has committed.

The only service module that names the Celery task; it imports it at call time, so the
task module (which calls the execution service) and the services load in either order.
"""

from functools import partial

from django.db import transaction

from benchmark.models import BenchmarkRun


def run_enqueue(*, run_id: int, task_id: str) -> None:
    """Send one run's task now, under the task id stored on its row."""
    from benchmark.tasks import run_benchmark

    run_benchmark.apply_async(args=[run_id], task_id=task_id)


def enqueue_on_commit(runs: list[BenchmarkRun]) -> None:
    """Queue each run when the current transaction commits (never for a rolled-back one)."""
    for run in runs:
        transaction.on_commit(partial(run_enqueue, run_id=run.pk, task_id=run.task_id))
