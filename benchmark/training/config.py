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
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.training.catalog import (
    BACKBONES,
    DATA_PATHS,
    FR_FUSIONS,
    LOSSES,
    MODEL_KINDS,
    OPTIMIZERS,
    PRETRAINED_WEIGHTS,
    SCHEDULERS,
    SPLIT_PROTOCOLS,
    TEXT_MODEL_KINDS,
    WEIGHTS_CHOICES,
    backbone_fits,
)
from benchmark.training.presets import (
    FOLLOWS,
    NO_PROTOCOL,
    PROTOCOL_FIELDS,
    PROTOCOL_NAMES,
    PROTOCOLS,
    flat_names,
    override_note,
)

DEFAULT_CACHE_ENV = "BENCHMARK_TRAINING_CACHE"


class ConfigError(ValueError):
    """A configuration value is unknown, missing or out of range."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Bounds:
    """The range a number field allows; an ``*_open`` end excludes the bound itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float | None) -> str | None:
        """Why ``value`` is out of range (``must be >= 2; got 1``), or None when it is in."""
        if value is None:
            return None
        low, high = self.low, self.high
        too_low = low is not None and (value <= low if self.low_open else value < low)
        too_high = high is not None and (value >= high if self.high_open else value > high)
        if not (too_low or too_high):
            return None
        if low is not None and high is not None and (self.low_open or self.high_open):
            # A fraction's range with an open end reads best whole: "must be in (0, 1)".
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"must be in {left}{low}, {high}{right}; got {value!r}"
        if too_low:
            return f"must be {'>' if self.low_open else '>='} {low}; got {value!r}"
        return f"must be {'<' if self.high_open else '<='} {high}; got {value!r}"


def setting(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    help: str = "",
    choices: Collection[str] | None = None,
    bounds: Bounds | None = None,
    derived: bool = False,
) -> Any:
    """A config field with what flags, forms and :meth:`TrainConfig.validate` read from it:
    its help text (CLI style: lowercase, no full stop), allowed choices or number bounds.
    ``derived``: set by the config itself (kept in config.json), never given as a flag."""
    metadata = {"help": help, "choices": choices, "bounds": bounds, "derived": derived}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


# Upper bounds far above any real run: they stop a slip of the keyboard (an extra zero)
# from queueing days of work; seeds fit the 32-bit seed columns of the site's runs.
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 4096
MAX_IMAGE_SIZE = 4096
MAX_REPEATS = 50
MAX_SEED = 2**31 - 1  # the seed columns are 32-bit integers
FRACTION = Bounds(0, 1, low_open=True, high_open=True)


@dataclass
class SplitConfig:
    """How stimuli are divided into train / val / test for each repeat.

    ``grouped`` keeps every prompt group inside one part (the default, because
    images generated from one prompt share content and would leak it). ``folds`` is
    for ``kfold``; ``train_generators`` / ``test_generators`` for
    ``cross_generator``; ``file`` for ``fixed`` (a CSV ``stimulus,part[,repeat]``).
    ``interleaved`` tests on every ``folds``-th row in manifest order (the PKU-I2IQA
    authors' rule with ``folds`` 4) and carves val from the other rows.
    """

    protocol: str = setting("random", choices=SPLIT_PROTOCOLS)
    grouped: bool = setting(
        True, help="keep images of one prompt in one part (no content leak into test)"
    )
    val_fraction: float = setting(0.1, bounds=FRACTION)
    test_fraction: float = setting(0.2, bounds=FRACTION)
    folds: int = setting(
        5,
        help="kfold: the number of folds; interleaved: every folds-th row is a test row",
        bounds=Bounds(low=2),
    )
    train_generators: list[str] = setting(
        default_factory=list,
        help="cross-generator protocol: the generators to train on, comma-separated",
    )
    test_generators: list[str] = setting(
        default_factory=list,
        help="cross-generator protocol: the generators to test on, comma-separated",
    )
    file: str | None = None


