"""Scoring images with a finished run's model: create the job, and what the worker does.

The images are a study's stimuli, or a zip (with an optional manifest CSV) that goes
through the same validated import code as a study import (safe extraction, every image
fully decoded, every problem listed). Scoring itself is the training library's
:class:`~benchmark.training.predict.Scorer`, the code behind the ``predict`` command,
so the site and the CLI give the same scores.
"""

import logging
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.imports.archives import zip_extract
from annotation.imports.errors import ImportRejected
from annotation.imports.manifest import RawRow, manifest_read, rows_validate
from annotation.models import Study
from annotation.services.imports import upload_discard, upload_stash
from benchmark.models import BenchmarkRun, ScoringJob
from benchmark.services.configs import media_path, media_relative
from benchmark.training.catalog import TEXT_MODEL_KINDS
from common.progress import Progress, ThrottledProgress, progress_fraction
from core.jobs import SCORING_JOB, enqueue_on_commit, failure_handler
from core.storage import media_local_path, media_publish, media_workdir, storage_is_local

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# An upload's value on the job when it waits in media (a bucket) rather than in var/.
STASHED_IN_MEDIA = "media:"
MAX_PROBLEMS_SHOWN = 10


class ScoringRejected(ValidationError):
    """The job cannot be created as asked; the message says why."""


def _job_folder(job: ScoringJob) -> str:
    return f"benchmark/scoring/{job.pk}"


def _job_dir(job: ScoringJob) -> Path:
    """Where the worker writes the job's files (published to media when it succeeds)."""
    return media_workdir(_job_folder(job))


def scoring_start(
    *,
    run: BenchmarkRun,
    by,
    study: Study | None = None,
    images=None,
    manifest=None,
    prompt: str = "",
) -> ScoringJob:
    """Create a scoring job for ``run`` and queue it (on commit) on the gpu queue.

    Exactly one of ``study`` (score its stimuli) or ``images`` (an uploaded zip, with
    ``manifest`` an optional uploaded CSV naming the images to score) is given. A
    text-image model scores each image with its prompt: the stimulus's or the manifest's
    ``prompt``, else ``prompt``; an image left without one is refused here, before queueing.
    """
    if run.status != BenchmarkRun.Status.SUCCEEDED or not run.checkpoint_path:
        raise ScoringRejected("Only a succeeded run with a saved checkpoint can score images.")
    if (study is None) == (images is None):
        raise ScoringRejected("Choose a study or upload a zip of images (one of the two).")
    if study is not None and not study.stimuli.exists():
        raise ScoringRejected(f"Study '{study.name}' has no stimuli to score.")
    prompt = prompt.strip() if run.model_kind in TEXT_MODEL_KINDS else ""
    if run.model_kind in TEXT_MODEL_KINDS and study is not None and not prompt:
        _check_study_prompts(study)
    upload = _stash_upload(run, images, manifest, prompt)
    job = ScoringJob.objects.create(
        run=run,
        source=ScoringJob.Source.STUDY if study is not None else ScoringJob.Source.UPLOAD,
        study=study,
        upload=upload,
        prompt=prompt,
        created_by=by,
        task_id=str(uuid.uuid4()),
        columns=list(run.score_columns),
    )
    enqueue_on_commit(SCORING_JOB, job.pk, task_id=job.task_id)
    return job


def _listed(names: list[str]) -> str:
    more = len(names) - MAX_PROBLEMS_SHOWN
    shown = ", ".join(repr(name) for name in names[:MAX_PROBLEMS_SHOWN])
    return shown + (f" and {more} more" if more > 0 else "")


def _check_study_prompts(study: Study) -> None:
    stimuli = study.stimuli.order_by("pk").values_list("pk", "original_name", "prompt")
    names = [name or f"stimulus {pk}" for pk, name, prompt in stimuli if not prompt.strip()]
    if names:
        raise ScoringRejected(
            f"{len(names)} stimulus/stimuli of study '{study.name}' have no prompt, which a "
            f"text-image model needs: {_listed(names)}. Give a prompt for them."
        )


def _stash_upload(run: BenchmarkRun, images, manifest, prompt: str) -> dict[str, str]:
    """Keep the upload until the worker takes it; for a text-image model without a
    ``prompt`` for all, the manifest must give every image its own (else nothing is kept)."""
    if images is None:
        return {}
    if run.model_kind in TEXT_MODEL_KINDS and not prompt and manifest is None:
        raise ScoringRejected(
            "A text-image model scores each image with its prompt: give a prompt for the "
            "images, or a manifest CSV with a prompt column."
        )
    upload = {"images": str(upload_stash(images))}
    if manifest is not None:
        upload["manifest"] = str(upload_stash(manifest))
        if run.model_kind in TEXT_MODEL_KINDS and not prompt:
            try:
                _check_manifest_prompts(Path(upload["manifest"]))
            except ScoringRejected:
                for stashed in upload.values():
                    upload_discard(stashed)
                raise
    return {key: _stash_for_workers(Path(value)) for key, value in upload.items()}


