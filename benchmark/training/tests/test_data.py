from __future__ import annotations

import numpy as np
import torch

from benchmark.training.data import DeviceAugment, EpochSampler, grid_positions, sample_patches


def _augment(crop: int | None, channels_last: bool = False) -> DeviceAugment:
    return DeviceAugment(
        (0.0, 0.0, 0.0), (1 / 255,) * 3, torch.device("cpu"), crop=crop,
        channels_last=channels_last, seed=0,
    )  # fmt: skip


def test_eval_is_a_centre_crop_and_normalised() -> None:
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).remainder(256).to(torch.uint8)
    x = x.view(2, 3, 6, 6)
    (out,) = _augment(4)([x], train=False)
    assert torch.equal(out, x[..., 1:5, 1:5].float())  # std 1/255: identity scaling


def test_train_crops_and_flips_image_and_reference_alike() -> None:
    x = torch.randint(0, 256, (8, 3, 10, 10), dtype=torch.uint8)
    a, b = _augment(6)([x, x.clone()], train=True)
    assert a.shape == (8, 3, 6, 6) and torch.equal(a, b)
    windows = [
        x[i, :, y : y + 6, z : z + 6].float() for i in range(8) for y in range(5) for z in range(5)
    ]
    for i in range(8):
        assert any(torch.equal(a[i], w) or torch.equal(a[i].flip(-1), w) for w in windows)


def test_channels_last_for_images_and_patches() -> None:
    (img,) = _augment(4, True)([torch.zeros(2, 3, 6, 6, dtype=torch.uint8)], train=True)
    assert img.is_contiguous(memory_format=torch.channels_last)
    (patches,) = _augment(None, True)([torch.zeros(2, 4, 3, 5, 5, dtype=torch.uint8)], train=True)
    assert patches.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)


def test_patch_grid_covers_the_image_at_native_resolution() -> None:
    assert grid_positions(100, 32, 3).tolist() == [0, 34, 68]
    assert grid_positions(100, 32, 1).tolist() == [34]
    arr = np.arange(3 * 100 * 80, dtype=np.uint8).reshape(3, 100, 80)
    p = sample_patches(arr, 32, 2)
    assert p.shape == (4, 3, 32, 32)
    assert np.array_equal(p[3], arr[:, 68:100, 48:80])  # bottom-right corner, unresized
    jit = sample_patches(arr, 32, 2, np.random.default_rng(1))
    assert jit.shape == (4, 3, 32, 32)


def test_sampler_shuffles_per_epoch_reproducibly() -> None:
    s = EpochSampler(10, shuffle=True, seed=3)
    s.set_epoch(1)
    first = list(s)
    s.set_epoch(2)
    second = list(s)
    s.set_epoch(1)
    assert list(s) == first and first != second
    assert sorted(i for i, _ in first) == list(range(10))
    assert list(EpochSampler(3, shuffle=False, seed=0)) == [(0, None), (1, None), (2, None)]
