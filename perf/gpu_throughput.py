"""The project's training throughput against a plain-PyTorch ceiling, per backbone x model.

    python perf/gpu_throughput.py [--batch-size 64 --steps 20 --backbones resnet18,resnet50
                                   --models nr,fr,pscr --end-to-end resnet18,resnet50]

Run by ``perf/gpu_check.sh`` on a CUDA machine (it refuses to run without one).

* **ceiling**: the same backbone body built by the project, plus a linear head, fed
  random float input already on the device at the network's input size (bf16 autocast,
  channels_last, AdamW, the same batch); per step it sees as many backbone images as
  the project's model does (NR 1 per sample, FR 2, PSCR grid^2 + grid^2 exemplar patches).
* **steps**: the project's own step (``engine.train_one_epoch``) on a resident uint8 batch
  source of random images: crop, flip and normalise on the device, model, loss summed
  on the device. Ratio = steps / ceiling (samples/s).
* **end to end**: ``train()`` on the AGIQA-3K sample (rows repeated ``--repeat`` times so
  an epoch has enough batches; FR uses the first image of each prompt group as the
  reference), ``--epochs`` epochs; the time of the epochs after the first is split into
  training and evaluation; ratio = training samples/s / ceiling.

Prints a table; the figures go into the docs by hand. Random weights, nothing downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark.training import engine, train  # noqa: E402
from benchmark.training.backbones import create_backbone  # noqa: E402
from benchmark.training.batches import ResidentBatches  # noqa: E402
from benchmark.training.catalog import BACKBONES  # noqa: E402
from benchmark.training.config import TrainConfig  # noqa: E402
from benchmark.training.data import DeviceAugment  # noqa: E402
from benchmark.training.models import create_model  # noqa: E402
from published.readers import agiqa3k_manifest  # noqa: E402

GRID = 3
EXEMPLARS = 5


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed_steps(step, steps: int) -> float:
    """Seconds per step: median of ``steps`` after three warm-up steps (cuDNN autotune)."""
    for _ in range(3):
        step()
    _sync()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        _sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def batch_for(kind: str, batch: int) -> int:
    """PSCR's samples are grid^2 patches plus as many exemplar patches: an eighth of the
    batch keeps its backbone batch (144 at 64) within memory for VGG."""
    return max(batch // 8, 2) if kind == "pscr" else batch


def backbone_images_per_sample(kind: str) -> int:
    return {"nr": 1, "fr": 2, "pscr": 2 * GRID * GRID}[kind]


def ceiling(backbone: str, kind: str, batch: int, steps: int, device: torch.device) -> float:
    """Samples/s of a plain backbone + linear head on random device-resident input."""
    info = BACKBONES[backbone]
    body = create_backbone(backbone, weights="none")
    model = nn.Sequential(body, nn.Linear(info.feature_dim, 1)).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = batch * backbone_images_per_sample(kind)
    size = info.input_size
    inputs = torch.randn(images, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last
    )
    targets = torch.randn(images, 1, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = nn.functional.mse_loss(model(inputs).float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return batch / _timed_steps(step, steps)


def project_steps(backbone: str, kind: str, batch: int, steps: int, device: torch.device) -> float:
    """Samples/s of the project's training step on resident uint8 batches."""
    info = BACKBONES[backbone]
    size = info.input_size
    config = TrainConfig.from_dict(
        {
            "manifest": "-",
            "output_dir": "-",
            "model": kind,
            "backbone": backbone,
            "weights": "none",
            "image_size": size,
            "pscr": {"patch_size": size, "grid": GRID, "exemplars": EXEMPLARS},
        },
        validate=False,
    ).validate(check_files=False)
    model = create_model(config).to(device).to(memory_format=torch.channels_last)
    crop = None if kind == "pscr" else size
    augment = DeviceAugment(info.mean, info.std, device, crop=crop, channels_last=True, seed=0)
    context = engine.StepContext(model, kind, augment, device, amp=True)
    side = size if kind == "pscr" else round(size * 256 / 224)
    shape = (GRID * GRID, 3, side, side) if kind == "pscr" else (3, side, side)
    rows = batch * (steps + 3)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (rows, *shape), dtype=torch.uint8, generator=generator)
    slots = np.arange(rows)
    source = ResidentBatches(
        images.to(device),
        slots,
        np.random.default_rng(0).normal(size=(rows, 1)),
        batch_size=batch,
        train=True,
        seed=0,
        references=images.to(device) if kind == "fr" else None,
        reference_slots=slots[::-1].copy() if kind == "fr" else None,
    )
    if kind == "pscr":
        context.exemplar_patches = images[:EXEMPLARS].to(device)
        context.exemplar_targets = torch.randn(EXEMPLARS, 1, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = nn.MSELoss()
    # One warm-up epoch of three batches, then the timed epoch of ``steps`` batches.
    warm = ResidentBatches(
        images[: batch * 3].to(device), slots[: batch * 3], np.zeros((batch * 3, 1)),
        batch_size=batch, train=True, seed=1,
        references=images[: batch * 3].to(device) if kind == "fr" else None,
        reference_slots=slots[: batch * 3] if kind == "fr" else None,
    )  # fmt: skip
    engine.train_one_epoch(context, warm, optimizer, loss_fn)
    _sync()
    started = time.perf_counter()
    engine.train_one_epoch(context, source, optimizer, loss_fn)
    _sync()
    seconds = time.perf_counter() - started
    return len(source) * batch / seconds


class _EpochClock:
    """Times train_one_epoch and predict inside train() (synchronised), per call."""

    def __init__(self) -> None:
        self.train: list[tuple[float, int]] = []
        self.evaluate: list[float] = []
        self._train = engine.train_one_epoch
        self._predict = engine.predict

    def __enter__(self) -> _EpochClock:
        def timed_train(context, batches, *args: Any, **kwargs: Any):
            _sync()
            started = time.perf_counter()
            out = self._train(context, batches, *args, **kwargs)
            _sync()
            self.train.append((time.perf_counter() - started, len(batches) * batches.batch_size))
            return out

        def timed_predict(context, batches):
            _sync()
            started = time.perf_counter()
            out = self._predict(context, batches)
            self.evaluate.append(time.perf_counter() - started)
            return out

        engine.train_one_epoch = timed_train  # type: ignore[assignment]
        engine.predict = timed_predict  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        engine.train_one_epoch = self._train  # type: ignore[assignment]
        engine.predict = self._predict  # type: ignore[assignment]


def sample_manifest(data_dir: Path, folder: Path, repeat: int) -> Path:
    """The sample's manifest, rows repeated; a reference column for FR."""
    path = folder / "agiqa3k.csv"
    frame = agiqa3k_manifest(data_dir, path)
    frame["reference"] = frame.groupby("prompt_group")["image"].transform("first")
    copies = []
    for copy in range(repeat):
        part = frame.copy()
        part["stimulus_id"] = part["stimulus_id"] + f"-{copy}"
        part["prompt_group"] = part["prompt_group"].astype(str) + f"-{copy}"
        copies.append(part)
    pd.concat(copies, ignore_index=True).to_csv(path, index=False)
    return path


def end_to_end(
    manifest: Path,
    folder: Path,
    backbone: str,
    kind: str,
    batch: int,
    epochs: int,
    device: str,
    image_size: int | None = None,
) -> dict[str, Any]:
    """Training samples/s and the split of the later epochs' time into train and eval."""
    config = {
        "manifest": str(manifest),
        "output_dir": str(folder / f"{backbone}-{kind}"),
        "model": kind,
        "backbone": backbone,
        "weights": "none",
        "epochs": epochs,
        "batch_size": batch,
        "device": device,
        "cache_dir": str(folder / "cache"),
        "score_columns": ["mos_quality"],
        "save_checkpoint": False,
        "workers": 4,
        "pscr": {"grid": GRID, "exemplars": EXEMPLARS},
        "image_size": image_size,
    }
    with _EpochClock() as clock:
        result = train(config)
    later = clock.train[1:] or clock.train
    train_seconds = sum(seconds for seconds, _ in later)
    trained = sum(count for _, count in later)
    # predict runs once per epoch on val, then twice (val, test) after the last epoch.
    eval_seconds = sum(clock.evaluate[1 : len(clock.train)]) or sum(clock.evaluate)
    return {
        "samples_per_s": trained / train_seconds,
        "train_s": train_seconds / len(later),
        "eval_s": eval_seconds / max(len(later), 1),
        "path": result.data.get("path", "?"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    # The image backbones: a CLIP backbone trains only the text-image kinds.
    image_backbones = [name for name, info in BACKBONES.items() if not info.is_text_image]
    parser.add_argument("--backbones", default=",".join(image_backbones))
    parser.add_argument("--models", default="nr,fr,pscr")
    parser.add_argument("--end-to-end", default="resnet18,resnet50", help="backbones (NR, FR)")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared/data/agiqa3k-sample")
    parser.add_argument("--repeat", type=int, default=8, help="copies of the sample's rows")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="run on the CPU (checks the script, no figures)"
    )
    args = parser.parse_args()
    if args.cpu_smoke:
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        raise SystemExit("gpu_throughput: no CUDA device here (torch.cuda.is_available() is False)")
    else:
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
    batch = args.batch_size
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke run)"
    print(f"{name}; torch {torch.__version__}; batch {batch}; "
          f"bf16 + channels_last; PSCR grid {GRID}x{GRID}")  # fmt: skip
    ceilings: dict[tuple[str, str], float] = {}
    print(f"\n{'backbone':<13} {'model':<5} {'batch':>5} {'ceiling/s':>10} {'steps/s':>10} "
          f"{'ratio':>6}")  # fmt: skip
    for backbone in args.backbones.split(","):
        for kind in args.models.split(","):
            size = batch_for(kind, batch)
            top = ceilings[(backbone, kind)] = ceiling(backbone, kind, size, args.steps, device)
            ours = project_steps(backbone, kind, size, args.steps, device)
            torch.cuda.empty_cache()  # each measure's tensors are gone once it returns
            print(f"{backbone:<13} {kind:<5} {size:>5} {top:>10,.0f} {ours:>10,.0f} {ours / top:>6.0%}",
                  flush=True)  # fmt: skip
    if not args.end_to_end:
        return
    print(f"\nend to end on the AGIQA-3K sample x{args.repeat}, {args.epochs} epochs "
          "(epochs after the first):")  # fmt: skip
    print(f"{'backbone':<13} {'model':<5} {'path':<9} {'train/s':>9} {'ratio':>6} "
          f"{'train s':>8} {'eval s':>7}")  # fmt: skip
    # The smoke run trains at 32 px: 224 px epochs take minutes on a CPU.
    e2e_size = 32 if args.cpu_smoke else None
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        manifest = sample_manifest(args.data_dir, folder, args.repeat)
        for backbone in args.end_to_end.split(","):
            for kind in ("nr", "fr"):
                top = ceilings.get((backbone, kind)) or ceiling(
                    backbone, kind, batch, args.steps, device
                )
                figures = end_to_end(
                    manifest, folder, backbone, kind, batch, args.epochs, str(device), e2e_size
                )
                rate = figures["samples_per_s"]
                print(f"{backbone:<13} {kind:<5} {figures['path']:<9} {rate:>9,.0f} "
                      f"{rate / top:>6.0%} {figures['train_s']:>8.2f} {figures['eval_s']:>7.2f}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
