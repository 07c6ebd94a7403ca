"""Queueing a job's Celery task once the transaction that created the job has committed.

Every job kind (imports, analysis runs and freezes, dataset packages, benchmark runs,
scoring) is sent by :func:`enqueue_on_commit` under one of the task names below, the
names users and worker routes see (``benchmark.tasks.*`` goes to the gpu queue). The task
is looked up by name in the Celery app at send time, so services never import task
modules (which import the services) and ``CELERY_TASK_ALWAYS_EAGER`` still runs it here.

A job whose task can never run must not wait for ever in "queued": each job kind
registers, with :func:`failure_handler`, how its row is marked failed with a reason, and
that is called when the broker refuses the message (the job row is committed by then) and
when the worker process running a task that is not redelivered dies (OOM, ``kill -9``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import current_app
from celery.app.task import Task
from celery.signals import task_failure
from django.db import transaction
from kombu.exceptions import OperationalError

IMPORT_JOB = "annotation.import_job_run"
ANALYSIS_RUN = "annotation.analysis_run"
RELEASE_PACKAGE = "annotation.release_package"
BENCHMARK_RUN = "benchmark.tasks.run_benchmark"
SCORING_JOB = "benchmark.tasks.score_images"
JOB_TASKS = frozenset({IMPORT_JOB, ANALYSIS_RUN, RELEASE_PACKAGE, BENCHMARK_RUN, SCORING_JOB})

log = logging.getLogger(__name__)

# task name -> handler(job id, reason): marks that job failed unless it already ended.
FailureHandler = Callable[[int, str], None]
_failure_handlers: dict[str, FailureHandler] = {}


def failure_handler(task_name: str) -> Callable[[FailureHandler], FailureHandler]:
    """Register how a job of ``task_name`` is marked failed with a reason (a decorator)."""
    if task_name not in JOB_TASKS:
        raise ValueError(f"{task_name!r} is not a job task (core.jobs.JOB_TASKS).")

    def register(handler: FailureHandler) -> FailureHandler:
        _failure_handlers[task_name] = handler
        return handler

    return register


def enqueue_on_commit(
    task_name: str, *args: Any, task_id: str | None = None, **kwargs: Any
) -> None:
    """Send task ``task_name`` with these arguments when the current transaction commits
    (never for a rolled-back one); ``task_id``: the id stored on the job's row, if any.

    The first argument is the job's id. If the broker cannot be reached the job is marked
    failed with that reason (see `failure_handler`), so it never waits unseen."""
    if task_name not in JOB_TASKS:
        raise ValueError(f"{task_name!r} is not a job task (core.jobs.JOB_TASKS).")
    transaction.on_commit(partial(_send, task_name, list(args), kwargs, task_id))


def registered_task(task_name: str) -> Task:
    """The app's task of that name, importing the apps' task modules first if need be
    (a web process has not necessarily imported them)."""
    if task_name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[task_name]


def job_fail(task_name: str, job_id: int, reason: str) -> None:
    """Mark the job failed with ``reason`` through its kind's registered handler."""
    handler = _failure_handlers.get(task_name)
    if handler is None:
        log.error("job %s of %s failed (%s), and no handler records it", job_id, task_name, reason)
        return
    handler(job_id, reason)


def _send(task_name: str, args: list, kwargs: dict, task_id: str | None) -> None:
    try:
        registered_task(task_name).apply_async(args=args, kwargs=kwargs or None, task_id=task_id)
    except (OperationalError, OSError) as exc:
        # Celery has already retried the publish; the job row is committed, so say why.
        log.error("could not queue %s for job %s: %s", task_name, args[:1], exc)
        if args:
            job_fail(
                task_name,
                args[0],
                "Not started: the task queue could not be reached "
                f"({type(exc).__name__}: {exc}). Nothing ran; start it again once the "
                "queue is back.",
            )


@task_failure.connect
def _worker_lost(
    sender: Task | None = None, exception: BaseException | None = None, args: Any = None, **_: Any
) -> None:
    """A task's worker process died: the task is not run again (no reject_on_worker_lost),
    so its job is marked failed instead of showing "running" for ever."""
    if not isinstance(exception, WorkerLostError) or sender is None:
        return
    if sender.name not in JOB_TASKS or getattr(sender, "reject_on_worker_lost", False):
        return
    if args:
        job_fail(
            sender.name,
            args[0],
            "Stopped: the worker process running this job died "
            f"({exception}). Nothing half-written is shown; start it again.",
        )
