"""Training configuration: one typed dataclass, validated before any work starts.

Importing this module must stay cheap and torch-free: the Django app validates
configurations submitted from web forms with it. Every error names the offending
field with its dotted path (``split.val_fraction``) so a form can attach it.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.training.catalog import (
    BACKBONES,
    DATA_PATHS,
    FR_FUSIONS,
    LOSSES,
    MODEL_KINDS,
    PRETRAINED_WEIGHTS,
    SCHEDULERS,
    SPLIT_PROTOCOLS,
    TEXT_MODEL_KINDS,
    WEIGHTS_CHOICES,
    BackboneInfo,
)

DEFAULT_CACHE_ENV = "BENCHMARK_TRAINING_CACHE"


class ConfigError(ValueError):
    """A configuration value is unknown, missing or out of range."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass
class SplitConfig:
    """How stimuli are divided into train / val / test for each repeat.

    ``grouped`` keeps every prompt group inside one part (the default, because
    images generated from one prompt share content and would leak it). ``folds`` is
    for ``kfold``; ``train_generators`` / ``test_generators`` for
    ``cross_generator``; ``file`` for ``fixed`` (a CSV ``stimulus,part[,repeat]``).
    """

    protocol: str = "random"
    grouped: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    folds: int = 5
    train_generators: list[str] = field(default_factory=list)
    test_generators: list[str] = field(default_factory=list)
    file: str | None = None


@dataclass
class PscrConfig:
    """Patch sampling and exemplar settings of the contrastive-regression model.

    ``patch_size`` defaults to the backbone's input size; ``grid`` x ``grid``
    patches are taken at native resolution; ``exemplars`` is the number of score
    quantile bins, each contributing one exemplar from the training split.
    """

    patch_size: int | None = None
    grid: int = 3
    exemplars: int = 5
    fusion: str = "concat_diff"


def _default_levels() -> list[str]:
    return ["bad", "poor", "fair", "good", "perfect"]


@dataclass
class TextConfig:
    """How the image's prompt becomes text for the text-image kinds (``clipscore``, ``text``).

    ``text``: per score column, the softmax over ``levels`` (worst first, worth 1 .. n) of
    the image's similarity to ``template`` filled with each level and the prompt; the
    score is the expected level. ``clipscore``: the image's similarity to
    ``clipscore_template`` filled with the prompt ("A photo depicts", as its paper).
    """

    template: str = "a {level} quality photo of {prompt}"
    levels: list[str] = field(default_factory=_default_levels)
    clipscore_template: str = "A photo depicts {prompt}"


@dataclass
class TrainConfig:
    """Everything a run needs; ``None`` sizes resolve from the backbone (see ``resolved``).

    ``image_size`` is the network input (NR/FR crop, PSCR patch unless
    ``pscr.patch_size``); ``resize_size`` the cached square size the crop is taken
    from. ``amp`` (bf16) and ``channels_last`` apply on CUDA only. ``threads`` sets
    torch's CPU threads; ``max_train_images`` subsamples training rows for tiny runs.
    ``data_path``: ``resident`` keeps the packed uint8 images on the device, ``stream``
    reads them through ``workers`` loader processes, ``auto`` is resident when they fit
    in ``resident_share`` of the device's free memory (batches are the same either way).
    The text-image kinds (``clipscore``, ``text``) need a CLIP backbone, the manifest's
    ``prompt`` column and ``text``'s templates; ``clipscore`` trains nothing.
    """

    manifest: str = ""
    output_dir: str = ""
    model: str = "nr"
    backbone: str = "resnet18"
    weights: str = "imagenet"
    weights_path: str | None = None
    weights_sha256: str | None = None
    allow_download: bool = False
    score_columns: list[str] = field(default_factory=lambda: ["mos"])
    split: SplitConfig = field(default_factory=SplitConfig)
    repeats: int = 1
    seed: int = 0
    epochs: int = 20
    batch_size: int = 16
    eval_batch_size: int | None = None
    lr: float = 1e-4
    weight_decay: float = 1e-4
    loss: str = "mse"
    scheduler: str = "cosine"
    image_size: int | None = None
    resize_size: int | None = None
    hidden_dim: int = 256
    dropout: float = 0.1
    fr_fusion: str = "concat"
    # FR on a mixed release: train and test on the rows that have a reference image only
    # (text-to-image rows have none); off, such a row is an error.
    reference_rows_only: bool = False
    pscr: PscrConfig = field(default_factory=PscrConfig)
    text: TextConfig = field(default_factory=TextConfig)
    device: str = "auto"
    workers: int = 2
    data_path: str = "auto"
    resident_share: float = 0.5
    threads: int | None = None
    cache_dir: str | None = None
    amp: bool = True
    channels_last: bool = True
    max_train_images: int | None = None
    save_checkpoint: bool = True
    progress: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, validate: bool = True) -> TrainConfig:
        """Build from plain data (JSON, a web form); unknown keys are errors."""
        config = _from_dict(cls, data, prefix="")
        if validate:
            config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self, *, check_files: bool = True) -> TrainConfig:
        """Raise :class:`ConfigError` for the first bad field; return ``self``.

        With ``check_files`` the manifest, split file and weights file must exist
        and the manifest header must carry the columns this run needs; rows are
        checked later by :func:`benchmark.training.manifest.load_manifest`.
        """
        _validate(self, check_files)
        return self

    def resolved(self) -> TrainConfig:
        """A copy with every size and path default filled in, as recorded in runs."""
        info = BACKBONES[self.backbone]
        image_size = self.image_size or info.input_size
        # The 256/224 ratio torchvision uses leaves room for a random crop; zero-shot
        # CLIPScore never crops at random, so it sees the whole image as CLIP does.
        ratio = 1.0 if self.model == "clipscore" else 256 / 224
        resize_size = self.resize_size or round(image_size * ratio)
        pscr = dataclasses.replace(self.pscr, patch_size=self.pscr.patch_size or image_size)
        return dataclasses.replace(
            self,
            image_size=image_size,
            resize_size=resize_size,
            eval_batch_size=self.eval_batch_size or self.batch_size,
            pscr=pscr,
            cache_dir=self.cache_dir or default_cache_dir(),
        )


