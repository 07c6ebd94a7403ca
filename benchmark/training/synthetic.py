"""Synthetic image databases with a learnable score, for tests and benchmarks.

Each image is textured noise whose mean brightness is an increasing function of its
MOS, so any working model must rank images correctly, and a constant predictor
cannot. Layout mirrors a real database: prompt groups with one image per generator,
and one reference image per prompt group for full-reference models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def make_synthetic_database(
    root: str | Path,
    *,
    groups: int = 12,
    generators: tuple[str, ...] = ("genA", "genB", "genC"),
    size: int = 40,
    seed: int = 0,
    fmt: str = "png",
) -> Path:
    """Write images and ``manifest.csv`` under ``root``; return the manifest path.

    Columns: image, reference, stimulus_id, generator, prompt_group, mos,
    mos_quality, mos_authenticity (the last two a second and third learnable
    dimension: brightness of the left half, contrast).
    """
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "references").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for group in range(groups):
        ref = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        ref_name = f"references/prompt_{group:03d}.{fmt}"
        Image.fromarray(ref).save(root / ref_name)
        for gen in generators:
            mos = float(rng.uniform(1.0, 5.0))
            contrast = float(rng.uniform(10.0, 60.0))
            level = 30.0 + 45.0 * mos  # 75..255 over MOS 1..5
            noise = rng.normal(0.0, contrast, size=(size, size, 3))
            img = np.clip(level + noise, 0, 255).astype(np.uint8)
            name = f"images/{gen}_{group:03d}.{fmt}"
            Image.fromarray(img).save(root / name)
            rows.append(
                {
                    "image": name,
                    "reference": ref_name,
                    "stimulus_id": f"{gen}_{group:03d}",
                    "generator": gen,
                    "prompt_group": f"p{group:03d}",
                    "mos": round(mos, 4),
                    "mos_quality": round(mos, 4),
                    "mos_authenticity": round(contrast / 12.0, 4),
                }
            )
    path = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
