"""Manifest for a dataset package of the study platform (mos.csv + images/ + prompt_images/).

The package's mos.csv already holds image paths relative to its folder, a ``stimulus_id``,
``generator``, ``prompt_group`` and one ``mos_<dimension>`` per dimension, so the manifest
is that table with the paths rewritten relative to the manifest's own folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

PASSED_THROUGH = ("stimulus_id", "generator", "prompt_group", "prompt", "role", "sha256")


def package_manifest(data_dir: str | Path, out: str | Path) -> pd.DataFrame:
    """Write a training manifest for an unzipped dataset package at ``data_dir``."""
    data_dir = Path(data_dir)
    out = Path(out)
    label = data_dir / "mos.csv"
    if not label.is_file():
        raise ValueError(f"no mos.csv in {data_dir}: is this a dataset package?")
    table = pd.read_csv(label, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in ("image", "generator", "prompt_group", "mos") if c not in table]
    if missing:
        raise ValueError(f"{label}: missing column(s) {missing}")
    base = out.resolve().parent

    def relative(value: str) -> str:
        return os.path.relpath((data_dir / value).resolve(), base) if value else ""

    manifest = pd.DataFrame({"image": [relative(v) for v in table["image"]]})
    if "prompt_image" in table and (table["prompt_image"] != "").any():
        manifest["reference"] = [relative(v) for v in table["prompt_image"]]
    for column in PASSED_THROUGH:
        if column in table:
            manifest[column] = table[column]
    for column in table.columns:
        if column == "mos" or column.startswith(("mos_", "std_")):
            manifest[column] = pd.to_numeric(table[column])
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out, index=False)
    return manifest
