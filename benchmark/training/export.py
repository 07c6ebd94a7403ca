"""Export a checkpoint as TorchScript or ONNX, with a JSON sidecar describing its input.

The exported graph maps *normalised* input tensors to MOS (the target standardisation
is inside the graph; for PSCR the exemplars' features and scores are too), so a user
only has to reproduce the preprocessing the sidecar describes. The command scores a
few real images with PyTorch and with the exported file and refuses to finish if any
output differs by more than ``TOLERANCE[format]``.
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

from benchmark.training.checkpoint import Checkpoint, load_checkpoint
from benchmark.training.errors import TrainingInputError
from benchmark.training.models import PSCRModel
from benchmark.training.predict import Scorer, ScoringItem, find_items

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


def input_names(kind: str) -> list[str]:
    return {"nr": ["image"], "fr": ["image", "reference"], "pscr": ["patches"]}[kind]


def exportable(checkpoint: Checkpoint, scorer: Scorer) -> nn.Module:
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
        }[spec.kind],
        "check": check,
    }


def _decoded(scorer: Scorer, items: Sequence[ScoringItem]) -> list[tuple[Path, Path | None]]:
    """Cached files for ``items``, all of which must decode."""
    files, failures = scorer.decode(items)
    if failures:
        raise ExportError(f"check image {failures[0].line()}")
    return [entry for entry in files if entry is not None]


def _example_inputs(
    scorer: Scorer, files: Sequence[tuple[Path, Path | None]]
) -> list[torch.Tensor]:
    """Normalised CPU input tensors for decoded ``files``, as the scorer feeds its model."""
    images, references = scorer.stacked(files)
    stacked = [images] if references is None else [images, references]
    return [scorer.preprocess.normalise(tensor) for tensor in stacked]


def _save_torchscript(module: nn.Module, inputs: list[torch.Tensor], out: Path) -> Any:
    tmp = out.with_name(out.name + ".tmp")
    # PyTorch marks TorchScript deprecated in favour of torch.export, but it is still the
    # one format a plain ``torch.jit.load`` runs without this code; the notice is noise.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, tuple(inputs), check_trace=False)
        traced.save(str(tmp))
        tmp.replace(out)
        loaded = torch.jit.load(str(out), map_location="cpu")
    return lambda tensors: loaded(*tensors).detach().numpy()


def _save_onnx(module: nn.Module, inputs: list[torch.Tensor], out: Path, kind: str) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx and onnxruntime packages (pip install -r "
            "requirements.txt); TorchScript export works without them"
        ) from None
    names = input_names(kind)
    tmp = out.with_name(out.name + ".tmp")
    # The TorchScript-based exporter: the torch.export-based default needs onnxscript and
    # gains nothing for these static convolutional graphs. Its deprecation notice is noise
    # for a user of the command.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            tuple(inputs),
            str(tmp),
            input_names=names,
            output_names=["scores"],
            dynamic_axes={**{name: {0: "batch"} for name in names}, "scores": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
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
    inputs = _example_inputs(scorer, files)
    reference = scorer.predict_files(files)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchscript":
        run = _save_torchscript(module, inputs, out)
    else:
        run = _save_onnx(module, inputs, out, checkpoint.kind)
    # Batches of another size than the traced one prove the batch axis stays free.
    parts = [inputs]
    if len(check_items) > 1:
        parts = [[tensor[:-1] for tensor in inputs], [tensor[-1:] for tensor in inputs]]
    got = np.concatenate([run(part) for part in parts])
    difference = float(np.max(np.abs(got - reference)))
    tolerance = TOLERANCE[fmt]
    if not np.isfinite(difference) or difference > tolerance:
        out.unlink(missing_ok=True)
        raise ExportError(
            f"the exported {fmt} model differs from PyTorch by {difference:.3g} MOS on "
            f"{len(check_items)} image(s), over the tolerance {tolerance:g}; nothing was kept"
        )
    check = {
        "images": [item.key for item in check_items],
        "max_abs_difference": difference,
        "tolerance": tolerance,
    }
    side = out.with_name(out.name + ".json")
    side.write_text(json.dumps(sidecar(checkpoint, fmt, out, check), indent=2) + "\n")
    return ExportResult(out, side, difference, tolerance, len(check_items))


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
    items = find_items(images, reference_column=reference_column)[: max(1, args.check_images)]
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
