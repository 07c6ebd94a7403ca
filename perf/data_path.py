"""Images/s of the training data path alone (no model), on the AGIQA-3K sample.

    python perf/data_path.py [--data-dir ../shared/data/agiqa3k-sample --size 256
                              --batch-size 128 --workers N --epochs 10 --device cpu]

Decodes the sample's images once into a private decode cache (``resize`` to
``--size``, as training does; not timed as part of the data path), packs them into one
contiguous uint8 array, then times full shuffled passes (the first pass of each path
is a warm-up: worker start-up, page cache) of:

* ``files``: the per-image ``.npy`` cache through a DataLoader, 0 and N workers
  (the path training used before the packed array);
* ``stream``: the packed, memory-mapped array, one read per batch, 0 and N workers
  (pinned when the device is CUDA);
* ``resident``: the packed array as one tensor on the device, batches gathered by index.

On CUDA each batch also crosses to the device (``non_blocking``), and the clock stops
after a synchronise. Not a test: it prints a table; the figures go into the docs by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.training.batches import (  # noqa: E402
    PackedBatchDataset,
    ResidentBatches,
    pack_images,
    stream_batches,
)
from benchmark.training.cache import CacheSpec, ImageCache  # noqa: E402
from benchmark.training.data import CachedImageDataset, EpochSampler  # noqa: E402


def _images(data_dir: Path) -> list[str]:
    files = sorted((data_dir / "images").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no .jpg images under {data_dir / 'images'}")
    return [str(path) for path in files]


def _time_passes(
    name: str, batches: Iterable[dict[str, torch.Tensor]], set_epoch, epochs: int, device
) -> tuple[str, float, int]:
    """Images/s over ``epochs`` timed passes after one warm-up pass."""
    delivered = 0
    started = 0.0
    for epoch in range(epochs + 1):
        if epoch == 1:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started, delivered = time.perf_counter(), 0
        set_epoch(epoch)
        for batch in batches:
            image = batch["image"].to(device, non_blocking=True)
            delivered += image.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return name, delivered / seconds, delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared/data/agiqa3k-sample")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--epochs", type=int, default=10, help="timed passes per path")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache-dir", type=Path, help="default: a temporary folder")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as scratch:
        cache_root = args.cache_dir or Path(scratch)
        images = _images(args.data_dir)
        started = time.perf_counter()
        files = ImageCache(cache_root).ensure(
            images, CacheSpec("resize", args.size), threads=max(1, args.workers)
        )
        decoded = time.perf_counter() - started
        rows = np.arange(len(files))
        started = time.perf_counter()
        packed = pack_images(files, rows, cache_root)
        packing = time.perf_counter() - started
        targets = np.zeros((len(files), 1))
        print(
            f"{len(files)} images at {args.size} px ({packed.nbytes / 1e6:.0f} MB uint8), "
            f"batch {args.batch_size}, {args.epochs} timed passes, device {device}, "
            f"{len(os.sched_getaffinity(0))} cores; decode {decoded:.1f} s, pack {packing:.2f} s"
        )
        results = []
        for workers in sorted({0, args.workers}):
            sampler = EpochSampler(len(files), shuffle=True, seed=0)
            loader = DataLoader(
                CachedImageDataset(files, targets),
                batch_size=args.batch_size,
                sampler=sampler,
                drop_last=True,
                num_workers=workers,
                pin_memory=device.type == "cuda",
                persistent_workers=workers > 0,
            )
            results.append(
                _time_passes(
                    f"files, {workers} workers", loader, sampler.set_epoch, args.epochs, device
                )
            )
            streamed = stream_batches(
                PackedBatchDataset(packed, rows, targets),
                batch_size=args.batch_size,
                train=True,
                seed=0,
                workers=workers,
                pin_memory=device.type == "cuda",
            )
            name = f"stream (one array), {workers} workers"
            results.append(_time_passes(name, streamed, streamed.set_epoch, args.epochs, device))
        resident = ResidentBatches(
            torch.from_numpy(np.array(packed.open())).to(device),
            packed.slots,
            targets,
            batch_size=args.batch_size,
            train=True,
            seed=0,
        )
        results.append(
            _time_passes("resident tensor", resident, resident.set_epoch, args.epochs, device)
        )

    print(f"{'path':<34} {'images/s':>10} {'images':>8}")
    for name, rate, count in results:
        print(f"{name:<34} {rate:>10,.0f} {count:>8}")


if __name__ == "__main__":
    main()
