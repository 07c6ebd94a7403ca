"""Queueing a job's Celery task once the transaction that created the job has committed.

Every job kind (imports, analysis runs and freezes, dataset packages, benchmark runs,
scoring) is sent by :func:`enqueue_on_commit` under one of the task names below, the
names users and worker routes see (``benchmark.tasks.*`` goes to the gpu queue). The task
is looked up by name in the Celery app at send time, so services never import task
modules (which import the services) and ``CELERY_TASK_ALWAYS_EAGER`` still runs it here.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import current_app
from celery.app.task import Task
from django.db import transaction

IMPORT_JOB = "annotation.import_job_run"
ANALYSIS_RUN = "annotation.analysis_run"
RELEASE_PACKAGE = "annotation.release_package"
BENCHMARK_RUN = "benchmark.tasks.run_benchmark"
SCORING_JOB = "benchmark.tasks.score_images"
JOB_TASKS = frozenset({IMPORT_JOB, ANALYSIS_RUN, RELEASE_PACKAGE, BENCHMARK_RUN, SCORING_JOB})


def enqueue_on_commit(
    task_name: str, *args: Any, task_id: str | None = None, **kwargs: Any
) -> None:
    """Send task ``task_name`` with these arguments when the current transaction commits
    (never for a rolled-back one); ``task_id``: the id stored on the job's row, if any."""
    if task_name not in JOB_TASKS:
        raise ValueError(f"{task_name!r} is not a job task (core.jobs.JOB_TASKS).")
    transaction.on_commit(partial(_send, task_name, list(args), kwargs, task_id))


def registered_task(task_name: str) -> Task:
    """The app's task of that name, importing the apps' task modules first if need be
    (a web process has not necessarily imported them)."""
    if task_name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[task_name]


def _send(task_name: str, args: list, kwargs: dict, task_id: str | None) -> None:
    registered_task(task_name).apply_async(args=args, kwargs=kwargs or None, task_id=task_id)
