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
    """The tiny random CLIP of the training library's tests, registered as ``clip_tiny``
    (:func:`benchmark.training.tests.tiny_clip.make_tiny_clip`)."""
    from benchmark.training.tests.tiny_clip import make_tiny_clip

    return make_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture
def tiny_clip(settings, tiny_clip_file) -> str:
    """``clip_tiny`` with its weights file in this test's BENCHMARK_WEIGHTS_DIR, where the
    site looks for a backbone's pretrained weights; returns the backbone's name."""
    from benchmark.training.tests.tiny_clip import TINY_CLIP_BACKBONE

    (settings.BENCHMARK_WEIGHTS_DIR / tiny_clip_file.name).symlink_to(tiny_clip_file)
    return TINY_CLIP_BACKBONE
