"""Scoring new images with a run's checkpoint: reproduces the run, fails clearly on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.training.checkpoint import CheckpointError, load_checkpoint
from benchmark.training.cli import main
from benchmark.training.runner import train
from benchmark.training.tests.predict_support import predict_cli, run_test_manifest


@pytest.mark.parametrize(
    "change",
    [
        {"model": "nr"},
        {"model": "fr", "fr_fusion": "concat_diff"},
        {"model": "pscr"},
        {"model": "nr", "score_columns": ["mos_quality", "mos_authenticity"]},
    ],
    ids=["nr", "fr", "pscr", "nr-two-columns"],
)
def test_predict_reproduces_the_runs_test_predictions(
    tiny_config: dict[str, Any], tmp_path: Path, change: dict[str, Any]
) -> None:
    result = train({**tiny_config, **change, "epochs": 1})
    manifest, saved = run_test_manifest(
        result, tiny_config["manifest"], tmp_path / "test.csv", paths=("image", "reference")
    )
    code, scored = predict_cli(result.repeats[0].checkpoint, manifest, tmp_path / "scores.csv")
    assert code == 0
    assert scored["stimulus_id"].tolist() == saved["stimulus_id"].tolist()
    for column in change.get("score_columns", ["mos"]):
        assert np.allclose(scored[f"pred_{column}"], saved[f"pred_{column}"], rtol=0, atol=1e-5)
    assert (scored["error"] == "").all()


@pytest.fixture
def nr_checkpoint(tiny_config: dict[str, Any]) -> str:
    result = train({**tiny_config, "epochs": 1})
    return str(result.repeats[0].checkpoint)


def test_folder_with_a_corrupt_image_fails_naming_it_or_skips_it(
    nr_checkpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(folder / "bright.png")
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(folder / "dark.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "scores.csv"
    args = ["predict", "--checkpoint", nr_checkpoint, "--images", str(folder), "--out", str(out)]
    assert main([*args, "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 image(s) cannot be scored: broken.jpg") and "--skip-bad" in err
    assert "Traceback" not in err and not out.exists()

    assert main([*args, "--device", "cpu", "--quiet", "--skip-bad"]) == 0
    scored = pd.read_csv(out, keep_default_na=False).set_index("stimulus_id")
    assert list(scored.index) == ["bright.png", "broken.jpg", "dark.png"]
    assert (
        scored.loc["broken.jpg", "pred_mos"] == ""
        and "cannot decode" in scored.loc["broken.jpg", "error"]
    )
    assert float(scored.loc["bright.png", "pred_mos"]) != float(scored.loc["dark.png", "pred_mos"])


def test_fr_model_needs_references(
    tiny_config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = train({**tiny_config, "model": "fr", "epochs": 1})
    checkpoint = str(result.repeats[0].checkpoint)
    images = Path(tiny_config["manifest"]).parent / "images"
    out = str(tmp_path / "s.csv")
    assert main(["predict", "--checkpoint", checkpoint, "--images", str(images), "--out", out]) == 2
    assert "full-reference (FR) model" in capsys.readouterr().err
    bare = tmp_path / "bare.csv"
    pd.DataFrame({"image": [str(images / "genA_000.png")]}).to_csv(bare, index=False)
    assert main(["predict", "--checkpoint", checkpoint, "--images", str(bare), "--out", out]) == 2
    assert "no reference column 'reference'" in capsys.readouterr().err


def test_wrong_files_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(CheckpointError, match="not a quality-model checkpoint"):
        load_checkpoint(foreign)
    old = tmp_path / "old.pt"
    torch.save({"format_version": 1, "config": {}, "model_state": {}}, old)
    with pytest.raises(CheckpointError, match="older version of the training code"):
        load_checkpoint(old)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    out = str(tmp_path / "s.csv")
    assert main(["predict", "--checkpoint", str(text), "--images", ".", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a PyTorch checkpoint" in err
    assert len(err.strip().splitlines()) == 1
