"""What a worker does with one run: claim it, train it, record the outcome exactly once.

Delivery is at-least-once (``acks_late``; a dead worker's task is delivered again), so
the task must be idempotent on the run id:

* a run that already ended is left alone (a succeeded run is never trained again);
* every start is a new *attempt* (``attempts`` + 1, under a row lock). Only the latest
  attempt may write progress or results: an older one still alive somewhere (a broker
  that re-delivered a slow run) sees it was superseded at its next poll and stops;
* a start that finds the run already ``running`` means the previous attempt's worker was
  lost; the run says so and trains again from scratch, up to BENCHMARK_MAX_ATTEMPTS;
* the results, the status and the sweep's aggregation are written in one transaction.
"""

import logging
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from benchmark.models import BenchmarkRun
from benchmark.services.configs import (
    machine_config,
    media_relative,
    release_manifest_for_training,
    release_manifest_name,
)
from benchmark.services.events import run_event
from benchmark.services.results import sweep_finish_if_done
from common.jsonable import jsonable
from common.progress import Throttle, progress_fraction
from core.storage import media_publish, media_workdir, scratch_dir, storage_is_local

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 2.0


def _fresh_connection() -> None:
    """Hours pass between queries of a run: replace a connection past its max age.

    Not inside an atomic block (a test's transaction), where closing would lose it.
    """
    if not connection.in_atomic_block:
        close_old_connections()


@dataclass(frozen=True)
class Attempt:
    run_id: int
    number: int
    config: dict[str, Any]
    output_dir: Path
    output_name: str  # the stored folder of output_dir
    mos_name: str  # the stored name of the release's MOS CSV


def _claim(*, run_id: int, hostname: str, device: str, task_id: str | None) -> Attempt | None:
    with transaction.atomic():
        run = BenchmarkRun.objects.select_for_update().select_related("release").get(pk=run_id)
        if run.is_terminal:
            logger.info("run %s already %s; nothing to do", run_id, run.status)
            return None
        if task_id and run.task_id and task_id != run.task_id:
            # A message from before a retry (the retry queued a task of its own).
            logger.info("run %s: task %s is stale (current %s)", run_id, task_id, run.task_id)
            return None
        if run.cancel_requested:
            run.status, run.finished_at = BenchmarkRun.Status.CANCELLED, timezone.now()
            run_event(run, "cancelled before it started; skipped")
            run.save(update_fields=["status", "finished_at", "events"])
            sweep_finish_if_done(sweep_id=run.sweep_id)
            return None
        if run.status == BenchmarkRun.Status.RUNNING:
            epoch = run.progress.get("epoch", 0)
            run_event(
                run,
                f"re-queued after worker loss: attempt {run.attempts} on {run.worker_host or '?'} "
                f"stopped at epoch {epoch} of {run.progress.get('epochs', '?')}",
            )
            if run.attempts >= settings.BENCHMARK_MAX_ATTEMPTS:
                run.status, run.finished_at = BenchmarkRun.Status.FAILED, timezone.now()
                run.error = (
                    f"the worker was lost {run.attempts} times (BENCHMARK_MAX_ATTEMPTS); "
                    "not re-queued again. Check the workers' memory and logs, then retry."
                )
                run.save(update_fields=["status", "finished_at", "error", "events"])
                sweep_finish_if_done(sweep_id=run.sweep_id)
                return None
        run.attempts += 1
        run.status = BenchmarkRun.Status.RUNNING
        run.worker_host, run.device = hostname[:200], device[:100]
        run.started_at = run.heartbeat_at = timezone.now()
        run.progress, run.history = {}, []
        run.error = run.traceback = ""
        run.output_dir = f"benchmark/runs/{run.pk}/attempt-{run.attempts}"
        run.save()
        output_dir = media_workdir(run.output_dir)
        # The manifest whose images this machine opens is made after the claim, outside
        # the row lock (with media in a bucket it fetches the images): see _train.
        manifest_name = release_manifest_name(release=run.release)
        config = machine_config(
            base=run.config, manifest=Path(manifest_name), output_dir=output_dir
        )
        return Attempt(run.pk, run.attempts, config, output_dir, run.output_dir, manifest_name)


