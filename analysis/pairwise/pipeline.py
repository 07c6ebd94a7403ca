"""The one entry point for a pairwise study's analysis: :func:`pairwise_pipeline_run`.

The pairwise counterpart of :func:`analysis.pipeline.run_pipeline`, for the choices table as
the site exports it (``subject, group, left, right, choice, side, time, dimension, trial,
too_fast, repeat``; only the first five are required). Steps, each announced to
``progress`` and timed:

1. ``validate``: check the table (:func:`~analysis.pairwise.validate_choices` per
   dimension, plus ``dimension`` and ``too_fast``); drop too-fast answers when asked;
2. ``screening``: per dimension, repeat consistency, transitivity and the pwcmp outlier
   analysis (:mod:`analysis.pairwise.screening`); a subject any of them rejects is dropped
   from that dimension when ``apply_screening``;
3. ``scaling``: per dimension, the scale of the kept answers (Thurstone JOD or
   Bradley-Terry) with subject-bootstrap CIs (:func:`~analysis.pairwise.bootstrap_scale`),
   or without CIs (:func:`~analysis.pairwise.scale_choices`) when ``bootstrap`` is None;
   and the preference (win-count) matrix of every group.

Every answer kept counts, hidden repeats included (as pwcmp counts every answer). Nothing is
left out silently: dropped too-fast answers, rejected subjects and stimuli emptied by
screening are in ``warnings``. When screening would reject every subject of a dimension the
run raises :class:`~analysis.errors.AllSubjectsRejectedError`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import AllSubjectsRejectedError, RatingsError
from analysis.pairwise.choices import REQUIRED_COLUMNS, validate_choices
from analysis.pairwise.counts import pair_layout
from analysis.pairwise.scale import (
    BootstrapOptions,
    ScalingOptions,
    bootstrap_scale,
    scale_choices,
)
from analysis.pairwise.screening import (
    PairwiseScreeningOptions,
    outlier_analysis,
    repeat_consistency,
    transitivity,
)
from analysis.pipeline import _StepClock
from analysis.provenance import LIBRARY_VERSION, options_dict
from common.jsonable import jsonable
from common.progress import Progress

STEPS = ("validate", "screening", "scaling")
SCORE_COLUMNS = (
    "dimension",
    "group",
    "stimulus",
    "score",
    "se",
    "ci_low",
    "ci_high",
    "comparisons",
    "wins",
)
SUBJECT_COLUMNS = (
    "dimension",
    "subject",
    "choices",
    "too_fast",
    "repeats",
    "repeat_inconsistency",
    "triads",
    "circular_share",
    "outlier_log10_likelihood",
    "outlier_distance",
    "rejected",
    "reasons",
)
TOO_FAST_VALUES = {0, 1}
NO_DIMENSION = ""


@dataclasses.dataclass(frozen=True)
class PairwisePipelineOptions:
    """Everything that decides a pairwise study's numbers; ``bootstrap=None``: no CIs."""

    scaling: ScalingOptions = ScalingOptions()
    bootstrap: BootstrapOptions | None = BootstrapOptions()
    screening: PairwiseScreeningOptions = PairwiseScreeningOptions()
    apply_screening: bool = True
    exclude_too_fast: bool = True


