"""The task body run in-process on tiny real releases: results, idempotency, worker loss,
cancel, failure and retry. Each training is resnet18 at 32 px for one or two epochs."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from django.conf import settings

from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services import (
    SweepSpec,
    execution,
    run_cancel,
    run_execute,
    run_retry,
    sweep_launch,
)
from benchmark.tasks import run_benchmark
from benchmark.tests.factories import BenchmarkRunFactory, LabelReleaseFactory

pytestmark = pytest.mark.django_db

TINY = {"epochs": 2, "batch_size": 4, "lr": 1e-3, "image_size": 32, "weights": "none"}
SPLIT = {"protocol": "random", "val_fraction": 0.2, "test_fraction": 0.25}


def _launch(django_capture_on_commit_callbacks, **spec) -> BenchmarkSweep:
    release = spec.pop("release", None) or LabelReleaseFactory()
    values = {"models": ("nr",), "backbones": ("resnet18",), "split": SPLIT, "hyper": TINY}
    values.update(spec)
    with django_capture_on_commit_callbacks(execute=False):
        return sweep_launch(spec=SweepSpec(release=release, **values), created_by=None)


def _media(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def _at_each_epoch(monkeypatch, hook) -> None:
    """Call ``hook(report, record)`` at each epoch's end, ``record()`` being the real
    progress write; the cancel / superseded poll then runs before every batch."""
    monkeypatch.setattr(execution, "CANCEL_POLL_SECONDS", 0)
    original = execution.AttemptReporter.on_epoch_end

    def on_epoch_end(self, report):
        hook(report, lambda: original(self, report))

    monkeypatch.setattr(execution.AttemptReporter, "on_epoch_end", on_epoch_end)


def test_a_run_trains_and_records_metrics_history_files_worker_and_device(
    django_capture_on_commit_callbacks,
):
    sweep = _launch(django_capture_on_commit_callbacks, score_columns=("mos_quality",))
    run = sweep.runs.get()
    assert run_benchmark.apply(args=[run.pk], task_id=run.task_id).get() == "succeeded"
    run.refresh_from_db()
    assert run.status == BenchmarkRun.Status.SUCCEEDED and run.attempts == 1
    assert [h["epoch"] for h in run.history] == [1, 2]
    assert run.progress["epoch"] == 2 and run.progress["epochs"] == 2
    assert run.progress["fraction"] == 1.0 and run.progress["phase"].endswith("epoch 2 of 2")
    test = run.metrics["test"]["mos_quality"]
    assert set(test) >= {"srcc", "krcc", "plcc", "plcc_logistic", "rmse", "rmse_logistic"}
    assert -1 <= test["srcc"] <= 1 and test["rmse"] > 0
    assert run.device == "cpu" and run.worker_host
    assert run.started_at <= run.finished_at
    # A tiny CPU run fits in memory: its images are resident, no loader workers needed.
    data = [e["event"] for e in run.events if e["event"].startswith("data path")]
    assert len(data) == 1 and data[0].startswith("data path resident, 0 loader workers")
    predictions = pd.read_csv(_media(run.predictions_path))
    assert list(predictions.columns[:2]) == ["split", "stimulus_id"]
    assert {"mos_quality", "pred_mos_quality"} <= set(predictions.columns)
    checkpoint = torch.load(_media(run.checkpoint_path), map_location="cpu", weights_only=False)
    assert checkpoint["config"]["backbone"] == "resnet18"
    assert checkpoint["epoch"] == run.splits[0]["best_epoch"]
    # The last run to end aggregates the sweep.
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.FINISHED and sweep.finished_at
    cell = sweep.results["rows"][0]["cells"]["mos_quality"]
    assert cell["srcc"] == pytest.approx(test["srcc"]) and cell["n"] == 1


def test_the_sweep_table_is_the_median_over_repeats_and_waits_for_the_last_run(
    django_capture_on_commit_callbacks,
):
    sweep = _launch(django_capture_on_commit_callbacks, repeats=3, hyper={**TINY, "epochs": 1})
    runs = list(sweep.runs.order_by("repeat"))
    for run in runs[:2]:
        run_execute(run_id=run.pk, hostname="w1")
        sweep.refresh_from_db()
        assert sweep.status == BenchmarkSweep.Status.RUNNING and sweep.results == {}
    run_execute(run_id=runs[2].pk, hostname="w1")
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.FINISHED
    srccs = sorted(
        r.metrics["test"]["mos_quality"]["srcc"] for r in BenchmarkRun.objects.filter(sweep=sweep)
    )
    row = sweep.results["rows"][0]
    assert (row["model"], row["backbone"], row["runs"], row["succeeded"]) == (
        "nr",
        "resnet18",
        3,
        3,
    )
    assert row["cells"]["mos_quality"]["srcc"] == pytest.approx(srccs[1])
    assert set(row["cells"]) == {"mos_quality", "mos_authenticity"}


def test_a_succeeded_run_is_never_trained_again(django_capture_on_commit_callbacks, monkeypatch):
    sweep = _launch(django_capture_on_commit_callbacks, hyper={**TINY, "epochs": 1})
    run = sweep.runs.get()
    run_execute(run_id=run.pk, hostname="w1")
    run.refresh_from_db()
    before = (run.metrics, run.history, run.attempts, run.finished_at, run.predictions_path)

    def must_not_train(*args, **kwargs):
        raise AssertionError("a succeeded run was trained again")

    monkeypatch.setattr("benchmark.training.runner.train", must_not_train)
    assert run_execute(run_id=run.pk, hostname="w2") == "succeeded"
    run.refresh_from_db()
    assert (run.metrics, run.history, run.attempts, run.finished_at, run.predictions_path) == before
    assert run.worker_host == "w1"


def test_a_run_left_running_by_a_lost_worker_is_trained_again_and_says_so(
    django_capture_on_commit_callbacks,
):
    sweep = _launch(django_capture_on_commit_callbacks, hyper={**TINY, "epochs": 1})
    run = sweep.runs.get()
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status="running",
        attempts=1,
        worker_host="gpu-dead@node7",
        progress={"epoch": 1, "epochs": 1},
        history=[{"epoch": 1, "split": "random-r0", "train_loss": 9.0}],
    )
    assert run_execute(run_id=run.pk, hostname="gpu-b@node8") == "succeeded"
    run.refresh_from_db()
    assert run.attempts == 2 and run.worker_host == "gpu-b@node8"
    assert run.output_dir.endswith("attempt-2")
    assert len(run.history) == 1 and run.history[0]["train_loss"] != 9.0  # not appended to
    lost = [e["event"] for e in run.events if "worker loss" in e["event"]]
    assert len(lost) == 1 and lost[0].startswith("re-queued after worker loss")
    assert "gpu-dead@node7" in lost[0]


def test_a_run_whose_workers_keep_dying_is_failed_instead_of_requeued_forever(
    django_capture_on_commit_callbacks,
):
    sweep = _launch(django_capture_on_commit_callbacks)
    run = sweep.runs.get()
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status="running", attempts=settings.BENCHMARK_MAX_ATTEMPTS
    )
    assert run_execute(run_id=run.pk, hostname="w") == "failed"
    run.refresh_from_db()
    assert "worker was lost 3 times" in run.error
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.FINISHED


def test_a_queued_run_cancelled_is_skipped_when_its_task_starts(
    django_capture_on_commit_callbacks,
):
    sweep = _launch(django_capture_on_commit_callbacks, repeats=2)
    first, second = sweep.runs.order_by("repeat")
    run_cancel(run=first, by=None)
    first.refresh_from_db()
    assert first.status == BenchmarkRun.Status.CANCELLED and first.attempts == 0
    assert run_execute(run_id=first.pk, hostname="w") == "cancelled"
    first.refresh_from_db()
    assert first.attempts == 0 and first.history == [] and not first.output_dir
    run_cancel(run=second, by=None)
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.FINISHED  # the last to end aggregates
    assert sweep.results["rows"][0]["succeeded"] == 0


def test_cancel_stops_a_running_run_at_the_next_batch(
    django_capture_on_commit_callbacks, monkeypatch
):
    sweep = _launch(django_capture_on_commit_callbacks, hyper={**TINY, "epochs": 6})
    run = sweep.runs.get()

    def cancel_after_first_epoch(report, record):
        record()
        if report.epoch == 1:
            run_cancel(run=BenchmarkRun.objects.get(pk=run.pk), by=None)
            assert BenchmarkRun.objects.get(pk=run.pk).status == "running"  # until it stops

    _at_each_epoch(monkeypatch, cancel_after_first_epoch)
    assert run_execute(run_id=run.pk, hostname="w") == "cancelled"
    run.refresh_from_db()
    assert [h["epoch"] for h in run.history] == [1]
    assert run.metrics == {} and run.predictions_path == ""
    events = [e["event"].split(";")[0] for e in run.events]
    assert [e for e in events if not e.startswith("data path")] == [
        "cancel requested by the system",
        "cancelled while running",
    ]


def test_an_attempt_superseded_by_a_newer_one_stops_and_writes_nothing(
    django_capture_on_commit_callbacks, monkeypatch
):
    sweep = _launch(django_capture_on_commit_callbacks, hyper={**TINY, "epochs": 4})
    run = sweep.runs.get()

    def another_worker_claims(report, record):
        if report.epoch == 2:  # a duplicate delivery started the run elsewhere
            BenchmarkRun.objects.filter(pk=run.pk).update(attempts=2, worker_host="other")
        record()

    _at_each_epoch(monkeypatch, another_worker_claims)
    assert run_execute(run_id=run.pk, hostname="first") == "superseded"
    run.refresh_from_db()
    assert run.status == "running" and run.attempts == 2 and run.worker_host == "other"
    assert [h["epoch"] for h in run.history] == [1]  # the stale attempt's epoch 2 is not kept
    assert run.metrics == {}


def test_a_failure_keeps_message_and_traceback_and_retry_runs_it_again(
    django_capture_on_commit_callbacks,
):
    sweep = _launch(django_capture_on_commit_callbacks, hyper={**TINY, "epochs": 1})
    run = sweep.runs.get()
    image = Path(sweep.release.mos_file.path).parent / "images" / "genA_003.png"
    stash = image.read_bytes()
    image.unlink()  # the shared storage lost a file after the launch
    assert run_execute(run_id=run.pk, hostname="w") == "failed"
    run.refresh_from_db()
    assert "genA_003.png" in run.error and "not found" in run.error
    assert "ManifestError" in run.traceback
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.FINISHED

    image.write_bytes(stash)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run_retry(run=run, by=None)
    run.refresh_from_db()
    assert run.status == "queued" and run.error == "" and len(callbacks) == 1
    sweep.refresh_from_db()
    assert sweep.status == BenchmarkSweep.Status.RUNNING
    assert run_execute(run_id=run.pk, hostname="w") == "succeeded"
    run.refresh_from_db()
    assert run.attempts == 2 and "retried by the system after it failed" in run.events[0]["event"]


def test_a_task_from_before_a_retry_is_skipped_and_the_current_one_runs(
    django_capture_on_commit_callbacks,
):
    sweep = _launch(django_capture_on_commit_callbacks, hyper={**TINY, "epochs": 1})
    run = sweep.runs.get()
    old_task = run.task_id
    run_cancel(run=run, by=None)  # cancelled while its message still waits in the queue
    with django_capture_on_commit_callbacks(execute=False):
        run = run_retry(run=run, by=None)
    assert run.task_id != old_task
    assert run_benchmark.apply(args=[run.pk], task_id=old_task).get() == "queued"
    run.refresh_from_db()
    assert run.attempts == 0 and run.status == "queued"
    assert run_benchmark.apply(args=[run.pk], task_id=run.task_id).get() == "succeeded"


def test_the_time_limit_marks_the_run_failed_with_a_message(monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    run = BenchmarkRunFactory(sweep__release=LabelReleaseFactory())

    def too_slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr("benchmark.training.runner.train", too_slow)
    assert run_execute(run_id=run.pk, hostname="w") == "failed"
    run.refresh_from_db()
    assert run.error == f"time limit of {settings.BENCHMARK_TASK_TIME_LIMIT} s exceeded"


def test_a_run_past_its_time_limit_stops_itself_where_celery_does_not_enforce_it(
    django_capture_on_commit_callbacks, settings
):
    """The GPU worker's solo pool has no Celery time limits; the run keeps its own."""
    settings.BENCHMARK_TASK_TIME_LIMIT = 60  # the soft limit: a minute before, i.e. now
    run = _launch(django_capture_on_commit_callbacks).runs.get()
    assert run_execute(run_id=run.pk, hostname="w") == "failed"
    run.refresh_from_db()
    assert run.error == "time limit of 60 s exceeded" and run.history == []
    assert run.metrics == {} and run.predictions_path == ""


