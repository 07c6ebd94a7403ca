"""``train(config)``: the one entry point shared by the CLI and the Celery task.

Everything that can be wrong with the inputs (config fields, manifest rows, split
feasibility, weight files, device) is checked before the first image is decoded.
Per split (repeat or fold) a fresh model is trained; the checkpoint with the best
validation SRCC is kept and only then evaluated on test.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from benchmark.training import engine
from benchmark.training.backbones import Backbone
from benchmark.training.batches import (
    BatchSource,
    PackedBatchDataset,
    PackedImages,
    ResidentBatches,
    fits_on_device,
    item_batches,
    pack_images,
    stream_batches,
)
from benchmark.training.cache import CacheSpec, ImageCache, load_cached
from benchmark.training.catalog import (
    BACKBONES,
    PRETRAINED_WEIGHTS,
    TEXT_MODEL_KINDS,
    ZERO_SHOT_MODEL_KINDS,
)
from benchmark.training.checkpoint import checkpoint_payload
from benchmark.training.config import ConfigError, TrainConfig
from benchmark.training.data import DeviceAugment, PatchDataset, sample_patches
from benchmark.training.manifest import Manifest, load_manifest
from benchmark.training.metrics import aggregate, compute_metrics
from benchmark.training.models import create_model
from benchmark.training.outputs import SummaryWriter, write_json, write_predictions
from benchmark.training.presets import protocol_deviations
from benchmark.training.splits import Split, make_splits, split_table
from benchmark.training.textimage import PromptBatches, PromptTokenizer
from benchmark.training.weights import locate, read_state_dict
from common.progress import Progress

FORMAT_VERSION = 1


@dataclass
class EpochReport:
    repeat: int  # 0-based index of the split being trained
    repeats: int  # number of splits (repeats x folds)
    split: str
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    val_srcc: float  # selection score: mean SRCC over score columns
    val_plcc: float
    val: dict[str, dict[str, Any]]  # column -> metrics
    lr: float
    seconds: float
    is_best: bool
    best_epoch: int
    best_val_srcc: float


@dataclass
class RepeatResult:
    split: str
    best_epoch: int
    best_val_srcc: float
    metrics: dict[str, dict[str, dict[str, Any]]]  # part -> column -> metrics
    checkpoint: str | None
    predictions: dict[str, str]
    notes: list[str] = field(default_factory=list)


@dataclass
class TrainResult:
    output_dir: str
    config: dict[str, Any]
    device: str
    repeats: list[RepeatResult]
    aggregate: dict[str, dict[str, dict[str, dict[str, Any]]]]  # part -> column -> metric -> stats
    stopped: bool
    seconds: float
    # How batches were fed: path (resident, stream or files), loader_workers, bytes.
    data: dict[str, Any] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "device", f"{name} requested but CUDA is not available here; use cpu or auto"
        )
    return torch.device(name)


def _selection_score(val: dict[str, dict[str, Any]]) -> float:
    vals = [m["srcc"] for m in val.values() if m["srcc"] is not None]
    return float(np.mean(vals)) if len(vals) == len(val) else float("-inf")


def _metrics_by_column(preds: np.ndarray, scores: np.ndarray, columns: list[str]) -> dict:
    return {c: compute_metrics(preds[:, j], scores[:, j]).to_dict() for j, c in enumerate(columns)}


def pick_exemplars(scores: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """One training row per score quantile bin: the one nearest the bin's median.

    Exemplars spread over the score range give the contrastive head differences of
    both signs and all magnitudes.
    """
    primary = scores[rows, 0]
    bins = min(count, len(rows))
    edges = np.quantile(primary, np.linspace(0, 1, bins + 1))
    chosen: list[int] = []
    for bin_index in range(bins):
        low, high = edges[bin_index], edges[bin_index + 1]
        last = bin_index == bins - 1
        in_bin = (primary >= low) & ((primary <= high) if last else (primary < high))
        candidates = np.flatnonzero(in_bin)
        candidates = candidates[~np.isin(rows[candidates], chosen)]
        if len(candidates) == 0:
            continue
        target = np.median(primary[candidates])
        nearest = candidates[np.argmin(np.abs(primary[candidates] - target))]
        chosen.append(int(rows[nearest]))
    return np.asarray(chosen, dtype=np.int64)


class _Run:
    """State shared by the splits of one run."""

    def __init__(self, config: TrainConfig, manifest: Manifest, device: torch.device) -> None:
        self.config = config
        self.manifest = manifest
        self.device = device
        self.info = BACKBONES[config.backbone]
        self.cuda = device.type == "cuda"
        self.out = Path(config.output_dir)
        self.files: list[Path] = []
        self.ref_files: list[Path] | None = None
        self.packed: PackedImages | None = None
        self.packed_refs: PackedImages | None = None
        self.resident: tuple[torch.Tensor, torch.Tensor | None] | None = None
        # Text-image kinds: every row's prompt as token ids (N, T, L), made once.
        self.tokens: torch.Tensor | None = None
        if config.model in TEXT_MODEL_KINDS:
            assert self.info.clip_model is not None
            tokenizer = PromptTokenizer(self.info.clip_model, config.model, config.text)
            self.tokens = tokenizer(manifest.prompts)

    def fill_cache(self, rows: np.ndarray) -> ImageCache:
        """Decode every image the splits use (once per cache) before the first epoch."""
        config = self.config
        cache = ImageCache(str(config.cache_dir))
        if config.model == "pscr":
            spec = CacheSpec("native", int(config.pscr.patch_size or 0))
        else:
            spec = CacheSpec("resize", int(config.resize_size or 0))

        def cached(paths: list[str]) -> list[Path]:
            files = cache.ensure(
                [paths[i] for i in rows],
                spec,
                threads=max(1, config.workers),
                progress=config.progress,
            )
            by_row = [Path()] * len(paths)
            for row, file in zip(rows, files, strict=True):
                by_row[row] = file
            return by_row

        self.files = cached(self.manifest.images)
        refs = self.manifest.references
        if config.model == "fr" and refs is not None:
            self.ref_files = cached(refs)
        return cache

    def prepare_data(self, rows: np.ndarray) -> dict[str, Any]:
        """Pack the cached images into one array per dataset; load it onto the device
        when it fits. Return how batches will be fed (recorded with the run)."""
        config = self.config
        if config.model == "pscr":  # native-resolution images differ in size: per file
            return {"path": "files", "loader_workers": config.workers, "bytes": 0}
        root = Path(str(config.cache_dir))
        self.packed = pack_images(self.files, rows, root)
        if self.ref_files is not None:
            self.packed_refs = pack_images(self.ref_files, rows, root)
        needed = self.packed.nbytes + (self.packed_refs.nbytes if self.packed_refs else 0)
        resident = config.data_path == "resident" or (
            config.data_path == "auto"
            and fits_on_device(needed, self.device, config.resident_share)
        )
        if resident:
            self.resident = (
                self._to_device(self.packed),
                self._to_device(self.packed_refs) if self.packed_refs else None,
            )
            return {"path": "resident", "loader_workers": 0, "bytes": needed}
        return {"path": "stream", "loader_workers": config.workers, "bytes": needed}

    def _to_device(self, packed: PackedImages) -> torch.Tensor:
        # np.array reads the whole file into (writable) memory once.
        return torch.from_numpy(np.array(packed.open())).to(self.device)

    def batches(
        self, rows: np.ndarray, targets: np.ndarray, *, train: bool, seed: int
    ) -> BatchSource:
        """Batches of ``rows`` (standardised ``targets``), with their prompts' tokens for
        the text-image kinds."""
        source = self._image_batches(rows, targets, train=train, seed=seed)
        if self.tokens is None:
            return source
        return PromptBatches(source, self.tokens[torch.as_tensor(rows, dtype=torch.long)])

    def _image_batches(
        self, rows: np.ndarray, targets: np.ndarray, *, train: bool, seed: int
    ) -> BatchSource:
        """Batches of ``rows`` (standardised ``targets``), by the path prepare_data chose."""
        config = self.config
        if train:
            batch = min(config.batch_size, len(rows))
        else:
            batch = int(config.eval_batch_size or config.batch_size)
        if self.resident is not None:
            assert self.packed is not None
            images, refs = self.resident
            return ResidentBatches(
                images,
                self.packed.slots[rows],
                targets,
                batch_size=batch,
                train=train,
                seed=seed,
                references=refs,
                reference_slots=self.packed_refs.slots[rows] if self.packed_refs else None,
            )
        if self.packed is not None:
            return stream_batches(
                PackedBatchDataset(self.packed, rows, targets, self.packed_refs),
                batch_size=batch,
                train=train,
                seed=seed,
                workers=config.workers,
                pin_memory=self.cuda,
            )
        pscr = config.pscr
        files = [self.files[i] for i in rows]
        dataset = PatchDataset(files, targets, int(pscr.patch_size or 0), pscr.grid)
        return item_batches(
            dataset,
            len(rows),
            batch_size=batch,
            train=train,
            seed=seed,
            workers=config.workers,
            pin_memory=self.cuda,
        )


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


@dataclass
class _Targets:
    """Scores standardised with the training rows' mean and spread (per score column)."""

    mean: np.ndarray
    std: np.ndarray
    standard: np.ndarray

    @classmethod
    def identity(cls, scores: np.ndarray) -> _Targets:
        """No standardisation: a zero-shot score is on its own scale, not the MOS's."""
        columns = scores.shape[1]
        return cls(np.zeros(columns), np.ones(columns), scores.copy())

    @classmethod
    def from_training_rows(cls, scores: np.ndarray, rows: np.ndarray) -> _Targets:
        mean = scores[rows].mean(axis=0)
        std = scores[rows].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return cls(mean, std, (scores - mean) / std)

    def unstandardise(self, predictions: np.ndarray) -> np.ndarray:
        return predictions * self.std + self.mean


