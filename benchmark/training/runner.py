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
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from benchmark.training import engine
from benchmark.training.cache import CacheSpec, ImageCache, load_cached
from benchmark.training.catalog import BACKBONES
from benchmark.training.config import ConfigError, TrainConfig
from benchmark.training.data import (
    CachedImageDataset,
    DeviceAugment,
    EpochSampler,
    PatchDataset,
    sample_patches,
)
from benchmark.training.manifest import Manifest, load_manifest
from benchmark.training.metrics import aggregate, compute_metrics
from benchmark.training.models import create_model
from benchmark.training.outputs import SummaryWriter, write_json, write_predictions
from benchmark.training.splits import Split, make_splits, split_table
from benchmark.training.weights import locate

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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", f"{name} requested but CUDA is not available here")
    return torch.device(name)


def _selection_score(val: dict[str, dict[str, Any]]) -> float:
    vals = [m["srcc"] for m in val.values() if m["srcc"] is not None]
    return float(np.mean(vals)) if len(vals) == len(val) else float("-inf")


def _metrics_by_column(preds: np.ndarray, scores: np.ndarray, columns: list[str]) -> dict:
    return {c: compute_metrics(preds[:, j], scores[:, j]).to_dict() for j, c in enumerate(columns)}


def pick_exemplars(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """One training row per score quantile bin: the one nearest the bin's median.

    Exemplars spread over the score range give the contrastive head differences of
    both signs and all magnitudes.
    """
    primary = scores[rows, 0]
    k = min(k, len(rows))
    edges = np.quantile(primary, np.linspace(0, 1, k + 1))
    chosen: list[int] = []
    for b in range(k):
        lo, hi = edges[b], edges[b + 1]
        in_bin = (primary >= lo) & ((primary <= hi) if b == k - 1 else (primary < hi))
        cand = np.flatnonzero(in_bin)
        cand = cand[~np.isin(rows[cand], chosen)]
        if len(cand) == 0:
            continue
        target = np.median(primary[cand])
        chosen.append(int(rows[cand[np.argmin(np.abs(primary[cand] - target))]]))
    return np.asarray(chosen, dtype=np.int64)


class _Run:
    """State shared by the splits of one run."""

    def __init__(self, config: TrainConfig, manifest: Manifest, device: torch.device) -> None:
        self.c = config
        self.m = manifest
        self.device = device
        self.info = BACKBONES[config.backbone]
        self.cuda = device.type == "cuda"
        self.out = Path(config.output_dir)
        self.files: list[Path] = []
        self.ref_files: list[Path] | None = None

    def fill_cache(self, rows: np.ndarray) -> ImageCache:
        """Decode every image the splits use (once per cache) before the first epoch."""
        c = self.c
        cache = ImageCache(str(c.cache_dir))
        if c.model == "pscr":
            spec = CacheSpec("native", int(c.pscr.patch_size or 0))
        else:
            spec = CacheSpec("resize", int(c.resize_size or 0))

        def cached(paths: list[str]) -> list[Path]:
            files = cache.ensure(
                [paths[i] for i in rows], spec, threads=max(1, c.workers), progress=c.progress
            )
            by_row = [Path()] * len(paths)
            for i, f in zip(rows, files, strict=True):
                by_row[i] = f
            return by_row

        self.files = cached(self.m.images)
        refs = self.m.references
        if c.model == "fr" and refs is not None:
            self.ref_files = cached(refs)
        return cache

    def dataset(self, rows: np.ndarray, targets: np.ndarray):
        files = [self.files[i] for i in rows]
        if self.c.model == "pscr":
            return PatchDataset(files, targets, int(self.c.pscr.patch_size or 0), self.c.pscr.grid)
        refs = [self.ref_files[i] for i in rows] if self.ref_files is not None else None
        return CachedImageDataset(files, targets, refs)

    def loader(self, dataset, *, train: bool, seed: int) -> DataLoader:
        c = self.c
        batch = min(c.batch_size, len(dataset)) if train else int(c.eval_batch_size or c.batch_size)
        return DataLoader(
            dataset,
            batch_size=batch,
            sampler=EpochSampler(len(dataset), shuffle=train, seed=seed),
            # A last batch of one would break BatchNorm in training mode.
            drop_last=train,
            num_workers=c.workers,
            pin_memory=self.cuda,
            persistent_workers=c.workers > 0,
        )


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".pt.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _train_split(
    run: _Run,
    r: int,
    split: Split,
    n_splits: int,
    summary: SummaryWriter,
    on_epoch_end: Callable[[EpochReport], None] | None,
    should_stop: Callable[[], bool] | None,
) -> tuple[RepeatResult | None, bool]:
    c, m = run.c, run.m
    seed = c.seed * 100_003 + r
    torch.manual_seed(seed)
    split_dir = run.out / split.name
    split_dir.mkdir(parents=True, exist_ok=True)
    split_table(split, m.frame).to_csv(split_dir / "split.csv", index=False)

    train_rows = split.train
    if c.max_train_images is not None and len(train_rows) > c.max_train_images:
        rng = np.random.default_rng([c.seed, r, 1])
        train_rows = np.sort(rng.choice(train_rows, c.max_train_images, replace=False))
    scores = m.scores
    mean = scores[train_rows].mean(axis=0)
    std = scores[train_rows].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    standard = (scores - mean) / std

    model: nn.Module = create_model(c).to(run.device)
    if run.cuda and c.channels_last:
        model = model.to(memory_format=torch.channels_last)
    augment = DeviceAugment(
        run.info.mean,
        run.info.std,
        run.device,
        crop=None if c.model == "pscr" else c.image_size,
        channels_last=run.cuda and c.channels_last,
        seed=seed,
    )
    ctx = engine.StepContext(model, c.model, augment, run.device, amp=c.amp)
    exemplar_rows = np.zeros(0, dtype=np.int64)
    if c.model == "pscr":
        exemplar_rows = pick_exemplars(scores, train_rows, c.pscr.exemplars)
        patches = [
            sample_patches(load_cached(run.files[i]), int(c.pscr.patch_size or 0), c.pscr.grid)
            for i in exemplar_rows
        ]
        ctx.exemplar_patches = torch.from_numpy(np.stack(patches)).to(run.device)
        ctx.exemplar_targets = torch.as_tensor(
            standard[exemplar_rows], dtype=torch.float32, device=run.device
        )

    train_loader = run.loader(run.dataset(train_rows, standard[train_rows]), train=True, seed=seed)
    val_loader = run.loader(run.dataset(split.val, standard[split.val]), train=False, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.epochs)
        if c.scheduler == "cosine"
        else None
    )
    loss_fn = nn.MSELoss() if c.loss == "mse" else nn.L1Loss()

    def unstandardise(p: np.ndarray) -> np.ndarray:
        return p * std + mean

    best_score, best_epoch, best_state = float("-inf"), 0, None
    ckpt_path = split_dir / "best.pt"
    for epoch in range(1, c.epochs + 1):
        t0 = time.perf_counter()
        train_loader.sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        progress = f"{split.name} epoch {epoch}/{c.epochs}" if c.progress else None
        loss, stopped = engine.train_one_epoch(
            ctx, train_loader, optimizer, loss_fn, should_stop=should_stop, progress=progress
        )
        if stopped:
            return None, True
        if scheduler is not None:
            scheduler.step()
        val_pred = unstandardise(engine.predict(ctx, val_loader))
        val = _metrics_by_column(val_pred, scores[split.val], m.score_columns)
        score = _selection_score(val)
        is_best = best_state is None or score > best_score
        if is_best:
            best_score, best_epoch = score, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            if c.save_checkpoint:
                _save_checkpoint(
                    ckpt_path,
                    {
                        "format_version": FORMAT_VERSION,
                        "config": c.to_dict(),
                        "split": split.name,
                        "epoch": epoch,
                        "val_srcc": score,
                        "score_columns": m.score_columns,
                        "target_mean": mean.tolist(),
                        "target_std": std.tolist(),
                        "backbone_weights_sha256": model.backbone.weights_sha256,
                        "exemplars": {
                            "stimulus_id": m.stimulus_ids[exemplar_rows].tolist(),
                            "scores": scores[exemplar_rows].tolist(),
                            "patches": ctx.exemplar_patches.cpu() if c.model == "pscr" else None,
                        },
                        "model_state": best_state,
                    },
                )
        seconds = time.perf_counter() - t0
        plccs = [v["plcc"] for v in val.values() if v["plcc"] is not None]
        report = EpochReport(
            repeat=r,
            repeats=n_splits,
            split=split.name,
            epoch=epoch,
            epochs=c.epochs,
            train_loss=loss,
            val_srcc=score if np.isfinite(score) else float("nan"),
            val_plcc=float(np.mean(plccs)) if plccs else float("nan"),
            val=val,
            lr=lr,
            seconds=seconds,
            is_best=is_best,
            best_epoch=best_epoch,
            best_val_srcc=best_score,
        )
        summary.write(
            {
                "repeat": r,
                "split": split.name,
                "epoch": epoch,
                "train_loss": f"{loss:.6g}",
                "val_srcc": f"{report.val_srcc:.6g}",
                "val_plcc": f"{report.val_plcc:.6g}",
                "lr": f"{lr:.6g}",
                "seconds": f"{seconds:.3f}",
            }
        )
        if on_epoch_end is not None:
            on_epoch_end(report)

    assert best_state is not None
    model.load_state_dict(best_state)
    test_loader = run.loader(run.dataset(split.test, standard[split.test]), train=False, seed=seed)
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    predictions: dict[str, str] = {}
    for part, loader, rows in (("val", val_loader, split.val), ("test", test_loader, split.test)):
        preds = unstandardise(engine.predict(ctx, loader))
        metrics[part] = _metrics_by_column(preds, scores[rows], m.score_columns)
        path = split_dir / f"predictions_{part}.csv"
        write_predictions(path, m.frame, rows, preds, m.score_columns)
        predictions[part] = str(path)
    result = RepeatResult(
        split=split.name,
        best_epoch=best_epoch,
        best_val_srcc=best_score,
        metrics=metrics,
        checkpoint=str(ckpt_path) if c.save_checkpoint else None,
        predictions=predictions,
        notes=list(split.notes),
    )
    return result, False


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
    )
    splits = make_splits(manifest.frame, config.split, repeats=config.repeats, seed=config.seed)
    if config.weights == "imagenet" and not config.allow_download:
        locate(
            BACKBONES[config.backbone],
            weights_path=config.weights_path,
            weights_sha256=config.weights_sha256,
            allow_download=False,
        )
    return config, manifest, splits


