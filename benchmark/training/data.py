"""Datasets over cached uint8 arrays, and the augmentations applied on the device.

Workers only copy cached pixels; cropping, flipping, float conversion and
normalisation run on the training device over whole batches, where they are cheap,
and uint8 batches cross the host-device link at a quarter of the float32 size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from benchmark.training.cache import load_cached

Item = tuple[int, int | None]


class EpochSampler(Sampler[Item]):
    """Yields ``(row, jitter_seed)``; shuffles per epoch when training.

    Patch jitter is decided here, in the main process, so it follows ``set_epoch``
    even with persistent worker processes that hold stale dataset copies.
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int) -> None:
        self.n = size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Item]:
        if not self.shuffle:
            yield from ((i, None) for i in range(self.n))
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.n)
        seeds = rng.integers(0, 2**31 - 1, size=self.n)
        yield from zip(order.tolist(), seeds.tolist(), strict=True)


class CachedImageDataset(Dataset):
    """Resized images (and references for FR) with their standardised targets."""

    def __init__(
        self,
        files: Sequence[Path],
        targets: np.ndarray,
        references: Sequence[Path] | None = None,
    ) -> None:
        self.files = list(files)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.references = list(references) if references is not None else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: Item) -> dict[str, torch.Tensor]:
        row, _ = item
        out = {
            "image": torch.from_numpy(np.array(load_cached(self.files[row]))),
            "target": self.targets[row],
            "index": torch.tensor(row),
        }
        if self.references is not None:
            out["reference"] = torch.from_numpy(np.array(load_cached(self.references[row])))
        return out


def grid_positions(length: int, patch: int, grid: int) -> np.ndarray:
    """Top-left offsets of ``grid`` patches spread evenly (overlapping if need be)."""
    if grid == 1:
        return np.array([(length - patch) // 2])
    return np.round(np.linspace(0, length - patch, grid)).astype(int)


def jittered(pos: np.ndarray, length: int, patch: int, rng: np.random.Generator) -> np.ndarray:
    # Each patch moves within half a grid cell, so patches keep covering the whole image.
    half = (length - patch) / (2 * len(pos))
    shift = rng.uniform(-half, half, size=len(pos))
    return np.clip(np.round(pos + shift), 0, length - patch).astype(int)


def sample_patches(
    arr: np.ndarray, patch: int, grid: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``grid`` x ``grid`` patches of a ``(3, H, W)`` image at native resolution."""
    _, height, width = arr.shape
    ys, xs = grid_positions(height, patch, grid), grid_positions(width, patch, grid)
    if rng is not None:
        ys, xs = jittered(ys, height, patch, rng), jittered(xs, width, patch, rng)
    return np.stack([arr[:, y : y + patch, x : x + patch] for y in ys for x in xs])


class PatchDataset(Dataset):
    """PSCR input: ``(P, 3, patch, patch)`` uint8 patches per image, no resizing."""

    def __init__(self, files: Sequence[Path], targets: np.ndarray, patch: int, grid: int) -> None:
        self.files = list(files)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.patch = patch
        self.grid = grid

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: Item) -> dict[str, torch.Tensor]:
        row, seed = item
        rng = np.random.default_rng(seed) if seed is not None else None
        patches = sample_patches(load_cached(self.files[row]), self.patch, self.grid, rng)
        return {
            "image": torch.from_numpy(patches),
            "target": self.targets[row],
            "index": torch.tensor(row),
        }


def centre_crop(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` window of the last two dimensions (a view)."""
    height, width = batch.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return batch[..., top : top + size, left : left + size]


class DeviceAugment:
    """Crop, flip and normalise uint8 batches on the device.

    Offsets and flips come from a seeded CPU generator so runs are reproducible on
    any device; the generated image and its reference get the same crop and flip.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device,
        *,
        crop: int | None,
        channels_last: bool,
        seed: int,
    ) -> None:
        self.mean = torch.tensor(mean, device=device).view(3, 1, 1) * 255.0
        self.std = torch.tensor(std, device=device).view(3, 1, 1) * 255.0
        self.device = device
        self.crop = crop
        self.channels_last = channels_last
        self.gen = torch.Generator().manual_seed(seed)

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 pixels on this device -> floats standardised by the run's mean and std."""
        return (batch.float() - self.mean) / self.std

    def _finish(self, batch: torch.Tensor) -> torch.Tensor:
        normalised = self.normalise(batch)
        if self.channels_last and normalised.dim() == 4:
            return normalised.contiguous(memory_format=torch.channels_last)
        if self.channels_last and normalised.dim() == 5:
            # Patches are flattened to (B*P, 3, h, w) in the model; lay them out so
            # that flattening yields a channels-last view without another copy.
            shape = normalised.shape[:2]
            flat = normalised.flatten(0, 1).contiguous(memory_format=torch.channels_last)
            return flat.unflatten(0, shape)
        return normalised

    def __call__(self, tensors: Sequence[torch.Tensor], *, train: bool) -> list[torch.Tensor]:
        """Each tensor is ``(B, 3, H, W)`` or ``(B, P, 3, h, w)`` uint8, on any device."""
        xs = [t.to(self.device, non_blocking=True) for t in tensors]
        batch = xs[0].shape[0]
        if self.crop is not None:
            height, width = xs[0].shape[-2:]
            size = self.crop
            if train:
                oy = torch.randint(0, height - size + 1, (batch,), generator=self.gen).tolist()
                ox = torch.randint(0, width - size + 1, (batch,), generator=self.gen).tolist()
                # Per-sample slices are views; stack makes one copy of the crops.
                xs = [
                    torch.stack(
                        [
                            x[i, ..., y : y + size, z : z + size]
                            for i, (y, z) in enumerate(zip(oy, ox, strict=True))
                        ]
                    )
                    for x in xs
                ]
            else:
                xs = [centre_crop(x, size) for x in xs]
        if train:
            flip = (torch.rand(batch, generator=self.gen) < 0.5).to(self.device)
            shape = (batch,) + (1,) * (xs[0].dim() - 1)
            xs = [torch.where(flip.view(shape), x.flip(-1), x) for x in xs]
        return [self._finish(x) for x in xs]
