"""Text-image kinds (clipscore, text) on a tiny open_clip CLIP loaded through the weights path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.training import EpochReport, train
from benchmark.training.tests.predict_support import predict_cli, run_test_manifest


def test_text_kind_trains_on_prompts_and_learns(text_config: dict[str, Any]) -> None:
    reports: list[EpochReport] = []
    result = train({**text_config, "epochs": 4}, on_epoch_end=reports.append)
    assert [report.epoch for report in reports] == [1, 2, 3, 4]
    test = result.repeats[0].metrics["test"]["mos"]
    assert test["srcc"] > 0.5, test
    checkpoint = torch.load(result.repeats[0].checkpoint, map_location="cpu", weights_only=False)
    assert checkpoint["model"] == "text" and checkpoint["config"]["text"]["levels"][0] == "bad"
    assert checkpoint["backbone_weights_sha256"].startswith(
        Path(text_config["weights_path"]).stem[-8:]
    )


def test_clipscore_is_zero_shot_and_follows_its_definition(text_config: dict[str, Any]) -> None:
    reports: list[EpochReport] = []
    config = {
        **text_config,
        "model": "clipscore",
        "score_columns": ["mos_quality", "mos_authenticity"],
    }
    result = train({**config, "epochs": 5}, on_epoch_end=reports.append)
    assert [(report.epoch, report.epochs) for report in reports] == [(1, 1)]
    assert np.isnan(reports[0].train_loss)
    predictions = pd.read_csv(result.repeats[0].predictions["test"])
    scores = predictions[["pred_mos_quality", "pred_mos_authenticity"]].to_numpy()
    assert np.allclose(scores[:, 0], scores[:, 1])  # one CLIPScore, evaluated per column
    assert (scores >= 0).all() and (scores <= 2.5).all()
    checkpoint = torch.load(result.repeats[0].checkpoint, map_location="cpu", weights_only=False)
    assert checkpoint["target_mean"] == [0.0, 0.0] and checkpoint["target_std"] == [1.0, 1.0]
    assert set(result.repeats[0].metrics["test"]) == {"mos_quality", "mos_authenticity"}


@pytest.mark.parametrize("kind", ["text", "clipscore"])
def test_predict_reproduces_the_runs_test_predictions(
    text_config: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    result = train({**text_config, "model": kind, "epochs": 1})
    manifest, saved = run_test_manifest(
        result, text_config["manifest"], tmp_path / "test.csv", paths=("image",), extra=("prompt",)
    )
    code, scored = predict_cli(result.repeats[0].checkpoint, manifest, tmp_path / "scores.csv")
    assert code == 0
    assert list(scored["stimulus_id"]) == list(saved["stimulus_id"])
    assert np.abs(scored["pred_mos"] - saved["pred_mos"]).max() < 1e-5


def test_the_same_image_under_two_prompts_scores_differently(
    text_config: dict[str, Any], prompt_manifest: Path
) -> None:
    from benchmark.training.checkpoint import load_checkpoint
    from benchmark.training.predict import Scorer, ScoringItem

    result = train({**text_config, "epochs": 1})
    checkpoint = load_checkpoint(result.repeats[0].checkpoint)
    scorer = Scorer(checkpoint, device=torch.device("cpu"), cache_dir=text_config["cache_dir"])
    image = str(prompt_manifest.parent / pd.read_csv(prompt_manifest)["image"][0])
    items = [
        ScoringItem("a", image, prompt="a bright sunny beach"),
        ScoringItem("b", image, prompt="a dark cellar at midnight"),
        ScoringItem("c", image, prompt="a bright sunny beach"),
    ]
    scores = scorer.score(items).predictions[:, 0]
    assert scores[0] == pytest.approx(scores[2], abs=1e-6)  # same prompt, same score
    assert abs(scores[0] - scores[1]) > 1e-4


def test_clipscore_is_the_papers_formula_on_the_towers(text_config: dict[str, Any]) -> None:
    from benchmark.training.config import TrainConfig
    from benchmark.training.models import create_model
    from benchmark.training.textimage import PromptTokenizer

    config = TrainConfig.from_dict({**text_config, "model": "clipscore"}, validate=False)
    model = create_model(config).eval()
    clip = model.backbone.body
    images = torch.randn(3, 3, 32, 32)
    tokens = PromptTokenizer("aigc-tiny-clip", "clipscore", config.text)(["x", "y", "x"])
    with torch.no_grad():
        image = clip.encode_image(images)
        text = clip.encode_text(tokens[:, 0])
        cosine = torch.nn.functional.cosine_similarity(image, text)
        expected = 2.5 * torch.clamp(cosine, min=0)
        assert torch.allclose(model(images, tokens)[:, 0], expected, atol=1e-6)
    assert PromptTokenizer("aigc-tiny-clip", "clipscore", config.text).describe()["texts"] == [
        "A photo depicts {prompt}"
    ]


# --- bad input: one line, nothing started ----------------------------------------------


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def _cli_config(config: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_rows_without_a_prompt_are_listed_before_any_work(
    text_config: dict[str, Any], prompt_manifest: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from benchmark.training.cli import main

    frame = pd.read_csv(prompt_manifest, dtype=str)
    frame.loc[[1, 4, 7], "prompt"] = ""
    manifest = prompt_manifest.with_name("manifest_gaps.csv")
    frame.to_csv(manifest, index=False)
    config = {**text_config, "manifest": str(manifest)}
    assert main(["--config", _cli_config(config, tmp_path), "--quiet"]) == 2
    err = _one_line(capsys)
    assert "3 row(s) have no text prompt" in err
    assert all(repr(frame["stimulus_id"][i]) in err for i in (1, 4, 7))
    assert not Path(config["cache_dir"]).exists() and not Path(config["output_dir"]).exists()


def test_a_manifest_without_a_prompt_column_is_a_config_error(
    text_config: dict[str, Any], synthetic_manifest: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from benchmark.training.cli import main

    config = {**text_config, "manifest": str(synthetic_manifest)}
    assert main(["--config", _cli_config(config, tmp_path), "--quiet"]) == 2
    assert "lacks column(s) ['prompt']" in _one_line(capsys)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"model": "texts"}, "model: must be one of nr, fr, pscr, clipscore, text"),
        ({"backbone": "clip_vit_b99"}, "backbone: must be one of"),
        (
            {"backbone": "resnet18"},
            "needs a text-image (CLIP) backbone: clip_tiny_random, clip_vit_b32",
        ),
        ({"model": "nr"}, "clip_tiny_random is a text-image (CLIP) backbone"),
        ({"image_size": 64}, "clip_tiny_random takes 32 px only"),
        ({"weights": "imagenet"}, "has no ImageNet weights"),
        ({"model": "clipscore", "weights": "none"}, "clipscore is zero-shot"),
        ({"text": {"template": "a {level} photo"}}, "text.template: must contain {prompt}"),
        ({"text": {"template": "{prompt} {quality}"}}, "may only use {level} and {prompt}"),
        ({"text": {"levels": ["good"]}}, "text.levels: needs two or more"),
        ({"weights_path": "/nonexistent/tiny-clip-00000000.pt"}, "weights_path: no such file"),
    ],
)
def test_bad_config_is_one_config_error_line(
    text_config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    change: dict[str, Any], says: str,
) -> None:  # fmt: skip
    from benchmark.training.cli import main

    assert main(["--config", _cli_config({**text_config, **change}, tmp_path), "--quiet"]) == 2
    err = _one_line(capsys)
    assert err.startswith("config error: ") and says in err, err
    assert not Path(text_config["output_dir"]).exists()


def _weights_copy(source: Path, folder: Path, name: str, data: bytes | None = None) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(source.read_bytes() if data is None else data)
    return str(path)


def test_bad_weights_files_are_one_error_line(
    text_config: dict[str, Any], tiny_clip_weights: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import hashlib

    from benchmark.training.cli import main

    def run(**change: Any) -> str:
        config = {**text_config, **change}
        assert main(["--config", _cli_config(config, tmp_path), "--quiet"]) == 2
        assert not Path(config["cache_dir"]).exists()
        return _one_line(capsys)

    wrong = _weights_copy(tiny_clip_weights, tmp_path / "w", "tiny-clip-00000000.pt")
    assert "checksum mismatch" in run(weights_path=wrong)
    plain = _weights_copy(tiny_clip_weights, tmp_path / "w", "tiny.pt")
    assert "checksum mismatch" in run(weights_path=plain, weights_sha256="ab" * 32)
    assert "no weights_sha256 is configured" in run(weights_path=plain)
    garbage = b"this is not a checkpoint"
    digest = hashlib.sha256(garbage).hexdigest()
    corrupt = _weights_copy(tiny_clip_weights, tmp_path / "w", f"tiny-{digest[:8]}.pt", garbage)
    assert "cannot be read as a weights file" in run(weights_path=corrupt)


def test_missing_catalog_clip_weights_name_the_file(
    text_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from benchmark.training.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    config = {**text_config, "backbone": "clip_vit_b32", "weights_path": None}
    assert main(["--config", _cli_config(config, tmp_path), "--quiet"]) == 2
    err = _one_line(capsys)
    assert "Pretrained CLIP weights for clip_vit_b32 not found" in err
    assert "vit_b_32-laion2b_e16-af8dbd0c.pth" in err and "open_clip_model.safetensors" in err


def test_an_unknown_open_clip_config_is_one_error_line(
    text_config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.training.backbones import register_clip_backbone
    from benchmark.training.catalog import CLIP_MEAN, CLIP_STD, BackboneInfo
    from benchmark.training.cli import main

    info = BackboneInfo("clip_nope", 32, 32, 16, CLIP_MEAN, CLIP_STD, clip_model="ViT-Nope-1")
    register_clip_backbone(info)
    config = {**text_config, "backbone": "clip_nope"}
    assert main(["--config", _cli_config(config, tmp_path), "--quiet"]) == 2
    assert "open_clip has no model config 'ViT-Nope-1'" in _one_line(capsys)
    assert not Path(config["cache_dir"]).exists()


@pytest.mark.parametrize("kind", ["text", "clipscore"])
def test_export_writes_the_model_and_both_towers(
    text_config: dict[str, Any], tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime

    from benchmark.training.cli import main
    from benchmark.training.textimage import PromptTokenizer

    result = train({**text_config, "model": kind, "epochs": 1})
    checkpoint = str(result.repeats[0].checkpoint)
    for fmt, suffix in (("torchscript", ".pt"), ("onnx", ".onnx")):
        out = tmp_path / f"model{suffix}"
        args = ["export", "--checkpoint", checkpoint, "--format", fmt, "--out", str(out)]
        assert main(args) == 0, capsys.readouterr().err
        side = json.loads(out.with_name(out.name + ".json").read_text())
        assert list(side["inputs"]) == ["image", "tokens"]
        assert side["inputs"]["tokens"]["shape"] == ["batch", 5 if kind == "text" else 1, 24]
        assert side["tokenisation"]["clip_model"] == "aigc-tiny-clip"
        for tower in ("image", "text"):
            assert (tmp_path / side["towers"][tower]["file"]).is_file()
        assert (
            max(side["check"]["towers_max_abs_difference"].values()) <= side["check"]["tolerance"]
        )

    # Tokenised outside the graph as the sidecar says, the ONNX file scores like the run.
    saved = pd.read_csv(result.repeats[0].predictions["test"]).head(4)
    source = pd.read_csv(text_config["manifest"]).set_index("stimulus_id")
    from benchmark.training.checkpoint import load_checkpoint
    from benchmark.training.predict import Scorer, ScoringItem

    loaded = load_checkpoint(checkpoint)
    scorer = Scorer(loaded, device=torch.device("cpu"), cache_dir=text_config["cache_dir"])
    base = Path(text_config["manifest"]).parent
    items = [ScoringItem(key, str(base / source["image"][key])) for key in saved["stimulus_id"]]
    files, _ = scorer.decode(items)
    images = scorer.preprocess.normalise(scorer.stacked([f for f in files if f])[0])
    tokenizer = PromptTokenizer("aigc-tiny-clip", kind, loaded.config.text)
    tokens = tokenizer([source["prompt"][key] for key in saved["stimulus_id"]])
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    scores = session.run(None, {"image": images.numpy(), "tokens": tokens.numpy()})[0]
    assert np.allclose(scores[:, 0], saved["pred_mos"], rtol=0, atol=1e-4)


def test_the_catalog_clip_fits_its_open_clip_config_and_is_not_fetched_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import open_clip

    from benchmark.training.catalog import BACKBONES
    from benchmark.training.cli import main

    info = BACKBONES["clip_vit_b32"]
    config = open_clip.get_model_config(info.clip_model)
    assert config["embed_dim"] == info.feature_dim
    assert config["vision_cfg"]["image_size"] == info.input_size == info.min_input_size
    with pytest.raises(SystemExit):
        main(["fetch-weights", "--help"])
    assert "default: all with a URL (resnet18, resnet50, vgg16, vgg19)" in capsys.readouterr().out


def test_text_settings_round_trip_through_the_config() -> None:
    from benchmark.training.config import TrainConfig

    data = {"manifest": "m.csv", "output_dir": "o", "model": "text", "backbone": "clip_vit_b32"}
    data |= {"weights": "pretrained", "text": {"levels": "low,mid,high"}}
    config = TrainConfig.from_dict(data, validate=False).validate(check_files=False)
    assert config.text.levels == ["low", "mid", "high"]
    assert config.text.template == "a {level} quality photo of {prompt}"
    assert TrainConfig.from_dict(config.to_dict(), validate=False).text == config.text
    assert config.resolved().image_size == 224


def test_predict_refuses_a_folder_or_blank_prompts_for_a_text_model(
    text_config: dict[str, Any], prompt_manifest: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from benchmark.training.cli import main

    result = train({**text_config, "epochs": 1, "max_train_images": 8})
    base = ["predict", "--checkpoint", str(result.repeats[0].checkpoint), "--quiet"]
    folder = prompt_manifest.parent / "images"
    assert main([*base, "--images", str(folder), "--out", str(tmp_path / "a.csv")]) == 2
    assert "every image needs its text prompt" in _one_line(capsys)
    frame = pd.read_csv(prompt_manifest, dtype=str).head(4)
    frame["image"] = [str(prompt_manifest.parent / name) for name in frame["image"]]
    frame.loc[2, "prompt"] = ""
    frame.to_csv(tmp_path / "some.csv", index=False)
    assert (
        main([*base, "--images", str(tmp_path / "some.csv"), "--out", str(tmp_path / "b.csv")]) == 2
    )
    err = _one_line(capsys)
    assert "1 row(s) have no text prompt" in err and repr(frame["stimulus_id"][2]) in err
    assert not (tmp_path / "b.csv").exists()
