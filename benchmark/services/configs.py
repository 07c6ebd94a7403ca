"""From a run's stored configuration to the TrainConfig dict one machine trains with.

A run row stores only what is the same everywhere (model, backbone, split, hyper-
parameters); paths, device and thread counts differ between the web server and each GPU
worker, so they are filled in from that machine's settings at the moment of use.
"""

import csv
import dataclasses
import io
import multiprocessing
import os
import posixpath
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage

from annotation.models import LabelRelease
from annotation.services.release_formats import (
    TRAINING_MANIFEST,
    release_folder,
    release_is_pairwise,
)
from benchmark.training.catalog import BACKBONES, PRETRAINED_WEIGHTS, package_weights_path
from benchmark.training.config import SplitConfig
from core.storage import media_cache, media_local_path, media_name, storage_is_local

# Fields a launch may set per sweep; everything else keeps the library's default.
HYPER_FIELDS = (
    "protocol",
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


# Columns of a release's MOS CSV that name image files (relative to the CSV's folder).
IMAGE_COLUMNS = ("image", "reference")


def release_manifest_name(*, release: LabelRelease) -> str:
    """The stored table a retrain reads: the MOS CSV, or for a pairwise release the
    training manifest derived from its scores CSV (mos_<key> hold the JOD scores)."""
    if TRAINING_MANIFEST in (release.method_config.get("derived_files") or {}):
        return f"{release_folder(release)}/{TRAINING_MANIFEST}"
    return release.mos_file.name


def release_score_units(*, release: LabelRelease) -> str:
    """What the learnt scores are in: JOD for a pairwise release, else the study's scale."""
    if release_is_pairwise(release):
        return str(release.method_config.get("unit") or "JOD")
    return "MOS"


def release_manifest_path(*, release: LabelRelease) -> Path:
    """The release's MOS CSV as a file on this machine, as stored: its image paths are
    relative to the release folder, so they resolve only where media is a local folder."""
    return media_local_path(release_manifest_name(release=release))


def release_manifest_for_training(*, mos_name: str, dest: Path) -> Path:
    """A MOS CSV whose images this machine can open: the stored one when media is local;
    else a copy in ``dest`` naming each image (and reference) by its copy in this
    machine's media cache, fetched now unless a run before fetched the same version."""
    if storage_is_local():
        return media_local_path(mos_name)
    with default_storage.open(mos_name, "rb") as handle:
        text = handle.read().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    cache = media_cache()
    folder = posixpath.dirname(mos_name)
    fetched: list[Path] = []
    for row in rows:
        for column in IMAGE_COLUMNS:
            if (row.get(column) or "").strip():
                name = posixpath.normpath(posixpath.join(folder, row[column]))
                fetched.append(cache.fetch(name))
                row[column] = str(fetched[-1])
    cache.trim(keep=fetched)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / posixpath.basename(mos_name)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def weights_path(*, backbone: str) -> Path | None:
    """Where this machine keeps the pretrained weights of ``backbone`` (ImageNet for the
    CNNs, CLIP's for a CLIP backbone): its file in BENCHMARK_WEIGHTS_DIR, else the file
    its pip package installed (EfficientNet-Lite0); the former when neither is there.
    None for a backbone the catalog names no file for."""
    info = BACKBONES.get(backbone)
    if info is None or not info.weights_file:
        return None
    local = Path(settings.BENCHMARK_WEIGHTS_DIR) / info.weights_file
    packaged = package_weights_path(info)
    if not local.is_file() and packaged is not None and packaged.is_file():
        return packaged
    return local


def random_weights_prepare(*, backbone: str) -> tuple[Path, str]:
    """Make the weights file of a random-weights backbone (clip_tiny_random) in
    BENCHMARK_WEIGHTS_DIR unless a verified copy is there; offline. Returns the file and
    "created" or "present". Imports torch: for management commands, not web requests."""
    from benchmark.training.fetch import create_random_weights

    fetched = create_random_weights(BACKBONES[backbone], Path(settings.BENCHMARK_WEIGHTS_DIR))
    return fetched.path, fetched.status


def dataloader_workers() -> int:
    """BENCHMARK_DATALOADER_WORKERS, or for -1 (auto) the cores this process may use when
    it may start processes, else 0.

    A Celery prefork child is daemonic and may not start processes (DataLoader workers);
    a ``--pool solo`` worker (the documented GPU worker) runs the task in its main process.
    """
    configured = settings.BENCHMARK_DATALOADER_WORKERS
    if configured >= 0:
        return configured
    if multiprocessing.current_process().daemon:
        return 0
    return len(os.sched_getaffinity(0))


def machine_config(*, base: dict[str, Any], manifest: Path, output_dir: Path) -> dict[str, Any]:
    """``base`` (a run's stored config) plus this machine's paths, device and threads."""
    config = dict(base)
    config.update(
        manifest=str(manifest),
        output_dir=str(output_dir),
        device=settings.BENCHMARK_DEVICE,
        workers=dataloader_workers(),
        data_path=settings.BENCHMARK_DATA_PATH,
        resident_share=settings.BENCHMARK_RESIDENT_SHARE,
        threads=settings.BENCHMARK_TORCH_THREADS or None,
        cache_dir=settings.BENCHMARK_CACHE_DIR or None,
        progress=False,
    )
    if config.get("weights") in PRETRAINED_WEIGHTS:
        path = weights_path(backbone=str(config.get("backbone", "")))
        config["weights_path"] = str(path) if path else None
    return config


def media_relative(path: str | Path | None) -> str:
    """The stored name of a file this machine wrote for media (core.storage.media_workdir),
    as kept on rows, so every machine resolves it itself."""
    if not path:
        return ""
    return media_name(path)


def media_path(relative: str) -> Path:
    """A file on this machine with the bytes of the stored ``relative`` (core.storage)."""
    return media_local_path(relative)
