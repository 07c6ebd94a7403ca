"""Cancel and retry: what an admin can do to a run (or a whole sweep) from its page."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services.events import run_event
from benchmark.services.results import sweep_finish_if_done, sweep_reopen
from core.jobs import BENCHMARK_RUN, enqueue_on_commit


def _who(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user is not None else "the system"


def run_is_orphaned(run: BenchmarkRun) -> bool:
    """A "running" run whose attempt started longer ago than the task's hard time limit.

    No task can still be running it: the limit kills it, and a lost worker's redelivery
    starts a new attempt with a new start time. It happens when the attempt's last write
    failed (the database was unreachable as it ended), so nothing will end it but us.
    """
    if run.status != BenchmarkRun.Status.RUNNING or run.started_at is None:
        return False
    # The margin covers the soft limit's clean-up and clocks a little apart.
    limit = timedelta(seconds=settings.BENCHMARK_TASK_TIME_LIMIT + 600)
    return timezone.now() - run.started_at > limit


def run_cancel(*, run: BenchmarkRun, by: AbstractBaseUser | None) -> BenchmarkRun:
    """A queued run ends now (its task will skip it); a running one stops at the next batch.

    The running task polls ``cancel_requested`` through ``should_stop``; it marks the run
    cancelled itself, so the state changes only once the training has really stopped. An
    orphaned run (see :func:`run_is_orphaned`) has no task to do that, so it ends now.
    """
    with transaction.atomic():
        run = BenchmarkRun.objects.select_for_update().get(pk=run.pk)
        if run.is_terminal:
            raise ValidationError(f"Run {run.pk} has already {run.status}.")
        orphaned = run_is_orphaned(run)
        if run.cancel_requested and not orphaned:
            return run
        run.cancel_requested = True
        fields = ["cancel_requested", "events"]
        if run.status == BenchmarkRun.Status.QUEUED or orphaned:
            run.status = BenchmarkRun.Status.CANCELLED
            run.finished_at = timezone.now()
            fields += ["status", "finished_at"]
            if orphaned:
                run_event(
                    run,
                    f"cancelled by {_who(by)}: its attempt started longer ago than the run "
                    "time limit, so no task is running it any more",
                )
            else:
                run_event(run, f"cancelled by {_who(by)} before it started")
        else:
            run_event(run, f"cancel requested by {_who(by)}; stopping at the next batch")
        run.save(update_fields=fields)
        if run.is_terminal:
            sweep_finish_if_done(sweep_id=run.sweep_id)
    return run


def sweep_cancel(*, sweep: BenchmarkSweep, by: AbstractBaseUser | None) -> int:
    """Cancel every run of the sweep that has not ended; return how many were asked."""
    count = 0
    for run in sweep.runs.exclude(status__in=BenchmarkRun.TERMINAL):
        try:
            run_cancel(run=run, by=by)
            count += 1
        except ValidationError:
            continue  # it ended between the query and the lock
    return count


def run_retry(*, run: BenchmarkRun, by: AbstractBaseUser | None) -> BenchmarkRun:
    """Queue a failed or cancelled run again from scratch (a new task, a new attempt)."""
    with transaction.atomic():
        run = BenchmarkRun.objects.select_for_update().get(pk=run.pk)
        if run.status not in (BenchmarkRun.Status.FAILED, BenchmarkRun.Status.CANCELLED):
            raise ValidationError(
                f"Only failed or cancelled runs can be retried; run {run.pk} is {run.status}."
            )
        previous = run.status
        run.status = BenchmarkRun.Status.QUEUED
        run.cancel_requested = False
        run.task_id = str(uuid.uuid4())
        run.progress, run.history, run.metrics, run.splits = {}, [], {}, []
        run.checkpoint_path = run.predictions_path = ""
        run.error = run.traceback = ""
        run.started_at = run.finished_at = run.heartbeat_at = None
        run_event(run, f"retried by {_who(by)} after it {previous}")
        run.save()
        sweep_reopen(sweep_id=run.sweep_id)
        enqueue_on_commit(BENCHMARK_RUN, run.pk, task_id=run.task_id)
    return run