@dataclass
class _SplitTraining:
    """Everything one split's training needs, built once before its first epoch."""

    index: int
    split: Split
    split_dir: Path
    seed: int
    targets: _Targets
    model: nn.Module
    context: engine.StepContext
    exemplar_rows: np.ndarray
    train_batches: BatchSource
    val_batches: BatchSource
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    loss_fn: nn.Module

    @property
    def checkpoint_path(self) -> Path:
        return self.split_dir / "best.pt"


@dataclass
class _Best:
    """The best-on-validation epoch so far and its weights (on the CPU)."""

    score: float = float("-inf")
    epoch: int = 0
    state: dict[str, torch.Tensor] | None = None


def is_zero_shot(config: TrainConfig) -> bool:
    """CLIPScore trains nothing: each split is one evaluation of the pretrained model."""
    return config.model in ZERO_SHOT_MODEL_KINDS


def epochs_of(config: TrainConfig) -> int:
    return 1 if is_zero_shot(config) else config.epochs


def _training_rows(config: TrainConfig, split: Split, index: int) -> np.ndarray:
    """The split's training rows, subsampled (reproducibly) to ``max_train_images``."""
    rows = split.train
    if config.max_train_images is not None and len(rows) > config.max_train_images:
        rng = np.random.default_rng([config.seed, index, 1])
        rows = np.sort(rng.choice(rows, config.max_train_images, replace=False))
    return rows


