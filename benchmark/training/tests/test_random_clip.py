"""The catalog's clip_tiny_random: its weights file is made offline from a fixed seed by
fetch-weights (the catalog's sha256, every time), and training finds it through the real
weights path; a corrupt or missing file is one error line naming what to do."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from benchmark.training.catalog import BACKBONES, RANDOM_CLIP_BACKBONE, RANDOM_WEIGHTS_NOTE
from benchmark.training.cli import main

INFO = BACKBONES[RANDOM_CLIP_BACKBONE]


def _fetch(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["fetch-weights", RANDOM_CLIP_BACKBONE, "--dir", str(folder), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_fetch_weights_creates_the_catalogs_file_offline_then_finds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _fetch(tmp_path, capsys)
    path = tmp_path / str(INFO.weights_file)
    assert code == 0
    assert out == f"{RANDOM_CLIP_BACKBONE}: created {path} ({RANDOM_WEIGHTS_NOTE})\n"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == INFO.weights_sha256
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no .part left behind
    code, out, _ = _fetch(tmp_path, capsys)
    assert code == 0 and out.startswith(f"{RANDOM_CLIP_BACKBONE}: present {path}")


def test_fetch_weights_refuses_a_corrupt_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / str(INFO.weights_file)).write_bytes(b"not the weights")
    code, out, err = _fetch(tmp_path, capsys)
    assert code == 2 and not out
    assert err.count("\n") == 1 and err.startswith("error: checksum mismatch for ")


def test_the_weights_are_found_in_the_torch_hub_folder_and_checked(
    text_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    config = {**text_config, "weights_path": None, "epochs": 1}
    config_file = tmp_path / "cfg.json"
    config_file.write_text(json.dumps(config))

    assert main(["--config", str(config_file), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"'python -m benchmark.training fetch-weights {RANDOM_CLIP_BACKBONE}'" in err

    assert main(["fetch-weights", RANDOM_CLIP_BACKBONE, "--quiet"]) == 0
    assert (hub / str(INFO.weights_file)).is_file()
    capsys.readouterr()
    assert main(["--config", str(config_file), "--quiet"]) == 0
    run = json.loads((Path(config["output_dir"]) / "config.json").read_text())
    assert run["backbone"] == RANDOM_CLIP_BACKBONE

    (hub / str(INFO.weights_file)).write_bytes(b"truncated")
    config_file.write_text(json.dumps({**config, "output_dir": str(tmp_path / "again")}))
    assert main(["--config", str(config_file), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checksum mismatch" in err