@dataclasses.dataclass
class PairwisePipelineResult:
    """Scores, per-subject screening, preference matrices and what was left out.

    ``scores``: one row per (dimension, group, stimulus), columns :data:`SCORE_COLUMNS`.
    ``subjects``: one row per (dimension, subject), columns :data:`SUBJECT_COLUMNS`.
    ``preference[(dimension, group)]``: wins of the row stimulus over the column stimulus
    (a "no preference" counts half), from the answers that were scaled.
    """

    scores: pd.DataFrame
    subjects: pd.DataFrame
    preference: dict[tuple[str, str], pd.DataFrame]
    excluded_subjects: list[str]
    warnings: list[str]
    options: PairwisePipelineOptions
    n_input_choices: int = 0
    n_used_choices: int = 0
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def unit(self) -> str:
        """The scores' unit, for axis titles and table headers."""
        scaling = self.options.scaling
        if scaling.method == "bradley_terry" and scaling.bradley_terry.units == "logit":
            return "logit"
        return "JOD"

    @property
    def dimensions(self) -> list[str]:
        return sorted(self.scores["dimension"].unique().tolist())

    def groups(self, dimension: str) -> list[str]:
        return sorted(group for dim, group in self.preference if dim == dimension)

    def preference_long(self) -> pd.DataFrame:
        """Every preference matrix as rows ``dimension, group, winner, loser, wins``."""
        frames = []
        for (dimension, group), matrix in self.preference.items():
            stacked = matrix.stack()
            stacked = stacked.loc[(stacked > 0).to_numpy()]
            frames.append(
                pd.DataFrame(
                    {
                        "dimension": dimension,
                        "group": group,
                        "winner": stacked.index.get_level_values(0).to_numpy(),
                        "loser": stacked.index.get_level_values(1).to_numpy(),
                        "wins": stacked.to_numpy(),
                    }
                )
            )
        if not frames:
            return pd.DataFrame(columns=["dimension", "group", "winner", "loser", "wins"])
        return pd.concat(frames, ignore_index=True)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every exported table by file stem (``scores`` -> ``scores.csv``)."""
        return {
            "scores": self.scores,
            "subjects": self.subjects,
            "preference": self.preference_long(),
        }

    def options_dict(self) -> dict[str, Any]:
        return jsonable(options_dict(self.options))

    def to_summary(self) -> dict[str, Any]:
        """JSON-ready overview (no tables): counts, options, exclusions, warnings."""
        return jsonable(
            {
                "library_version": LIBRARY_VERSION,
                "kind": "pairwise",
                "method": self.options.scaling.method,
                "n_input_choices": self.n_input_choices,
                "n_used_choices": self.n_used_choices,
                "n_subjects": int(self.subjects["subject"].nunique()),
                "n_groups": len({group for _, group in self.preference}),
                "n_stimuli": int(self.scores[["dimension", "stimulus"]].drop_duplicates().shape[0]),
                "dimensions": self.dimensions,
                "excluded_subjects": self.excluded_subjects,
                "warnings": self.warnings,
                "options": self.options_dict(),
                "timings": self.timings,
            }
        )


def pairwise_pipeline_run(
    choices: pd.DataFrame,
    options: PairwisePipelineOptions | None = None,
    progress: Progress | None = None,
) -> PairwisePipelineResult:
    """Screen and scale a choices table, dimension by dimension.

    Raises :class:`~analysis.errors.RatingsError` (one line) on bad input. ``progress`` is
    :data:`common.progress.Progress`: it hears ``(step, steps_done, len(STEPS))`` before each
    step and ``("done", len(STEPS), len(STEPS))`` at the end.
    """
    options = options or PairwisePipelineOptions()
    clock = _StepClock(progress, STEPS)
    warnings: list[str] = []
    with clock.step("validate"):
        table = _validate(choices)
        dropped = _too_fast_rows(table) if options.exclude_too_fast else np.zeros(len(table), bool)
        if dropped.any():
            warnings.append(
                f"{int(dropped.sum())} too-fast answer(s) left out (too_fast = 1) before "
                "screening and scaling"
            )
        kept_rows = table.loc[~dropped]
        if kept_rows.empty:
            raise RatingsError("every answer of the choices table is too fast (too_fast = 1)")
        by_dimension = {str(dim): frame for dim, frame in kept_rows.groupby("dimension", sort=True)}
    with clock.step("screening"):
        subject_frames = []
        kept: dict[str, pd.DataFrame] = {}
        for dimension, frame in by_dimension.items():
            subjects = _screen(frame, table.loc[dropped], dimension, options.screening)
            subject_frames.append(subjects)
            kept[dimension] = _apply_screening(frame, subjects, dimension, options, warnings)
        subjects_table = pd.concat(subject_frames, ignore_index=True)
    with clock.step("scaling"):
        score_frames = []
        preference: dict[tuple[str, str], pd.DataFrame] = {}
        for dimension, frame in kept.items():
            score_frames.append(_scale(frame, dimension, options))
            preference.update(_preference(frame, dimension))
            warnings.extend(_emptied_stimuli(by_dimension[dimension], frame, dimension))
        scores = pd.concat(score_frames, ignore_index=True)
    rejected = subjects_table.loc[subjects_table["rejected"], "subject"]
    return PairwisePipelineResult(
        scores=scores,
        subjects=subjects_table,
        preference=preference,
        excluded_subjects=(sorted(set(rejected.astype(str))) if options.apply_screening else []),
        warnings=warnings,
        options=options,
        n_input_choices=len(table),
        n_used_choices=int(sum(len(frame) for frame in kept.values())),
        timings=clock.finish(),
    )


def _validate(choices: pd.DataFrame) -> pd.DataFrame:
    """The canonical choices columns, checked, plus ``dimension`` ("" when absent) and
    ``too_fast`` (0/1; 0 when absent)."""
    if not isinstance(choices, pd.DataFrame):
        raise RatingsError(f"choices must be a table (DataFrame), got {type(choices).__name__}")
    table = validate_choices(choices)
    table["dimension"] = _dimension_column(choices)
    table["too_fast"] = _too_fast_column(choices)
    return table.reset_index(drop=True)


def _dimension_column(choices: pd.DataFrame) -> np.ndarray:
    if "dimension" not in choices.columns:
        return np.full(len(choices), NO_DIMENSION, dtype=object)
    values = choices["dimension"]
    return values.astype(object).where(values.notna(), NO_DIMENSION).astype(str).to_numpy()


def _too_fast_column(choices: pd.DataFrame) -> np.ndarray:
    if "too_fast" not in choices.columns:
        return np.zeros(len(choices), dtype=int)
    values = choices["too_fast"]
    numeric = pd.to_numeric(values.where(values.notna(), 0), errors="coerce")
    bad = ~numeric.isin(TOO_FAST_VALUES)
    if bad.any():
        rows = ", ".join(str(label) for label in values.index[bad.to_numpy()][:5])
        raise RatingsError(
            f"column 'too_fast' has invalid value {str(values[bad].iloc[0])!r} at row(s) {rows}; "
            "allowed: 0, 1 (or empty)"
        )
    return numeric.astype(int).to_numpy()


def _too_fast_rows(table: pd.DataFrame) -> np.ndarray:
    return (table["too_fast"] == 1).to_numpy()


def _screen(
    frame: pd.DataFrame,
    too_fast_rows: pd.DataFrame,
    dimension: str,
    options: PairwiseScreeningOptions,
) -> pd.DataFrame:
    """One row per subject of ``dimension``: the three checks' statistics and verdicts."""
    checks = {
        "repeats": repeat_consistency(frame, options),
        "transitivity": transitivity(frame, options),
        "outlier": outlier_analysis(frame, options=options),
    }
    subjects = sorted(frame["subject"].unique().tolist())
    out = pd.DataFrame({"subject": subjects}).set_index("subject")
    out.insert(0, "dimension", dimension)
    out["choices"] = frame.groupby("subject").size().reindex(subjects).to_numpy()
    fast = too_fast_rows.loc[too_fast_rows["dimension"] == dimension]
    out["too_fast"] = fast.groupby("subject").size().reindex(subjects).fillna(0).astype(int)
    rejected = np.zeros(len(subjects), dtype=bool)
    reasons: list[list[str]] = [[] for _ in subjects]
    for result, columns in (
        (checks["repeats"], {"repeats": "repeats", "inconsistency": "repeat_inconsistency"}),
        (checks["transitivity"], {"triads": "triads", "circular_share": "circular_share"}),
        (
            checks["outlier"],
            {"log10_likelihood": "outlier_log10_likelihood", "distance": "outlier_distance"},
        ),
    ):
        table = result.subjects.set_index("subject").reindex(subjects)
        for column, name in columns.items():
            out[name] = table[column].to_numpy()
        flagged = table["rejected"].fillna(False).astype(bool).to_numpy()
        rejected |= flagged
        for position in np.flatnonzero(flagged):
            reasons[position].append(str(table["reason"].iloc[position]))
    out["rejected"] = rejected
    out["reasons"] = ["; ".join(parts) for parts in reasons]
    out["repeats"] = out["repeats"].fillna(0).astype(int)
    out["triads"] = out["triads"].fillna(0).astype(int)
    return out.reset_index()[list(SUBJECT_COLUMNS)]


