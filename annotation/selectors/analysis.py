"""Reads for analysis and label releases: a study's ratings as the analysis library's table.

The ratings are read once, in id order and in chunks, into column arrays (never a list of
1.26 M row tuples); the same pass can hand every chunk to a writer (the release's raw CSV),
so a release's MOS and its raw ratings come from exactly the same rows.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, Max, QuerySet, Sum, TextField
from django.db.models.functions import Cast

from annotation.models import AnalysisRun, LabelRelease, RatingSession, Stimulus, Study
from annotation.selectors.ratings import ratings_long_format
from annotation.selectors.research import study_get_for_user
from common.progress import Progress
from core.errors import NotFound

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CHUNK_SIZE = 20_000

RatingRows = list[tuple]
ChunkSink = Callable[[RatingRows], None]


@dataclass(frozen=True)
class RatingsFingerprint:
    """What an analysis saw: a new rating raises ``last_id``, a deleted one lowers ``count``."""

    count: int
    last_id: int


def ratings_fingerprint(*, study: Study) -> RatingsFingerprint:
    """The study's non-training ratings and their largest id, from its sessions' tallies
    (kept by the rating table's triggers in the writing transaction): a few rows, not a
    pass over the ratings, and equal to what :func:`ratings_snapshot` reads."""
    row = RatingSession.objects.filter(subject__study=study).aggregate(
        count=Sum("rating_tally"), last=Max("rating_last_id")
    )
    return RatingsFingerprint(count=row["count"] or 0, last_id=row["last"] or 0)


@dataclass(frozen=True)
class StimulusFacts:
    generator: str
    role: str
    expected_scores: dict


@dataclass(frozen=True)
class StudyLookups:
    """Labels and keys behind the ids in :func:`annotation.selectors.ratings_long_format`."""

    subjects: dict[int, str]
    dimensions: dict[int, str]
    dimension_order: tuple[str, ...]
    stimuli: dict[int, StimulusFacts]

    def gold_score(self, stimulus_id: int, dimension_id: int) -> float | None:
        """The known answer of a gold stimulus on a dimension; None when it has none."""
        facts = self.stimuli.get(stimulus_id)
        if facts is None or facts.role != Stimulus.Role.GOLD:
            return None
        value = facts.expected_scores.get(self.dimensions.get(dimension_id, ""))
        return float(value) if value is not None else None


def study_lookups(*, study: Study) -> StudyLookups:
    dims = list(study.dimensions.order_by("order", "id").values_list("id", "key"))
    return StudyLookups(
        subjects=dict(study.subjects.values_list("id", "label")),
        dimensions=dict(dims),
        dimension_order=tuple(key for _, key in dims),
        stimuli={
            pk: StimulusFacts(generator=gen, role=role, expected_scores=expected or {})
            for pk, gen, role, expected in study.stimuli.values_list(
                "id", "generator", "role", "expected_scores"
            )
        },
    )


@dataclass(frozen=True)
class RatingsSnapshot:
    """The ratings one pass read: the analysis table plus the fingerprint of what it holds."""

    frame: pd.DataFrame
    fingerprint: RatingsFingerprint
    lookups: StudyLookups

    def subject_labels(self) -> set[str]:
        """The subjects who rated (screening may drop some of them later)."""
        return {str(s) for s in self.frame["subject"].unique()}


def _categorical(ids: np.ndarray, labels: dict[int, str]) -> pd.Categorical:
    import numpy as np
    import pandas as pd

    keys = np.array(sorted(labels), dtype=np.int64)
    return pd.Categorical.from_codes(
        np.searchsorted(keys, ids), categories=[labels[int(k)] for k in keys]
    )


class _RatingColumns:
    """The snapshot's columns as compact arrays, filled one chunk of row tuples at a time."""

    def __init__(self) -> None:
        self.stimulus, self.subject = array("q"), array("q")
        self.session, self.dimension = array("q"), array("q")
        self.score, self.response, self.repeat = array("d"), array("d"), array("b")
        self.last_id = 0

    def extend(self, chunk: RatingRows) -> None:
        cols = list(zip(*chunk, strict=True))
        self.stimulus.extend(cols[1])
        self.subject.extend(cols[2])
        self.session.extend(cols[3])
        self.dimension.extend(cols[4])
        self.score.extend(cols[5])
        self.repeat.extend(int(v) for v in cols[6])
        self.response.extend(math.nan if v is None else v / 1000.0 for v in cols[8])
        self.last_id = cols[0][-1]


def ratings_snapshot(
    *,
    study: Study,
    lookups: StudyLookups | None = None,
    on_chunk: ChunkSink | None = None,
    progress: Progress | None = None,
    expected_rows: int = 0,
    chunk_size: int = CHUNK_SIZE,
) -> RatingsSnapshot:
    """Read every non-training rating once into the analysis library's long-format table.

    Columns: stimulus (id), subject (label), dimension (key), repeat (0/1), score,
    session (id), response_time (s), generator, and is_gold + gold_score when the study
    has gold stimuli with known answers. ``on_chunk`` receives each chunk of raw row
    tuples (:data:`annotation.selectors.ratings.RATING_ROW_FIELDS`) as it is read;
    ``progress`` hears ``("loading ratings", rows_read, expected_rows)`` after each chunk.
    """
    lookups = lookups or study_lookups(study=study)
    columns = _RatingColumns()
    chunk: RatingRows = []

    def flush() -> None:
        if not chunk:
            return
        columns.extend(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
        if progress is not None:
            progress("loading ratings", len(columns.score), max(expected_rows, 1))
        chunk.clear()

    for row in ratings_long_format(study=study).iterator(chunk_size=chunk_size):
        chunk.append(row)
        if len(chunk) >= chunk_size:
            flush()
    flush()
    frame = _snapshot_frame(columns, lookups)
    return RatingsSnapshot(
        frame=frame,
        fingerprint=RatingsFingerprint(count=len(frame), last_id=columns.last_id),
        lookups=lookups,
    )


def _snapshot_frame(columns: _RatingColumns, lookups: StudyLookups) -> pd.DataFrame:
    # Imported here: pages and APIs that import this module never load pandas.
    import numpy as np
    import pandas as pd

    def ints(values: array) -> np.ndarray:
        return np.frombuffer(values, dtype=np.int64) if values else np.zeros(0, np.int64)

    def floats(values: array) -> np.ndarray:
        return np.frombuffer(values, dtype=np.float64) if values else np.zeros(0)

    stim_ids, dim_ids = ints(columns.stimulus), ints(columns.dimension)
    repeat = columns.repeat
    frame = pd.DataFrame(
        {
            "stimulus": stim_ids,
            "subject": _categorical(ints(columns.subject), lookups.subjects),
            "dimension": _categorical(dim_ids, lookups.dimensions),
            "repeat": np.frombuffer(repeat, dtype=np.int8).astype(np.int64)
            if repeat
            else np.zeros(0, np.int64),
            "score": floats(columns.score),
            "session": ints(columns.session),
            "response_time": floats(columns.response),
        }
    )
    generators = {pk: facts.generator for pk, facts in lookups.stimuli.items()}
    frame["generator"] = pd.Series(stim_ids).map(generators).fillna("").astype(str).to_numpy()
    _add_gold_columns(frame, stim_ids, dim_ids, lookups)
    return frame


def _add_gold_columns(
    frame: pd.DataFrame, stim_ids: np.ndarray, dim_ids: np.ndarray, lookups: StudyLookups
) -> None:
    """is_gold and gold_score, when the study has gold stimuli."""
    import numpy as np

    gold = [pk for pk, facts in lookups.stimuli.items() if facts.role == Stimulus.Role.GOLD]
    if not gold:
        return
    # A gold stimulus without a known answer on a dimension is analysed as a normal one.
    keys = {(s, d): lookups.gold_score(s, d) for s in gold for d in lookups.dimensions}
    scores = np.array(
        [keys.get((s, d)) for s, d in zip(stim_ids.tolist(), dim_ids.tolist(), strict=True)],
        dtype=float,
    )
    frame["is_gold"] = ~np.isnan(scores)
    frame["gold_score"] = scores


# --- Runs and releases as a researcher sees them ------------------------------------------


def analysis_run_get(*, study: Study, pk: int) -> AnalysisRun:
    """The run; its payload (MOS table and figures) is read only where it is used."""
    run = study.analysis_runs.filter(pk=pk).defer("payload").first()
    if run is None:
        raise NotFound("No such analysis run.")
    return run


def analysis_run_payload_text(*, run: AnalysisRun) -> str:
    """The run's payload as the JSON text the database holds, never parsed into Python.

    At 20,000 stimuli the payload is megabytes; parsing it only to serialise it again
    took most of the result endpoint's time.
    """
    return (
        AnalysisRun.objects.filter(pk=run.pk)
        .annotate(text=Cast("payload", output_field=TextField()))
        .values_list("text", flat=True)
        .get()
    )


def analysis_run_get_for_user(*, user, study_pk: int, pk: int) -> AnalysisRun:
    return analysis_run_get(study=study_get_for_user(user=user, pk=study_pk), pk=pk)


def analysis_run_latest(*, study: Study, options_hash: str) -> AnalysisRun | None:
    """The newest analysis with these options, whatever its state (it may be stale)."""
    return (
        study.analysis_runs.filter(kind=AnalysisRun.Kind.ANALYSIS, options_hash=options_hash)
        .defer("payload")
        .first()
    )


def analysis_run_is_stale(*, run: AnalysisRun, fingerprint: RatingsFingerprint) -> bool:
    return (run.ratings_count, run.ratings_last_id) != (fingerprint.count, fingerprint.last_id)


def freeze_runs_recent(*, study: Study, limit: int = 5) -> QuerySet[AnalysisRun]:
    """Background freezes, newest first, so the releases page can show the ones under way."""
    runs = study.analysis_runs.filter(kind=AnalysisRun.Kind.FREEZE).select_related("release")
    return runs.defer("payload")[:limit]


def release_list_for_study(*, study: Study) -> QuerySet[LabelRelease]:
    return study.releases.select_related("created_by").order_by("-version")


def release_get_for_user(*, user, study_pk: int, version: int) -> LabelRelease:
    study = study_get_for_user(user=user, pk=study_pk)
    # release.study is the study fetched above (the related manager sets it): no join needed.
    release = study.releases.select_related("created_by").filter(version=version).first()
    if release is None:
        raise NotFound("No such release.")
    return release


# --- pairwise studies: the choices are what an analysis reads -----------------------------


def pairwise_choices_fingerprint(*, study: Study) -> RatingsFingerprint:
    """The study's stored choices and their largest id (a run's ``ratings_*`` fields hold
    these for a pairwise study: a new choice makes its analysis stale)."""
    from annotation.models import PairwiseChoice

    # Training and gold answers are checks, not data: the analysis never reads them.
    row = PairwiseChoice.objects.filter(
        session__subject__study=study, stage=PairwiseChoice.Stage.NORMAL
    ).aggregate(count=Count("id"), last=Max("id"))
    return RatingsFingerprint(count=row["count"] or 0, last_id=row["last"] or 0)


def analysis_fingerprint(*, study: Study) -> RatingsFingerprint:
    """What a study's analysis reads: its choices for a pairwise study, else its ratings."""
    if study.scale_type == Study.ScaleType.PAIRWISE:
        return pairwise_choices_fingerprint(study=study)
    return ratings_fingerprint(study=study)


def pairwise_choices_frame(*, study: Study) -> pd.DataFrame:
    """The study's choices as the analysis library's table (the columns of the choices CSV
    export: stimulus ids as strings, ``time`` in seconds, ``dimension`` the key)."""
    import pandas as pd

    from annotation.selectors.pairwise import pairwise_choice_rows

    columns = (
        "subject",
        "dimension",
        "trial",
        "group",
        "left",
        "right",
        "choice",
        "side",
        "time",
        "too_fast",
        "repeat",
    )
    rows = list(pairwise_choice_rows(study=study).iterator(chunk_size=CHUNK_SIZE))
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for column in ("left", "right"):
        frame[column] = frame[column].astype(str)
    frame["time"] = pd.to_numeric(frame["time"], errors="coerce") / 1000.0
    frame["too_fast"] = frame["too_fast"].astype(int)
    frame["repeat"] = frame["repeat"].astype(int)
    return frame