@dataclass
class PscrConfig:
    """Patch sampling and exemplar settings of the contrastive-regression model.

    ``patch_size`` defaults to the backbone's input size; ``grid`` x ``grid``
    patches are taken at native resolution; ``exemplars`` is the number of score
    quantile bins, each contributing one exemplar from the training split.
    """

    patch_size: int | None = None
    grid: int = setting(3, bounds=Bounds(low=1))
    exemplars: int = setting(5, bounds=Bounds(low=1))
    fusion: str = setting("concat_diff", choices=FR_FUSIONS)


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

    template: str = setting(
        "a {level} quality photo of {prompt}",
        help="text: per-level text, with {level} and {prompt}",
    )
    levels: list[str] = setting(
        default_factory=_default_levels,
        help="text: comma-separated quality levels, worst first (worth 1..n)",
    )
    clipscore_template: str = setting(
        "A photo depicts {prompt}", help="clipscore: the text, with {prompt}"
    )


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

    Each field's help, choices and bounds are in its :func:`setting`; the CLI's flags and
    the web launch form are built from them (:func:`settings_of`).
    """

    manifest: str = setting("", help="manifest CSV (image, generator, prompt_group, MOS columns)")
    output_dir: str = setting(
        "", help="directory for config.json, summary.csv, metrics.json, checkpoints"
    )
    protocol: str = setting(
        NO_PROTOCOL,
        help="a published training protocol whose values fill every field not given "
        "(none, or pku-i2iqa: the PKU-I2IQA authors' split, sizes, optimiser, schedule, seed)",
        choices=PROTOCOL_NAMES,
    )
    # Filled by from_dict: the preset values the user's own values replaced.
    protocol_overrides: list[str] = setting(
        default_factory=list,
        help="set automatically: the protocol values given otherwise",
        derived=True,
    )
    model: str = setting("nr", choices=MODEL_KINDS)
    # BACKBONES itself, not a copy: a backbone registered later is a valid choice too.
    backbone: str = setting("resnet18", choices=BACKBONES)
    weights: str = setting(
        "imagenet",
        help="random init (none), ImageNet weights (imagenet) or the backbone's published "
        "weights, CLIP's for a CLIP backbone (pretrained); from a local file, see README",
        choices=WEIGHTS_CHOICES,
    )
    weights_path: str | None = None
    weights_sha256: str | None = None
    allow_download: bool = False
    score_columns: list[str] = setting(
        default_factory=lambda: ["mos"],
        help="comma-separated MOS columns; several train one multi-output head",
    )
    split: SplitConfig = field(default_factory=SplitConfig)
    repeats: int = setting(1, bounds=Bounds(1, MAX_REPEATS))
    seed: int = setting(0, bounds=Bounds(0, MAX_SEED))
    epochs: int = setting(20, bounds=Bounds(1, MAX_EPOCHS))
    # BatchNorm cannot normalise a batch of one, so training batches need two.
    batch_size: int = setting(16, bounds=Bounds(2, MAX_BATCH_SIZE))
    eval_batch_size: int | None = setting(None, bounds=Bounds(low=1))
    lr: float = setting(1e-4, bounds=Bounds(low=0, low_open=True))
    weight_decay: float = setting(1e-4, bounds=Bounds(low=0))
    loss: str = setting("mse", choices=LOSSES)
    optimizer: str = setting("adamw", choices=OPTIMIZERS)
    scheduler: str = setting("cosine", choices=SCHEDULERS)
    # The smallest input depends on the backbone; see _check_image_size.
    image_size: int | None = setting(
        None,
        help="network input in pixels; unset: the backbone's own (224, Inception 299)",
        bounds=Bounds(high=MAX_IMAGE_SIZE),
    )
    resize_size: int | None = None
    hidden_dim: int = setting(256, bounds=Bounds(low=1))
    dropout: float = setting(0.1, bounds=Bounds(0, 1, high_open=True))
    fr_fusion: str = setting("concat", choices=FR_FUSIONS)
    # FR on a mixed release: train and test on the rows that have a reference image only
    # (text-to-image rows have none); off, such a row is an error.
    reference_rows_only: bool = setting(
        False, help="fr: train and test on the rows with a reference image only"
    )
    pscr: PscrConfig = field(default_factory=PscrConfig)
    text: TextConfig = field(default_factory=TextConfig)
    device: str = "auto"
    workers: int = setting(2, bounds=Bounds(low=0))
    data_path: str = setting("auto", choices=DATA_PATHS)
    resident_share: float = setting(0.5, bounds=Bounds(0, 1, low_open=True))
    threads: int | None = setting(None, bounds=Bounds(low=1))
    cache_dir: str | None = None
    amp: bool = True
    channels_last: bool = True
    max_train_images: int | None = setting(None, help="subsample training images (quick trials)")
    save_checkpoint: bool = True
    progress: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, validate: bool = True) -> TrainConfig:
        """Build from plain data (JSON, a web form); unknown keys are errors. With a
        ``protocol``, its values fill the fields ``data`` does not give (:func:`with_protocol`)."""
        config = with_protocol(_from_dict(cls, data, prefix=""), flat_names(data))
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


def _with_value(config: Any, name: str, value: Any) -> Any:
    """A copy of the (nested) dataclass ``config`` with the dotted field ``name`` set."""
    head, _, rest = name.partition(".")
    if rest:
        value = _with_value(getattr(config, head), rest, value)
    return dataclasses.replace(config, **{head: value})


def with_protocol(config: TrainConfig, given: set[str]) -> TrainConfig:
    """``config`` with its protocol's values in every field not in ``given`` (dotted
    names); a given field whose value differs from the preset's is listed in
    ``protocol_overrides``. An unknown protocol is left for :meth:`validate` to name."""
    preset = PROTOCOLS.get(config.protocol)
    if preset is None:
        return dataclasses.replace(config, protocol_overrides=[])
    overrides = []
    for name, value in preset.values_for(config.backbone).items():
        if name in PROTOCOL_FIELDS or (name not in given and FOLLOWS.get(name) in given):
            continue
        if name not in given:
            config = _with_value(config, name, value)
        elif _value(config, name) != value:
            overrides.append(override_note(name, _value(config, name), value))
    return dataclasses.replace(config, protocol_overrides=overrides)


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


@dataclass(frozen=True)
class Setting:
    """One leaf field of a config as flags and forms see it; ``name`` is dotted for a
    nested field (``split.val_fraction``), as in :class:`ConfigError`."""

    name: str
    hint: Any
    default: Any
    help: str = ""
    choices: Collection[str] | None = None
    bounds: Bounds | None = None
    derived: bool = False

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` by this field's choices and bounds, or None."""
        if self.choices is not None and value not in self.choices:
            choices = tuple(self.choices)
            return f"must be one of {', '.join(choices)}; got {value!r}"
        if self.bounds is not None:
            return self.bounds.problem(value)
        return None


