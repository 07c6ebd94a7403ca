"""Common result type for subject-screening methods and the rule for applying rejections."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis._groups import encode
from analysis.provenance import Provenance
from common.jsonable import jsonable

# Dimension label of a decision that applies to every dimension (pooled screening).
ALL_DIMENSIONS = "*"


@dataclasses.dataclass(frozen=True)
class ScreeningResult:
    """Decisions of one screening method with the numbers behind each.

    ``subjects`` has one row per (subject, dimension) decision - ``dimension`` is
    :data:`ALL_DIMENSIONS` when the method pooled dimensions - with method-specific
    statistics, a boolean ``rejected`` and a human-readable ``reason``. ``stimuli`` holds
    per-stimulus statistics where the method has them (BT.500).
    """

    provenance: Provenance
    subjects: pd.DataFrame
    stimuli: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return self.provenance.method

    @property
    def version(self) -> str:
        return self.provenance.version

    @property
    def rejected(self) -> pd.DataFrame:
        """(subject, dimension) pairs rejected by this method."""
        return self.subjects.loc[self.subjects["rejected"], ["subject", "dimension"]].reset_index(
            drop=True
        )

    @property
    def rejected_subjects(self) -> list[Any]:
        """Subjects rejected from at least one dimension."""
        return sorted(pd.unique(self.rejected["subject"]).tolist(), key=str)

    @property
    def kept_subjects(self) -> list[Any]:
        """Subjects not rejected from any dimension."""
        rejected = set(self.rejected_subjects)
        return sorted(
            (s for s in pd.unique(self.subjects["subject"]) if s not in rejected), key=str
        )

    def apply(self, ratings: pd.DataFrame) -> pd.DataFrame:
        """Drop the ratings this method rejects (see :func:`apply_rejections`)."""
        return apply_rejections(ratings, [self])

    def to_summary(self) -> dict[str, Any]:
        return jsonable(
            {
                **self.provenance.to_dict(),
                "n_decisions": int(len(self.subjects)),
                "n_rejected": int(self.subjects["rejected"].sum()),
                "rejected": [
                    {"subject": r.subject, "dimension": r.dimension}
                    for r in self.rejected.itertuples(index=False)
                ],
                "notes": list(self.notes),
            }
        )


def decision_labels(subj, dim, *, pooled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Subject and dimension labels of each decision, in the order the codes enumerate them.

    Decisions are per (subject, dimension), subject-major; pooled methods decide once per
    subject, labelled with :data:`ALL_DIMENSIONS`.
    """
    if pooled:
        return subj.labels.to_numpy(), np.full(subj.size, ALL_DIMENSIONS, dtype=object)
    return (
        np.repeat(subj.labels.to_numpy(), dim.size),
        np.tile(dim.labels.to_numpy(dtype=object), subj.size),
    )


def rejection_mask(ratings: pd.DataFrame, results: Sequence[ScreeningResult]) -> np.ndarray:
    """Boolean mask of the ratings rejected by any of ``results``.

    A pooled decision (dimension ``*``) removes the subject from every dimension; a
    per-dimension decision removes the subject from that dimension only.
    """
    subj = encode(ratings["subject"])
    dim = encode(ratings["dimension"])
    table = np.zeros((subj.size, dim.size + 1), dtype=bool)
    for result in results:
        rej = result.rejected
        if rej.empty:
            continue
        rows = subj.labels.get_indexer(pd.Index(rej["subject"]))
        pooled = (rej["dimension"] == ALL_DIMENSIONS).to_numpy()
        cols = dim.labels.get_indexer(pd.Index(rej["dimension"]))
        known = rows >= 0
        table[rows[known & pooled], :] = True
        pair = known & ~pooled & (cols >= 0)
        table[rows[pair], cols[pair]] = True
    return table[subj.codes, dim.codes]


def apply_rejections(ratings: pd.DataFrame, results: Sequence[ScreeningResult]) -> pd.DataFrame:
    """Ratings minus everything any of ``results`` rejected (union of rejections)."""
    mask = rejection_mask(ratings, results)
    if not mask.any():
        return ratings
    return ratings.loc[~mask].reset_index(drop=True)


def screening_summary(results: Sequence[ScreeningResult]) -> pd.DataFrame:
    """One row per (subject, dimension) with a ``rejected_<method>`` column per method.

    Pooled decisions are expanded to the dimensions other methods report; ``rejected_any``
    is the union that the pipeline applies.
    """
    if not results:
        return pd.DataFrame(columns=["subject", "dimension", "rejected_any"])
    frames = []
    for result in results:
        table = result.subjects[["subject", "dimension", "rejected", "reason"]].copy()
        table["method"] = result.method
        frames.append(table)
    long = pd.concat(frames, ignore_index=True)
    dims = sorted({d for d in long["dimension"].astype(str) if d != ALL_DIMENSIONS})
    if dims:
        pooled = long["dimension"] == ALL_DIMENSIONS
        expanded = (
            long.loc[pooled]
            .drop(columns="dimension")
            .merge(pd.DataFrame({"dimension": dims}), how="cross")
        )
        long = pd.concat([long.loc[~pooled], expanded], ignore_index=True)
    long["dimension"] = long["dimension"].astype(str)
    wide = long.pivot_table(
        index=["subject", "dimension"], columns="method", values="rejected", aggfunc="max"
    )
    wide = wide.astype("boolean").fillna(False).astype(bool)
    wide.columns = [f"rejected_{c}" for c in wide.columns]
    wide["rejected_any"] = wide.any(axis=1)
    reasons = (
        long.loc[long["rejected"]]
        .assign(text=lambda d: d["method"] + ": " + d["reason"].astype(str))
        .groupby(["subject", "dimension"])["text"]
        .agg("; ".join)
    )
    wide["reasons"] = reasons.reindex(wide.index).fillna("")
    return wide.reset_index()