def _build_model(run: _Run, seed: int) -> tuple[nn.Module, engine.StepContext]:
    config = run.config
    model: nn.Module = create_model(config).to(run.device)
    if run.cuda and config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    augment = DeviceAugment(
        run.info.mean,
        run.info.std,
        run.device,
        crop=None if config.model == "pscr" else config.image_size,
        channels_last=run.cuda and config.channels_last,
        seed=seed,
    )
    context = engine.StepContext(model, config.model, augment, run.device, amp=config.amp)
    return model, context


def _attach_exemplars(
    run: _Run, context: engine.StepContext, train_rows: np.ndarray, targets: _Targets
) -> np.ndarray:
    """PSCR compares against exemplar images; give the step context their patches."""
    config = run.config
    if config.model != "pscr":
        return np.zeros(0, dtype=np.int64)
    exemplar_rows = pick_exemplars(run.manifest.scores, train_rows, config.pscr.exemplars)
    patch_size = int(config.pscr.patch_size or 0)
    patches = [
        sample_patches(load_cached(run.files[i]), patch_size, config.pscr.grid)
        for i in exemplar_rows
    ]
    context.exemplar_patches = torch.from_numpy(np.stack(patches)).to(run.device)
    context.exemplar_targets = torch.as_tensor(
        targets.standard[exemplar_rows], dtype=torch.float32, device=run.device
    )
    return exemplar_rows


