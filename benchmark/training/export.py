"""Export a checkpoint as TorchScript or ONNX, with a JSON sidecar describing its input.

The exported graph maps *normalised* input tensors to MOS (the target standardisation
is inside the graph; for PSCR the exemplars' features and scores are too), so a user
only has to reproduce the preprocessing the sidecar describes. The command scores a
few real images with PyTorch and with the exported file and refuses to finish if any
output differs by more than ``TOLERANCE[format]``.

Text-image models (``clipscore``, ``text``) take the image and its prompt's token ids:
tokenisation stays outside the graph (the sidecar says how), and beside the whole
model the image and text towers are written as graphs of their own
(``<name>.image_tower<ext>``, ``<name>.text_tower<ext>``), each checked the same way.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from benchmark.training.catalog import TEXT_MODEL_KINDS
from benchmark.training.checkpoint import Checkpoint, load_checkpoint
from benchmark.training.errors import TrainingInputError
from benchmark.training.models import PSCRModel
from benchmark.training.predict import Scorer, ScoringItem, find_items
from benchmark.training.textimage import _TextImageModel

FORMATS = ("torchscript", "onnx")
# Absolute tolerance on MOS between PyTorch and the exported model (float32 throughout;
# ONNX Runtime fuses and reorders operations, so it gets more room).
TOLERANCE = {"torchscript": 1e-5, "onnx": 1e-4}
OPSET = 17


class ExportError(TrainingInputError):
    """The export cannot be made or does not match PyTorch."""


class _Scaled(nn.Module):
    """Maps standardised outputs back to MOS inside the graph."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__()
        self.model = checkpoint.model
        self.register_buffer("target_mean", torch.tensor(checkpoint.target_mean).float())
        self.register_buffer("target_std", torch.tensor(checkpoint.target_std).float())

    def scale(self, output: torch.Tensor) -> torch.Tensor:
        mean, std = cast(torch.Tensor, self.target_mean), cast(torch.Tensor, self.target_std)
        return output * std + mean


class NRExport(_Scaled):
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.scale(self.model(image))


