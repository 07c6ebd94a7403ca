"""Reads of the benchmark app: lists, live status as JSON, results, leaderboard, scatter."""

from collections import Counter
from typing import Any

import pandas as pd
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from annotation.models import LabelRelease, Study
from benchmark.models import BenchmarkRun, BenchmarkSweep, ScoringJob
from benchmark.services.configs import media_path
from benchmark.training.catalog import BACKBONES, TEXT_MODEL_KINDS, ZERO_SHOT_MODEL_KINDS
from benchmark.training.config import TrainConfig
from benchmark.training.presets import PROTOCOLS, protocol_deviations
from core.errors import NotFound
from core.storage import media_exists

SCATTER_MAX_POINTS = 5000


def release_list() -> QuerySet[LabelRelease]:
    return LabelRelease.objects.select_related("study").order_by("study__name", "-version")


def release_label(release: LabelRelease) -> str:
    return f"{release.study.name} v{release.version} ({release.get_source_display().lower()})"


def sweep_list() -> QuerySet[BenchmarkSweep]:
    return (
        BenchmarkSweep.objects.select_related("release__study", "created_by")
        .annotate(
            run_count=Count("runs"),
            succeeded_count=Count("runs", filter=Q(runs__status="succeeded")),
            failed_count=Count("runs", filter=Q(runs__status="failed")),
            active_count=Count("runs", filter=Q(runs__status__in=["queued", "running"])),
        )
        .order_by("-created_at", "-id")
    )


def sweep_get(*, pk: int) -> BenchmarkSweep:
    """The sweep; raises ``core.errors.NotFound`` (a 404 in the views) when there is none."""
    sweep = BenchmarkSweep.objects.select_related("release__study").filter(pk=pk).first()
    if sweep is None:
        raise NotFound("No BenchmarkSweep matches the given query.")
    return sweep


def run_get(*, pk: int) -> BenchmarkRun:
    """The run; raises ``core.errors.NotFound`` (a 404 in the views) when there is none."""
    run = BenchmarkRun.objects.select_related("sweep", "release__study").filter(pk=pk).first()
    if run is None:
        raise NotFound("No BenchmarkRun matches the given query.")
    return run


def run_requeued(run: BenchmarkRun) -> bool:
    return any("worker loss" in e.get("event", "") for e in run.events)


def run_is_zero_shot(run: BenchmarkRun) -> bool:
    """A kind that trains nothing (CLIPScore): its metrics are a baseline's."""
    return run.model_kind in ZERO_SHOT_MODEL_KINDS


def backbone_has_random_weights(name: str) -> bool:
    """A backbone whose weights are random ones made from a seed (clip_tiny_random): its
    results show the pipeline works, nothing about quality."""
    info = BACKBONES.get(name)
    return info is not None and info.random_weights


def run_needs_prompt(run: BenchmarkRun) -> bool:
    """A text-image kind: it scores each image with its prompt."""
    return run.model_kind in TEXT_MODEL_KINDS


def run_protocol(run: BenchmarkRun) -> dict[str, Any] | None:
    """A run under a published protocol: its name, source, the preset values the admin
    replaced and what this machine and platform do differently (None without one). The
    device is known once a worker has claimed the run."""
    protocol = PROTOCOLS.get(str(run.config.get("protocol", "")))
    if protocol is None:
        return None
    config = TrainConfig.from_dict(run.config, validate=False)
    device_type = run.device.split(":")[0].split(" ")[0] if run.device else "cuda"
    deviations = protocol_deviations(
        protocol.name, run.backbone, device_type=device_type, model=run.model_kind
    )
    return {
        "name": protocol.name,
        "source": protocol.source,
        "overrides": config.protocol_overrides,
        "deviations": deviations,
        "device_known": bool(run.device),
    }


def run_summary(run: BenchmarkRun) -> dict[str, Any]:
    """The fields a status poll needs for one run (a sweep page polls all of them)."""
    return {
        "id": run.pk,
        "url": reverse("benchmark:run_detail", args=[run.pk]),
        "model": run.model_kind,
        "backbone": run.backbone,
        "repeat": run.repeat,
        "seed": run.seed,
        "status": run.status,
        "status_display": run.get_status_display(),
        "cancel_requested": run.cancel_requested,
        "progress": run.progress,
        "attempts": run.attempts,
        "requeued_after_worker_loss": run_requeued(run),
        "worker_host": run.worker_host,
        "device": run.device,
        "error": run.error,
        "test_metrics": run.metrics.get("test", {}),
        "finished": run.is_terminal,
    }


