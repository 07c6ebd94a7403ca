"""``best.pt``: a trained quality model with everything needed to score new images.

A checkpoint names its format (``FORMAT_NAME``, ``FORMAT_VERSION``) and carries the
model kind and backbone, the input it expects (cached resize, crop, patch grid,
normalisation), the score columns with the training split's standardisation (mean and
std per column, to map the network's outputs back to MOS), and for PSCR the exemplar
patches with their MOS. :func:`load_checkpoint` refuses anything else with one line
saying what the file is and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.training.catalog import BACKBONES, TEXT_MODEL_KINDS
from benchmark.training.config import ConfigError, TrainConfig
from benchmark.training.errors import TrainingInputError

FORMAT_NAME = "aigc-quality-model"
FORMAT_VERSION = 2
LAYOUT = "NCHW, RGB, float32: (pixel / 255 - mean) / std"


class CheckpointError(TrainingInputError):
    """The file is not a checkpoint this version can score with."""


@dataclass(frozen=True)
class InputSpec:
    """What the network sees: how an image becomes its input tensor.

    NR/FR: the image is resized to ``resize`` x ``resize`` (bicubic, aspect not kept),
    centre-cropped to ``crop``. PSCR: the image at native resolution (upscaled only if
    its short side is below ``patch_size``) gives ``grid`` x ``grid`` evenly spread
    patches of ``patch_size``.
    """

    kind: str
    resize: int
    crop: int
    patch_size: int
    grid: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.kind,
            "layout": LAYOUT,
            "resize": self.resize,
            "crop": self.crop,
            "patch_size": self.patch_size,
            "grid": self.grid,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def input_spec(config: TrainConfig) -> InputSpec:
    info = BACKBONES[config.backbone]
    return InputSpec(
        kind=config.model,
        resize=int(config.resize_size or 0),
        crop=int(config.image_size or 0),
        patch_size=int(config.pscr.patch_size or 0),
        grid=int(config.pscr.grid),
        mean=info.mean,
        std=info.std,
    )


def checkpoint_payload(
    *,
    config: TrainConfig,
    split: str,
    epoch: int,
    val_srcc: float,
    score_columns: list[str],
    target_mean: np.ndarray,
    target_std: np.ndarray,
    backbone_sha256: str | None,
    exemplar_ids: list[str],
    exemplar_scores: np.ndarray,
    exemplar_patches: torch.Tensor | None,
    model_state: dict[str, torch.Tensor],
) -> dict[str, Any]:
    """The dictionary ``torch.save`` writes as ``best.pt``."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": config.model,
        "backbone": config.backbone,
        "input": input_spec(config).to_dict(),
        "config": config.to_dict(),
        "split": split,
        "epoch": epoch,
        "val_srcc": val_srcc,
        "score_columns": list(score_columns),
        "target_mean": [float(v) for v in target_mean],
        "target_std": [float(v) for v in target_std],
        "backbone_weights_sha256": backbone_sha256,
        "exemplars": {
            "stimulus_id": [str(v) for v in exemplar_ids],
            "scores": np.asarray(exemplar_scores, dtype=np.float64).tolist(),
            "patches": exemplar_patches.cpu() if exemplar_patches is not None else None,
        },
        "model_state": model_state,
    }


@dataclass
class Checkpoint:
    """A loaded checkpoint, model built and weights in place (on the CPU, eval mode)."""

    path: Path
    config: TrainConfig
    spec: InputSpec
    score_columns: list[str]
    target_mean: np.ndarray
    target_std: np.ndarray
    exemplar_ids: list[str]
    exemplar_scores: np.ndarray  # (K, n_columns) MOS
    exemplar_patches: torch.Tensor | None  # (K, P, 3, p, p) uint8
    model: nn.Module
    split: str
    epoch: int

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def needs_reference(self) -> bool:
        return self.kind == "fr"

    @property
    def needs_prompt(self) -> bool:
        """Text-image kinds score an image together with its text prompt."""
        return self.kind in TEXT_MODEL_KINDS

    def standardised_exemplar_scores(self) -> np.ndarray:
        return (self.exemplar_scores - self.target_mean) / self.target_std

    def unstandardise(self, predictions: np.ndarray) -> np.ndarray:
        return predictions * self.target_std + self.target_mean

    def describe(self) -> dict[str, Any]:
        """The facts a user of an exported model needs (the export sidecar's core)."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model": self.kind,
            "backbone": self.config.backbone,
            "input": self.spec.to_dict(),
            "score_columns": self.score_columns,
            "target_mean": self.target_mean.tolist(),
            "target_std": self.target_std.tolist(),
            "trained_on": {"split": self.split, "epoch": self.epoch},
            **({"text": self.text_facts()} if self.needs_prompt else {}),
        }

    def text_facts(self) -> dict[str, Any]:
        """How a prompt becomes the text tower's token ids (done outside the network)."""
        from benchmark.training.textimage import PromptTokenizer

        clip_model = BACKBONES[self.config.backbone].clip_model
        assert clip_model is not None
        tokenizer = PromptTokenizer(clip_model, self.kind, self.config.text)
        return {"clip_model": clip_model, "levels": self.config.text.levels, **tokenizer.describe()}


def _read(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        # weights_only=False: the payload holds plain Python containers besides tensors,
        # and checkpoints come from the lab's own runs.
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not ours"
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint ({type(exc).__name__}: {exc})"
        ) from None


def _check_format(path: Path, payload: Any) -> None:
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a quality model")
    if payload.get("format") != FORMAT_NAME:
        if "model_state" in payload and "config" in payload:
            raise CheckpointError(
                f"{path} was written by an older version of the training code (format "
                f"{payload.get('format_version', 1)}) that did not save the input and target "
                f"scaling; retrain the run to get a checkpoint that can score images"
            )
        raise CheckpointError(
            f"{path} is not a quality-model checkpoint from benchmark.training "
            f"(keys: {', '.join(sorted(map(str, payload))[:8])})"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version}; this code reads format {FORMAT_VERSION}"
        )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load ``path`` and rebuild its model; raise :class:`CheckpointError` if unusable."""
    from benchmark.training.models import create_model

    path = Path(path)
    payload = _read(path)
    _check_format(path, payload)
    try:
        config = TrainConfig.from_dict({**payload["config"], "weights": "none"}, validate=False)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its config cannot be read ({exc})") from None
    if config.backbone not in BACKBONES:
        raise CheckpointError(
            f"{path} uses backbone {config.backbone!r}, which this installation does not know"
        )
    # Random init then the checkpoint's weights: no ImageNet file is needed to predict.
    model = create_model(config)
    try:
        model.load_state_dict(payload["model_state"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit its model ({first})") from None
    model.eval()
    exemplars = payload["exemplars"]
    columns = list(payload["score_columns"])
    return Checkpoint(
        path=path,
        config=config,
        spec=input_spec(config),
        score_columns=columns,
        target_mean=np.asarray(payload["target_mean"], dtype=np.float64),
        target_std=np.asarray(payload["target_std"], dtype=np.float64),
        exemplar_ids=list(exemplars["stimulus_id"]),
        exemplar_scores=np.asarray(exemplars["scores"], dtype=np.float64).reshape(-1, len(columns)),
        exemplar_patches=exemplars["patches"],
        model=model,
        split=str(payload.get("split", "")),
        epoch=int(payload.get("epoch", 0)),
    )