class AttemptReporter:
    """``progress`` / ``on_epoch_end`` / ``should_stop`` for train(): progress and history
    to the row, cancel from it.

    ``progress`` (the one progress type, :data:`common.progress.Progress`) only notes the
    phase and fraction done; ``on_epoch_end``, which train() calls right after it, writes
    them with the epoch's figures in one update, so the row is written once per epoch.
    What it adds to the other jobs' throttled progress is the attempt's bookkeeping: only
    the latest attempt writes, and cancel, supersession and the time limit stop it.
    """

    def __init__(self, attempt: Attempt, poll_seconds: float | None = None) -> None:
        self.attempt = attempt
        self._poll = Throttle(CANCEL_POLL_SECONDS if poll_seconds is None else poll_seconds)
        self.history: list[dict[str, Any]] = []
        self.superseded = False
        self.cancelled = False
        self.timed_out = False
        # Celery enforces time limits only in prefork children; the GPU worker runs
        # `--pool solo` (so that it may start loader workers), so the run keeps its own.
        # Like the soft limit, a minute before the hard one.
        self._deadline = time.monotonic() + settings.BENCHMARK_TASK_TIME_LIMIT - 60
        self._phase: dict[str, Any] = {}

    def _mine(self):
        return BenchmarkRun.objects.filter(
            pk=self.attempt.run_id,
            attempts=self.attempt.number,
            status=BenchmarkRun.Status.RUNNING,
        )

    def progress(self, phase: str, done: float, total: float) -> None:
        self._phase = {"phase": phase, "fraction": round(progress_fraction(done, total), 4)}

    def on_epoch_end(self, report) -> None:
        entry = jsonable(
            {
                "split": report.split,
                "split_index": report.repeat,
                "epoch": report.epoch,
                "train_loss": report.train_loss,
                "val_srcc": report.val_srcc,
                "val_plcc": report.val_plcc,
                "lr": report.lr,
                "seconds": round(report.seconds, 3),
                "is_best": report.is_best,
            }
        )
        self.history.append(entry)
        progress = {
            "split": report.repeat + 1,
            "splits": report.repeats,
            "epoch": report.epoch,
            "epochs": report.epochs,
            "train_loss": entry["train_loss"],
            "val_srcc": entry["val_srcc"],
            **self._phase,
        }
        _fresh_connection()
        updated = self._mine().update(
            progress=progress, history=self.history, heartbeat_at=timezone.now()
        )
        if not updated:
            self.superseded = True

    def should_stop(self) -> bool:
        """Polled before every batch; asks the database at most every ``poll_seconds``
        (the shared :class:`~common.progress.Throttle`)."""
        if self.superseded or self.cancelled or self.timed_out:
            return True
        if time.monotonic() >= self._deadline:
            self.timed_out = True
            return True
        if not self._poll.due():
            return False
        _fresh_connection()
        row = (
            BenchmarkRun.objects.filter(pk=self.attempt.run_id)
            .values("attempts", "status", "cancel_requested")
            .first()
        )
        if row is None or row["attempts"] != self.attempt.number or row["status"] != "running":
            self.superseded = True
        elif row["cancel_requested"]:
            self.cancelled = True
        return self.superseded or self.cancelled


def _finish(*, attempt: Attempt, status: str, event: str = "", **fields: Any) -> bool:
    """Write the outcome (and ``event``) if this attempt still owns the run; False
    (nothing written) if not."""
    _fresh_connection()
    with transaction.atomic():
        run = BenchmarkRun.objects.select_for_update().get(pk=attempt.run_id)
        if run.attempts != attempt.number or run.status != BenchmarkRun.Status.RUNNING:
            logger.warning("run %s attempt %s was superseded", run.pk, attempt.number)
            return False
        run.status = status
        run.finished_at = timezone.now()
        for name, value in fields.items():
            setattr(run, name, value)
        if event:
            run_event(run, event)
        if status == BenchmarkRun.Status.CANCELLED:
            run_event(run, "cancelled while running; stopped")
        run.save()
        sweep_finish_if_done(sweep_id=run.sweep_id)
    return True


def _combined_predictions(result, output_dir: Path) -> Path:
    """One test-predictions CSV for the run (k-fold runs have one file per fold)."""
    frames = []
    for repeat in result.repeats:
        frame = pd.read_csv(repeat.predictions["test"])
        frame.insert(0, "split", repeat.split)
        frames.append(frame)
    path = output_dir / "predictions_test.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False, float_format="%.6g")
    return path


def _result_fields(result, reporter: AttemptReporter, output_dir: Path) -> dict[str, Any]:
    metrics = {
        part: {
            column: {name: stats["median"] for name, stats in by_metric.items()}
            for column, by_metric in by_column.items()
        }
        for part, by_column in result.aggregate.items()
    }
    splits = [
        {
            "name": r.split,
            "best_epoch": r.best_epoch,
            "best_val_srcc": r.best_val_srcc,
            "metrics": r.metrics,
            "notes": r.notes,
            "checkpoint": media_relative(r.checkpoint),
            "predictions": {part: media_relative(p) for part, p in r.predictions.items()},
        }
        for r in result.repeats
    ]
    return {
        "metrics": jsonable(metrics),
        "splits": jsonable(splits),
        "history": reporter.history,
        "checkpoint_path": splits[0]["checkpoint"] if splits else "",
        "predictions_path": media_relative(_combined_predictions(result, output_dir)),
    }


