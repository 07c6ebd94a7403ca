"""The pku-i2iqa protocol preset: its values per backbone, the overrides and deviations a
run records, the authors' split rule on the real PKU-I2IQA labels, and its errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmark.training.catalog import BACKBONES, IMAGENET_MEAN, IMAGENET_STD
from benchmark.training.cli import main
from benchmark.training.config import TrainConfig
from benchmark.training.manifest import load_manifest
from benchmark.training.presets import PKU_I2IQA, protocol_deviations
from benchmark.training.splits import make_splits

PKU_LABELS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "pku-i2iqa-mos"
# The authors' code: the same values for every backbone but the input sizes.
COMMON = {
    "seed": 1,
    "epochs": 100,
    "batch_size": 8,
    "eval_batch_size": 20,
    "optimizer": "adam",
    "lr": 1e-4,
    "weight_decay": 1e-5,
    "scheduler": "none",
    "loss": "mse",
    "weights": "imagenet",
    "amp": False,
}
SIZES = {
    "vgg16": (224, 256),
    "vgg19": (224, 256),
    "resnet18": (224, 256),
    "resnet50": (224, 256),
    "inception_v4": (299, 320),
}


def _preset(**given: Any) -> TrainConfig:
    data = {"manifest": "m.csv", "output_dir": "out", "protocol": "pku-i2iqa", **given}
    return TrainConfig.from_dict(data, validate=False)


@pytest.mark.parametrize("backbone", sorted(SIZES))
def test_preset_values_per_backbone(backbone: str) -> None:
    config = _preset(backbone=backbone).resolved()
    assert {name: getattr(config, name) for name in COMMON} == COMMON
    assert (config.image_size, config.resize_size) == SIZES[backbone]
    split = config.split
    assert (split.protocol, split.folds, split.grouped) == ("interleaved", 4, False)
    assert config.protocol_overrides == []
    assert backbone in PKU_I2IQA.backbones
    deviations = protocol_deviations("pku-i2iqa", backbone, device_type="cuda", model="nr")
    own_norm = (BACKBONES[backbone].mean, BACKBONES[backbone].std) != (
        IMAGENET_MEAN,
        IMAGENET_STD,
    )
    # Every backbone but InceptionV4 is normalised with ImageNet's statistics, as theirs.
    assert any(note.startswith("normalisation") for note in deviations) == own_norm
    assert own_norm == (backbone == "inception_v4")


def test_user_values_override_the_preset_and_are_recorded() -> None:
    # A flag arrives as text; the value it equals (batch 8) is no override.
    config = _preset(backbone="resnet50", lr="1e-3", batch_size="8", split={"grouped": True})
    assert config.lr == 1e-3 and config.batch_size == 8 and config.split.grouped
    assert config.split.protocol == "interleaved"
    assert config.protocol_overrides == [
        "split.grouped=True (preset False)",
        "lr=0.001 (preset 0.0001)",
    ]
    # A run's config.json replays to the same config and the same record.
    replayed = TrainConfig.from_dict(config.resolved().to_dict(), validate=False)
    assert replayed.protocol_overrides == config.protocol_overrides
    assert replayed.lr == 1e-3 and replayed.image_size == 224


def test_no_protocol_keeps_the_library_defaults() -> None:
    config = TrainConfig.from_dict({"manifest": "m", "output_dir": "o"}, validate=False)
    assert (config.protocol, config.seed, config.epochs, config.optimizer) == (
        "none",
        0,
        20,
        "adamw",
    )
    assert config.split.protocol == "random" and config.protocol_overrides == []


def test_deviations_on_a_cpu_machine_and_off_paper_choices() -> None:
    notes = protocol_deviations("pku-i2iqa", "efficientnet_lite0", device_type="cpu", model="pscr")
    assert notes[0] == "device: cpu (the authors train on one CUDA GPU)"
    assert any(
        note.startswith("backbone: efficientnet_lite0 is not in the paper") for note in notes
    )
    assert any(note.startswith("model: pscr") for note in notes)
    assert protocol_deviations("none", "resnet18", device_type="cpu", model="nr") == []


@pytest.mark.skipif(
    not (PKU_LABELS / "mos.csv").is_file(), reason=f"PKU-I2IQA labels not at {PKU_LABELS}"
)
def test_split_rule_gives_the_authors_split_on_the_pku_labels(tmp_path: Path) -> None:
    frame = pd.read_csv(PKU_LABELS / "mos.csv")
    names = frame["image"].str.rsplit("/", n=1).str[-1]
    frame["generator"] = names.str.split("_").str[0]
    frame["prompt_group"] = names.str.split("_").str[1]
    path = tmp_path / "pku.csv"
    frame.to_csv(path, index=False)
    manifest = load_manifest(path, ["mos_quality"], check_files=False)
    (split,) = make_splits(manifest.frame, _preset().split, repeats=1, seed=1)
    # Their rule: row i of the annotation is a test row when i % 4 == 3, which on this
    # database is the last of each prompt's four images of one generator (*_11).
    test_names = set(names.iloc[split.test])
    assert len(split.test) == 400 and all(name.endswith("_11.jpg") for name in test_names)
    assert set(split.test) == set(range(3, 1600, 4))
    train_and_val = set(split.train) | set(split.val)
    assert train_and_val == set(range(1600)) - set(split.test)
    assert 100 <= len(split.val) <= 140 and not set(split.train) & set(split.val)


def _cli_args(tiny_config: dict[str, Any], *extra: str) -> list[str]:
    return [
        "--manifest", tiny_config["manifest"],
        "--protocol", "pku-i2iqa",
        "--workers", "0",
        "--device", "cpu",
        "--cache-dir", tiny_config["cache_dir"],
        "--quiet",
        "--out", tiny_config["output_dir"],
        *extra,
    ]  # fmt: skip


def test_cli_run_records_overrides_and_deviations(
    tiny_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    small = ["--weights", "none", "--epochs", "1", "--image-size", "32"]
    code = main(_cli_args(tiny_config, *small, "--hidden-dim", "16", "--no-save-checkpoint"))
    assert code == 0
    out = capsys.readouterr().out
    assert "override (your value): weights='none' (preset 'imagenet')" in out
    assert "override (your value): epochs=1 (preset 100)" in out
    assert "deviation: device: cpu (the authors train on one CUDA GPU)" in out
    saved = json.loads((Path(tiny_config["output_dir"]) / "config.json").read_text())
    assert saved["protocol"] == "pku-i2iqa" and saved["optimizer"] == "adam"
    assert saved["lr"] == 1e-4 and saved["seed"] == 1 and saved["split"]["folds"] == 4
    assert "image_size=32 (preset 224)" in saved["protocol_overrides"]
    # Its resize follows the given input size (the library's ratio), not the paper's 256.
    assert saved["resize_size"] == round(32 * 256 / 224)
    assert saved["_run"]["protocol_deviations"][0].startswith("device: cpu")


def test_cli_missing_imagenet_weights_is_one_line(
    tiny_config: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No weights anywhere torch or Hugging Face would keep them: never a silent random init.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    code = main(_cli_args(tiny_config, "--epochs", "1", "--image-size", "32"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("error: ImageNet weights for resnet18 not found")
    assert "weights: none to train from scratch" in err
    assert not (Path(tiny_config["output_dir"]) / "summary.csv").exists()


def test_cli_unknown_protocol_is_one_line(
    tiny_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--manifest", tiny_config["manifest"], "--out", "x", "--protocol", "pku-2k"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err == "config error: protocol: must be one of none, pku-i2iqa; got 'pku-2k'"


def test_the_overrides_are_set_by_the_config_never_by_a_flag(
    tiny_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--manifest", tiny_config["manifest"], "--out", "x", "--protocol-overrides", "lr"])
    assert refused.value.code == 2
    assert "unrecognized arguments: --protocol-overrides" in capsys.readouterr().err
