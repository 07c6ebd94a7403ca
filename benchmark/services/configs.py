"""From a run's stored configuration to the TrainConfig dict one machine trains with.

A run row stores only what is the same everywhere (model, backbone, split, hyper-
parameters); paths, device and thread counts differ between the web server and each GPU
worker, so they are filled in from that machine's settings at the moment of use.
"""

import dataclasses
from pathlib import Path
from typing import Any

from django.conf import settings

from annotation.models import LabelRelease
from benchmark.training.catalog import BACKBONES
from benchmark.training.config import SplitConfig

# Fields a launch may set per sweep; everything else keeps the library's default.
HYPER_FIELDS = (
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "image_size",
    "weights",
    "loss",
    "scheduler",
    "hidden_dim",
    "max_train_images",
)
# Every SplitConfig field but the fixed protocol's split file (a CLI-only protocol).
SPLIT_FIELDS = tuple(f.name for f in dataclasses.fields(SplitConfig) if f.name != "file")


def release_manifest_path(*, release: LabelRelease) -> Path:
    return Path(release.mos_file.path)


def weights_path(*, backbone: str) -> Path | None:
    """Where this machine keeps the ImageNet weights of ``backbone`` (see README)."""
    info = BACKBONES.get(backbone)
    if info is None or not info.weights_file:
        return None
    return Path(settings.BENCHMARK_WEIGHTS_DIR) / info.weights_file


def machine_config(*, base: dict[str, Any], manifest: Path, output_dir: Path) -> dict[str, Any]:
    """``base`` (a run's stored config) plus this machine's paths, device and threads."""
    config = dict(base)
    config.update(
        manifest=str(manifest),
        output_dir=str(output_dir),
        device=settings.BENCHMARK_DEVICE,
        workers=settings.BENCHMARK_DATALOADER_WORKERS,
        threads=settings.BENCHMARK_TORCH_THREADS or None,
        cache_dir=settings.BENCHMARK_CACHE_DIR or None,
        progress=False,
    )
    if config.get("weights") == "imagenet":
        path = weights_path(backbone=str(config.get("backbone", "")))
        config["weights_path"] = str(path) if path else None
    return config


def media_relative(path: str | Path | None) -> str:
    """A path under MEDIA_ROOT as stored on rows, so every machine resolves it itself."""
    if not path:
        return ""
    return str(Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve()))


def media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative
