"""Score new images with a trained checkpoint (``python -m benchmark.training predict``).

Images go through the same decode cache and the same evaluation preprocessing as the
run's own validation and test predictions (resize, centre crop and normalisation for
NR/FR; the fixed patch grid for PSCR, compared against the checkpoint's exemplars), so
scoring a run's test images reproduces its ``predictions_test.csv``. Text-image models
(``clipscore``, ``text``) score each image with its text prompt, tokenised as in training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from benchmark.training.cache import CacheSpec, ImageCache, load_cached
from benchmark.training.catalog import BACKBONES
from benchmark.training.checkpoint import Checkpoint, InputSpec
from benchmark.training.data import DeviceAugment, centre_crop, sample_patches
from benchmark.training.errors import TrainingInputError
from benchmark.training.manifest import missing_prompts_message, resolve_path
from benchmark.training.models import PSCRModel
from benchmark.training.textimage import PromptTokenizer
from common.progress import Progress

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MAX_LISTED = 10


class ScoringInputError(TrainingInputError):
    """The images to score cannot be used as given; the message names them."""


@dataclass(frozen=True)
class ScoringItem:
    """One image to score: a key for the output row, its file, (FR) its reference and
    (text-image models) its text prompt."""

    key: str
    image: str
    reference: str | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class ImageFailure:
    key: str
    image: str
    reason: str

    def line(self) -> str:
        return f"{self.key} ({self.image}): {self.reason}"


def items_from_directory(folder: Path) -> list[ScoringItem]:
    """Every image file under ``folder`` (recursively), keyed by its relative path."""
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ScoringInputError(
            f"no image files ({', '.join(IMAGE_SUFFIXES)}) found under {folder}"
        )
    return [ScoringItem(path.relative_to(folder).as_posix(), str(path)) for path in files]


def _check_prompts(path: Path, frame: pd.DataFrame, keys: pd.Series, column: str) -> None:
    if column not in frame.columns:
        raise ScoringInputError(
            f"{path}: no prompt column {column!r} (the model is text-image and scores each "
            f"image with its text prompt); columns present: {list(frame.columns)}"
        )
    blank = frame[column].str.strip() == ""
    if blank.any():
        raise ScoringInputError(f"{path}: " + missing_prompts_message(keys[blank].tolist()))


def items_from_manifest(
    path: Path, reference_column: str | None, prompt_column: str | None = None
) -> list[ScoringItem]:
    """Rows of a CSV with an ``image`` column (paths relative to the CSV's folder)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if "image" not in frame.columns:
        raise ScoringInputError(
            f"{path}: no 'image' column; columns present: {list(frame.columns)}"
        )
    if reference_column is not None and reference_column not in frame.columns:
        raise ScoringInputError(
            f"{path}: no reference column {reference_column!r} (the model is full-reference "
            f"and needs each image's reference); columns present: {list(frame.columns)}"
        )
    if frame.empty:
        raise ScoringInputError(f"{path}: no rows")
    base = path.resolve().parent
    keys = frame["stimulus_id"] if "stimulus_id" in frame.columns else frame["image"]
    duplicated = keys[keys.duplicated()].tolist()
    if duplicated:
        raise ScoringInputError(f"{path}: duplicate ids {duplicated[:MAX_LISTED]}")
    if prompt_column is not None:
        _check_prompts(path, frame, keys, prompt_column)

    items = []
    for key, image, row in zip(keys, frame["image"], frame.to_dict("records"), strict=True):
        reference = row[reference_column] if reference_column is not None else None
        items.append(
            ScoringItem(
                str(key),
                resolve_path(base, image),
                resolve_path(base, reference) if reference else reference,
                row[prompt_column] if prompt_column is not None else None,
            )
        )
    return items


def find_items(
    images: str | Path, *, reference_column: str | None, prompt_column: str | None = None
) -> list[ScoringItem]:
    """A folder of images or a manifest CSV; ``reference_column`` only for FR models,
    ``prompt_column`` only for text-image models."""
    images = Path(images)
    if images.is_dir():
        needs = (
            ("full-reference (FR)", "its reference image", reference_column)
            if reference_column is not None
            else ("text-image", "its text prompt", prompt_column)
        )
        if needs[2] is not None:
            raise ScoringInputError(
                f"this is a {needs[0]} model: every image needs {needs[1]}; give a manifest "
                f"CSV with an 'image' and a {needs[2]!r} column instead of a folder"
            )
        return items_from_directory(images)
    if images.is_file() and images.suffix.lower() == ".csv":
        return items_from_manifest(images, reference_column, prompt_column)
    if images.is_file():
        raise ScoringInputError(f"{images}: give a folder of images or a manifest .csv")
    raise ScoringInputError(f"{images} does not exist")


@dataclass
class ScoringResult:
    columns: list[str]
    items: list[ScoringItem]
    predictions: np.ndarray  # (n_items, n_columns), NaN where the image failed
    failures: list[ImageFailure]

    def frame(self) -> pd.DataFrame:
        """One row per item: id, image, ``pred_<column>`` per score column, error."""
        failed = {failure.key: failure.reason for failure in self.failures}
        out = pd.DataFrame(
            {
                "stimulus_id": [item.key for item in self.items],
                "image": [item.image for item in self.items],
            }
        )
        for index, column in enumerate(self.columns):
            out[f"pred_{column}"] = self.predictions[:, index]
        out["error"] = [failed.get(item.key, "") for item in self.items]
        return out

    def write_csv(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        self.frame().to_csv(tmp, index=False, float_format="%.6g")
        tmp.replace(path)


def failure_message(failures: Sequence[ImageFailure]) -> str:
    shown = "; ".join(failure.line() for failure in failures[:MAX_LISTED])
    more = f" and {len(failures) - MAX_LISTED} more" if len(failures) > MAX_LISTED else ""
    return (
        f"{len(failures)} image(s) cannot be scored: {shown}{more} "
        "(fix or remove them, or pass --skip-bad to score the rest)"
    )


def cache_spec(spec: InputSpec) -> CacheSpec:
    if spec.kind == "pscr":
        return CacheSpec("native", spec.patch_size)
    return CacheSpec("resize", spec.resize)


class Preprocess:
    """uint8 cached arrays -> normalised network input, as the run's evaluation did it."""

    def __init__(self, spec: InputSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        # Training's own normalisation, so the floats are the same; crop=None because
        # image() crops each image before stacking.
        self._augment = DeviceAugment(
            spec.mean, spec.std, device, crop=None, channels_last=False, seed=0
        )

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        return self._augment.normalise(batch.to(self.device))

    def image(self, array: np.ndarray) -> torch.Tensor:
        """One cached image -> its uint8 network input (crop, or the patch grid)."""
        if self.spec.kind == "pscr":
            return torch.from_numpy(sample_patches(array, self.spec.patch_size, self.spec.grid))
        return centre_crop(torch.from_numpy(np.array(array)), self.spec.crop)


class Scorer:
    """Scores images with a loaded checkpoint on one device."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        *,
        device: torch.device,
        cache_dir: str | Path,
        batch_size: int = 32,
        threads: int = 1,
    ) -> None:
        self.checkpoint = checkpoint
        self.device = device
        self.cache = ImageCache(cache_dir)
        self.batch_size = max(1, batch_size)
        self.threads = max(1, threads)
        self.model = checkpoint.model.to(device).eval()
        self.preprocess = Preprocess(checkpoint.spec, device)
        self._exemplar_feats: torch.Tensor | None = None
        self.tokenizer: PromptTokenizer | None = None
        if checkpoint.needs_prompt:
            clip_model = BACKBONES[checkpoint.config.backbone].clip_model
            assert clip_model is not None
            self.tokenizer = PromptTokenizer(clip_model, checkpoint.kind, checkpoint.config.text)

    def tokens(self, prompts: Sequence[str | None] | None) -> torch.Tensor | None:
        """Token ids ``(n, T, L)`` of the items' prompts for a text-image model, else None."""
        if self.tokenizer is None:
            return None
        if prompts is None or any(not prompt for prompt in prompts):
            raise ScoringInputError("a text-image model scores each image with its text prompt")
        return self.tokenizer([cast(str, prompt) for prompt in prompts])

    def _cached(self, path: str | None, spec: CacheSpec) -> Path:
        if not path:
            raise ValueError("no reference image given (an FR model needs one)")
        if not Path(path).is_file():
            raise ValueError("file not found")
        try:
            return self.cache.ensure([path], spec)[0]
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's problem
            raise ValueError(f"cannot decode: {type(exc).__name__}: {exc}") from None

    def decode(
        self, items: Sequence[ScoringItem], progress: Progress | None = None
    ) -> tuple[list[tuple[Path, Path | None] | None], list[ImageFailure]]:
        """Cache files per item (None where it failed) and the failures."""
        spec = cache_spec(self.checkpoint.spec)
        needs_reference = self.checkpoint.needs_reference
        done = 0

        def one(item: ScoringItem) -> tuple[Path, Path | None] | ImageFailure:
            nonlocal done
            try:
                image = self._cached(item.image, spec)
                reference = self._cached(item.reference, spec) if needs_reference else None
                return image, reference
            except ValueError as exc:
                return ImageFailure(item.key, item.image, str(exc))
            finally:
                done += 1
                if progress is not None:
                    progress("decode", done, len(items))

        if self.threads > 1:
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                outcomes = list(pool.map(one, items))
        else:
            outcomes = [one(item) for item in items]
        files = [None if isinstance(o, ImageFailure) else o for o in outcomes]
        failures = [o for o in outcomes if isinstance(o, ImageFailure)]
        return files, failures

    @torch.no_grad()
    def exemplar_features(self) -> torch.Tensor:
        if self._exemplar_feats is None:
            patches = self.checkpoint.exemplar_patches
            if patches is None:
                raise ScoringInputError("this PSCR checkpoint carries no exemplar patches")
            model = cast(PSCRModel, self.model)
            feats = [
                model.encode(self.preprocess.normalise(patches[start : start + 8])).float()
                for start in range(0, patches.shape[0], 8)
            ]
            self._exemplar_feats = torch.cat(feats)
        return self._exemplar_feats

    @torch.no_grad()
    def _forward(
        self,
        images: torch.Tensor,
        references: torch.Tensor | None,
        tokens: torch.Tensor | None = None,
    ) -> np.ndarray:
        kind = self.checkpoint.kind
        inputs = self.preprocess.normalise(images)
        if tokens is not None:
            output = self.model(inputs, tokens.to(self.device))
        elif kind == "nr":
            output = self.model(inputs)
        elif kind == "fr":
            assert references is not None
            output = self.model(inputs, self.preprocess.normalise(references))
        else:
            targets = torch.as_tensor(
                self.checkpoint.standardised_exemplar_scores(),
                dtype=torch.float32,
                device=self.device,
            )
            model = cast(PSCRModel, self.model)
            output = model.predict(inputs, self.exemplar_features(), targets)
        return output.float().cpu().numpy()

    def stacked(
        self, files: Sequence[tuple[Path, Path | None]]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 network inputs for cached files: the images and, for an FR model, references."""
        images = torch.stack([self.preprocess.image(load_cached(f)) for f, _ in files])
        if not self.checkpoint.needs_reference:
            return images, None
        references = [self.preprocess.image(load_cached(cast(Path, ref))) for _, ref in files]
        return images, torch.stack(references)

    def predict_files(
        self,
        files: Sequence[tuple[Path, Path | None]],
        progress: Progress | None = None,
        prompts: Sequence[str | None] | None = None,
    ) -> np.ndarray:
        """MOS predictions ``(n, n_columns)`` for cached files (and their prompts), in order."""
        out = np.zeros((len(files), len(self.checkpoint.score_columns)), dtype=np.float64)
        tokens = self.tokens(prompts)
        for start in range(0, len(files), self.batch_size):
            chunk = files[start : start + self.batch_size]
            chunk_tokens = tokens[start : start + len(chunk)] if tokens is not None else None
            out[start : start + len(chunk)] = self._forward(*self.stacked(chunk), chunk_tokens)
            if progress is not None:
                progress("score", start + len(chunk), len(files))
        return self.checkpoint.unstandardise(out)

    def score(
        self,
        items: Sequence[ScoringItem],
        *,
        skip_bad: bool = False,
        progress: Progress | None = None,
    ) -> ScoringResult:
        """Decode (through the cache) and score ``items``.

        Raises :class:`ScoringInputError` listing every image that cannot be decoded,
        unless ``skip_bad``: then those rows carry NaN scores and the reason.
        """
        files, failures = self.decode(items, progress)
        if failures and not skip_bad:
            raise ScoringInputError(failure_message(failures))
        good = [index for index, entry in enumerate(files) if entry is not None]
        predictions = np.full((len(items), len(self.checkpoint.score_columns)), np.nan)
        if good:
            prompts = [items[i].prompt for i in good] if self.tokenizer is not None else None
            scored = self.predict_files([cast(Any, files[i]) for i in good], progress, prompts)
            predictions[good] = scored
        return ScoringResult(
            list(self.checkpoint.score_columns), list(items), predictions, failures
        )


def tqdm_progress(enabled: bool) -> tuple[Progress | None, Callable[[], None]]:
    """A :class:`Progress` drawing one tqdm bar per phase, and a function closing it."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(phase: str, done: float, total: float) -> None:
        bar = bars.get(phase)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[phase] = tqdm(total=total, desc=phase, unit="img")
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return progress, close