class FRExport(_Scaled):
    def forward(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return self.scale(self.model(image, reference))


class PSCRExport(_Scaled):
    """Patches in, MOS out; the exemplars are encoded once and stored as buffers."""

    def __init__(self, checkpoint: Checkpoint, exemplar_feats: torch.Tensor) -> None:
        super().__init__(checkpoint)
        standard = checkpoint.standardised_exemplar_scores()
        self.register_buffer("exemplar_feats", exemplar_feats.float())
        self.register_buffer("exemplar_targets", torch.tensor(standard).float())

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        model = cast(PSCRModel, self.model)
        feats = cast(torch.Tensor, self.exemplar_feats)
        targets = cast(torch.Tensor, self.exemplar_targets)
        return self.scale(model.predict(patches, feats, targets))


class TextImageExport(_Scaled):
    """Image and prompt token ids in, MOS out."""

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.scale(self.model(image, tokens))


class ImageTower(nn.Module):
    """Image -> unit image embedding(s): ``(B, D)``, or ``(B, n_columns, D)`` for ``text``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = cast(_TextImageModel, model)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.image_features(image)


class TextTower(nn.Module):
    """Token ids ``(B, T, L)`` -> unit text embeddings ``(B, T, D)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = cast(_TextImageModel, model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.text_features(tokens)


def input_names(kind: str) -> list[str]:
    if kind in TEXT_MODEL_KINDS:
        return ["image", "tokens"]
    return {"nr": ["image"], "fr": ["image", "reference"], "pscr": ["patches"]}[kind]


def exportable(checkpoint: Checkpoint, scorer: Scorer) -> nn.Module:
    if checkpoint.kind in TEXT_MODEL_KINDS:
        return TextImageExport(checkpoint).eval()
    if checkpoint.kind == "nr":
        return NRExport(checkpoint).eval()
    if checkpoint.kind == "fr":
        return FRExport(checkpoint).eval()
    return PSCRExport(checkpoint, scorer.exemplar_features().cpu()).eval()


def input_shapes(checkpoint: Checkpoint) -> dict[str, list[Any]]:
    spec = checkpoint.spec
    if spec.kind == "pscr":
        patch = spec.patch_size
        return {"patches": ["batch", spec.grid * spec.grid, 3, patch, patch]}
    if checkpoint.needs_prompt:
        text = checkpoint.text_facts()
        tokens = ["batch", text["texts_per_image"], text["context_length"]]
        return {"image": ["batch", 3, spec.crop, spec.crop], "tokens": tokens}
    return {name: ["batch", 3, spec.crop, spec.crop] for name in input_names(spec.kind)}


def sidecar(checkpoint: Checkpoint, fmt: str, file: Path, check: dict[str, Any]) -> dict[str, Any]:
    spec = checkpoint.spec
    if spec.kind == "pscr":
        how = (
            f"decode to RGB at native resolution (bicubic upscale only if the short side is "
            f"below {spec.patch_size}); take {spec.grid}x{spec.grid} patches of "
            f"{spec.patch_size} px at offsets round(linspace(0, side - {spec.patch_size}, "
            f"{spec.grid})) (the centre if grid is 1), row-major; normalise each patch"
        )
    else:
        how = (
            f"decode to RGB, resize the whole image to {spec.resize}x{spec.resize} "
            f"(bicubic, aspect not kept), centre-crop {spec.crop}x{spec.crop}, normalise"
        )
    return {
        **checkpoint.describe(),
        "file": file.name,
        "export_format": fmt,
        "inputs": {name: {"shape": shape} for name, shape in input_shapes(checkpoint).items()},
        "output": {
            "name": "scores",
            "shape": ["batch", len(checkpoint.score_columns)],
            "columns": checkpoint.score_columns,
            "units": "MOS on the training data's scale (standardisation is inside the model)",
        },
        "preprocessing": how,
        "needs": {
            "nr": "the image only",
            "fr": "the image and its reference image, preprocessed alike",
            "pscr": "the image's patches only; the training exemplars are inside the model",
            "clipscore": "the image and its text prompt's token ids (int64, see tokenisation)",
            "text": "the image and its text prompt's token ids (int64, see tokenisation)",
        }[spec.kind],
        **(_text_sidecar(checkpoint, file) if checkpoint.needs_prompt else {}),
        "check": check,
    }


def tower_paths(out: Path) -> dict[str, Path]:
    """Where the image and text towers of a text-image export are written."""
    return {
        tower: out.with_name(f"{out.stem}.{tower}_tower{out.suffix}") for tower in ("image", "text")
    }


def _text_sidecar(checkpoint: Checkpoint, file: Path) -> dict[str, Any]:
    text = checkpoint.text_facts()
    towers = tower_paths(file)
    return {
        "tokenisation": {
            **text,
            "how": (
                "outside the graph: for each image, fill every entry of texts with its prompt "
                "and run open_clip.get_tokenizer(clip_model) on them: tokens[i] is "
                f"({text['texts_per_image']}, {text['context_length']}) int64"
            ),
        },
        "towers": {
            "image": {"file": towers["image"].name, "input": "image", "output": "unit embeddings"},
            "text": {"file": towers["text"].name, "input": "tokens", "output": "unit embeddings"},
            "head": (
                "2.5 * max(cos(image, text), 0), the same for every column"
                if checkpoint.kind == "clipscore"
                else "per column: expected level (1..n) under softmax over levels of "
                "exp(logit_scale) * cos(image_d, text_level), then * scale + shift, "
                "then * target_std + target_mean (the whole-model file does all of it)"
            ),
        },
    }


def _decoded(scorer: Scorer, items: Sequence[ScoringItem]) -> list[tuple[Path, Path | None]]:
    """Cached files for ``items``, all of which must decode."""
    files, failures = scorer.decode(items)
    if failures:
        raise ExportError(f"check image {failures[0].line()}")
    return [entry for entry in files if entry is not None]


def _example_inputs(
    scorer: Scorer, files: Sequence[tuple[Path, Path | None]], prompts: Sequence[str | None]
) -> list[torch.Tensor]:
    """CPU input tensors for decoded ``files``, as the scorer feeds its model: normalised
    images (and references), and the prompts' token ids for a text-image model."""
    images, references = scorer.stacked(files)
    stacked = [images] if references is None else [images, references]
    inputs = [scorer.preprocess.normalise(tensor) for tensor in stacked]
    tokens = scorer.tokens(prompts)
    return inputs if tokens is None else [*inputs, tokens]


def _save_torchscript(module: nn.Module, inputs: list[torch.Tensor], out: Path) -> Any:
    tmp = out.with_name(out.name + ".tmp")
    # PyTorch marks TorchScript deprecated in favour of torch.export, but it is still the
    # one format a plain ``torch.jit.load`` runs without this code; the notice is noise.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)
        # Shape checks inside nn.MultiheadAttention trace as constants; the check on other
        # batch sizes below is what proves the graph, so the tracer's notices are noise.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, tuple(inputs), check_trace=False)
        traced.save(str(tmp))
        tmp.replace(out)
        loaded = torch.jit.load(str(out), map_location="cpu")
    return lambda tensors: loaded(*tensors).detach().numpy()


def _save_onnx(
    module: nn.Module, inputs: list[torch.Tensor], out: Path, names: list[str], output: str
) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx and onnxruntime packages (pip install -r "
            "requirements.txt); TorchScript export works without them"
        ) from None
    tmp = out.with_name(out.name + ".tmp")
    # The TorchScript-based exporter: the torch.export-based default needs onnxscript and
    # gains nothing for these static convolutional graphs. Its deprecation notice is noise
    # for a user of the command.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # nn.MultiheadAttention's inference fast path (CLIP's towers) is one fused operator
    # ONNX has no counterpart for; the plain path computes the same attention.
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                tuple(inputs),
                str(tmp),
                input_names=names,
                output_names=[output],
                dynamic_axes={**{name: {0: "batch"} for name in names}, output: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    tmp.replace(out)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return lambda tensors: session.run(
        None, {name: t.numpy() for name, t in zip(names, tensors, strict=True)}
    )[0]


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    max_difference: float
    tolerance: float
    images: int


def _save_checked(
    fmt: str,
    module: nn.Module,
    inputs: list[torch.Tensor],
    reference: np.ndarray,
    out: Path,
    names: tuple[list[str], str],
) -> float:
    """Write ``module`` as ``fmt`` to ``out``; return its largest difference from
    ``reference``, or delete it and raise if that is over the format's tolerance."""
    if fmt == "torchscript":
        run = _save_torchscript(module, inputs, out)
    else:
        run = _save_onnx(module, inputs, out, *names)
    # Batches of another size than the traced one prove the batch axis stays free.
    parts = [inputs]
    if inputs[0].shape[0] > 1:
        parts = [[tensor[:-1] for tensor in inputs], [tensor[-1:] for tensor in inputs]]
    got = np.concatenate([run(part) for part in parts])
    difference = float(np.max(np.abs(got - reference)))
    tolerance = TOLERANCE[fmt]
    if not np.isfinite(difference) or difference > tolerance:
        out.unlink(missing_ok=True)
        raise ExportError(
            f"the exported {fmt} {out.name} differs from PyTorch by {difference:.3g} on "
            f"{len(reference)} image(s), over the tolerance {tolerance:g}; nothing was kept"
        )
    return difference


@torch.no_grad()
def _save_towers(
    checkpoint: Checkpoint, fmt: str, inputs: list[torch.Tensor], out: Path
) -> dict[str, float]:
    """The image and text towers of a text-image model, each checked against PyTorch."""
    image, tokens = inputs
    towers = tower_paths(out)
    differences = {}
    for name, module, tower_inputs, input_name in (
        ("image", ImageTower(checkpoint.model).eval(), [image], "image"),
        ("text", TextTower(checkpoint.model).eval(), [tokens], "tokens"),
    ):
        reference = module(*tower_inputs).float().numpy()
        names = ([input_name], "embeddings")
        differences[name] = _save_checked(fmt, module, tower_inputs, reference, towers[name], names)
    return differences


def export_checkpoint(
    checkpoint: Checkpoint,
    fmt: str,
    out: Path,
    check_items: Sequence[ScoringItem],
    *,
    cache_dir: str | Path,
) -> ExportResult:
    """Write ``out`` and ``out.json``; raise :class:`ExportError` if outputs differ."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    scorer = Scorer(checkpoint, device=torch.device("cpu"), cache_dir=cache_dir)
    module = exportable(checkpoint, scorer)
    # Decoded once: the traced inputs and PyTorch's reference scores come from the same files.
    files = _decoded(scorer, check_items)
    prompts = [item.prompt for item in check_items] if checkpoint.needs_prompt else None
    inputs = _example_inputs(scorer, files, prompts or [])
    reference = scorer.predict_files(files, prompts=prompts)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = (input_names(checkpoint.kind), "scores")
    difference = _save_checked(fmt, module, inputs, reference, out, names)
    check: dict[str, Any] = {
        "images": [item.key for item in check_items],
        "max_abs_difference": difference,
        "tolerance": TOLERANCE[fmt],
    }
    if checkpoint.needs_prompt:
        check["towers_max_abs_difference"] = _save_towers(checkpoint, fmt, inputs, out)
    side = out.with_name(out.name + ".json")
    side.write_text(json.dumps(sidecar(checkpoint, fmt, out, check), indent=2) + "\n")
    return ExportResult(out, side, difference, TOLERANCE[fmt], len(check_items))


def run_export_cli(argv: Sequence[str]) -> int:
    from benchmark.training.config import default_cache_dir

    parser = argparse.ArgumentParser(
        prog="python -m benchmark.training export",
        description="Export a checkpoint to TorchScript or ONNX with a JSON sidecar; "
        "checks the export against PyTorch on a few real images.",
    )
    parser.add_argument("--checkpoint", required=True, help="a run's best.pt")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="file to write (sidecar: <out>.json)")
    parser.add_argument(
        "--images", help="folder or manifest CSV for the check (default: the run's manifest)"
    )
    parser.add_argument("--check-images", type=int, default=4, help="how many to check on")
    parser.add_argument("--reference-column", default="reference")
    parser.add_argument(
        "--prompt-column", default="prompt", help="text-image models: the prompt column"
    )
    parser.add_argument("--cache-dir", help="decode cache (default: the run's cache_dir)")
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint(args.checkpoint)
    images = args.images or checkpoint.config.manifest
    if not images or not Path(images).exists():
        raise ExportError(
            f"the run's manifest {images or '(none)'} is not here; pass --images with a "
            "folder or manifest CSV of a few images to check the export on"
        )
    reference_column = args.reference_column if checkpoint.needs_reference else None
    prompt_column = args.prompt_column if checkpoint.needs_prompt else None
    items = find_items(images, reference_column=reference_column, prompt_column=prompt_column)
    items = items[: max(1, args.check_images)]
    result = export_checkpoint(
        checkpoint,
        args.format,
        Path(args.out),
        items,
        cache_dir=args.cache_dir or checkpoint.config.cache_dir or default_cache_dir(),
    )
    print(
        f"wrote {result.path} and {result.sidecar}; outputs match PyTorch on "
        f"{result.images} image(s): max |difference| {result.max_difference:.2g} MOS "
        f"(tolerance {result.tolerance:g})"
    )
    return 0
