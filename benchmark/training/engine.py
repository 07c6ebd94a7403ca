"""One training epoch and one prediction pass, for every model kind.

Targets are standardised with the training split's mean and std (so one learning
rate suits MOS on 0..5 and on 0..100); callers map predictions back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from benchmark.training.batches import BatchSource
from benchmark.training.catalog import TEXT_MODEL_KINDS
from benchmark.training.data import DeviceAugment
from benchmark.training.models import PSCRModel


@dataclass
class StepContext:
    model: nn.Module
    kind: str
    augment: DeviceAugment
    device: torch.device
    amp: bool
    # PSCR only: (K, P, 3, p, p) uint8 exemplar patches and (K, n_out) standardised MOS.
    exemplar_patches: torch.Tensor | None = None
    exemplar_targets: torch.Tensor | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        # bf16 needs no loss scaling; on CPU autocast is slower, so GPU only.
        if self.amp and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def train_outputs(
    ctx: StepContext, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    target = batch["target"].to(ctx.device, non_blocking=True)
    if ctx.kind in TEXT_MODEL_KINDS:
        (images,) = ctx.augment([batch["image"]], train=True)
        return ctx.model(images, batch["tokens"].to(ctx.device, non_blocking=True)), target
    if ctx.kind == "nr":
        (images,) = ctx.augment([batch["image"]], train=True)
        return ctx.model(images), target
    if ctx.kind == "fr":
        images, ref = ctx.augment([batch["image"], batch["reference"]], train=True)
        return ctx.model(images, ref), target
    assert ctx.exemplar_patches is not None and ctx.exemplar_targets is not None
    n_exemplars = ctx.exemplar_patches.shape[0]
    pick = torch.randint(0, n_exemplars, (target.shape[0],), generator=ctx.augment.gen).to(
        ctx.device
    )
    (images,) = ctx.augment([batch["image"]], train=True)
    (ex,) = ctx.augment([ctx.exemplar_patches[pick]], train=True)
    return ctx.model(images, ex), target - ctx.exemplar_targets[pick]


# The progress bar's loss needs a host-device sync; refresh it at most this often.
BAR_REFRESH_SECONDS = 1.0


def train_one_epoch(
    ctx: StepContext,
    batches: BatchSource,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    should_stop: Callable[[], bool] | None = None,
    progress: str | None = None,
) -> tuple[float, bool]:
    """Return (mean training loss, whether ``should_stop`` interrupted the epoch).

    The loss is summed on the device and read once at the end: reading it per step
    would make the host wait for each step's kernels before it loads the next batch.
    ``should_stop`` is asked before every batch, so it must be cheap (rate-limit it).
    """
    ctx.model.train()
    total = torch.zeros((), dtype=torch.float32, device=ctx.device)
    count, stopped = 0, False
    iterated: Iterable[Any] = batches
    bar = None
    refreshed = time.monotonic()
    if progress:
        from tqdm import tqdm

        iterated = bar = tqdm(batches, desc=progress, unit="batch", leave=False)
    for batch in iterated:
        if should_stop is not None and should_stop():
            stopped = True
            break
        with ctx.autocast():
            pred, target = train_outputs(ctx, batch)
        loss = loss_fn(pred.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        batch_size = target.shape[0]
        total += loss.detach() * batch_size
        count += batch_size
        if bar is not None and time.monotonic() - refreshed >= BAR_REFRESH_SECONDS:
            refreshed = time.monotonic()
            bar.set_postfix(loss=f"{total.item() / count:.4f}")
    return (total.item() / count if count else float("nan")), stopped


@torch.no_grad()
def encode_exemplars(ctx: StepContext, chunk: int = 8) -> torch.Tensor:
    assert ctx.exemplar_patches is not None
    feats = []
    for start in range(0, ctx.exemplar_patches.shape[0], chunk):
        (ex,) = ctx.augment([ctx.exemplar_patches[start : start + chunk]], train=False)
        with ctx.autocast():
            feats.append(cast(PSCRModel, ctx.model).encode(ex).float())
    return torch.cat(feats)


@torch.no_grad()
def predict(ctx: StepContext, batches: BatchSource) -> np.ndarray:
    """Standardised predictions ``(n, n_out)`` in the part's row order.

    Predictions stay on the device until the pass ends: one copy to the host, not one
    synchronising copy per batch.
    """
    ctx.model.eval()
    exemplar_feats = encode_exemplars(ctx) if ctx.kind == "pscr" else None
    predicted: list[torch.Tensor] = []
    positions: list[torch.Tensor] = []
    for batch in batches:
        with ctx.autocast():
            if ctx.kind in TEXT_MODEL_KINDS:
                (images,) = ctx.augment([batch["image"]], train=False)
                pred = ctx.model(images, batch["tokens"].to(ctx.device, non_blocking=True))
            elif ctx.kind == "nr":
                (images,) = ctx.augment([batch["image"]], train=False)
                pred = ctx.model(images)
            elif ctx.kind == "fr":
                images, ref = ctx.augment([batch["image"], batch["reference"]], train=False)
                pred = ctx.model(images, ref)
            else:
                (images,) = ctx.augment([batch["image"]], train=False)
                assert exemplar_feats is not None and ctx.exemplar_targets is not None
                pscr = cast(PSCRModel, ctx.model)
                pred = pscr.predict(images, exemplar_feats, ctx.exemplar_targets)
        predicted.append(pred.float())
        positions.append(batch["index"])
    assert predicted
    stacked = torch.cat(predicted).cpu().numpy()
    out = np.zeros((batches.size, stacked.shape[1]), dtype=np.float64)
    out[torch.cat(positions).numpy()] = stacked
    return out
