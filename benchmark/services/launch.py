"""Launching a sweep: validate every run it would make, then queue them all or none.

Everything that can be known before training is checked here, in the web process and
without torch: each run's TrainConfig, the release's MOS CSV and image files, reference
images for full-reference models, the splits themselves and the pretrained weights. A
bad launch therefore costs seconds on the page, not a failed run an hour later.
"""

import csv
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotation.models import LabelRelease
from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services.configs import (
    HYPER_FIELDS,
    SPLIT_FIELDS,
    machine_config,
    release_manifest_path,
    weights_path,
)
from benchmark.services.queueing import enqueue_on_commit
from benchmark.training.config import ConfigError, SplitConfig, TrainConfig
from benchmark.training.errors import TrainingInputError

MAX_RUNS_PER_SWEEP = 500
BACKBONE_DEPENDENT = ("image_size", "resize_size", "pscr.patch_size")


class LaunchRejected(ValueError):
    """The launch is not queued; ``errors`` maps a spec field ('' for general) to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k or 'launch'}: {m}" for k, ms in errors.items() for m in ms))
        self.errors = errors


@dataclass(frozen=True)
class SweepSpec:
    """What an admin asks for. Field names in errors: these, ``split.<name>`` and
    the hyper-parameter names (``epochs``, ``image_size``, ...)."""

    release: LabelRelease
    models: tuple[str, ...]
    backbones: tuple[str, ...]
    score_columns: tuple[str, ...] = ()  # empty: every mos_<dimension> column (else "mos")
    split: dict[str, Any] = field(default_factory=dict)
    repeats: int = 1
    seed: int = 0
    hyper: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True)
class PlannedRun:
    model: str
    backbone: str
    repeat: int
    seed: int
    config: dict[str, Any]


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        messages = self.by_field.setdefault(name, [])
        if message not in messages:
            messages.append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise LaunchRejected(self.by_field)


def _release_header(release: LabelRelease, errors: _Errors) -> list[str]:
    try:
        path = release_manifest_path(release=release)
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    except (OSError, ValueError) as exc:
        errors.add("release", f"the release's MOS CSV cannot be read: {exc}")
        return []


def _score_columns(spec: SweepSpec, header: list[str], errors: _Errors) -> list[str]:
    if spec.score_columns:
        missing = [c for c in spec.score_columns if c not in header]
        if missing:
            available = [c for c in header if c == "mos" or c.startswith("mos_")]
            errors.add("score_columns", f"not in the release: {missing}; it has {available}")
        return list(spec.score_columns)
    columns = [c for c in header if c.startswith("mos_")]
    return columns or (["mos"] if "mos" in header else [])


def _base_config(
    spec: SweepSpec, model: str, backbone: str, seed: int, columns: list[str]
) -> dict[str, Any]:
    return {
        "model": model,
        "backbone": backbone,
        "score_columns": columns,
        "split": {k: v for k, v in spec.split.items() if k in SPLIT_FIELDS},
        "repeats": 1,
        "seed": seed,
        **{k: v for k, v in spec.hyper.items() if k in HYPER_FIELDS},
    }


def _check_configs(spec: SweepSpec, columns: list[str], errors: _Errors) -> None:
    manifest = release_manifest_path(release=spec.release)
    for model in spec.models:
        for backbone in spec.backbones:
            base = _base_config(spec, model, backbone, spec.seed, columns)
            try:
                # Paths are placeholders: files are checked below, once, with better messages.
                config = machine_config(base=base, manifest=manifest, output_dir=manifest.parent)
                TrainConfig.from_dict(config, validate=False).validate(check_files=False)
            except ConfigError as exc:
                # Size limits depend on the backbone; other messages are the same for all runs.
                where = f"{backbone}: " if exc.field in BACKBONE_DEPENDENT else ""
                errors.add(exc.field, where + exc.message)


def _check_manifest_and_splits(spec: SweepSpec, columns: list[str], errors: _Errors):
    from benchmark.training.manifest import load_manifest
    from benchmark.training.splits import make_splits

    path = release_manifest_path(release=spec.release)
    try:
        manifest = load_manifest(path, columns, check_files=True)
    except TrainingInputError as exc:
        errors.add("release", f"the release's MOS CSV cannot be trained on: {exc}")
        return
    if "fr" in spec.models:
        if "reference" not in manifest.frame.columns:
            errors.add(
                "models",
                f"FR models need a reference (prompt) image for every stimulus; release "
                f"{spec.release} has none (no 'reference' column). Choose NR or PSCR.",
            )
        else:
            try:
                load_manifest(path, columns, need_reference=True, check_files=True)
            except TrainingInputError as exc:
                errors.add("models", f"FR models need a reference image for every row: {exc}")
    try:
        split = SplitConfig(**{k: v for k, v in spec.split.items() if k in SPLIT_FIELDS})
        for repeat in range(spec.repeats):
            make_splits(manifest.frame, split, repeats=1, seed=spec.seed + repeat)
    except TrainingInputError as exc:
        errors.add("split.protocol", f"the splits cannot be made on this release: {exc}")


def _check_weights(spec: SweepSpec, errors: _Errors) -> None:
    if spec.hyper.get("weights", "imagenet") != "imagenet":
        return
    for backbone in spec.backbones:
        path = weights_path(backbone=backbone)
        if path is not None and not path.is_file():
            errors.add(
                "weights",
                f"ImageNet weights for {backbone} are not on this server: put {path.name} in "
                f"{settings.BENCHMARK_WEIGHTS_DIR} (BENCHMARK_WEIGHTS_DIR, the same on the GPU "
                "workers), or choose weights: none to train from scratch.",
            )


def sweep_plan(*, spec: SweepSpec) -> list[PlannedRun]:
    """Every run of ``spec``, validated; raise :class:`LaunchRejected` naming all problems."""
    errors = _Errors()
    if not spec.models:
        errors.add("models", "choose at least one model kind")
    if not spec.backbones:
        errors.add("backbones", "choose at least one backbone")
    if spec.repeats < 1:
        errors.add("repeats", "must be at least 1")
    total = len(spec.models) * len(spec.backbones) * max(spec.repeats, 0)
    if total > MAX_RUNS_PER_SWEEP:
        errors.add("", f"{total} runs; a sweep may have at most {MAX_RUNS_PER_SWEEP}")
    header = _release_header(spec.release, errors)
    errors.raise_if_any()
    columns = _score_columns(spec, header, errors)
    if not columns:
        errors.add("score_columns", f"the release has no MOS column; its columns: {header}")
    errors.raise_if_any()
    _check_configs(spec, columns, errors)
    _check_weights(spec, errors)
    errors.raise_if_any()  # a config error would make the file checks below misleading
    _check_manifest_and_splits(spec, columns, errors)
    errors.raise_if_any()
    return [
        PlannedRun(
            model,
            backbone,
            repeat,
            spec.seed + repeat,
            _base_config(spec, model, backbone, spec.seed + repeat, columns),
        )
        for model in spec.models
        for backbone in spec.backbones
        for repeat in range(spec.repeats)
    ]


def sweep_launch(*, spec: SweepSpec, created_by: AbstractBaseUser | None) -> BenchmarkSweep:
    """Validate, then create the sweep and its runs and queue one task per run on commit."""
    plan = sweep_plan(spec=spec)
    parameters = {
        "models": list(spec.models),
        "backbones": list(spec.backbones),
        "score_columns": plan[0].config["score_columns"],
        "split": plan[0].config["split"],
        "repeats": spec.repeats,
        "seed": spec.seed,
        "hyper": {k: v for k, v in spec.hyper.items() if k in HYPER_FIELDS},
    }
    with transaction.atomic():
        sweep = BenchmarkSweep.objects.create(
            release=spec.release, name=spec.name, created_by=created_by, parameters=parameters
        )
        runs = BenchmarkRun.objects.bulk_create(
            [
                BenchmarkRun(
                    sweep=sweep,
                    release=spec.release,
                    model_kind=p.model,
                    backbone=p.backbone,
                    split_protocol=p.config["split"].get("protocol", "random"),
                    repeat=p.repeat,
                    seed=p.seed,
                    score_columns=p.config["score_columns"],
                    config=p.config,
                    task_id=str(uuid.uuid4()),
                )
                for p in plan
            ]
        )
        enqueue_on_commit(runs)
    return sweep
