"""Shared fixtures: a tiny synthetic database and a fast base configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmark.training.synthetic import make_synthetic_database


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    # The CI box has two cores shared with other jobs; one intra-op thread is
    # faster than two contended ones for these tiny models.
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synthetic_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_database(tmp_path_factory.mktemp("synthetic"), groups=16, size=40)


@pytest.fixture
def tiny_config(synthetic_manifest: Path, tmp_path: Path) -> dict[str, Any]:
    """A run small enough for a CPU test: resnet18 at 32 px, random weights."""
    return {
        "manifest": str(synthetic_manifest),
        "output_dir": str(tmp_path / "run"),
        "model": "nr",
        "backbone": "resnet18",
        "weights": "none",
        "epochs": 2,
        "batch_size": 8,
        "lr": 1e-3,
        "image_size": 32,
        "hidden_dim": 32,
        "workers": 0,
        "device": "cpu",
        "cache_dir": str(tmp_path / "cache"),
        "split": {"val_fraction": 0.2, "test_fraction": 0.25},
        "pscr": {"patch_size": 32, "grid": 2, "exemplars": 3},
    }


@pytest.fixture(scope="session")
def tiny_clip_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weights file of the catalog's ``clip_tiny_random``, made as a user makes it
    (``fetch-weights``, offline, checked against the catalog's sha256)."""
    from benchmark.training.catalog import BACKBONES, RANDOM_CLIP_BACKBONE
    from benchmark.training.cli import main

    folder = tmp_path_factory.mktemp("tiny_clip")
    assert main(["fetch-weights", RANDOM_CLIP_BACKBONE, "--dir", str(folder), "--quiet"]) == 0
    return folder / str(BACKBONES[RANDOM_CLIP_BACKBONE].weights_file)


@pytest.fixture(scope="session")
def prompt_manifest(synthetic_manifest: Path) -> Path:
    """The synthetic database with a text prompt per prompt group (beside its images)."""
    import pandas as pd

    frame = pd.read_csv(synthetic_manifest, dtype=str)
    frame["prompt"] = [f"a picture of scene {group[1:]}" for group in frame["prompt_group"]]
    path = synthetic_manifest.with_name("manifest_prompts.csv")
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def text_config(
    tiny_config: dict[str, Any], prompt_manifest: Path, tiny_clip_weights: Path
) -> dict[str, Any]:
    """tiny_config for the text-image kinds on the tiny CLIP and its local weights file."""
    return {
        **tiny_config,
        "manifest": str(prompt_manifest),
        "model": "text",
        "backbone": "clip_tiny_random",
        "weights": "pretrained",
        "weights_path": str(tiny_clip_weights),
        "image_size": None,
    }
