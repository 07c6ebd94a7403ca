"""Published training protocols as presets: ``protocol: pku-i2iqa`` sets every value the
authors' code sets, per backbone, and the run records what it could not reproduce.

A preset fills the config fields the user did not give; a field the user gave with
another value wins and is listed in ``protocol_overrides``. What a machine or this
platform forces (no GPU, a validation part, square resizing ...) is listed by
:func:`protocol_deviations` and written to the run's ``config.json``. Torch-free and
config-free: :mod:`benchmark.training.config` applies the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_PROTOCOL = "none"


@dataclass(frozen=True)
class Protocol:
    """A published protocol: the config values it sets (dotted names, as
    :class:`benchmark.training.config.ConfigError` names fields), per backbone where
    they differ, and what this platform always does differently."""

    name: str
    source: str
    values: Mapping[str, Any]
    per_backbone: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default_backbone_values: Mapping[str, Any] = field(default_factory=dict)
    backbones: tuple[str, ...] = ()
    always: tuple[str, ...] = ()
    per_backbone_deviations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def values_for(self, backbone: str) -> dict[str, Any]:
        """Every value the preset sets for ``backbone``."""
        sizes = self.per_backbone.get(backbone, self.default_backbone_values)
        return {**self.values, **sizes}


# The authors' code (PKU-AIGIQA-4K repository, its image-to-image part: the first 1600
# rows of the annotation file are PKU-I2IQA): Adam with L2 weight decay, constant learning
# rate, MSE on the raw MOS, train batches of 8 and test batches of 20, 100 epochs, seed 1,
# Resize(256) + RandomCrop(224) + flip for training and CenterCrop(224) for test (320/299
# for InceptionV4), ImageNet mean/std for every backbone, row i in test when i % 4 == 3.
PKU_I2IQA = Protocol(
    name="pku-i2iqa",
    source="PKU-I2IQA (Yuan et al., arXiv 2311.15556), the authors' training code",
    values={
        "split.protocol": "interleaved",
        "split.folds": 4,
        "split.grouped": False,
        "seed": 1,
        "epochs": 100,
        "batch_size": 8,
        "eval_batch_size": 20,
        "optimizer": "adam",
        "lr": 1e-4,
        "weight_decay": 1e-5,
        "scheduler": "none",
        "loss": "mse",
        "weights": "imagenet",
        "amp": False,
    },
    per_backbone={"inception_v4": {"image_size": 299, "resize_size": 320}},
    default_backbone_values={"image_size": 224, "resize_size": 256},
    backbones=("vgg16", "vgg19", "resnet18", "resnet50", "inception_v4"),
    always=(
        "val part: 10% of the training rows is held out to choose the epoch (the authors "
        "keep the epoch with the best test SRCC and train on all training rows)",
        "resize: images are cached as squares of resize_size (the authors' Resize keeps the "
        "aspect ratio, short side resize_size)",
        "targets: the MOS is standardised on the training rows (the authors regress raw MOS)",
        "head: this platform's MLP head (hidden_dim, dropout), not the authors' regressor",
    ),
    per_backbone_deviations={
        "inception_v4": (
            "normalisation: InceptionV4 uses its own mean/std (0.5, 0.5, 0.5); the authors "
            "normalise it with ImageNet's",
        ),
    },
)

PROTOCOLS: dict[str, Protocol] = {PKU_I2IQA.name: PKU_I2IQA}
PROTOCOL_NAMES = (NO_PROTOCOL, *PROTOCOLS)
# A preset value left out when the user gives the field it follows: a user's own input
# size gets the library's resize for it (the same 256/224 ratio), not the paper's 256.
FOLLOWS = {"resize_size": "image_size"}
# Bookkeeping fields: never preset, never an override.
PROTOCOL_FIELDS = ("protocol", "protocol_overrides")


def flat_names(data: Mapping[str, Any], prefix: str = "") -> set[str]:
    """The dotted names of the leaf keys of nested mappings (``split.protocol`` ...)."""
    names: set[str] = set()
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            names |= flat_names(value, f"{name}.")
        else:
            names.add(name)
    return names


def override_note(name: str, given: Any, preset: Any) -> str:
    return f"{name}={given!r} (preset {preset!r})"


def protocol_deviations(protocol: str, backbone: str, *, device_type: str, model: str) -> list[str]:
    """What a run under ``protocol`` does differently from the published protocol, on a
    machine whose torch device is ``device_type``; empty for no protocol."""
    preset = PROTOCOLS.get(protocol)
    if preset is None:
        return []
    notes: list[str] = []
    if device_type != "cuda":
        notes.append(f"device: {device_type} (the authors train on one CUDA GPU)")
    if backbone not in preset.backbones:
        notes.append(
            f"backbone: {backbone} is not in the paper (it has {', '.join(preset.backbones)})"
        )
    if model not in ("nr", "fr"):
        notes.append(f"model: {model} is not in the paper (it has nr and fr)")
    notes.extend(preset.always)
    notes.extend(preset.per_backbone_deviations.get(backbone, ()))
    return notes


def protocol_lines(protocol: str, overrides: list[str], deviations: list[str]) -> list[str]:
    """What the CLI prints before a run under ``protocol``: one line per override and
    per deviation; nothing for no protocol."""
    if protocol not in PROTOCOLS:
        return []
    lines = [f"protocol {protocol}: {PROTOCOLS[protocol].source}"]
    lines += [f"  override (your value): {note}" for note in overrides]
    lines += [f"  deviation: {note}" for note in deviations]
    return lines