def _build_split(run: _Run, index: int, split: Split) -> _SplitTraining:
    """Seed, write the split's table, and build its model, loaders and optimiser."""
    config = run.config
    seed = config.seed * 100_003 + index
    torch.manual_seed(seed)
    split_dir = run.out / split.name
    split_dir.mkdir(parents=True, exist_ok=True)
    split_table(split, run.manifest.frame).to_csv(split_dir / "split.csv", index=False)

    train_rows = _training_rows(config, split, index)
    if is_zero_shot(config):
        targets = _Targets.identity(run.manifest.scores)
    else:
        targets = _Targets.from_training_rows(run.manifest.scores, train_rows)
    model, context = _build_model(run, seed)
    exemplar_rows = _attach_exemplars(run, context, train_rows, targets)
    standard = targets.standard
    optimizer_class = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    optimizer = optimizer_class(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        if config.scheduler == "cosine"
        else None
    )
    return _SplitTraining(
        index=index,
        split=split,
        split_dir=split_dir,
        seed=seed,
        targets=targets,
        model=model,
        context=context,
        exemplar_rows=exemplar_rows,
        train_batches=run.batches(train_rows, standard[train_rows], train=True, seed=seed),
        val_batches=run.batches(split.val, standard[split.val], train=False, seed=seed),
        optimizer=optimizer,
        scheduler=scheduler,
        loss_fn=nn.MSELoss() if config.loss == "mse" else nn.L1Loss(),
    )


def _checkpoint_payload(
    run: _Run, training: _SplitTraining, epoch: int, score: float, state: dict[str, Any]
) -> dict[str, Any]:
    config, manifest = run.config, run.manifest
    exemplar_rows = training.exemplar_rows
    patches = training.context.exemplar_patches
    return checkpoint_payload(
        config=config,
        split=training.split.name,
        epoch=epoch,
        val_srcc=score,
        score_columns=manifest.score_columns,
        target_mean=training.targets.mean,
        target_std=training.targets.std,
        backbone_sha256=cast(Backbone, training.model.backbone).weights_sha256,
        exemplar_ids=manifest.stimulus_ids[exemplar_rows].tolist(),
        exemplar_scores=manifest.scores[exemplar_rows],
        exemplar_patches=patches if config.model == "pscr" else None,
        model_state=state,
    )


def _keep_if_best(
    run: _Run, training: _SplitTraining, best: _Best, epoch: int, score: float
) -> bool:
    """Remember (and checkpoint) this epoch's weights if they beat the best so far."""
    if best.state is not None and not score > best.score:  # NaN never beats a kept epoch
        return False
    best.score, best.epoch = score, epoch
    state = training.model.state_dict().items()
    best.state = {name: value.detach().to("cpu", copy=True) for name, value in state}
    if run.config.save_checkpoint:
        payload = _checkpoint_payload(run, training, epoch, score, best.state)
        _save_checkpoint(training.checkpoint_path, payload)
    return True


def _write_summary_row(summary: SummaryWriter, index: int, report: EpochReport) -> None:
    summary.write(
        {
            "repeat": index,
            "split": report.split,
            "epoch": report.epoch,
            "train_loss": f"{report.train_loss:.6g}",
            "val_srcc": f"{report.val_srcc:.6g}",
            "val_plcc": f"{report.val_plcc:.6g}",
            "lr": f"{report.lr:.6g}",
            "seconds": f"{report.seconds:.3f}",
        }
    )


def _fit_epoch(
    training: _SplitTraining,
    epoch: int,
    should_stop: Callable[[], bool] | None,
    config: TrainConfig,
    split: Split,
) -> tuple[float, bool]:
    """The optimiser's pass over the training rows; (mean loss, whether it was stopped)."""
    training.train_batches.set_epoch(epoch)
    bar = f"{split.name} epoch {epoch}/{config.epochs}" if config.progress else None
    loss, stopped = engine.train_one_epoch(
        training.context,
        training.train_batches,
        training.optimizer,
        training.loss_fn,
        should_stop=should_stop,
        progress=bar,
    )
    if not stopped and training.scheduler is not None:
        training.scheduler.step()
    return loss, stopped


