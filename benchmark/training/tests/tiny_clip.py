"""A CLIP of the real model code (open_clip's CLIP) small enough for CPU tests, for the
library's tests and the site's alike: two tiny transformer towers at 32 px, with
open_clip's own tokenizer (its vocabulary ships with it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

TINY_CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_CLIP = "aigc-tiny-clip"
TINY_CLIP_BACKBONE = "clip_tiny"
# One file and one catalog entry per process, whichever tests ask first (the library's
# and the site's can run in one session).
_made: list[Path] = []


def _align_towers(model) -> None:
    """Both towers end in the same LayerNorm bias and projection, so every image-prompt
    cosine is positive, as a trained CLIP's are: CLIPScore's clipping at 0 then keeps the
    images apart (a random CLIP's cosines are often all negative, every score 0)."""
    import torch

    bias = torch.randn(model.ln_final.bias.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.visual.ln_post.bias.copy_(bias * 0.5)
        model.ln_final.bias.copy_(bias * 0.5)
        model.text_projection.copy_(model.visual.proj)


def make_tiny_clip(folder: Path) -> Path:
    """Register the ``clip_tiny`` backbone and save random weights (towers aligned, see
    :func:`_align_towers`) as its local file, once per process; return the file.

    The file is named ``tiny-clip-<sha256 prefix>.pt`` like the published checkpoints, and
    the backbone's catalog entry names it as its weights file, so it loads through the real
    weights path (located, verified, loaded strictly): from ``weights_path`` in the library,
    from BENCHMARK_WEIGHTS_DIR on the site.
    """
    if _made:
        return _made[0]
    import open_clip
    import torch

    from benchmark.training.backbones import register_clip_backbone
    from benchmark.training.catalog import CLIP_MEAN, CLIP_STD, BackboneInfo

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{TINY_CLIP}.json").write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(folder / f"{TINY_CLIP}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP, pretrained=None, load_weights=False)
    _align_towers(model)
    scratch = folder / "weights.pt"
    torch.save(model.state_dict(), scratch)
    digest = hashlib.sha256(scratch.read_bytes()).hexdigest()
    path = folder / f"tiny-clip-{digest[:8]}.pt"
    scratch.rename(path)
    info = BackboneInfo(
        TINY_CLIP_BACKBONE, 32, 32, 16, CLIP_MEAN, CLIP_STD, path.name, clip_model=TINY_CLIP
    )
    register_clip_backbone(info)
    _made.append(path)
    return path