def _apply_screening(
    frame: pd.DataFrame,
    subjects: pd.DataFrame,
    dimension: str,
    options: PairwisePipelineOptions,
    warnings: list[str],
) -> pd.DataFrame:
    rejected = subjects.loc[subjects["rejected"]]
    if not options.apply_screening or rejected.empty:
        return frame
    if len(rejected) == len(subjects):
        raise AllSubjectsRejectedError(
            f"screening rejects every subject of dimension {_label(dimension)} "
            f"({len(subjects)}); relax the pairwise screening options or turn screening off"
        )
    for row in rejected.itertuples(index=False):
        warnings.append(
            f"subject {row.subject} rejected on dimension {_label(dimension)}: {row.reasons}"
        )
    return frame.loc[~frame["subject"].isin(set(rejected["subject"]))]


def _scale(frame: pd.DataFrame, dimension: str, options: PairwisePipelineOptions) -> pd.DataFrame:
    if options.bootstrap is None:
        scores = scale_choices(frame, options=options.scaling)
        for column in ("se", "ci_low", "ci_high"):
            scores[column] = np.nan
    else:
        scores = bootstrap_scale(frame, options=options.scaling, bootstrap=options.bootstrap)
    scores.insert(0, "dimension", dimension)
    return scores[list(SCORE_COLUMNS)]


def _preference(frame: pd.DataFrame, dimension: str) -> dict[tuple[str, str], pd.DataFrame]:
    out = {}
    for batch in pair_layout(frame[list(REQUIRED_COLUMNS)]).batches:
        wins = batch.wins()
        for position, group in enumerate(batch.groups):
            stimuli = list(batch.stimuli[position])
            out[(dimension, group)] = pd.DataFrame(
                wins[position], index=pd.Index(stimuli, name="winner"), columns=stimuli
            )
    return out


def _emptied_stimuli(before: pd.DataFrame, after: pd.DataFrame, dimension: str) -> list[str]:
    """Stimuli screening left with no answer: they have no score, so say so."""

    def shown(frame: pd.DataFrame) -> set[tuple[str, str]]:
        return set(zip(frame["group"], frame["left"], strict=True)) | set(
            zip(frame["group"], frame["right"], strict=True)
        )

    return [
        f"stimulus {stimulus} of group {group} (dimension {_label(dimension)}) has no answer "
        "left after screening: no score"
        for group, stimulus in sorted(shown(before) - shown(after))
    ]


def _label(dimension: str) -> str:
    return repr(dimension) if dimension else "(none)"
