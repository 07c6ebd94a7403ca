"""Text-image quality models on open_clip's CLIP: the image's prompt enters the prediction.

* ``clipscore`` (zero-shot, nothing trained): CLIPScore (Hessel et al., "CLIPScore: A
  Reference-free Evaluation Metric for Image Captioning", 2021),
  ``2.5 * max(cos(E_image, E_text), 0)`` with the text "A photo depicts {prompt}", the
  same value for every score column (each is evaluated against it).
* ``text`` (fine-tuned): the quality-level prompt recipe of the text-prompted CLIP
  models that lead the AIGC quality challenges (NTIRE 2024 on AIGIQA-20K): for each
  score column ``d`` and each level ``l`` of ``levels`` (worst first, worth 1 .. n),
  the text "a {level} quality photo of {prompt}"; ``p_d = softmax_l(s * cos(A_d(E_image),
  E_text_l))`` with CLIP's logit scale ``s``; the score is the expected level
  ``sum_l p_dl * l``, mapped to the standardised target by a per-column scale and shift.
  ``A_d`` is a per-column residual adapter on the image embedding, zero at the start, so
  training begins from CLIP's own zero-shot ranking. Both towers are fine-tuned.

Tokenisation runs outside the network (:class:`PromptTokenizer`), so the towers take
token ids and export as graphs; the open_clip model is the backbone's ``body``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.training.backbones import Backbone
from benchmark.training.batches import Batch, BatchSource
from benchmark.training.catalog import BackboneInfo
from benchmark.training.config import TextConfig
from benchmark.training.errors import TrainingInputError

CLIPSCORE_WEIGHT = 2.5
# CLIP clamps its learned temperature at 100 (logit scale ln 100) while training.
MAX_LOGIT_SCALE = 100.0


class TextModelError(TrainingInputError):
    """A text-image model cannot be built as configured (e.g. an unknown CLIP config)."""


def _not_open_clip_chatter(record: logging.LogRecord) -> bool:
    # open_clip warns that a model it builds without weights is random; ours get their
    # weights right after (benchmark.training.weights), so the warning would mislead. Its
    # INFO lines on the root logger (config parsed, model built) would fill a command's
    # output and the worker's log on every run.
    if "No pretrained weights loaded" in record.getMessage():
        return False
    return not (record.levelno < logging.WARNING and "open_clip" in record.pathname)


# open_clip model configs of the library's own CLIPs (the catalog's clip_tiny_random),
# added to open_clip's in every process that builds or tokenises for one: web, worker, CLI.
CLIP_CONFIGS_DIR = Path(__file__).with_name("clip_configs")


def _library_clip_configs() -> None:
    import open_clip

    if not all(open_clip.get_model_config(p.stem) for p in CLIP_CONFIGS_DIR.glob("*.json")):
        open_clip.add_model_config(CLIP_CONFIGS_DIR)


def create_clip(model_name: str) -> nn.Module:
    """A randomly initialised open_clip model of config ``model_name``; downloads nothing."""
    import open_clip

    _library_clip_configs()
    if open_clip.get_model_config(model_name) is None:
        raise TextModelError(
            f"open_clip has no model config {model_name!r} (known e.g. ViT-B-32, ViT-B-16, "
            "ViT-L-14; see open_clip.list_models())"
        )
    root = logging.getLogger()
    root.addFilter(_not_open_clip_chatter)
    try:
        return open_clip.create_model(
            model_name, pretrained=None, load_weights=False, pretrained_text=False
        )
    finally:
        root.removeFilter(_not_open_clip_chatter)


def _align_towers(model: Any) -> None:
    """Both towers end in the same LayerNorm bias and projection, so every image-prompt
    cosine is positive, as a trained CLIP's are: CLIPScore's clipping at 0 then keeps the
    images apart (a random CLIP's cosines are often all negative, every score 0)."""
    bias = torch.randn(model.ln_final.bias.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.visual.ln_post.bias.copy_(bias * 0.5)
        model.ln_final.bias.copy_(bias * 0.5)
        model.text_projection.copy_(model.visual.proj)


def random_clip_weights(info: BackboneInfo) -> bytes:
    """The weights file of a random-weights CLIP (``info.init_seed``): open_clip's own
    initialisation from that seed, towers aligned (:func:`_align_towers`), saved by
    ``torch.save`` to memory so no file name enters the archive: the same bytes on every
    machine with the pinned torch and open_clip."""
    if info.clip_model is None or info.init_seed is None:
        raise TextModelError(f"{info.name} is no CLIP with weights made from a seed")
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(info.init_seed)
        model = create_clip(info.clip_model)
    finally:
        torch.random.set_rng_state(state)
    _align_towers(model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def prompt_texts(kind: str, text: TextConfig, prompt: str) -> list[str]:
    """The texts the text tower encodes for one image's prompt (one per level for ``text``)."""
    if kind == "clipscore":
        return [text.clipscore_template.format(prompt=prompt, level="")]
    return [text.template.format(level=level, prompt=prompt) for level in text.levels]


class PromptTokenizer:
    """Prompts -> ``(N, T, context_length)`` int64 token ids, T texts per prompt.

    open_clip's tokenizer for the backbone's model config (CLIP's byte-pair encoding:
    text cleaned with ftfy, whitespace collapsed, lower-cased; start token 49406, end
    token 49407, zero padding, cut to the context length keeping the end token).
    """

    def __init__(self, clip_model: str, kind: str, text: TextConfig) -> None:
        import open_clip

        _library_clip_configs()
        if open_clip.get_model_config(clip_model) is None:
            create_clip(clip_model)  # raises the one-line error naming the config
        self.tokenizer = open_clip.get_tokenizer(clip_model)
        self.context_length = int(self.tokenizer.context_length)
        self.kind = kind
        self.text = text

    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        # Many images share a prompt (one per generator): each distinct one once.
        distinct = sorted(set(prompts))
        position = {prompt: index for index, prompt in enumerate(distinct)}
        texts = [t for prompt in distinct for t in prompt_texts(self.kind, self.text, prompt)]
        per_prompt = len(texts) // max(1, len(distinct))
        tokens = self.tokenizer(texts).view(len(distinct), per_prompt, self.context_length)
        return tokens[torch.tensor([position[prompt] for prompt in prompts], dtype=torch.long)]

    def describe(self) -> dict[str, Any]:
        return {
            "tokenizer": type(self.tokenizer).__name__,
            "context_length": self.context_length,
            "texts_per_image": len(prompt_texts(self.kind, self.text, "")),
            "texts": prompt_texts(self.kind, self.text, "{prompt}"),
        }


class _TextImageModel(nn.Module):
    """An image tower and a text tower (open_clip) and a small head combining them."""

    def __init__(self, backbone: Backbone, n_out: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.n_out = n_out

    @property
    def clip(self) -> Any:
        return self.backbone.body

    def text_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, L)`` token ids -> ``(B, T, D)`` unit text embeddings."""
        batch, texts = tokens.shape[0], tokens.shape[1]
        feats = self.clip.encode_text(tokens.flatten(0, 1), normalize=True)
        return feats.view(batch, texts, -1)

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.image_features(image), self.text_features(tokens))


class ClipScoreModel(_TextImageModel):
    kind = "clipscore"

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, D)`` unit image embeddings."""
        return cast(torch.Tensor, self.clip.encode_image(image, normalize=True))

    def head(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        cosine = (image_feats * text_feats[:, 0]).sum(dim=-1, keepdim=True)
        return (CLIPSCORE_WEIGHT * cosine.clamp(min=0)).repeat(1, self.n_out)


class QualityLevelModel(_TextImageModel):
    kind = "text"

    def __init__(self, backbone: Backbone, n_out: int, n_levels: int) -> None:
        super().__init__(backbone, n_out)
        dim = backbone.feature_dim
        self.adapter = nn.Linear(dim, dim * n_out)
        nn.init.zeros_(self.adapter.weight)
        nn.init.zeros_(self.adapter.bias)
        self.register_buffer("level_values", torch.arange(1, n_levels + 1, dtype=torch.float32))
        self.centre = (n_levels + 1) / 2
        self.scale = nn.Parameter(torch.ones(n_out))
        self.shift = nn.Parameter(torch.zeros(n_out))

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, n_out, D)``: one adapted unit embedding per column."""
        feats = self.clip.encode_image(image, normalize=True)
        adapted = feats.unsqueeze(1) + self.adapter(feats).view(feats.shape[0], self.n_out, -1)
        return F.normalize(adapted, dim=-1)

    def head(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        logit_scale = self.clip.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        logits = logit_scale * torch.einsum("bdk,blk->bdl", image_feats, text_feats)
        levels = cast(torch.Tensor, self.level_values)
        expected = (logits.softmax(dim=-1) * levels).sum(dim=-1)
        return self.scale * (expected - self.centre) + self.shift


class PromptBatches:
    """A :class:`BatchSource` whose batches also carry their rows' token ids (``tokens``)."""

    def __init__(self, source: BatchSource, tokens: torch.Tensor) -> None:
        self.source = source
        self.tokens = tokens  # (rows of the part, T, L), in the part's row order
        self.size = source.size

    def set_epoch(self, epoch: int) -> None:
        self.source.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[Batch]:
        for batch in self.source:
            yield {**batch, "tokens": self.tokens[batch["index"]]}