def train(
    config: TrainConfig | dict[str, Any],
    on_epoch_end: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train and evaluate the configured model on every split; write the run's files.

    ``on_epoch_end`` receives an :class:`EpochReport` after each epoch (progress for a
    task or a progress bar); ``should_stop`` is polled before each batch and, once it
    returns true, the run ends early with ``stopped=True`` and the repeats completed
    so far.
    """
    started = time.perf_counter()
    config, manifest, splits = prepare(config)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    if device.type == "cuda":
        # Input sizes are fixed per run, so cuDNN's autotuner pays off after one batch.
        torch.backends.cudnn.benchmark = True
    run = _Run(config, manifest, device)
    run.out.mkdir(parents=True, exist_ok=True)
    used = np.unique(np.concatenate([np.concatenate(list(s.parts().values())) for s in splits]))
    write_json(
        run.out / "config.json",
        {
            **config.to_dict(),
            "_run": {
                "device": str(device),
                "torch": torch.__version__,
                "python": platform.python_version(),
                "manifest_rows": len(manifest),
                "splits": [s.name for s in splits],
                "format_version": FORMAT_VERSION,
            },
        },
    )
    run.fill_cache(used)
    summary = SummaryWriter(run.out / "summary.csv")
    results: list[RepeatResult] = []
    stopped = False
    for r, split in enumerate(splits):
        result, stopped = _train_split(
            run, r, split, len(splits), summary, on_epoch_end, should_stop
        )
        if result is not None:
            results.append(result)
        if stopped:
            break
    agg = _aggregate(results, manifest.score_columns) if results else {}
    write_json(
        run.out / "metrics.json",
        {
            "score_columns": manifest.score_columns,
            "stopped": stopped,
            "repeats": [r.__dict__ for r in results],
            "aggregate": agg,
        },
    )
    return TrainResult(
        output_dir=str(run.out),
        config=config.to_dict(),
        device=str(device),
        repeats=results,
        aggregate=agg,
        stopped=stopped,
        seconds=time.perf_counter() - started,
    )


__all__ = ["EpochReport", "RepeatResult", "TrainResult", "prepare", "train"]
