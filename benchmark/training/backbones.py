"""Backbone registry: ImageNet classifiers reduced to global-pooled feature extractors.

Each builder returns a module mapping ``(B, 3, H, W)`` to ``(B, feature_dim)`` whose
parameter names match the published ImageNet checkpoints, so those load without
renaming. Classifier layers are never built: VGG's alone would be 120M parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from benchmark.training.catalog import (
    BACKBONES,
    PRETRAINED_WEIGHTS,
    BackboneInfo,
    register_backbone_info,
)
from benchmark.training.weights import StateConverter, load_pretrained

Builder = Callable[[], nn.Module]


@dataclass(frozen=True)
class BackboneEntry:
    build: Builder
    # State-dict prefixes of the classifier the checkpoint has and we do not build.
    classifier_prefixes: tuple[str, ...]
    # Renames the published file's keys where it was saved by another implementation.
    convert: StateConverter | None = None


_REGISTRY: dict[str, BackboneEntry] = {}


def register_backbone(
    info: BackboneInfo, build: Builder, classifier_prefixes: tuple[str, ...] = ()
) -> None:
    """Add a backbone (used by tests and extensions); its name becomes valid in configs."""
    register_backbone_info(info)
    _REGISTRY[info.name] = BackboneEntry(build, classifier_prefixes)


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


class _VGGFeatures(nn.Module):
    # The attribute is named ``features`` so torchvision's VGG checkpoints load as is.
    def __init__(self, layers: nn.Sequential) -> None:
        super().__init__()
        self.features = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # torchvision's VGG initialisation; PyTorch's default trains VGG poorly.
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(images)), 1)


def _vgg(cfg_key: str) -> Builder:
    def build() -> nn.Module:
        from torchvision.models import vgg

        return _VGGFeatures(vgg.make_layers(vgg.cfgs[cfg_key], batch_norm=False))

    return build


def _resnet(name: str) -> Builder:
    def build() -> nn.Module:
        import torchvision

        model = getattr(torchvision.models, name)(weights=None)
        model.fc = nn.Identity()
        return model

    return build


def _inception_v4() -> nn.Module:
    import timm

    # num_classes=0 keeps timm's global average pool and drops the classifier.
    return timm.create_model("inception_v4", pretrained=False, num_classes=0)


def _tf_efficientnet_lite0() -> nn.Module:
    import timm

    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)


# The packaged EfficientNet-Lite0 file was saved by the efficientnet_pytorch-style code
# (flat ``_blocks.N``); timm nests blocks per stage and names the layers of its
# depthwise-separable (first stage) and inverted-residual blocks differently.
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_LITE_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
_LITE_TOP["_fc"] = "classifier"
_LITE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_LITE_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_LITE_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def lite0_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of the packaged EfficientNet-Lite0 file -> timm's ``tf_efficientnet_lite0``.

    Keys that fit neither layout are kept as they are, so ``load_into`` names them.
    """
    positions = [
        (stage, block) for stage, n in enumerate(_LITE0_STAGE_DEPTHS) for block in range(n)
    ]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _LITE_BLOCK_KEY.fullmatch(key)
        head, _, rest = key.partition(".")
        if match and int(match.group(1)) < len(positions):
            stage, block = positions[int(match.group(1))]
            layers = _LITE_SEPARABLE if stage == 0 else _LITE_INVERTED
            layer = layers.get(match.group(2), match.group(2))
            out[f"blocks.{stage}.{block}.{layer}.{match.group(3)}"] = value
        elif head in _LITE_TOP:
            out[f"{_LITE_TOP[head]}.{rest}"] = value
        else:
            out[key] = value
    return out


for _name, _build, _prefixes in (
    ("vgg16", _vgg("D"), ("classifier.",)),
    ("vgg19", _vgg("E"), ("classifier.",)),
    ("resnet18", _resnet("resnet18"), ("fc.",)),
    ("resnet50", _resnet("resnet50"), ("fc.",)),
    ("inception_v4", _inception_v4, ("last_linear.",)),
):
    _REGISTRY[_name] = BackboneEntry(_build, _prefixes)
_REGISTRY["efficientnet_lite0"] = BackboneEntry(
    _tf_efficientnet_lite0, ("classifier.",), lite0_to_timm
)


def _clip(model_name: str) -> Builder:
    def build() -> nn.Module:
        from benchmark.training.textimage import create_clip

        return create_clip(model_name)

    return build


def register_clip_backbone(info: BackboneInfo) -> None:
    """Add a text-image backbone: ``info.clip_model`` names an open_clip model config."""
    if info.clip_model is None:
        raise ValueError(f"{info.name}: a CLIP backbone needs clip_model")
    register_backbone(info, _clip(info.clip_model))


for _info in list(BACKBONES.values()):
    if _info.clip_model is not None:
        _REGISTRY[_info.name] = BackboneEntry(_clip(_info.clip_model), ())


class Backbone(nn.Module):
    """A feature extractor with the facts a model and its data pipeline need."""

    def __init__(self, info: BackboneInfo, body: nn.Module, weights_sha256: str | None) -> None:
        super().__init__()
        self.info = info
        self.body = body
        self.feature_dim = info.feature_dim
        self.weights_sha256 = weights_sha256

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.info.is_text_image:  # open_clip's CLIP: its image tower's embedding
            encode_image = cast(Callable[[torch.Tensor], torch.Tensor], self.body.encode_image)
            return encode_image(images)
        return self.body(images)


def create_backbone(
    name: str,
    *,
    weights: str = "none",
    weights_path: str | None = None,
    weights_sha256: str | None = None,
    allow_download: bool = False,
) -> Backbone:
    """Build ``name`` with random (``weights="none"``) or its local pretrained weights."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(list_backbones())}")
    entry = _REGISTRY[name]
    info = BACKBONES[name]
    body = entry.build()
    digest = None
    if weights in PRETRAINED_WEIGHTS:
        digest = load_pretrained(
            body,
            info,
            weights_path=weights_path,
            weights_sha256=weights_sha256,
            allow_download=allow_download,
            ignore=entry.classifier_prefixes,
            convert=entry.convert,
        )
    elif weights != "none":
        raise ValueError(f"weights must be 'none', 'imagenet' or 'pretrained', got {weights!r}")
    return Backbone(info, body, digest)
