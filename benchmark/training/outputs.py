"""Files a run leaves in its output directory, and the printed metrics table.

config.json              resolved configuration plus environment facts
summary.csv              one row per (repeat, epoch)
metrics.json             per-repeat metrics per split and column, and aggregates
<split>/split.csv        stimulus -> part, re-loadable with the ``fixed`` protocol
<split>/predictions_{val,test}.csv
<split>/best.pt          best-on-validation checkpoint: everything needed to predict (checkpoint.py)
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.jsonable import jsonable

SUMMARY_FIELDS = [
    "repeat",
    "split",
    "epoch",
    "train_loss",
    "val_srcc",
    "val_plcc",
    "lr",
    "seconds",
]


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


class SummaryWriter:
    """Appends one row per epoch and flushes, so a crashed run keeps its history."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerow(SUMMARY_FIELDS)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, SUMMARY_FIELDS).writerow(
                {k: ("" if row.get(k) is None else row[k]) for k in SUMMARY_FIELDS}
            )


def write_predictions(
    path: Path,
    frame: pd.DataFrame,
    rows: np.ndarray,
    preds: np.ndarray,
    score_columns: list[str],
) -> None:
    sub = frame.iloc[rows]
    out = pd.DataFrame(
        {
            "stimulus_id": sub["stimulus_id"].to_numpy(),
            "image": sub["image"].to_numpy(),
            "generator": sub["generator"].to_numpy(),
            "prompt_group": sub["prompt_group"].to_numpy(),
        }
    )
    for column_index, col in enumerate(score_columns):
        out[col] = sub[col].to_numpy()
        out[f"pred_{col}"] = preds[:, column_index]
    out.to_csv(path, index=False, float_format="%.6g")


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.4f}"


def format_table(aggregate: dict[str, dict[str, dict[str, dict[str, Any]]]]) -> str:
    """Median and mean±std over repeats of each metric, one row per split and column."""
    metrics = [
        ("srcc", "SRCC"),
        ("krcc", "KRCC"),
        ("plcc", "PLCC"),
        ("plcc_logistic", "PLCC-log"),
        ("rmse_logistic", "RMSE-log"),
    ]
    head = f"{'split':<6} {'column':<20} {'n':>3} " + " ".join(f"{t:>22}" for _, t in metrics)
    lines = [head, "-" * len(head)]
    for split, by_col in aggregate.items():
        for col, by_metric in by_col.items():
            cells = []
            count = 0
            for key, _ in metrics:
                stats = by_metric[key]
                count = max(count, stats["n"])
                cells.append(
                    f"{_fmt(stats['median'])} ({_fmt(stats['mean'])}±{_fmt(stats['std']).strip()})"
                )
            lines.append(f"{split:<6} {col:<20} {count:>3} " + " ".join(f"{c:>22}" for c in cells))
    lines.append("cells: median over repeats (mean±std)")
    return "\n".join(lines)
