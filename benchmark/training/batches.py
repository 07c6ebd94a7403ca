"""Where training batches come from: one uint8 array per dataset, on the device or streamed.

The decode cache keeps one ``.npy`` per image; opening 128 files per batch caps the
loader far below what a GPU consumes. So, once per run, the cached images a run uses
are packed into ONE contiguous ``(N, 3, S, S)`` uint8 array (references, for FR, into a
second one), and batches come from it by one of two paths:

* **resident**: when the array fits in ``resident_share`` of the device's free memory,
  it is copied to the device once and every batch is a gather by index there: no
  DataLoader, no host-device copy per batch.
* **stream**: otherwise a DataLoader reads whole batches from the memory-mapped array
  (one fancy-index read per batch, in worker processes), pinned and prefetched.

Both draw the same rows in the same order (:class:`EpochSampler`), so they give
identical batches for a seed. PSCR samples patches at native resolution, where images
differ in size; it keeps the per-file path (``files``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler

from benchmark.training.cache import load_cached
from benchmark.training.data import EpochSampler, Item

Batch = dict[str, torch.Tensor]
PACK_VERSION = 1


class BatchSource(Protocol):
    """Batches of one part of a split: ``image`` (and ``reference``) uint8, ``target``,
    ``index`` (the row's position in the part, on the CPU)."""

    size: int

    def set_epoch(self, epoch: int) -> None: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Batch]: ...


