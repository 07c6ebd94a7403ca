"""Benchmark retrains: a sweep fans out into runs, one Celery task per run.

Writes go through `benchmark.services`; the models hold structure only. A run trains one
(model kind, backbone, split repeat) of its sweep on a frozen LabelRelease's MOS CSV.
"""

from django.conf import settings
from django.db import models

from annotation.models import LabelRelease, Study


class BenchmarkSweep(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"

    release = models.ForeignKey(
        LabelRelease, on_delete=models.PROTECT, related_name="benchmark_sweeps"
    )
    name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The launch choices as validated (models, backbones, split, repeats, hyper-parameters).
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    # Written by the run that finishes last: median metrics per (model, backbone, column).
    results = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"sweep {self.pk}"


class BenchmarkRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    sweep = models.ForeignKey(BenchmarkSweep, on_delete=models.CASCADE, related_name="runs")
    # Denormalised from the sweep so the leaderboard filters runs by dataset directly.
    release = models.ForeignKey(
        LabelRelease, on_delete=models.PROTECT, related_name="benchmark_runs"
    )
    model_kind = models.CharField(max_length=10)
    backbone = models.CharField(max_length=30)
    split_protocol = models.CharField(max_length=20)
    repeat = models.PositiveIntegerField()
    seed = models.PositiveIntegerField()
    score_columns = models.JSONField(default=list)
    # TrainConfig fields without the machine-local ones (paths, device): the worker adds those.
    config = models.JSONField(default=dict)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    task_id = models.CharField(max_length=64, blank=True)
    # Incremented by every task start; only the latest attempt may write progress or results.
    attempts = models.PositiveIntegerField(default=0)
    # What happened to the run besides training: [{"at": iso, "event": text}, ...].
    events = models.JSONField(default=list, blank=True)

    # {"split": k, "splits": n, "epoch": e, "epochs": E, "train_loss": x, "val_srcc": y}
    progress = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True)  # one dict per finished epoch
    # part ("val"/"test") -> score column -> metric -> median over the run's splits
    metrics = models.JSONField(default=dict, blank=True)
    # per split: name, best epoch, metrics, notes, checkpoint and predictions (MEDIA_ROOT-relative)
    splits = models.JSONField(default=list, blank=True)
    output_dir = models.CharField(max_length=300, blank=True)  # relative to MEDIA_ROOT
    checkpoint_path = models.CharField(max_length=300, blank=True)
    predictions_path = models.CharField(max_length=300, blank=True)

    worker_host = models.CharField(max_length=200, blank=True)
    device = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sweep", "model_kind", "backbone", "repeat"]
        constraints = [
            models.UniqueConstraint(
                fields=["sweep", "model_kind", "backbone", "repeat"],
                name="benchmark_run_unique_in_sweep",
            ),
        ]
        indexes = [models.Index(fields=["release", "status"])]

    def __str__(self) -> str:
        return f"run {self.pk} {self.model_kind}/{self.backbone} r{self.repeat} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class ScoringJob(models.Model):
    """Scoring images with a finished run's checkpoint: a study's stimuli or an upload.

    One Celery task (gpu queue) per job; ``results`` holds one row per image (its id, the
    MEDIA_ROOT-relative image, a score per column or the reason it could not be scored)
    and ``results_path`` the same as a CSV.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        STUDY = "study", "A study's stimuli"
        UPLOAD = "upload", "Uploaded zip"

    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="scoring_jobs")
    source = models.CharField(max_length=10, choices=Source.choices)
    study = models.ForeignKey(
        Study, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Uploads wait outside MEDIA_ROOT (var/) until the worker has validated them.
    upload = models.JSONField(default=dict, blank=True)
    # Text-image models: the prompt of every image that has none of its own (a study's
    # stimulus or a manifest row without one; every image of a zip without a manifest).
    prompt = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    task_id = models.CharField(max_length=64, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    results = models.JSONField(default=list, blank=True)
    results_path = models.CharField(max_length=300, blank=True)  # relative to MEDIA_ROOT
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Scoring {self.pk} with run {self.run_id}"

    @property
    def is_terminal(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