def default_cache_dir() -> str:
    env = os.environ.get(DEFAULT_CACHE_ENV)
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "aigc-quality", "images")


def _from_dict(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(prefix.rstrip(".") or "config", "must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(
                f"{prefix}{key}", f"unknown field (known: {', '.join(sorted(names))})"
            )
    values = {}
    for key, raw in data.items():
        hint = hints[key]
        name = f"{prefix}{key}"
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[key] = _from_dict(hint, raw, prefix=f"{name}.")
        else:
            values[key] = _coerce(raw, hint, name)
    return cls(**values)


def _coerce(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        blank = value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))
        if blank and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(name, f"must be a list of strings, got {value!r}")
        return list(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(name, f"must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ConfigError(name, f"must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(name, f"must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(name, f"must be a string, got {value!r}")
    raise ConfigError(name, f"unsupported type {hint!r}")


def _choice(name: str, value: str, choices: typing.Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}; got {value!r}")


def _at_least(name: str, value: float | None, low: float) -> None:
    if value is not None and value < low:
        raise ConfigError(name, f"must be >= {low}; got {value!r}")


def _validate(config: TrainConfig, check_files: bool) -> None:
    if not config.manifest:
        raise ConfigError("manifest", "is required (path to the manifest CSV)")
    if not config.output_dir:
        raise ConfigError("output_dir", "is required")
    _choice("model", config.model, MODEL_KINDS)
    _choice("backbone", config.backbone, BACKBONES)
    _choice("weights", config.weights, WEIGHTS_CHOICES)
    if config.weights_sha256 is not None and not re.fullmatch(
        r"[0-9a-fA-F]{8,64}", config.weights_sha256
    ):
        raise ConfigError("weights_sha256", "must be 8 to 64 hex digits of the file's sha256")
    if not config.score_columns:
        raise ConfigError("score_columns", "needs at least one MOS column")
    if len(set(config.score_columns)) != len(config.score_columns):
        raise ConfigError("score_columns", "lists a column twice")
    _validate_split(config, check_files)
    _at_least("repeats", config.repeats, 1)
    _at_least("seed", config.seed, 0)
    _at_least("epochs", config.epochs, 1)
    # BatchNorm cannot normalise a batch of one, so training batches need two.
    _at_least("batch_size", config.batch_size, 2)
    _at_least("eval_batch_size", config.eval_batch_size, 1)
    if not config.lr > 0:
        raise ConfigError("lr", f"must be > 0; got {config.lr!r}")
    _at_least("weight_decay", config.weight_decay, 0)
    _choice("loss", config.loss, LOSSES)
    _choice("scheduler", config.scheduler, SCHEDULERS)
    info = BACKBONES[config.backbone]
    _at_least("image_size", config.image_size, info.min_input_size)
    image_size = config.image_size or info.input_size
    _at_least("resize_size", config.resize_size, image_size)
    _at_least("hidden_dim", config.hidden_dim, 1)
    if not 0 <= config.dropout < 1:
        raise ConfigError("dropout", f"must be in [0, 1); got {config.dropout!r}")
    _choice("fr_fusion", config.fr_fusion, FR_FUSIONS)
    if config.model == "pscr":
        _at_least("pscr.patch_size", config.pscr.patch_size, info.min_input_size)
    _at_least("pscr.grid", config.pscr.grid, 1)
    _at_least("pscr.exemplars", config.pscr.exemplars, 1)
    _choice("pscr.fusion", config.pscr.fusion, FR_FUSIONS)
    _validate_kind_and_backbone(config, info)
    _validate_text(config)
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", config.device):
        raise ConfigError("device", f"must be auto, cpu, cuda or cuda:N; got {config.device!r}")
    _at_least("workers", config.workers, 0)
    _choice("data_path", config.data_path, DATA_PATHS)
    if not 0 < config.resident_share <= 1:
        raise ConfigError("resident_share", f"must be in (0, 1]; got {config.resident_share!r}")
    _at_least("threads", config.threads, 1)
    _at_least("max_train_images", config.max_train_images, config.batch_size)
    if check_files:
        _check_files(config)


def _validate_kind_and_backbone(config: TrainConfig, info: BackboneInfo) -> None:
    """Text-image kinds run on CLIP backbones only, and CLIP backbones on them only."""
    text_kind = config.model in TEXT_MODEL_KINDS
    if text_kind and not info.is_text_image:
        clips = ", ".join(sorted(name for name, b in BACKBONES.items() if b.is_text_image))
        raise ConfigError(
            "backbone", f"model {config.model} needs a text-image (CLIP) backbone: {clips}"
        )
    if not text_kind and info.is_text_image:
        raise ConfigError(
            "backbone",
            f"{config.backbone} is a text-image (CLIP) backbone, for model "
            f"{' or '.join(TEXT_MODEL_KINDS)} only",
        )
    if not info.is_text_image:
        return
    if config.image_size is not None and config.image_size != info.input_size:
        raise ConfigError(
            "image_size",
            f"{config.backbone} takes {info.input_size} px only (its position embeddings are "
            f"fixed); got {config.image_size}",
        )
    if config.weights == "imagenet":
        raise ConfigError(
            "weights",
            f"{config.backbone} has no ImageNet weights; use pretrained (its CLIP checkpoint)",
        )
    if config.model == "clipscore" and config.weights not in PRETRAINED_WEIGHTS:
        raise ConfigError("weights", "clipscore is zero-shot: it needs weights: pretrained")


def _validate_text(config: TrainConfig) -> None:
    text = config.text
    for name, template in (
        ("template", text.template),
        ("clipscore_template", text.clipscore_template),
    ):
        try:
            filled = template.format(level="LEVEL", prompt="PROMPT")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"text.{name}", f"may only use {{level}} and {{prompt}}; {exc!r} in {template!r}"
            ) from None
        if "PROMPT" not in filled:
            raise ConfigError(f"text.{name}", f"must contain {{prompt}}; got {template!r}")
    if "LEVEL" not in text.template.format(level="LEVEL", prompt=""):
        raise ConfigError("text.template", f"must contain {{level}}; got {text.template!r}")
    if len(text.levels) < 2 or len(set(text.levels)) != len(text.levels):
        raise ConfigError("text.levels", f"needs two or more distinct levels; got {text.levels}")


def _validate_split(config: TrainConfig, check_files: bool) -> None:
    split = config.split
    _choice("split.protocol", split.protocol, SPLIT_PROTOCOLS)
    if not 0 < split.val_fraction < 1:
        raise ConfigError("split.val_fraction", f"must be in (0, 1); got {split.val_fraction!r}")
    if not 0 < split.test_fraction < 1:
        raise ConfigError("split.test_fraction", f"must be in (0, 1); got {split.test_fraction!r}")
    if split.protocol == "random" and split.val_fraction + split.test_fraction >= 1:
        raise ConfigError("split.test_fraction", "val_fraction + test_fraction must be < 1")
    _at_least("split.folds", split.folds, 2)
    if split.protocol == "cross_generator":
        if not split.train_generators:
            raise ConfigError("split.train_generators", "is required for cross_generator")
        if not split.test_generators:
            raise ConfigError("split.test_generators", "is required for cross_generator")
        both = set(split.train_generators) & set(split.test_generators)
        if both:
            raise ConfigError("split.test_generators", f"also in train_generators: {sorted(both)}")
    if split.protocol == "fixed":
        if not split.file:
            raise ConfigError("split.file", "is required for the fixed protocol")
        if check_files and not Path(split.file).is_file():
            raise ConfigError("split.file", f"no such file: {split.file}")


def _check_files(config: TrainConfig) -> None:
    path = Path(config.manifest)
    if not path.is_file():
        raise ConfigError("manifest", f"no such file: {config.manifest}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    needed = ["image", "generator", "prompt_group", *config.score_columns]
    if config.model == "fr":
        needed.append("reference")
    if config.model in TEXT_MODEL_KINDS:
        needed.append("prompt")
    missing = [col for col in needed if col not in header]
    if missing:
        name = "score_columns" if set(missing) <= set(config.score_columns) else "manifest"
        raise ConfigError(
            name, f"manifest {config.manifest} lacks column(s) {missing}; it has {header}"
        )
    if config.weights_path is not None and not Path(config.weights_path).is_file():
        raise ConfigError("weights_path", f"no such file: {config.weights_path}")
