"""Backbone registry: ImageNet classifiers reduced to global-pooled feature extractors.

Each builder returns a module mapping ``(B, 3, H, W)`` to ``(B, feature_dim)`` whose
parameter names match the published ImageNet checkpoints, so those load without
renaming. Classifier layers are never built: VGG's alone would be 120M parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from benchmark.training.catalog import BACKBONES, BackboneInfo, register_backbone_info
from benchmark.training.weights import load_pretrained

Builder = Callable[[], nn.Module]


@dataclass(frozen=True)
class BackboneEntry:
    build: Builder
    # State-dict prefixes of the classifier the checkpoint has and we do not build.
    classifier_prefixes: tuple[str, ...]


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


for _name, _build, _prefixes in (
    ("vgg16", _vgg("D"), ("classifier.",)),
    ("vgg19", _vgg("E"), ("classifier.",)),
    ("resnet18", _resnet("resnet18"), ("fc.",)),
    ("resnet50", _resnet("resnet50"), ("fc.",)),
    ("inception_v4", _inception_v4, ("last_linear.",)),
):
    _REGISTRY[_name] = BackboneEntry(_build, _prefixes)


class Backbone(nn.Module):
    """A feature extractor with the facts a model and its data pipeline need."""

    def __init__(self, info: BackboneInfo, body: nn.Module, weights_sha256: str | None) -> None:
        super().__init__()
        self.info = info
        self.body = body
        self.feature_dim = info.feature_dim
        self.weights_sha256 = weights_sha256

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)


def create_backbone(
    name: str,
    *,
    weights: str = "none",
    weights_path: str | None = None,
    weights_sha256: str | None = None,
    allow_download: bool = False,
) -> Backbone:
    """Build ``name`` with random (``weights="none"``) or local ImageNet weights."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(list_backbones())}")
    entry = _REGISTRY[name]
    info = BACKBONES[name]
    body = entry.build()
    digest = None
    if weights == "imagenet":
        digest = load_pretrained(
            body,
            info,
            weights_path=weights_path,
            weights_sha256=weights_sha256,
            allow_download=allow_download,
            ignore=entry.classifier_prefixes,
        )
    elif weights != "none":
        raise ValueError(f"weights must be 'none' or 'imagenet', got {weights!r}")
    return Backbone(info, body, digest)
