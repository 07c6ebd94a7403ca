"""Freezing a pairwise study: its choices CSV and scaled scores as a label release.

The mirror of :func:`annotation.services.releases.release_freeze` for ratings. The choices
stored up to the fingerprint's last id are streamed once into the staged choices CSV (the
live export's columns, hashed as written); the pairwise pipeline then scales that very
file, so ``python -m analysis pairwise choices.csv`` with the release's options reproduces
its scores. Both files, and the training manifest derived from the scores, are written by
the one writer, :func:`annotation.services.releases.release_write`.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from analysis import LIBRARY_VERSION
from annotation.models import LabelRelease, Study
from annotation.services.analysis_options import (
    pairwise_options_parse,
    pairwise_run,
    study_choices_required,
)
from annotation.services.pair_exports import choices_csv_stream
from annotation.services.release_formats import (
    PAIRWISE_FILES,
    RELEASE_KIND_PAIRWISE,
    PairwiseScoresTable,
    pairwise_scores_build,
    staging_dir,
)
from common.progress import Progress, progress_noop, progress_scaled

if TYPE_CHECKING:
    import pandas as pd

    from analysis.pairwise import PairwisePipelineResult

# Read as text so ids keep their spelling; the numbers the library needs are parsed after.
_TEXT_COLUMNS = ("subject", "group", "left", "right", "choice", "side", "dimension")


def _choices_stage(*, study: Study, staged: Path, last_id: int) -> str:
    """The choices up to ``last_id`` into ``staged``; returns the file's sha256."""
    digest = hashlib.sha256()
    with staged.open("wb") as handle:
        for chunk in choices_csv_stream(study=study, last_id=last_id):
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def frozen_choices_frame(path: Path) -> pd.DataFrame:
    """A choices CSV (frozen or packaged) as the pairwise pipeline's table."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={c: str for c in _TEXT_COLUMNS}, keep_default_na=False)
    frame["time"] = pd.to_numeric(frame["time"], errors="coerce")
    for column in ("trial", "too_fast", "repeat"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(int)
    return frame


def _rejections(result: PairwisePipelineResult) -> list[dict]:
    rejected = result.subjects[result.subjects["rejected"].astype(bool)]
    return [
        {"subject": str(row.subject), "dimension": str(row.dimension), "reasons": row.reasons}
        for row in rejected.itertuples(index=False)
    ]


def _method_config(
    *, study: Study, options: dict, result: PairwisePipelineResult, keys: list[str], last_id: int
) -> dict:
    return {
        "kind": RELEASE_KIND_PAIRWISE,
        "source": LabelRelease.Source.STUDY,
        "options": options,
        "pipeline_options": result.options_dict(),
        "library": {"name": "analysis", "version": LIBRARY_VERSION},
        "unit": result.unit,
        "scale": {"type": study.scale_type},
        "pairwise": {
            "design": study.pairwise_design,
            "grouping": study.pairwise_grouping,
            "group_column": study.pairwise_group_column,
            "no_preference": study.pairwise_no_preference,
            "scaling": result.options.scaling.method,
        },
        "dimensions": keys,
        "mos_column": f"mos_{keys[0]}",
        # What the freeze read, as AnalysisRun.ratings_* hold it for a pairwise study.
        "ratings": {"count": result.n_input_choices, "last_id": last_id},
        "rejections": _rejections(result),
        "excluded_subjects": list(result.excluded_subjects),
        "notes": list(result.warnings),
    }


def _counts(*, result: PairwisePipelineResult, table: PairwiseScoresTable, config: dict) -> dict:
    subjects = set(result.subjects["subject"].astype(str))
    rejected = {r["subject"] for r in config["rejections"]} & subjects
    return {
        "choices": result.n_input_choices,
        "choices_used": result.n_used_choices,
        "stimuli": len({row["stimulus_id"] for row in table.rows}),
        "groups": len({(row["dimension"], row["group"]) for row in table.rows}),
        "dimensions": len(table.keys),
        "subjects": len(subjects),
        "subjects_kept": len(subjects - rejected),
        "subjects_rejected": len(rejected),
        "rejections": len(config["rejections"]),
    }


def pairwise_release_freeze(
    *,
    study: Study,
    options: dict | None = None,
    created_by: AbstractBaseUser | None = None,
    progress: Progress = progress_noop,
) -> LabelRelease:
    """Scale the study's choices with ``options`` and write release v<next>; nothing is
    written when the options or the choices are refused (ValidationError)."""
    from annotation.services.releases import release_write

    clean = pairwise_options_parse(data=options).as_dict()
    fingerprint = study_choices_required(study=study)
    staged = staging_dir() / f"choices-{uuid.uuid4().hex}.csv"
    try:
        progress("reading choices", 0.0, 1.0)
        choices_sha256 = _choices_stage(study=study, staged=staged, last_id=fingerprint.last_id)
        result = pairwise_run(
            options=clean,
            choices_frame=frozen_choices_frame(staged),
            progress=progress_scaled(progress, start=0.4, end=0.9),
        )
        order = list(study.dimensions.order_by("order", "id").values_list("key", flat=True))
        keys = [key for key in order if key in set(result.dimensions)]
        table = pairwise_scores_build(study=study, scores=result.scores, keys=keys)
        if not table.rows:
            raise ValidationError("No stimulus has a score after screening; nothing was frozen.")
        config = _method_config(
            study=study, options=clean, result=result, keys=keys, last_id=fingerprint.last_id
        )
        counts = _counts(result=result, table=table, config=config)
        config["subjects"] = {
            "total": counts["subjects"],
            "kept": counts["subjects_kept"],
            "rejected": counts["subjects_rejected"],
        }
        progress("writing", 0.95, 1.0)
        return release_write(
            study=study,
            source=LabelRelease.Source.STUDY,
            mos=table,
            raw=staged,
            raw_sha256=choices_sha256,
            raw_name=PAIRWISE_FILES["raw"],
            method_config=config,
            counts=counts,
            created_by=created_by,
        )
    finally:
        staged.unlink(missing_ok=True)