def _stash_for_workers(local: Path) -> str:
    """Where the gpu worker finds a stashed upload: this server's var/ when media is a
    local folder (shared, as media is), else the bucket, under ``STASHED_IN_MEDIA``."""
    if storage_is_local():
        return str(local)
    with local.open("rb") as handle:
        name = default_storage.save(
            f"benchmark/uploads/{local.parent.name}/{local.name}", File(handle)
        )
    upload_discard(local)
    return STASHED_IN_MEDIA + name


def _stashed_path(value: str) -> Path:
    if value.startswith(STASHED_IN_MEDIA):
        return media_local_path(value.removeprefix(STASHED_IN_MEDIA))
    return Path(value)


def _stash_discard(value: str) -> None:
    if value.startswith(STASHED_IN_MEDIA):
        default_storage.delete(value.removeprefix(STASHED_IN_MEDIA))
    else:
        upload_discard(value)


def _check_manifest_prompts(path: Path) -> None:
    try:
        rows = manifest_read(path)
    except ImportRejected:
        return  # the worker reports every problem of the manifest, as for any model
    names = [row.image or f"row {row.row}" for row in rows if not row.prompt]
    if names:
        raise ScoringRejected(
            f"{len(names)} row(s) of the manifest have no prompt, which a text-image model "
            f"needs: {_listed(names)}. Fill their prompt column, or give a prompt for them."
        )


def _claim(job_id: int) -> ScoringJob | None:
    with transaction.atomic():
        job = ScoringJob.objects.select_for_update().select_related("run").get(pk=job_id)
        if job.is_terminal:
            return None
        # A re-delivered task (lost worker) scores again from the start: scoring is pure.
        job.status, job.started_at = ScoringJob.Status.RUNNING, timezone.now()
        job.progress, job.error = {}, ""
        job.save(update_fields=["status", "started_at", "progress", "error"])
        return job


def _job_progress(job_id: int) -> ThrottledProgress:
    """The :data:`common.progress.Progress` of a job: written to its row (throttled)."""

    def write(phase: str, done: float, total: float) -> None:
        progress = {
            "phase": phase,
            "done": int(done),
            "total": int(total),
            "fraction": round(progress_fraction(done, total), 4),
        }
        ScoringJob.objects.filter(pk=job_id).update(progress=progress)

    return ThrottledProgress(write)


def _prompt(job: ScoringJob, own: str) -> str | None:
    """An image's prompt for a text-image model (its own, else the job's); None otherwise."""
    if job.run.model_kind not in TEXT_MODEL_KINDS:
        return None
    return own.strip() or job.prompt


def _study_items(job: ScoringJob, study: Study) -> tuple[list, dict[str, dict[str, Any]]]:
    from benchmark.training.predict import ScoringItem

    items, info = [], {}
    for stimulus in study.stimuli.order_by("pk"):
        key = str(stimulus.pk)
        reference = (
            str(media_local_path(stimulus.reference_image.name))
            if stimulus.reference_image
            else None
        )
        prompt = _prompt(job, stimulus.prompt)
        image = str(media_local_path(stimulus.image.name))
        items.append(ScoringItem(key, image, reference, prompt))
        info[key] = {
            "name": stimulus.original_name or f"stimulus {stimulus.pk}",
            "stimulus": key,
            "image": stimulus.image.name,
        }
        if prompt is not None:
            info[key]["prompt"] = prompt
    return items, info


def _upload_rows(root: Path, manifest: Path | None) -> list[RawRow]:
    if manifest is not None:
        return manifest_read(manifest)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return [
        RawRow(row=number, image=path.relative_to(root).as_posix())
        for number, path in enumerate(files, start=1)
    ]


def _upload_items(job: ScoringJob) -> tuple[list, dict[str, dict[str, Any]]]:
    """Extract and validate the upload into the job's media folder (kept for thumbnails)."""
    from benchmark.training.predict import ScoringItem

    root = zip_extract(archive=_stashed_path(job.upload["images"]), dest=_job_dir(job) / "images")
    manifest = _stashed_path(job.upload["manifest"]) if job.upload.get("manifest") else None
    rows = _upload_rows(root, manifest)
    if not rows:
        raise ScoringRejected(
            f"The zip holds no images ({', '.join(IMAGE_SUFFIXES)}) and no manifest names any."
        )
    validated = rows_validate(rows=rows, root=root)
    items, info = [], {}
    for row in validated:
        key = PurePosixPath(row.image.path.relative_to(root.resolve()).as_posix()).as_posix()
        reference = str(row.reference.path) if row.reference else None
        prompt = _prompt(job, row.prompt)
        items.append(ScoringItem(key, str(row.image.path), reference, prompt))
        info[key] = {"name": key, "stimulus": None}
        if prompt is not None:
            info[key]["prompt"] = prompt
    return items, info