def _default(spec: dataclasses.Field) -> Any:
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return spec.default


def settings_of(cls: type = TrainConfig, prefix: str = "") -> dict[str, Setting]:
    """Every leaf field of ``cls`` by dotted name, in declaration order (nested dataclasses
    such as ``split`` contribute ``split.protocol`` ...)."""
    out: dict[str, Setting] = {}
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        hint = hints[spec.name]
        name = f"{prefix}{spec.name}"
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            out.update(settings_of(hint, f"{name}."))
            continue
        meta = spec.metadata
        out[name] = Setting(
            name,
            hint,
            _default(spec),
            meta.get("help", ""),
            meta.get("choices"),
            meta.get("bounds"),
            meta.get("derived", False),
        )
    return out


def _value(config: TrainConfig, name: str) -> Any:
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _at_least(name: str, value: float | None, low: float) -> None:
    problem = Bounds(low=low).problem(value)
    if problem:
        raise ConfigError(name, problem)


def _validate(config: TrainConfig, check_files: bool) -> None:
    """Each field in declaration order: its declared choices and bounds, then the checks
    that depend on other fields (:data:`_RELATED_CHECKS`)."""
    for name, spec in settings_of().items():
        problem = spec.problem(_value(config, name))
        if problem:
            raise ConfigError(name, problem)
        related = _RELATED_CHECKS.get(name)
        if related is not None:
            related(config, check_files)
    if check_files:
        _check_files(config)


def _check_manifest(config: TrainConfig, check_files: bool) -> None:
    if not config.manifest:
        raise ConfigError("manifest", "is required (path to the manifest CSV)")


def _check_output_dir(config: TrainConfig, check_files: bool) -> None:
    if not config.output_dir:
        raise ConfigError("output_dir", "is required")


def _check_sha256(config: TrainConfig, check_files: bool) -> None:
    if config.weights_sha256 is not None and not re.fullmatch(
        r"[0-9a-fA-F]{8,64}", config.weights_sha256
    ):
        raise ConfigError("weights_sha256", "must be 8 to 64 hex digits of the file's sha256")


def _check_score_columns(config: TrainConfig, check_files: bool) -> None:
    if not config.score_columns:
        raise ConfigError("score_columns", "needs at least one MOS column")
    if len(set(config.score_columns)) != len(config.score_columns):
        raise ConfigError("score_columns", "lists a column twice")


def _check_fractions(config: TrainConfig, check_files: bool) -> None:
    split = config.split
    if split.protocol == "random" and split.val_fraction + split.test_fraction >= 1:
        raise ConfigError("split.test_fraction", "val_fraction + test_fraction must be < 1")


def _check_train_generators(config: TrainConfig, check_files: bool) -> None:
    split = config.split
    if split.protocol == "cross_generator" and not split.train_generators:
        raise ConfigError("split.train_generators", "is required for cross_generator")


def _check_test_generators(config: TrainConfig, check_files: bool) -> None:
    split = config.split
    if split.protocol != "cross_generator":
        return
    if not split.test_generators:
        raise ConfigError("split.test_generators", "is required for cross_generator")
    both = set(split.train_generators) & set(split.test_generators)
    if both:
        raise ConfigError("split.test_generators", f"also in train_generators: {sorted(both)}")


