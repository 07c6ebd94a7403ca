"""Quality models: NR, FR and PSCR heads on a shared backbone, built by name.

* NR-AIGCIQA: image -> pooled backbone features -> MLP -> score(s).
* FR-AIGCIQA: one backbone (shared weights) on the generated image and its reference
  (the prompt image of image-to-image generation); features concatenated, optionally
  with their absolute difference, -> MLP.
* PSCR: patches sampled on a grid at native resolution are encoded and averaged; the
  head predicts the score difference between the input and an exemplar image from
  the training set, and the absolute score is the exemplar's MOS plus that
  difference, averaged over exemplars (Yuan et al., "PSCR: Patches Sampling-based
  Contrastive Regression for AIGC Image Quality Assessment", 2023).

One output per configured MOS column, so a single head can learn all dimensions.
The text-image kinds (``clipscore``, ``text``), which also read the image's prompt, are
in :mod:`benchmark.training.textimage`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from benchmark.training.backbones import Backbone, create_backbone
from benchmark.training.config import TrainConfig
from benchmark.training.textimage import ClipScoreModel, QualityLevelModel


class MLPHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def fuse(first: torch.Tensor, second: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "concat":
        return torch.cat([first, second], dim=1)
    return torch.cat([first, second, (first - second).abs()], dim=1)


def fused_dim(dim: int, mode: str) -> int:
    return 2 * dim if mode == "concat" else 3 * dim


class NRModel(nn.Module):
    kind = "nr"

    def __init__(self, backbone: Backbone, n_out: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = MLPHead(backbone.feature_dim, hidden, n_out, dropout)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(image))


class _FusedHeadModel(nn.Module):
    """A backbone whose features for two inputs are fused before the MLP head."""

    def __init__(
        self, backbone: Backbone, n_out: int, hidden: int, dropout: float, fusion: str
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.fusion = fusion
        self.head = MLPHead(fused_dim(backbone.feature_dim, fusion), hidden, n_out, dropout)


class FRModel(_FusedHeadModel):
    kind = "fr"

    def forward(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        # One pass over both halves: BatchNorm sees generated and reference images alike.
        feats = self.backbone(torch.cat([image, reference], dim=0))
        gen, ref = feats.chunk(2, dim=0)
        return self.head(fuse(gen, ref, self.fusion))


class PSCRModel(_FusedHeadModel):
    kind = "pscr"

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        """``(B, P, 3, h, w)`` patches -> ``(B, D)`` mean patch feature."""
        batch, n_patches = patches.shape[:2]
        feats = self.backbone(patches.flatten(0, 1))
        return feats.view(batch, n_patches, -1).mean(dim=1)

    def compare(self, feat: torch.Tensor, exemplar_feat: torch.Tensor) -> torch.Tensor:
        """Predicted score of the input minus that of the exemplar."""
        return self.head(fuse(feat, exemplar_feat, self.fusion))

    def forward(self, patches: torch.Tensor, exemplar_patches: torch.Tensor) -> torch.Tensor:
        feats = self.encode(torch.cat([patches, exemplar_patches], dim=0))
        own, exemplar = feats.chunk(2, dim=0)
        return self.compare(own, exemplar)

    def predict(
        self, patches: torch.Tensor, exemplar_feats: torch.Tensor, exemplar_scores: torch.Tensor
    ) -> torch.Tensor:
        """Absolute scores: mean over K exemplars of (exemplar score + difference).

        ``exemplar_feats`` is ``(K, D)`` (encoded once per evaluation), and
        ``exemplar_scores`` is ``(K, n_out)``.
        """
        feats = self.encode(patches)
        batch, n_exemplars = feats.shape[0], exemplar_feats.shape[0]
        diffs = self.compare(
            feats.repeat_interleave(n_exemplars, dim=0), exemplar_feats.repeat(batch, 1)
        ).view(batch, n_exemplars, -1)
        return (diffs + exemplar_scores.unsqueeze(0)).mean(dim=1)


ModelBuilder = Callable[[TrainConfig, Backbone, int], nn.Module]

_MODELS: dict[str, ModelBuilder] = {
    "nr": lambda c, bb, n: NRModel(bb, n, c.hidden_dim, c.dropout),
    "fr": lambda c, bb, n: FRModel(bb, n, c.hidden_dim, c.dropout, c.fr_fusion),
    "pscr": lambda c, bb, n: PSCRModel(bb, n, c.hidden_dim, c.dropout, c.pscr.fusion),
    "clipscore": lambda c, bb, n: ClipScoreModel(bb, n),
    "text": lambda c, bb, n: QualityLevelModel(bb, n, len(c.text.levels)),
}


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(config: TrainConfig) -> nn.Module:
    """Build the configured model kind on the configured backbone and weights."""
    backbone = create_backbone(
        config.backbone,
        weights=config.weights,
        weights_path=config.weights_path,
        weights_sha256=config.weights_sha256,
        allow_download=config.allow_download,
    )
    return _MODELS[config.model](config, backbone, len(config.score_columns))
