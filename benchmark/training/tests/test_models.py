"""Every model kind on every backbone: one forward/backward step on CPU.

Inputs are as small as each architecture allows (32 px; 75 px for InceptionV4) so
the heavy backbones stay cheap with random weights.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from benchmark.training.catalog import BACKBONES
from benchmark.training.config import TrainConfig
from benchmark.training.models import create_model, list_models

STANDARD = ("vgg16", "vgg19", "resnet18", "resnet50", "inception_v4", "efficientnet_lite0")


def _config(kind: str, backbone: str, columns: list[str]) -> TrainConfig:
    size = BACKBONES[backbone].min_input_size
    data: dict[str, Any] = {
        "manifest": "unused.csv",
        "output_dir": "unused",
        "model": kind,
        "backbone": backbone,
        "weights": "none",
        "score_columns": columns,
        "image_size": size,
        "hidden_dim": 16,
        "fr_fusion": "concat_diff",
        "pscr": {"patch_size": size, "grid": 1},
    }
    return TrainConfig.from_dict(data, validate=False).validate(check_files=False)


def test_registry_lists_all_kinds() -> None:
    assert list_models() == ["clipscore", "fr", "nr", "pscr", "text"]


@pytest.mark.parametrize("backbone", STANDARD)
@pytest.mark.parametrize("kind", ["nr", "fr", "pscr"])
def test_forward_backward(kind: str, backbone: str) -> None:
    torch.manual_seed(0)
    columns = ["mos_quality", "mos_authenticity"] if backbone == "resnet18" else ["mos"]
    model = create_model(_config(kind, backbone, columns))
    assert model.kind == kind
    s = BACKBONES[backbone].min_input_size
    b = 2
    if kind == "nr":
        out = model(torch.randn(b, 3, s, s))
    elif kind == "fr":
        out = model(torch.randn(b, 3, s, s), torch.randn(b, 3, s, s))
    else:
        patches = 2 if backbone == "resnet18" else 1
        out = model(torch.randn(b, patches, 3, s, s), torch.randn(b, patches, 3, s, s))
    assert out.shape == (b, len(columns))
    out.pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads if g is not None)


def test_pscr_prediction_is_exemplar_mean_plus_difference() -> None:
    torch.manual_seed(0)
    model = create_model(_config("pscr", "resnet18", ["mos"])).eval()
    x = torch.randn(3, 1, 3, 32, 32)
    ex = torch.randn(4, 1, 3, 32, 32)
    ex_scores = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    with torch.no_grad():
        feats = model.encode(ex)
        pred = model.predict(x, feats, ex_scores)
        manual = torch.stack(
            [
                torch.stack(
                    [ex_scores[k] + model(x[i : i + 1], ex[k : k + 1])[0] for k in range(4)]
                ).mean(0)
                for i in range(3)
            ]
        )
    assert torch.allclose(pred, manual, atol=1e-5)