def _check_split_file(config: TrainConfig, check_files: bool) -> None:
    split = config.split
    if split.protocol != "fixed":
        return
    if not split.file:
        raise ConfigError("split.file", "is required for the fixed protocol")
    if check_files and not Path(split.file).is_file():
        raise ConfigError("split.file", f"no such file: {split.file}")


def _check_backbone(config: TrainConfig, check_files: bool) -> None:
    """Text-image kinds run on CLIP backbones only, and CLIP backbones on them only."""
    if backbone_fits(config.model, config.backbone):
        return
    if config.model in TEXT_MODEL_KINDS:
        clips = ", ".join(sorted(name for name, b in BACKBONES.items() if b.is_text_image))
        raise ConfigError(
            "backbone", f"model {config.model} needs a text-image (CLIP) backbone: {clips}"
        )
    raise ConfigError(
        "backbone",
        f"{config.backbone} is a text-image (CLIP) backbone, for model "
        f"{' or '.join(TEXT_MODEL_KINDS)} only",
    )


def _check_weights(config: TrainConfig, check_files: bool) -> None:
    """A CLIP backbone has its CLIP checkpoint, no ImageNet weights; zero-shot needs it."""
    if not BACKBONES[config.backbone].is_text_image:
        return
    if config.weights == "imagenet":
        raise ConfigError(
            "weights",
            f"{config.backbone} has no ImageNet weights; use pretrained (its CLIP checkpoint)",
        )
    if config.model == "clipscore" and config.weights not in PRETRAINED_WEIGHTS:
        raise ConfigError("weights", "clipscore is zero-shot: it needs weights: pretrained")


def _check_image_size(config: TrainConfig, check_files: bool) -> None:
    info = BACKBONES[config.backbone]
    _at_least("image_size", config.image_size, info.min_input_size)
    fixed = info.is_text_image and config.image_size is not None
    if fixed and config.image_size != info.input_size:
        raise ConfigError(
            "image_size",
            f"{config.backbone} takes {info.input_size} px only (its position embeddings are "
            f"fixed); got {config.image_size}",
        )


def _check_resize_size(config: TrainConfig, check_files: bool) -> None:
    image_size = config.image_size or BACKBONES[config.backbone].input_size
    _at_least("resize_size", config.resize_size, image_size)


def _check_patch_size(config: TrainConfig, check_files: bool) -> None:
    if config.model == "pscr":
        min_size = BACKBONES[config.backbone].min_input_size
        _at_least("pscr.patch_size", config.pscr.patch_size, min_size)


def _check_device(config: TrainConfig, check_files: bool) -> None:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", config.device):
        raise ConfigError("device", f"must be auto, cpu, cuda or cuda:N; got {config.device!r}")


def _check_max_train_images(config: TrainConfig, check_files: bool) -> None:
    _at_least("max_train_images", config.max_train_images, config.batch_size)


def _check_template(name: str, template: str, needs_level: bool) -> None:
    try:
        filled = template.format(level="LEVEL", prompt="PROMPT")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            name, f"may only use {{level}} and {{prompt}}; {exc!r} in {template!r}"
        ) from None
    if "PROMPT" not in filled:
        raise ConfigError(name, f"must contain {{prompt}}; got {template!r}")
    if needs_level and "LEVEL" not in template.format(level="LEVEL", prompt=""):
        raise ConfigError(name, f"must contain {{level}}; got {template!r}")


def _check_text_template(config: TrainConfig, check_files: bool) -> None:
    _check_template("text.template", config.text.template, needs_level=True)


def _check_clipscore_template(config: TrainConfig, check_files: bool) -> None:
    _check_template("text.clipscore_template", config.text.clipscore_template, needs_level=False)


def _check_levels(config: TrainConfig, check_files: bool) -> None:
    levels = config.text.levels
    if len(levels) < 2 or len(set(levels)) != len(levels):
        raise ConfigError("text.levels", f"needs two or more distinct levels; got {levels}")


# Checks that need more than the field's own declared choices or bounds, by field.
_RELATED_CHECKS: dict[str, Callable[[TrainConfig, bool], None]] = {
    "manifest": _check_manifest,
    "output_dir": _check_output_dir,
    "backbone": _check_backbone,
    "weights": _check_weights,
    "weights_sha256": _check_sha256,
    "score_columns": _check_score_columns,
    "split.test_fraction": _check_fractions,
    "split.train_generators": _check_train_generators,
    "split.test_generators": _check_test_generators,
    "split.file": _check_split_file,
    "image_size": _check_image_size,
    "resize_size": _check_resize_size,
    "pscr.patch_size": _check_patch_size,
    "device": _check_device,
    "max_train_images": _check_max_train_images,
    "text.template": _check_text_template,
    "text.levels": _check_levels,
    "text.clipscore_template": _check_clipscore_template,
}


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
