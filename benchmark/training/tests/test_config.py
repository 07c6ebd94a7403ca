from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmark.training import ConfigError, TrainConfig

REPO = Path(__file__).resolve().parents[3]


def _fails(config: dict[str, Any], field: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(config)
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(field)
    return info.value


def test_defaults_resolve_per_backbone(tiny_config: dict[str, Any]) -> None:
    base = {**tiny_config, "image_size": None, "pscr": {}}
    c = TrainConfig.from_dict({**base, "backbone": "inception_v4"})
    r = c.resolved()
    assert (r.image_size, r.resize_size, r.pscr.patch_size) == (299, 342, 299)
    r18 = TrainConfig.from_dict(base).resolved()
    assert (r18.image_size, r18.resize_size) == (224, 256)


def test_round_trip(tiny_config: dict[str, Any]) -> None:
    c = TrainConfig.from_dict(tiny_config)
    again = TrainConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c


def test_strings_from_forms_are_coerced(tiny_config: dict[str, Any]) -> None:
    c = TrainConfig.from_dict(
        {
            **tiny_config,
            "epochs": "3",
            "lr": "1e-3",
            "amp": "false",
            "score_columns": "mos, mos_quality",
            "threads": "",
        }
    )
    assert (c.epochs, c.lr, c.amp, c.score_columns, c.threads) == (
        3,
        1e-3,
        False,
        ["mos", "mos_quality"],
        None,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"split": {"nope": 1}}, "split.nope"),
        ({"model": "cnn"}, "model"),
        ({"backbone": "resnet101"}, "backbone"),
        ({"weights": "coco"}, "weights"),
        ({"weights_sha256": "xyz"}, "weights_sha256"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"lr": 0}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"dropout": 1.0}, "dropout"),
        ({"image_size": 16}, "image_size"),
        ({"backbone": "inception_v4", "image_size": 64}, "image_size"),
        ({"resize_size": 20}, "resize_size"),
        ({"device": "tpu"}, "device"),
        ({"workers": -1}, "workers"),
        ({"amp": "maybe"}, "amp"),
        ({"score_columns": []}, "score_columns"),
        ({"score_columns": ["mos", "mos"]}, "score_columns"),
        ({"score_columns": ["mos_nope"]}, "score_columns"),
        ({"split": {"protocol": "stratified"}}, "split.protocol"),
        ({"split": {"val_fraction": 0}}, "split.val_fraction"),
        ({"split": {"val_fraction": 0.5, "test_fraction": 0.5}}, "split.test_fraction"),
        ({"split": {"folds": 1}}, "split.folds"),
        ({"split": {"protocol": "cross_generator"}}, "split.train_generators"),
        (
            {"split": {"protocol": "cross_generator", "train_generators": ["genA"]}},
            "split.test_generators",
        ),
        (
            {
                "split": {
                    "protocol": "cross_generator",
                    "train_generators": ["genA"],
                    "test_generators": ["genA"],
                }
            },
            "split.test_generators",
        ),
        ({"split": {"protocol": "fixed"}}, "split.file"),
        ({"split": {"protocol": "fixed", "file": "/nonexistent.csv"}}, "split.file"),
        ({"split": "random"}, "split"),
        ({"pscr": {"grid": 0}}, "pscr.grid"),
        ({"model": "pscr", "pscr": {"patch_size": 8}}, "pscr.patch_size"),
        ({"max_train_images": 3}, "max_train_images"),
        ({"manifest": ""}, "manifest"),
        ({"manifest": "/nonexistent/manifest.csv"}, "manifest"),
        ({"output_dir": ""}, "output_dir"),
        ({"weights_path": "/nonexistent.pth"}, "weights_path"),
    ],
)
def test_bad_values_name_the_field(
    tiny_config: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    _fails({**tiny_config, **change}, field)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"batch_size": 1}, "batch_size", "must be >= 2; got 1"),
        ({"epochs": 10_001}, "epochs", "must be <= 10000; got 10001"),
        ({"seed": -1}, "seed", "must be >= 0; got -1"),
        ({"lr": 0}, "lr", "must be > 0; got 0.0"),
        ({"dropout": 1.0}, "dropout", "must be in [0, 1); got 1.0"),
        ({"resident_share": 0}, "resident_share", "must be in (0, 1]; got 0.0"),
        ({"split": {"val_fraction": 1}}, "split.val_fraction", "must be in (0, 1); got 1.0"),
        ({"loss": "huber"}, "loss", "must be one of mse, l1; got 'huber'"),
        ({"image_size": 16}, "image_size", "must be >= 32; got 16"),
        ({"max_train_images": 3}, "max_train_images", "must be >= 8; got 3"),
    ],
)
def test_bounds_and_choices_come_from_the_fields_with_one_message_each(
    tiny_config: dict[str, Any], change: dict[str, Any], field: str, message: str
) -> None:
    assert _fails({**tiny_config, **change}, field).message == message


def test_every_field_with_bounds_or_choices_declares_them_once() -> None:
    from benchmark.training.config import settings_of

    specs = settings_of(TrainConfig)
    assert specs["batch_size"].bounds is not None and specs["batch_size"].bounds.low == 2
    assert list(specs)[:4] == ["manifest", "output_dir", "protocol", "protocol_overrides"]
    assert "split.val_fraction" in specs and "pscr.grid" in specs and "split" not in specs
    defaults = TrainConfig()
    assert specs["split.folds"].default == defaults.split.folds
    assert specs["score_columns"].default == defaults.score_columns


def test_fr_needs_reference_column(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,generator,prompt_group,mos\na.png,g,1,3\n")
    err = _fails({**tiny_config, "manifest": str(manifest), "model": "fr"}, "manifest")
    assert "reference" in str(err)


def test_validation_without_torch_or_django(tiny_config: dict[str, Any]) -> None:
    code = f"""
import sys, json
from benchmark.training import TrainConfig, ConfigError
TrainConfig.from_dict(json.loads({json.dumps(json.dumps(tiny_config))}))
try:
    TrainConfig.from_dict({{"manifest": "x", "output_dir": "o", "epochs": 0}})
except ConfigError as e:
    assert e.field == "epochs"
heavy = [m for m in ("torch", "pandas", "django") if m in sys.modules]
assert not heavy, heavy
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_library_never_imports_django() -> None:
    code = """
import importlib, pkgutil, sys
import benchmark.training as t
for m in pkgutil.iter_modules(t.__path__):
    if m.name not in ("__main__", "tests"):
        importlib.import_module(f"benchmark.training.{m.name}")
assert "torch" in sys.modules  # the heavy modules really were imported
assert "django" not in sys.modules, "benchmark.training imported django"
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