def test_loader_workers_default_to_the_cores_where_the_process_may_start_processes(settings):
    import multiprocessing
    import os

    from benchmark.services.configs import dataloader_workers

    settings.BENCHMARK_DATALOADER_WORKERS = 3
    assert dataloader_workers() == 3
    settings.BENCHMARK_DATALOADER_WORKERS = -1
    assert dataloader_workers() == len(os.sched_getaffinity(0)) > 0
    # A daemonic process (a Celery prefork child) may not start loader workers.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=lambda: queue.put(dataloader_workers()), daemon=True)
    child.start()
    child.join(timeout=60)
    assert queue.get(timeout=10) == 0


def test_only_failed_or_cancelled_runs_can_be_retried_and_ended_runs_not_cancelled():
    from django.core.exceptions import ValidationError

    run = BenchmarkRunFactory(sweep__release=LabelReleaseFactory())
    with pytest.raises(ValidationError, match="Only failed or cancelled"):
        run_retry(run=run, by=None)
    BenchmarkRun.objects.filter(pk=run.pk).update(status="succeeded")
    with pytest.raises(ValidationError, match="already succeeded"):
        run_cancel(run=run, by=None)


def test_a_running_run_whose_attempt_outlived_the_time_limit_is_cancelled_at_once(settings):
    """Its task ended without its last write (e.g. the database was down): nothing else
    would ever end it, so cancel does, and then it can be retried."""
    from datetime import timedelta

    from django.utils import timezone

    settings.BENCHMARK_TASK_TIME_LIMIT = 3600
    run = BenchmarkRunFactory(sweep__release=LabelReleaseFactory())
    started = timezone.now() - timedelta(seconds=3600 + 601)
    BenchmarkRun.objects.filter(pk=run.pk).update(status="running", started_at=started)
    recent = BenchmarkRunFactory(sweep=run.sweep)
    BenchmarkRun.objects.filter(pk=recent.pk).update(status="running", started_at=timezone.now())

    run_cancel(run=BenchmarkRun.objects.get(pk=run.pk), by=None)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None
    assert "no task is running it" in run.events[-1]["event"]
    run_cancel(run=BenchmarkRun.objects.get(pk=recent.pk), by=None)
    recent.refresh_from_db()
    assert recent.status == "running" and recent.cancel_requested  # its task stops it
    assert run_retry(run=run, by=None).status == "queued"


def test_fr_on_a_mixed_release_trains_on_the_rows_with_a_reference_only(
    django_capture_on_commit_callbacks,
):
    release = LabelReleaseFactory(reference=True, groups=8)
    path = Path(release.mos_file.path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[15:, "reference"] = ""  # 15 image-to-image rows, 9 text-to-image rows
    frame.to_csv(path, index=False)
    sweep = _launch(
        django_capture_on_commit_callbacks,
        release=release,
        models=("fr",),
        score_columns=("mos_quality",),
        fr_reference_rows_only=True,
    )
    run = sweep.runs.get()
    assert run_benchmark.apply(args=[run.pk], task_id=run.task_id).get() == "succeeded"
    run.refresh_from_db()
    predictions = pd.read_csv(_media(run.predictions_path), dtype=str)
    with_reference = set(frame.loc[:14, "stimulus_id"])
    assert set(predictions["stimulus_id"]) <= with_reference and len(predictions) > 0