@dataclass(frozen=True)
class PackedImages:
    """One contiguous uint8 array file and, per manifest row, its slot in it (-1: unused)."""

    path: Path
    slots: np.ndarray
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def open(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")


def pack_images(files: Sequence[Path], rows: np.ndarray, root: Path) -> PackedImages:
    """Pack the cached files of ``rows`` (each distinct file once) into one array file.

    Cache file names already identify content and size, so the list of names is the
    packed array's key: a second run over the same images reuses it.
    """
    slots = np.full(len(files), -1, dtype=np.int64)
    unique: dict[Path, int] = {}
    for row in rows:
        slots[row] = unique.setdefault(files[row], len(unique))
    ordered = list(unique)
    first = load_cached(ordered[0])
    shape = (len(ordered), *first.shape)
    names = "\n".join(file.name for file in ordered)
    key = hashlib.sha1(f"v{PACK_VERSION}|{shape}|{names}".encode()).hexdigest()
    target = root / "packed" / f"{key}.npy"
    if not target.is_file():
        _write_packed(target, ordered, shape)
    return PackedImages(target, slots, shape)


def _write_packed(target: Path, files: Sequence[Path], shape: tuple[int, ...]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npy.tmp")
    os.close(fd)
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        for slot, file in enumerate(files):
            image = load_cached(file)
            if image.shape != shape[1:]:
                raise ValueError(f"cached image {file} is {image.shape}, expected {shape[1:]}")
            array[slot] = image
        array.flush()
        del array
        os.replace(tmp, target)  # atomic: concurrent runs may pack the same set
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def free_memory(device: torch.device) -> int:
    """Bytes free on ``device`` now (for the CPU: physical memory not in use)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fits_on_device(needed: int, device: torch.device, share: float) -> bool:
    return needed <= share * free_memory(device)


def _batches_of(order: Sequence[int], batch_size: int, drop_last: bool) -> list[list[int]]:
    sampler = BatchSampler(order, batch_size, drop_last)
    return [list(chunk) for chunk in sampler]


class ResidentBatches:
    """Batches gathered by index from image tensors that already live on the device."""

    def __init__(
        self,
        images: torch.Tensor,
        slots: np.ndarray,
        targets: np.ndarray,
        *,
        batch_size: int,
        train: bool,
        seed: int,
        references: torch.Tensor | None = None,
        reference_slots: np.ndarray | None = None,
    ) -> None:
        device = images.device
        self.size = len(slots)
        self.images = images
        self.references = references
        self.slots = torch.as_tensor(slots, dtype=torch.long, device=device)
        self.reference_slots = (
            torch.as_tensor(reference_slots, dtype=torch.long, device=device)
            if reference_slots is not None
            else None
        )
        self.targets = torch.as_tensor(targets, dtype=torch.float32, device=device)
        self.sampler = EpochSampler(self.size, shuffle=train, seed=seed)
        self.batch_size = batch_size
        self.drop_last = train  # a last batch of one would break BatchNorm in training

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        if self.drop_last:
            return self.size // self.batch_size
        return -(-self.size // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = [row for row, _ in self.sampler]
        device = self.images.device
        for chunk in _batches_of(order, self.batch_size, self.drop_last):
            positions = torch.as_tensor(chunk, dtype=torch.long)
            on_device = positions.to(device, non_blocking=True)
            batch = {
                "image": self.images.index_select(0, self.slots[on_device]),
                "target": self.targets[on_device],
                "index": positions,
            }
            if self.references is not None and self.reference_slots is not None:
                slots = self.reference_slots[on_device]
                batch["reference"] = self.references.index_select(0, slots)
            yield batch


class PackedBatchDataset(Dataset):
    """Whole batches read from the memory-mapped packed arrays (one read per batch).

    Each worker process opens the arrays itself (a memory map does not pickle well).
    """

    def __init__(
        self,
        images: PackedImages,
        rows: np.ndarray,
        targets: np.ndarray,
        references: PackedImages | None = None,
    ) -> None:
        self.images_file = images.path
        self.slots = images.slots[rows]
        self.targets = torch.as_tensor(targets, dtype=torch.float32)
        self.references_file = references.path if references is not None else None
        self.reference_slots = references.slots[rows] if references is not None else None
        self._arrays: tuple[np.ndarray, np.ndarray | None] | None = None

    def __len__(self) -> int:
        return len(self.slots)

    def _open(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self._arrays is None:
            images = np.load(self.images_file, mmap_mode="r")
            refs = None
            if self.references_file is not None:
                refs = np.load(self.references_file, mmap_mode="r")
            self._arrays = (images, refs)
        return self._arrays

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": None}

    def __getitem__(self, items: list[Item]) -> Batch:
        positions = np.fromiter((row for row, _ in items), dtype=np.int64, count=len(items))
        images, refs = self._open()
        batch = {
            "image": torch.from_numpy(_gather(images, self.slots[positions])),
            "target": self.targets[positions],
            "index": torch.from_numpy(positions),
        }
        if refs is not None and self.reference_slots is not None:
            batch["reference"] = torch.from_numpy(_gather(refs, self.reference_slots[positions]))
        return batch


def _gather(array: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """``array[slots]`` read in file order (sequential pages), returned in ``slots`` order."""
    order = np.argsort(slots, kind="stable")
    out = np.empty((len(slots), *array.shape[1:]), dtype=array.dtype)
    out[order] = array[slots[order]]
    return out


class LoaderBatches:
    """A DataLoader over a batch-level or item-level dataset, seen as a :class:`BatchSource`."""

    def __init__(self, loader: DataLoader, sampler: EpochSampler, batch_size: int) -> None:
        self.loader = loader
        self.sampler = sampler
        self.size = len(sampler)
        self.batch_size = batch_size

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.loader)


def stream_batches(
    dataset: PackedBatchDataset,
    *,
    batch_size: int,
    train: bool,
    seed: int,
    workers: int,
    pin_memory: bool,
) -> LoaderBatches:
    """Batches read by ``workers`` processes from the packed arrays, pinned, prefetched."""
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed)
    loader = DataLoader(
        dataset,
        batch_size=None,  # the dataset returns whole batches
        # BatchSampler groups any sampler's items, here (row, jitter seed) pairs.
        sampler=BatchSampler(cast(Sampler[int], sampler), batch_size, drop_last=train),
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        # Its own generator: drawing the workers' base seed from torch's global one
        # would shift the model's dropout masks away from the resident path's.
        generator=torch.Generator().manual_seed(seed),
    )
    return LoaderBatches(loader, sampler, batch_size)


def item_batches(
    dataset: Dataset,
    size: int,
    *,
    batch_size: int,
    train: bool,
    seed: int,
    workers: int,
    pin_memory: bool,
) -> LoaderBatches:
    """Batches collated from one item at a time (PSCR's patches, per cached file)."""
    sampler = EpochSampler(size, shuffle=train, seed=seed)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=train,  # a last batch of one would break BatchNorm in training mode
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
    return LoaderBatches(loader, sampler, batch_size)
