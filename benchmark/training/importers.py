"""Manifests for external databases laid out as their authors publish them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from benchmark.training.package_reader import package_manifest

TRAILING_NUMBER = re.compile(r"_(\d+)\.[A-Za-z0-9]+$")


def agiqa3k_manifest(data_dir: str | Path, out: str | Path) -> pd.DataFrame:
    """Write a manifest for AGIQA-3K (or its sample): ``data.csv`` + ``images/``.

    Names look like ``sd1.5_lowstep_120.jpg``: the trailing number is the prompt
    (shared across generator subsets), the first token the generator, and the part
    before the number the subset (generator plus setting). Image paths are written
    relative to the manifest's folder.
    """
    data_dir = Path(data_dir)
    out = Path(out)
    table = pd.read_csv(data_dir / "data.csv", dtype={"name": str})
    images = data_dir / "images"
    if not images.is_dir():
        images = data_dir
    names = table["name"].astype(str)
    bad = [n for n in names if not TRAILING_NUMBER.search(n)]
    if bad:
        raise ValueError(f"names without a trailing prompt number: {bad[:5]}")
    base = out.resolve().parent
    manifest = pd.DataFrame(
        {
            "image": [os.path.relpath((images / n).resolve(), base) for n in names],
            "stimulus_id": [Path(n).stem for n in names],
            "generator": [n.split("_")[0] for n in names],
            "subset": [TRAILING_NUMBER.sub("", n) for n in names],
            "prompt_group": [_prompt_number(name) for name in names],
            "prompt": table["prompt"],
        }
    )
    for col in ("mos_quality", "mos_align", "mos"):
        if col in table:
            manifest[col] = table[col]
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(out, index=False)
    return manifest


def _prompt_number(name: str) -> str:
    """The prompt number that ends an image's file name (``..._12.jpg`` -> ``12``)."""
    match = TRAILING_NUMBER.search(name)
    if match is None:  # the caller checked every name; this keeps the check visible
        raise ValueError(f"{name}: no trailing prompt number")
    return match.group(1)


IMPORTERS = {"agiqa3k": agiqa3k_manifest}
IMPORTERS["dataset-package"] = package_manifest
