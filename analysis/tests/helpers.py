"""Factories and data access shared by the analysis tests (plain functions, no fixtures)."""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """Path of a file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    return path


def real_ratings_raw(name: str) -> pd.DataFrame:
    """The raw real-ratings CSV exactly as on disk (for independent re-computation)."""
    return pd.read_csv(shared_file("real-ratings", f"{name}.csv"))


def sureal_dataset(raw: pd.DataFrame) -> tuple[pd.DataFrame, types.SimpleNamespace]:
    """The stimulus x subject matrix of a raw real-ratings CSV, and the same ratings as the
    in-memory dataset module sureal's ``RawDatasetReader`` expects (one content, one
    distorted video per stimulus, in matrix row order)."""
    matrix = raw.pivot(index="stimulus_id", columns="subject_id", values="score")
    dataset = types.SimpleNamespace(
        ref_videos=[{"content_id": 0, "content_name": "c", "path": "ref"}],
        dis_videos=[
            {
                "content_id": 0,
                "asset_id": k,
                "path": f"d{k}",
                "os": {str(s): float(v) for s, v in row.items()},
            }
            for k, (_, row) in enumerate(matrix.iterrows())
        ],
    )
    return matrix, dataset


def ratings_from_matrix(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    dimension: str = "q",
    subjects: Sequence[object] | None = None,
) -> pd.DataFrame:
    """Canonical ratings from a stimulus x subject matrix; NaN cells are missing ratings."""
    m = np.asarray(matrix, dtype=float)
    subj = list(subjects) if subjects is not None else list(range(m.shape[1]))
    rows = [
        (s, subj[j], dimension, 0, m[s, j])
        for s in range(m.shape[0])
        for j in range(m.shape[1])
        if not np.isnan(m[s, j])
    ]
    return pd.DataFrame(rows, columns=["stimulus", "subject", "dimension", "repeat", "score"])