def _train_epoch(
    run: _Run,
    training: _SplitTraining,
    best: _Best,
    epoch: int,
    n_splits: int,
    should_stop: Callable[[], bool] | None,
) -> EpochReport | None:
    """One epoch of training and validation; None if ``should_stop`` stopped it."""
    config, manifest, split = run.config, run.manifest, training.split
    started = time.perf_counter()
    lr = training.optimizer.param_groups[0]["lr"]
    if is_zero_shot(config):
        if should_stop is not None and should_stop():
            return None
        loss, lr = float("nan"), 0.0
    else:
        loss, stopped = _fit_epoch(training, epoch, should_stop, config, split)
        if stopped:
            return None
    val_predictions = training.targets.unstandardise(
        engine.predict(training.context, training.val_batches)
    )
    val = _metrics_by_column(val_predictions, manifest.scores[split.val], manifest.score_columns)
    score = _selection_score(val)
    is_best = _keep_if_best(run, training, best, epoch, score)
    plccs = [metrics["plcc"] for metrics in val.values() if metrics["plcc"] is not None]
    return EpochReport(
        repeat=training.index,
        repeats=n_splits,
        split=split.name,
        epoch=epoch,
        epochs=epochs_of(config),
        train_loss=loss,
        val_srcc=score if np.isfinite(score) else float("nan"),
        val_plcc=float(np.mean(plccs)) if plccs else float("nan"),
        val=val,
        lr=lr,
        seconds=time.perf_counter() - started,
        is_best=is_best,
        best_epoch=best.epoch,
        best_val_srcc=best.score,
    )


def _evaluate_best(run: _Run, training: _SplitTraining, best: _Best) -> RepeatResult:
    """Load the best epoch's weights; predict and score validation and test; write both."""
    manifest, split = run.manifest, training.split
    assert best.state is not None
    training.model.load_state_dict(best.state)
    test_batches = run.batches(
        split.test, training.targets.standard[split.test], train=False, seed=training.seed
    )
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    predictions: dict[str, str] = {}
    parts = (("val", training.val_batches, split.val), ("test", test_batches, split.test))
    for part, batches, rows in parts:
        predicted = training.targets.unstandardise(engine.predict(training.context, batches))
        metrics[part] = _metrics_by_column(predicted, manifest.scores[rows], manifest.score_columns)
        path = training.split_dir / f"predictions_{part}.csv"
        write_predictions(path, manifest.frame, rows, predicted, manifest.score_columns)
        predictions[part] = str(path)
    return RepeatResult(
        split=split.name,
        best_epoch=best.epoch,
        best_val_srcc=best.score,
        metrics=metrics,
        checkpoint=str(training.checkpoint_path) if run.config.save_checkpoint else None,
        predictions=predictions,
        notes=list(split.notes),
    )


@dataclass
class _Listeners:
    """Who hears about a run as it trains (every one optional)."""

    on_epoch_end: Callable[[EpochReport], None] | None = None
    should_stop: Callable[[], bool] | None = None
    progress: Progress | None = None

    def epoch_ended(self, report: EpochReport) -> None:
        if self.progress is not None:
            done = report.repeat * report.epochs + report.epoch
            phase = f"{report.split} epoch {report.epoch} of {report.epochs}"
            self.progress(phase, done, report.repeats * report.epochs)
        if self.on_epoch_end is not None:
            self.on_epoch_end(report)


def _train_split(
    run: _Run,
    index: int,
    split: Split,
    n_splits: int,
    summary: SummaryWriter,
    listeners: _Listeners,
) -> tuple[RepeatResult | None, bool]:
    """Train one split from scratch; evaluate its best epoch. ``(None, True)`` if stopped."""
    training = _build_split(run, index, split)
    best = _Best()
    for epoch in range(1, epochs_of(run.config) + 1):
        report = _train_epoch(run, training, best, epoch, n_splits, listeners.should_stop)
        if report is None:
            return None, True
        _write_summary_row(summary, index, report)
        listeners.epoch_ended(report)
    return _evaluate_best(run, training, best), False


def _aggregate(results: list[RepeatResult], columns: list[str]) -> dict:
    return {
        part: {col: aggregate(r.metrics[part][col] for r in results) for col in columns}
        for part in ("val", "test")
    }


