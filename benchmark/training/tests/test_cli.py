from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.training.cli import main

REPO = Path(__file__).resolve().parents[3]


def test_train_from_flags_prints_the_table(
    tiny_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tiny_config["output_dir"]
    code = main(
        [
            "--manifest", tiny_config["manifest"],
            "--model", "nr",
            "--backbone", "resnet18",
            "--weights", "none",
            "--epochs", "1",
            "--batch-size", "8",
            "--image-size", "32",
            "--workers", "0",
            "--device", "cpu",
            "--cache-dir", tiny_config["cache_dir"],
            "--split-val-fraction", "0.2",
            "--no-save-checkpoint",
            "--out", out,
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr()
    assert "SRCC" in printed.out and "test" in printed.out and out in printed.out
    assert "epoch 1/1" in printed.err  # the epoch line goes through tqdm to stderr
    assert (Path(out) / "metrics.json").is_file()


def test_config_file_with_overrides_and_replay(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**tiny_config, "epochs": 7}))
    code = main(["--config", str(cfg), "--epochs", "1", "--quiet", "--no-save-checkpoint"])
    assert code == 0
    written = json.loads((Path(tiny_config["output_dir"]) / "config.json").read_text())
    assert written["epochs"] == 1 and written["progress"] is False
    # A run's own config.json validates and can be replayed.
    assert main(["validate", "--config", str(Path(tiny_config["output_dir"]) / "config.json")]) == 0


def test_errors_exit_2_naming_the_field(
    tiny_config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**tiny_config, "epochs": 0}))
    assert main(["validate", "--config", str(cfg)]) == 2
    assert "config error: epochs" in capsys.readouterr().err
    assert main(["--manifest", "/nope.csv", "--out", str(tmp_path)]) == 2
    assert "manifest: no such file" in capsys.readouterr().err


def test_validate_deep_checks_rows(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    frame = pd.read_csv(tiny_config["manifest"])
    frame.loc[3, "mos"] = None
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**tiny_config, "manifest": str(bad)}))
    assert main(["validate", "--config", str(cfg)]) == 0  # header only
    assert main(["validate", "--config", str(cfg), "--deep"]) == 2


def test_make_manifest_agiqa3k_layout(tmp_path: Path) -> None:
    data = tmp_path / "agiqa"
    (data / "images").mkdir(parents=True)
    names = ["AttnGAN_normal_000.jpg", "sd1.5_lowstep_000.jpg", "midjourney_normal_010.jpg"]
    for n in names:
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(data / "images" / n)
    pd.DataFrame(
        {"name": names, "prompt": ["a", "a", "b"], "mos_quality": [1, 2, 3], "mos_align": [1, 2, 3],
         "mos": [1.5, 2.5, 3.5]}
    ).to_csv(data / "data.csv", index=False)  # fmt: skip
    out = tmp_path / "manifests" / "agiqa.csv"
    assert main(["make-manifest", "agiqa3k", "--data-dir", str(data), "--out", str(out)]) == 0
    m = pd.read_csv(out, dtype=str)
    assert m["generator"].tolist() == ["AttnGAN", "sd1.5", "midjourney"]
    assert m["subset"].tolist() == ["AttnGAN_normal", "sd1.5_lowstep", "midjourney_normal"]
    assert m["prompt_group"].tolist() == ["000", "000", "010"]
    assert m["image"][0] == "../agiqa/images/AttnGAN_normal_000.jpg"
    from benchmark.training.manifest import load_manifest

    assert len(load_manifest(out, ["mos", "mos_quality", "mos_align"])) == 3


def test_module_entry_point_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.training", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--split-val-fraction" in done.stdout and "--pscr-grid" in done.stdout