def run_status(*, run: BenchmarkRun) -> dict[str, Any]:
    """Everything the run page shows and refreshes, including the learning curves."""
    return {
        **run_summary(run),
        "sweep": run.sweep_id,
        "score_columns": run.score_columns,
        "history": run.history,
        "metrics": run.metrics,
        "splits": [
            {k: s.get(k) for k in ("name", "best_epoch", "best_val_srcc", "notes")}
            for s in run.splits
        ],
        "events": run.events,
        "traceback": run.traceback,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def sweep_status(*, sweep: BenchmarkSweep) -> dict[str, Any]:
    # Polled every 3 s: leave out what run_summary never reads (per-epoch histories,
    # per-split results, configs and tracebacks of up to MAX_RUNS_PER_SWEEP runs).
    runs = list(sweep.runs.defer("history", "splits", "config", "traceback"))
    return {
        "id": sweep.pk,
        "status": sweep.status,
        "finished": sweep.status == BenchmarkSweep.Status.FINISHED,
        "counts": dict(Counter(run.status for run in runs)),
        "runs": [run_summary(run) for run in runs],
        "results": sweep.results,
    }


def run_metric_rows(run: BenchmarkRun) -> list[dict[str, Any]]:
    """(part, column) rows of the run's metrics for its page's table."""
    return [
        {"part": part, "column": column, **values}
        for part in ("test", "val")
        for column, values in run.metrics.get(part, {}).items()
    ]


def results_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The results table with cells in column order, as a template can loop over it."""
    columns = results.get("columns", [])
    return [
        {**row, "cells": [{"column": c, **row.get("cells", {}).get(c, {})} for c in columns]}
        for row in results.get("rows", [])
    ]


def run_scatter(*, run: BenchmarkRun) -> dict[str, Any]:
    """Test predictions against MOS per score column, for the run page's scatter plot."""
    if not run.predictions_path:
        return {"columns": {}}
    if not media_exists(run.predictions_path):
        return {"columns": {}, "missing": True}
    frame = pd.read_csv(media_path(run.predictions_path), dtype={"stimulus_id": str}).head(
        SCATTER_MAX_POINTS
    )
    columns = {}
    for column in run.score_columns:
        if column in frame and f"pred_{column}" in frame:
            columns[column] = {
                "mos": frame[column].round(4).tolist(),
                "pred": frame[f"pred_{column}"].round(4).tolist(),
                "stimulus": frame["stimulus_id"].astype(str).tolist(),
                "generator": frame.get("generator", pd.Series(dtype=str)).astype(str).tolist(),
            }
    return {"columns": columns}


def leaderboard(*, release: LabelRelease, part: str = "test") -> dict[str, Any]:
    """Best result per (model, backbone, split protocol) across every sweep on ``release``.

    A sweep row's score is its median over repeats (the results table's cell); rows are
    ranked per score column by that median SRCC. Zero-shot kinds (CLIPScore) are rows
    like the others, marked ``baseline``: what the pretrained model gives untrained.
    """
    sweeps = BenchmarkSweep.objects.filter(
        release=release, status=BenchmarkSweep.Status.FINISHED
    ).order_by("created_at")
    best: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    columns: list[str] = []
    for sweep in sweeps:
        table = sweep.results or {}
        protocol = (sweep.parameters.get("split") or {}).get("protocol", "random")
        epochs = (sweep.parameters.get("hyper") or {}).get("epochs")
        for column in table.get("columns", []):
            if column not in columns:
                columns.append(column)
        for row in table.get("rows", []):
            for column, cell in row.get("cells", {}).items():
                if cell.get("srcc") is None:
                    continue
                key = (column, row["model"], row["backbone"], protocol)
                entry = {
                    "column": column,
                    "model": row["model"],
                    "backbone": row["backbone"],
                    "protocol": protocol,
                    "sweep": sweep.pk,
                    "sweep_name": str(sweep),
                    "repeats": cell.get("n", 0),
                    "baseline": row["model"] in ZERO_SHOT_MODEL_KINDS,
                    "random_weights": backbone_has_random_weights(row["backbone"]),
                    # A zero-shot baseline trains no epochs, whatever the sweep asked.
                    "epochs": None if row["model"] in ZERO_SHOT_MODEL_KINDS else epochs,
                    **{m: cell.get(m) for m in ("srcc", "krcc", "plcc", "plcc_logistic", "rmse")},
                }
                if key not in best or entry["srcc"] > best[key]["srcc"]:
                    best[key] = entry
    by_column = {
        column: sorted(
            (e for e in best.values() if e["column"] == column),
            key=lambda e: e["srcc"],
            reverse=True,
        )
        for column in columns
    }
    random_backbones = sorted({e["backbone"] for e in best.values() if e["random_weights"]})
    return {
        "part": part,
        "columns": columns,
        "rows": by_column,
        "random_backbones": random_backbones,
    }


def scoring_job_get(*, pk: int) -> ScoringJob:
    """The scoring job; raises ``core.errors.NotFound`` (a 404 in the views) when there is none."""
    job = ScoringJob.objects.select_related("run", "study").filter(pk=pk).first()
    if job is None:
        raise NotFound("No ScoringJob matches the given query.")
    return job


def run_scoring_jobs(run: BenchmarkRun) -> QuerySet[ScoringJob]:
    return run.scoring_jobs.select_related("study").defer("results")


def scoring_studies() -> QuerySet[Study]:
    """Studies with stimuli, the ones a model can score."""
    return (
        Study.objects.annotate(n_stimuli=Count("stimuli"))
        .filter(n_stimuli__gt=0)
        .order_by("name", "pk")
    )


def scoring_status(*, job: ScoringJob) -> dict[str, Any]:
    """What the job page polls: status and progress (the table comes with the reload)."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),
        "progress": job.progress,
        "error": job.error,
        "finished": job.is_terminal,
    }


def scoring_rows(job: ScoringJob) -> list[dict[str, Any]]:
    """The results table: one row per image with its scores in the job's column order
    (and, for a text-image model, the prompt it was scored with)."""
    return [
        {**row, "values": [row["scores"].get(column) for column in job.columns]}
        for row in job.results
    ]
