"""Training throughput and peak memory of every backbone x model kind, and the image cache's effect.

    python perf/training_throughput.py [--resolution 224 --batch-size 16 --steps 10 --device auto]

Runs on synthetic data it generates; nothing is downloaded (random weights). Images/s
(median and fastest timed step) counts input images (a PSCR image is grid x grid patches, plus one exemplar image).
Peak memory is the process RSS on CPU (sampled every 5 ms) and
``torch.cuda.max_memory_allocated`` on GPU. Defaults shrink on CPU so the whole
script finishes in a few minutes on two cores; pass the flags to measure the real
sizes. Not a test: the figures go into the README by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.training import EpochReport, TrainConfig, train  # noqa: E402
from benchmark.training.cache import CacheSpec, ImageCache, decode_image  # noqa: E402
from benchmark.training.catalog import BACKBONES  # noqa: E402
from benchmark.training.data import CachedImageDataset, DeviceAugment, EpochSampler  # noqa: E402
from benchmark.training.engine import StepContext, train_outputs  # noqa: E402
from benchmark.training.models import create_model  # noqa: E402

BACKBONE_NAMES = ("resnet18", "resnet50", "vgg16", "vgg19", "inception_v4")
KINDS = ("nr", "fr", "pscr")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak CPU RSS (sampled) or CUDA allocation over a ``with`` block, in MiB."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak = _rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()

    @property
    def mib(self) -> float:
        return self.peak / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    kind: str,
    backbone: str,
    device: torch.device,
    *,
    resolution: int,
    batch: int,
    steps: int,
    grid: int,
) -> tuple[float, float, float]:
    """Images/s of the median and of the fastest of ``steps`` optimiser steps (after a
    warm-up step), and peak MiB. The fastest step is the least disturbed by other
    processes on a shared machine."""
    cfg = TrainConfig.from_dict(
        {
            "manifest": "-",
            "output_dir": "-",
            "model": kind,
            "backbone": backbone,
            "weights": "none",
            "image_size": resolution,
            "pscr": {"patch_size": resolution, "grid": grid, "exemplars": 4},
        },
        validate=False,
    ).validate(check_files=False)
    cuda = device.type == "cuda"
    info = BACKBONES[backbone]
    with PeakMemory(device) as mem:
        model = create_model(cfg).to(device)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        augment = DeviceAugment(
            info.mean, info.std, device, crop=None if kind == "pscr" else resolution,
            channels_last=cuda, seed=0,
        )  # fmt: skip
        ctx = StepContext(model, kind, augment, device, amp=True)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        seeded = torch.Generator().manual_seed(0)
        side = resolution if kind == "pscr" else round(resolution * 256 / 224)
        shape = (batch, grid * grid, 3, side, side) if kind == "pscr" else (batch, 3, side, side)
        batch_data = {
            "image": torch.randint(0, 256, shape, dtype=torch.uint8, generator=seeded),
            "reference": torch.randint(0, 256, shape, dtype=torch.uint8, generator=seeded),
            "target": torch.randn(batch, 1, generator=seeded),
        }
        if kind == "pscr":
            ctx.exemplar_patches = torch.randint(0, 256, (4, *shape[1:]), dtype=torch.uint8).to(
                device
            )
            ctx.exemplar_targets = torch.randn(4, 1, device=device)
        model.train()

        def step() -> None:
            with ctx.autocast():
                pred, target = train_outputs(ctx, batch_data)
            loss = torch.nn.functional.mse_loss(pred.float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        step()
        _sync(device)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            _sync(device)
            times.append(time.perf_counter() - t0)
    if cuda:
        torch.cuda.empty_cache()
    return batch / float(np.median(times)), batch / min(times), mem.mib


def _write_jpegs(folder: Path, n: int, size: int) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        # Smooth structure plus fine noise: JPEGs about as costly to decode as photos.
        base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(base).resize((size, size), Image.Resampling.BICUBIC))
        noisy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
        img = Image.fromarray(noisy)
        image_path = folder / "images" / f"gen{i % 3}_{i:04d}.jpg"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        img.save(image_path, quality=90)
        paths.append(str(image_path))
    return paths


def cache_effect(
    device: torch.device,
    *,
    images: int,
    source: int,
    resolution: int,
    train_resolution: int,
    batch: int,
    epochs: int,
) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _write_jpegs(root, images, source)
        spec = CacheSpec("resize", round(resolution * 256 / 224))
        t0 = time.perf_counter()
        for image_path in paths:
            decode_image(image_path, spec)
        decode = time.perf_counter() - t0
        t0 = time.perf_counter()
        files = ImageCache(root / "probe").ensure(paths, spec)
        fill = time.perf_counter() - t0
        ds = CachedImageDataset(files, np.zeros((len(files), 1)))
        t0 = time.perf_counter()
        for i, _ in EpochSampler(len(ds), shuffle=True, seed=0):
            ds[(i, None)]
        read = time.perf_counter() - t0
        lines.append(
            f"data only, {images} JPEGs {source}px -> {spec.size}px: decode+resize every epoch "
            f"{decode:.2f}s, first fill of the cache {fill:.2f}s, cached epoch {read:.3f}s "
            f"({decode / max(read, 1e-9):.0f}x faster)"
        )
        manifest = root / "manifest.csv"
        rows = ["image,generator,prompt_group,mos"]
        rows += [f"{p},gen{i % 3},p{i // 3},{i % 5 + 1}" for i, p in enumerate(paths)]
        manifest.write_text("\n".join(rows) + "\n")
        cfg = {
            "manifest": str(manifest),
            "model": "nr",
            "backbone": "resnet18",
            "weights": "none",
            "image_size": train_resolution,
            "batch_size": batch,
            "epochs": epochs,
            "workers": 2,
            "device": str(device),
            "cache_dir": str(root / "cache"),
            "save_checkpoint": False,
        }
        for label in ("cold cache", "warm cache"):
            secs: list[EpochReport] = []
            t0 = time.perf_counter()
            train({**cfg, "output_dir": str(root / label)}, on_epoch_end=secs.append)
            total = time.perf_counter() - t0
            # Decoding happens before epoch 1 (the cache fill), so it counts there.
            first = total - sum(r.seconds for r in secs[1:])
            later = ", ".join(f"{r.seconds:.2f}" for r in secs[1:])
            lines.append(
                f"train() resnet18 NR {train_resolution}px, {label}: first epoch incl. setup "
                f"and cache fill {first:.2f}s, later epochs [{later}]s"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--resolution", type=int, help="input / patch size (default 224 GPU, 64 CPU)"
    )
    parser.add_argument("--batch-size", type=int, help="default 16 GPU, 4 CPU")
    parser.add_argument(
        "--steps", type=int, help="timed steps per combination (default 10 GPU, 3 CPU)"
    )
    parser.add_argument(
        "--pscr-grid", type=int, help="PSCR patches per side (default 3 GPU, 2 CPU)"
    )
    parser.add_argument("--backbones", default=",".join(BACKBONE_NAMES))
    parser.add_argument("--models", default=",".join(KINDS))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cache-images", type=int, default=48)
    parser.add_argument("--skip-cache", action="store_true")
    args = parser.parse_args()
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    cpu = device.type == "cpu"
    res = args.resolution or (64 if cpu else 224)
    batch = args.batch_size or (4 if cpu else 16)
    steps = args.steps or (3 if cpu else 10)
    grid = args.pscr_grid or (2 if cpu else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = (
        torch.cuda.get_device_name(device) if not cpu else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {name}; torch {torch.__version__}; resolution {res}, batch {batch}, "
          f"steps {steps}, PSCR grid {grid}x{grid}; AMP bf16 + channels_last: {not cpu}")  # fmt: skip
    print(f"{'backbone':<13} {'model':<5} {'images/s':>9} {'best':>9} {'peak MiB':>9}")
    for backbone in args.backbones.split(","):
        for kind in args.models.split(","):
            size = max(res, BACKBONES[backbone].min_input_size)
            median, best, mib = measure(
                kind, backbone, device, resolution=size, batch=batch, steps=steps, grid=grid
            )
            print(f"{backbone:<13} {kind:<5} {median:>9.2f} {best:>9.2f} {mib:>9.0f}", flush=True)
    if not args.skip_cache:
        print("\nimage cache:")
        for line in cache_effect(
            device,
            images=args.cache_images,
            source=512,
            resolution=max(res, 224),
            train_resolution=64 if cpu else res,
            batch=8 if cpu else batch,
            epochs=3,
        ):
            print("  " + line, flush=True)


if __name__ == "__main__":
    main()
