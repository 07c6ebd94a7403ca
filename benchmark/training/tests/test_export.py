"""Export round trip: TorchScript and ONNX files score like PyTorch; the sidecar says how."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.training.checkpoint import load_checkpoint
from benchmark.training.cli import main
from benchmark.training.export import ExportError, export_checkpoint
from benchmark.training.predict import Preprocess, Scorer, ScoringItem, find_items
from benchmark.training.runner import train


@pytest.mark.parametrize("kind", ["nr", "fr", "pscr"])
def test_export_round_trip(
    tiny_config: dict[str, Any], tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = train({**tiny_config, "model": kind, "epochs": 1})
    checkpoint_path = str(result.repeats[0].checkpoint)
    for fmt in ("torchscript", "onnx"):
        out = tmp_path / f"model.{fmt}"
        args = ["export", "--checkpoint", checkpoint_path, "--format", fmt, "--out", str(out)]
        assert main(args) == 0, capsys.readouterr().err
        assert "outputs match PyTorch on 4 image(s)" in capsys.readouterr().out
        side = json.loads(out.with_name(out.name + ".json").read_text())
        assert side["model"] == kind and side["output"]["columns"] == ["mos"]
        assert side["input"]["mean"] == [0.485, 0.456, 0.406]
        assert side["check"]["max_abs_difference"] <= side["check"]["tolerance"]
        expected_inputs = {"nr": ["image"], "fr": ["image", "reference"], "pscr": ["patches"]}
        assert list(side["inputs"]) == expected_inputs[kind]

    # Independently of the command's own check: the TorchScript file, fed as the sidecar
    # says, gives the run's saved test predictions.
    checkpoint = load_checkpoint(checkpoint_path)
    saved = pd.read_csv(result.repeats[0].predictions["test"]).head(6)
    base = Path(tiny_config["manifest"]).parent
    preprocess = Preprocess(checkpoint.spec, torch.device("cpu"))
    scorer = Scorer(checkpoint, device=torch.device("cpu"), cache_dir=tiny_config["cache_dir"])
    refs = pd.read_csv(tiny_config["manifest"]).set_index("image")["reference"]
    items = [ScoringItem(name, str(base / name), str(base / refs[name])) for name in saved["image"]]
    files, _ = scorer.decode(items)

    def tensor(index: int) -> torch.Tensor:
        stacked = torch.stack([preprocess.image(np.load(f[index])) for f in files if f])
        return preprocess.normalise(stacked)

    inputs = [tensor(0), tensor(1)] if kind == "fr" else [tensor(0)]
    loaded = torch.jit.load(str(tmp_path / "model.torchscript"))
    scores = loaded(*inputs).detach().numpy()[:, 0]
    assert np.allclose(scores, saved["pred_mos"], rtol=0, atol=1e-5)


def test_export_refuses_undecodable_check_images(
    tiny_config: dict[str, Any], tmp_path: Path
) -> None:
    result = train({**tiny_config, "epochs": 1})
    folder = tmp_path / "check"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG but no more")
    items = find_items(folder, reference_column=None)
    with pytest.raises(ExportError, match="broken.png"):
        export_checkpoint(
            load_checkpoint(str(result.repeats[0].checkpoint)),
            "torchscript",
            tmp_path / "m.pt",
            items,
            cache_dir=tmp_path / "cache",
        )
    assert not (tmp_path / "m.pt").exists()