def device_label(name: str) -> str:
    """What the run trains on, as shown on its page: the CUDA card's name or 'cpu'."""
    try:
        import torch

        if name == "cpu" or not torch.cuda.is_available():
            return "cpu"
        index = int(name.split(":")[1]) if name.startswith("cuda:") else 0
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    except Exception as exc:  # a broken driver: train() then fails the run with the reason
        return f"{name} (unavailable: {exc})"[:100]


def _release_device_memory() -> None:
    """A solo-pool worker keeps its process between runs: hand the card's cached memory
    (the last run's model and resident images, now freed) back to the driver."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def time_limit_message() -> str:
    return f"time limit of {settings.BENCHMARK_TASK_TIME_LIMIT} s exceeded"


def data_event(data: dict[str, Any]) -> str:
    """How the run's batches were fed, for its event log (``TrainResult.data``)."""
    megabytes = data.get("bytes", 0) / 1e6
    return (
        f"data path {data.get('path', '?')}, {data.get('loader_workers', 0)} loader workers, "
        f"{megabytes:.1f} MB of packed images"
    )


def _train(attempt: Attempt, reporter: AttemptReporter):
    """Train the attempt on images this machine can open (core.storage); the manifest made
    for it is removed afterwards, the images stay in the media cache for the next run."""
    from benchmark.training import train

    scratch = scratch_dir("run-manifest-")
    try:
        manifest = release_manifest_for_training(mos_name=attempt.mos_name, dest=scratch)
        return train(
            {**attempt.config, "manifest": str(manifest)},
            on_epoch_end=reporter.on_epoch_end,
            should_stop=reporter.should_stop,
            progress=reporter.progress,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _release_device_memory()


def _discard_outputs(attempt: Attempt) -> None:
    """With media in a bucket, an attempt that did not succeed leaves nothing behind."""
    if not storage_is_local():
        shutil.rmtree(attempt.output_dir, ignore_errors=True)


def _record(attempt: Attempt, reporter: AttemptReporter, result) -> None:
    """The outcome of a train() that returned: cancelled, timed out or succeeded (its
    checkpoints and predictions stored in media before the row points at them)."""
    event = data_event(result.data)
    if reporter.timed_out:
        _discard_outputs(attempt)
        _finish(
            attempt=attempt,
            status=BenchmarkRun.Status.FAILED,
            event=event,
            error=time_limit_message(),
            history=reporter.history,
        )
    elif result.stopped:
        _discard_outputs(attempt)
        _finish(
            attempt=attempt,
            status=BenchmarkRun.Status.CANCELLED,
            event=event,
            history=reporter.history,
        )
    else:
        fields = _result_fields(result, reporter, attempt.output_dir)
        media_publish(attempt.output_name)
        _finish(attempt=attempt, status=BenchmarkRun.Status.SUCCEEDED, event=event, **fields)


def run_execute(*, run_id: int, hostname: str, task_id: str | None = None) -> str:
    """The task body: claim the run, train it, record the outcome; return its status.

    ``task_id`` (the Celery task's id) lets a message left over from before a retry be
    told apart from a re-delivery of the current task, which keeps its id.
    """
    device = device_label(settings.BENCHMARK_DEVICE)
    attempt = _claim(run_id=run_id, hostname=hostname, device=device, task_id=task_id)
    if attempt is None:
        return BenchmarkRun.objects.values_list("status", flat=True).get(pk=run_id)
    reporter = AttemptReporter(attempt)
    try:
        result = _train(attempt, reporter)
    except Exception as exc:  # every failure is shown on the run's page, not lost in a log
        known = isinstance(exc, ValueError)  # TrainingInputError and ConfigError among them
        message = str(exc) if known else f"{type(exc).__name__}: {exc}"
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            message = time_limit_message()
        logger.exception("run %s attempt %s failed", run_id, attempt.number)
        _discard_outputs(attempt)
        _finish(
            attempt=attempt,
            status=BenchmarkRun.Status.FAILED,
            error=message,
            traceback=traceback.format_exc(),
            history=reporter.history,
        )
    else:
        if reporter.superseded:
            _discard_outputs(attempt)
            return "superseded"
        _record(attempt, reporter, result)
    return BenchmarkRun.objects.values_list("status", flat=True).get(pk=run_id)
