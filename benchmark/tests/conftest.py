"""Benchmark tests train for real, so keep it tiny: CPU, one thread, a private cache."""

import pytest


@pytest.fixture(autouse=True)
def _benchmark_settings(settings, tmp_path_factory):
    settings.BENCHMARK_DEVICE = "cpu"
    settings.BENCHMARK_TORCH_THREADS = 1
    settings.BENCHMARK_DATALOADER_WORKERS = 0
    settings.BENCHMARK_CACHE_DIR = str(tmp_path_factory.getbasetemp() / "benchmark-cache")
    settings.BENCHMARK_WEIGHTS_DIR = tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory):
    """The weights file of the catalog's ``clip_tiny_random`` (random, from its seed), made
    once per session by the library (:func:`benchmark.training.fetch.create_random_weights`)."""
    from benchmark.training.catalog import BACKBONES, RANDOM_CLIP_BACKBONE
    from benchmark.training.fetch import create_random_weights

    info = BACKBONES[RANDOM_CLIP_BACKBONE]
    return create_random_weights(info, tmp_path_factory.mktemp("tiny_clip")).path


@pytest.fixture
def tiny_clip(settings, tiny_clip_file) -> str:
    """``clip_tiny_random`` with its weights file in this test's BENCHMARK_WEIGHTS_DIR, where
    the site looks for a backbone's pretrained weights; returns the backbone's name."""
    from benchmark.training.catalog import RANDOM_CLIP_BACKBONE

    (settings.BENCHMARK_WEIGHTS_DIR / tiny_clip_file.name).symlink_to(tiny_clip_file)
    return RANDOM_CLIP_BACKBONE
