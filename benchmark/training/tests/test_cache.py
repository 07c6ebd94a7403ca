from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from benchmark.training import cache as cache_module
from benchmark.training import train
from benchmark.training.cache import CacheSpec, ImageCache, load_cached


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    paths = []
    for i, (w, h) in enumerate([(40, 30), (64, 64), (20, 50)]):
        p = tmp_path / f"{i}.jpg"
        Image.fromarray(np.full((h, w, 3), 40 * i, dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_decodes_once_then_hits(images: list[str], tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "c")
    spec = CacheSpec("resize", 24)
    files = cache.ensure(images + images[:1], spec, threads=2)
    assert (cache.decodes, cache.hits) == (3, 0)
    assert files[0] == files[3]
    assert load_cached(files[1]).shape == (3, 24, 24)
    again = ImageCache(tmp_path / "c")
    assert again.ensure(images, spec) == files[:3]
    assert (again.decodes, again.hits) == (0, 3)
    assert not list((tmp_path / "c").rglob("*.tmp"))


def test_key_changes_with_file_and_size(images: list[str], tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "c")
    a = cache.path_for(images[0], CacheSpec("resize", 24))
    assert a != cache.path_for(images[0], CacheSpec("resize", 32))
    Image.fromarray(np.zeros((30, 40, 3), dtype=np.uint8)).save(images[0])
    st = os.stat(images[0])
    os.utime(images[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache.path_for(images[0], CacheSpec("resize", 24)) != a


def test_native_mode_keeps_resolution_and_upscales_small(images: list[str], tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "c")
    files = cache.ensure(images, CacheSpec("native", 32))
    shapes = [load_cached(f).shape for f in files]
    assert shapes[0] == (3, 32, 43)  # 40x30 upscaled so the short side fits a patch
    assert shapes[1] == (3, 64, 64)  # large enough: untouched
    assert shapes[2] == (3, 80, 32)


def test_training_decodes_each_image_once_across_epochs_and_runs(
    tiny_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    real = cache_module.decode_image

    def counting(path: str, spec: CacheSpec) -> np.ndarray:
        calls.append(path)
        return real(path, spec)

    monkeypatch.setattr(cache_module, "decode_image", counting)
    epochs: list[int] = []
    config = {**tiny_config, "epochs": 2, "save_checkpoint": False}
    train(config, on_epoch_end=lambda r: epochs.append(len(calls)))
    assert len(calls) == len(set(calls)) == 48
    assert epochs == [48, 48]  # nothing decoded during or after the second epoch
    train({**config, "output_dir": str(tmp_path / "second"), "epochs": 1})
    assert len(calls) == 48  # a later run reuses the cache
