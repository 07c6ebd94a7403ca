"""What the predict-reproduction tests share: a run's test images as a scoring manifest, and
the ``predict`` command run on it as a user runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def run_test_manifest(
    result: Any, manifest: str, out: Path, *, paths: tuple[str, ...], extra: tuple[str, ...] = ()
) -> tuple[Path, pd.DataFrame]:
    """The run's test images as a scoring manifest (``paths`` columns made absolute, ``extra``
    columns copied) and the predictions the run saved for them."""
    saved = pd.read_csv(result.repeats[0].predictions["test"], dtype={"stimulus_id": str})
    source = pd.read_csv(manifest, dtype=str).set_index("stimulus_id")
    rows = source.loc[saved["stimulus_id"]].reset_index()
    for column in paths:
        rows[column] = [str(Path(manifest).parent / name) for name in rows[column]]
    rows[["stimulus_id", *paths, *extra]].to_csv(out, index=False)
    return out, saved


def predict_cli(checkpoint: Path, images: Path, out: Path) -> tuple[int, pd.DataFrame | None]:
    """``python -m benchmark.training predict`` on ``images``: its exit code and the scores."""
    from benchmark.training.cli import main

    code = main(
        [
            "predict",
            "--checkpoint", str(checkpoint),
            "--images", str(images),
            "--out", str(out),
            "--device", "cpu",
            "--batch-size", "5",
            "--workers", "1",
            "--quiet",
        ]
    )  # fmt: skip
    scored = (
        pd.read_csv(out, dtype={"stimulus_id": str}, keep_default_na=False) if code == 0 else None
    )
    return code, scored
