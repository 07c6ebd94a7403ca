"""Structured warnings: every rating the pipeline leaves out is reported, never dropped silently.

A :class:`AnalysisWarning` has a stable ``code`` (for programs: the CLI's ``--strict``, the
site's badges) and a one-line ``message`` (for people), plus the subject, stimulus and
dimension it concerns where there is one. :class:`~analysis.pipeline.PipelineResult` carries
them in ``warnings`` and in ``to_summary()["warnings"]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis.subject_model import SubjectModelResult

SUBJECT_REJECTED = "subject_rejected"
STIMULUS_EMPTIED = "stimulus_emptied"
SUBJECT_EXCLUDED_FROM_MODEL = "subject_excluded_from_model"
ALL_SUBJECTS_REJECTED_KEPT = "all_subjects_rejected_kept_unscreened"
NORMALISATION_GROUP_DROPPED = "normalisation_group_dropped"
CODES: tuple[str, ...] = (
    SUBJECT_REJECTED,
    STIMULUS_EMPTIED,
    SUBJECT_EXCLUDED_FROM_MODEL,
    ALL_SUBJECTS_REJECTED_KEPT,
    NORMALISATION_GROUP_DROPPED,
)


@dataclasses.dataclass(frozen=True)
class AnalysisWarning:
    """One outcome that removed data (or would have): what, why, and whom it concerns."""

    code: str
    message: str
    dimension: Any = None
    subject: Any = None
    stimulus: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}


def rejection_warnings(screening_table: pd.DataFrame) -> list[AnalysisWarning]:
    """One warning per (subject, dimension) whose ratings screening removed, with the reasons."""
    if "rejected_any" not in screening_table.columns:
        return []
    rejected = screening_table.loc[screening_table["rejected_any"]]
    return [
        AnalysisWarning(
            SUBJECT_REJECTED,
            f"subject {row.subject} rejected on dimension {row.dimension}: {row.reasons}",
            dimension=row.dimension,
            subject=row.subject,
        )
        for row in rejected.itertuples(index=False)
    ]


def all_rejected_warnings(dimensions: Sequence[Any]) -> list[AnalysisWarning]:
    return [
        AnalysisWarning(
            ALL_SUBJECTS_REJECTED_KEPT,
            f"screening would reject every subject of dimension {dimension}; its ratings are "
            "kept unscreened (if_all_rejected='keep_unscreened')",
            dimension=dimension,
        )
        for dimension in dimensions
    ]


def emptied_stimulus_warnings(
    before: pd.DataFrame, after: pd.DataFrame, cause: str
) -> list[AnalysisWarning]:
    """A warning per (stimulus, dimension) that had ratings ``before`` and has none ``after``."""
    if after is before:
        return []
    keys = ["stimulus", "dimension"]
    had = before[keys].drop_duplicates().astype(object)
    kept = after[keys].drop_duplicates().astype(object)
    lost = had.merge(kept, on=keys, how="left", indicator=True)
    lost = lost.loc[lost["_merge"] == "left_only"].sort_values(keys, key=_str_key)
    return [
        AnalysisWarning(
            STIMULUS_EMPTIED,
            f"stimulus {row.stimulus} lost every rating on dimension {row.dimension} to "
            f"{cause}; it has no MOS",
            dimension=row.dimension,
            stimulus=row.stimulus,
        )
        for row in lost.itertuples(index=False)
    ]


def model_exclusion_warnings(
    model: SubjectModelResult | None, min_ratings: int
) -> list[AnalysisWarning]:
    """A warning per subject the subject model left out for having too few ratings."""
    if model is None:
        return []
    return [
        AnalysisWarning(
            SUBJECT_EXCLUDED_FROM_MODEL,
            f"subject {subject} left out of the subject model on dimension {dimension}: fewer "
            f"than {min_ratings} ratings (min_ratings_per_subject)",
            dimension=dimension,
            subject=subject,
        )
        for dimension, subject in model.excluded_subjects()
    ]


def normalisation_warnings(dropped: pd.DataFrame) -> list[AnalysisWarning]:
    """A warning per degenerate (subject, dimension[, session]) group z-scoring dropped."""
    return [
        AnalysisWarning(
            NORMALISATION_GROUP_DROPPED,
            f"subject {row.subject}'s {row.n} rating(s) on dimension {row.dimension}"
            + (f" in session {row.session}" if "session" in dropped.columns else "")
            + f" dropped by z-score normalisation ({row.status}: no spread to divide by)",
            dimension=row.dimension,
            subject=row.subject,
        )
        for row in dropped.itertuples(index=False)
    ]


def _str_key(column: pd.Series) -> pd.Series:
    return column.astype(str)