def _results(result, info: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    failed = {failure.key: failure.reason for failure in result.failures}
    rows = []
    for index, item in enumerate(result.items):
        scores = {
            column: (None if pd.isna(value) else round(float(value), 6))
            for column, value in zip(result.columns, result.predictions[index], strict=True)
        }
        rows.append(
            {
                **info[item.key],
                "id": item.key,
                # A stimulus's stored name; an upload's image as published with the job.
                "image": info[item.key].get("image") or media_relative(item.image),
                "scores": scores,
                "error": failed.get(item.key, ""),
            }
        )
    return rows


def _write_csv(job: ScoringJob, rows: list[dict[str, Any]], columns: list[str]) -> str:
    frame = pd.DataFrame(
        {
            "id": [row["id"] for row in rows],
            "name": [row["name"] for row in rows],
            "image": [row["image"] for row in rows],
            **({"prompt": [row["prompt"] for row in rows]} if rows and "prompt" in rows[0] else {}),
            **{f"pred_{c}": [row["scores"][c] for row in rows] for c in columns},
            "error": [row["error"] for row in rows],
        }
    )
    path = _job_dir(job) / "scores.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.6g")
    return media_relative(path)


def _score(job: ScoringJob, progress: Progress) -> dict[str, Any]:
    from benchmark.training.checkpoint import load_checkpoint
    from benchmark.training.config import default_cache_dir
    from benchmark.training.predict import Scorer
    from benchmark.training.runner import resolve_device

    checkpoint = load_checkpoint(media_path(job.run.checkpoint_path))  # from the cache
    if job.source == ScoringJob.Source.STUDY:
        if job.study is None:
            raise ScoringRejected("The study was deleted before the job ran.")
        items, info = _study_items(job, job.study)
    else:
        progress("validating upload", 0, 1)
        items, info = _upload_items(job)
    scorer = Scorer(
        checkpoint,
        device=resolve_device(settings.BENCHMARK_DEVICE),
        cache_dir=settings.BENCHMARK_CACHE_DIR or default_cache_dir(),
        threads=max(1, settings.BENCHMARK_DATALOADER_WORKERS),
    )
    result = scorer.score(items, skip_bad=True, progress=progress)
    rows = _results(result, info)
    results_path = _write_csv(job, rows, list(checkpoint.score_columns))
    media_publish(_job_folder(job))  # the table and an upload's images, for the pages
    return {
        "columns": list(checkpoint.score_columns),
        "results": rows,
        "results_path": results_path,
    }


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, ImportRejected):
        problems = [str(p) for p in exc.problems]
        more = len(problems) - MAX_PROBLEMS_SHOWN
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN]) + (
            f"; and {more} more" if more > 0 else ""
        )
        return f"The upload was rejected: {shown}"
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, ValueError):  # the library's input errors (checkpoint, images)
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def scoring_execute(*, job_id: int) -> str:
    """The task body: claim the job, score its images, store the table; return its status."""
    job = _claim(job_id)
    if job is None:
        return ScoringJob.objects.values_list("status", flat=True).get(pk=job_id)
    progress = _job_progress(job.pk)
    try:
        fields = _score(job, progress)
    except Exception as exc:  # shown on the job's page, not lost in a log
        logger.exception("scoring job %s failed", job_id)
        fields = {"error": _failure_message(exc)}
        status = ScoringJob.Status.FAILED
    else:
        status = ScoringJob.Status.SUCCEEDED
    finally:
        for stashed in job.upload.values():
            _stash_discard(stashed)
        if not storage_is_local():  # the scratch copy of a job that did not publish
            shutil.rmtree(_job_dir(job), ignore_errors=True)
    ScoringJob.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now(), **fields)
    return status


@failure_handler(SCORING_JOB)
def scoring_fail_unsent(job_id: int, reason: str) -> None:
    """The job's task never reached the queue: failed with the reason, never left queued."""
    ScoringJob.objects.filter(pk=job_id, status=ScoringJob.Status.QUEUED).update(
        status=ScoringJob.Status.FAILED, error=reason, finished_at=timezone.now()
    )