def prepare(config: TrainConfig | dict[str, Any]) -> tuple[TrainConfig, Manifest, list[Split]]:
    """Validate everything that can be checked without training; raise on the first problem."""
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    config.validate()
    config = config.resolved()
    manifest = load_manifest(
        config.manifest,
        config.score_columns,
        need_reference=config.model == "fr",
        reference_rows_only=config.model == "fr" and config.reference_rows_only,
        need_prompt=config.model in TEXT_MODEL_KINDS,
    )
    splits = make_splits(manifest.frame, config.split, repeats=config.repeats, seed=config.seed)
    clip_model = BACKBONES[config.backbone].clip_model
    if clip_model is not None:
        PromptTokenizer(clip_model, config.model, config.text)  # names an unknown config
    if config.weights in PRETRAINED_WEIGHTS and not config.allow_download:
        path, _ = locate(
            BACKBONES[config.backbone],
            weights_path=config.weights_path,
            weights_sha256=config.weights_sha256,
            allow_download=False,
        )
        if config.weights_path:
            # A user's own file passes the checksum it was given even when it holds no
            # weights at all; read it now rather than after decoding every image.
            read_state_dict(path)
    return config, manifest, splits


def train(
    config: TrainConfig | dict[str, Any],
    on_epoch_end: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train and evaluate the configured model on every split; write the run's files.

    ``progress(phase, done, total)`` hears after each epoch how many of all splits'
    epochs are done, just before ``on_epoch_end`` receives that epoch's
    :class:`EpochReport` (its losses and validation metrics). ``should_stop`` is polled
    before each batch and, once it returns true, the run ends early with
    ``stopped=True`` and the repeats completed so far.
    """
    started = time.perf_counter()
    config, manifest, splits = prepare(config)
    device = _set_up_torch(config)
    run = _Run(config, manifest, device)
    run.out.mkdir(parents=True, exist_ok=True)
    _write_run_config(run, splits)
    used = np.unique(
        np.concatenate([np.concatenate(list(split.parts().values())) for split in splits])
    )
    run.fill_cache(used)
    data = run.prepare_data(used)
    summary = SummaryWriter(run.out / "summary.csv")
    results: list[RepeatResult] = []
    stopped = False
    listeners = _Listeners(on_epoch_end, should_stop, progress)
    for index, split in enumerate(splits):
        result, stopped = _train_split(run, index, split, len(splits), summary, listeners)
        if result is not None:
            results.append(result)
        if stopped:
            break
    aggregated = _aggregate(results, manifest.score_columns) if results else {}
    write_json(
        run.out / "metrics.json",
        {
            "score_columns": manifest.score_columns,
            "stopped": stopped,
            "data": data,
            "repeats": [result.__dict__ for result in results],
            "aggregate": aggregated,
        },
    )
    return TrainResult(
        output_dir=str(run.out),
        config=config.to_dict(),
        device=str(device),
        repeats=results,
        aggregate=aggregated,
        stopped=stopped,
        seconds=time.perf_counter() - started,
        data=data,
    )


def _set_up_torch(config: TrainConfig) -> torch.device:
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    if device.type == "cuda":
        # Input sizes are fixed per run, so cuDNN's autotuner pays off after one batch.
        torch.backends.cudnn.benchmark = True
    return device


def run_deviations(config: TrainConfig, device: torch.device) -> list[str]:
    """What this run does differently from its published protocol (none without one)."""
    return protocol_deviations(
        config.protocol, config.backbone, device_type=device.type, model=config.model
    )


def _write_run_config(run: _Run, splits: list[Split]) -> None:
    """``config.json``: the resolved configuration plus the facts of this machine and run."""
    write_json(
        run.out / "config.json",
        {
            **run.config.to_dict(),
            "_run": {
                "device": str(run.device),
                "torch": torch.__version__,
                "python": platform.python_version(),
                "manifest_rows": len(run.manifest),
                "splits": [split.name for split in splits],
                "protocol_deviations": run_deviations(run.config, run.device),
                "format_version": FORMAT_VERSION,
            },
        },
    )


__all__ = ["EpochReport", "RepeatResult", "TrainResult", "prepare", "train"]
