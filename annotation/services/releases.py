"""Label releases: versioned, immutable, sha256-stamped MOS (and raw ratings) CSVs.

A freeze reads the study's ratings in one pass: every chunk goes to the raw CSV (hashed as
it is written, never held in memory) and into the analysis table, so the MOS and the raw
file describe exactly the same ratings even while new ones arrive. Every release, frozen
here or imported from a published database, is written by :func:`release_write`: the
version is taken under a row lock on the study, the files are written once into the
release folder with their release.json sidecar and never again, and downloads stream the
stored files. There is deliberately no update function here; freezing again makes the
next version. The file formats live in :mod:`annotation.services.release_formats`; queuing
a large freeze on a worker is :mod:`annotation.services.analysis_runs`' job.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from analysis import LIBRARY_VERSION
from annotation.models import LabelRelease, Study, release_dir
from annotation.selectors.analysis import (
    RatingsSnapshot,
    StudyLookups,
    ratings_snapshot,
    study_lookups,
)
from annotation.services import release_formats
from annotation.services.allocation import allocation_config
from annotation.services.analysis_options import (
    analysis_options_clean,
    pipeline_run,
    study_ratings_required,
)
from annotation.services.release_formats import (
    FILES,
    MosTable,
    PairwiseScoresTable,
    RawCsvWriter,
    StagedFile,
    mos_table_build,
    sidecar_name,
    staging_dir,
)
from common.progress import Progress, progress_noop, progress_scaled
from core.storage import media_open

if TYPE_CHECKING:
    from analysis.pipeline import PipelineResult

# --- freeze -------------------------------------------------------------------------------


def _method_config(
    *, study: Study, options: dict, result: PipelineResult, keys: list[str], fingerprint
) -> dict:
    rejected = result.rejections()
    return {
        "source": LabelRelease.Source.STUDY,
        "options": options,
        "pipeline_options": result.options_dict(),
        "library": {"name": "analysis", "version": LIBRARY_VERSION},
        "methods": result.methods(),
        "scale": {
            "type": study.scale_type,
            "min": study.scale_min,
            "max": study.scale_max,
            "step": study.scale_step,
        },
        "dimensions": keys,
        "mos_column": f"mos_{keys[0]}",
        "ratings": {"count": fingerprint.count, "last_id": fingerprint.last_id},
        "rejections": [
            {"subject": str(r.subject), "dimension": str(r.dimension), "reasons": r.reasons}
            for r in rejected.itertuples(index=False)
        ],
        "notes": list(result.notes),
        "allocation": allocation_config(study=study),
    }


def _freeze_pipeline_progress(progress: Progress) -> Progress:
    """The library's steps fill 40..90 % of a freeze; its last step is our writing."""
    scaled = progress_scaled(progress, start=0.4, end=0.9)

    def report(step: str, done: float, total: float) -> None:
        scaled(step if step != "done" else "writing", done, total)

    return report


def release_freeze(
    *,
    study: Study,
    options: Mapping | None = None,
    created_by: AbstractBaseUser | None = None,
    progress: Progress = progress_noop,
) -> LabelRelease:
    """Analyse the study's ratings with ``options`` and write release v<next>; nothing is
    written when the options or the ratings are refused (ValidationError)."""
    from annotation.services.analysis_digest import reliability_table

    if study.scale_type == Study.ScaleType.PAIRWISE:
        from annotation.services.release_pairwise import pairwise_release_freeze

        return pairwise_release_freeze(
            study=study, options=options, created_by=created_by, progress=progress
        )
    clean = analysis_options_clean(data=options)
    expected = study_ratings_required(study=study)
    staged = staging_dir() / f"raw-{uuid.uuid4().hex}.csv"
    try:
        lookups = study_lookups(study=study)
        snapshot, raw_sha256 = _snapshot_with_raw_csv(
            study=study,
            lookups=lookups,
            staged=staged,
            expected_rows=expected.count,
            progress=progress_scaled(progress, start=0.0, end=0.4),
        )
        result = pipeline_run(
            study=study,
            options=clean,
            snapshot_frame=snapshot.frame,
            progress=_freeze_pipeline_progress(progress),
        )
        keys = [k for k in lookups.dimension_order if k in set(result.mos.table["dimension"])]
        mos = _mos_required(study=study, result=result, keys=keys)
        method_config = _method_config(
            study=study, options=clean, result=result, keys=keys, fingerprint=snapshot.fingerprint
        )
        counts = _freeze_counts(
            snapshot=snapshot, result=result, mos=mos, keys=keys, method_config=method_config
        )
        method_config["subjects"] = _subjects_summary(counts)
        # Reliability of the ratings behind this MOS, for the dataset package's datasheet.
        method_config["reliability"] = reliability_table(result)
        progress("writing", 0.95, 1.0)
        return release_write(
            study=study,
            source=LabelRelease.Source.STUDY,
            mos=mos,
            raw=staged,
            raw_sha256=raw_sha256,
            method_config=method_config,
            counts=counts,
            created_by=created_by,
        )
    finally:
        staged.unlink(missing_ok=True)


def _snapshot_with_raw_csv(
    *, study: Study, lookups: StudyLookups, staged: Path, expected_rows: int, progress: Progress
) -> tuple[RatingsSnapshot, str]:
    """One pass over the ratings: the analysis table, and the raw CSV staged (with its
    sha256) from the very same rows. Refused when there are none."""
    writer = RawCsvWriter(staged, lookups)
    try:
        snapshot = ratings_snapshot(
            study=study,
            lookups=lookups,
            on_chunk=writer,
            progress=progress,
            expected_rows=expected_rows,
        )
    finally:
        raw_sha256 = writer.close()
    if snapshot.fingerprint.count == 0:
        raise ValidationError(f"Study {study.slug} has no ratings to freeze.")
    return snapshot, raw_sha256


def _mos_required(*, study: Study, result: PipelineResult, keys: list[str]) -> MosTable:
    mos = mos_table_build(study=study, result=result, keys=keys)
    if not mos.rows:
        raise ValidationError(
            "No stimulus has a MOS on every dimension after screening; nothing was frozen."
        )
    return mos


def _freeze_counts(
    *,
    snapshot: RatingsSnapshot,
    result: PipelineResult,
    mos: MosTable,
    keys: list[str],
    method_config: dict,
) -> dict:
    """The release's counts: ratings, stimuli, dimensions, subjects and rejections."""
    subjects = snapshot.subject_labels()
    rejected = {r["subject"] for r in method_config["rejections"]}
    return {
        "ratings": snapshot.fingerprint.count,
        "ratings_used": result.n_used_ratings,
        "stimuli": len(mos.rows),
        "stimuli_incomplete": len(mos.incomplete),
        "dimensions": len(keys),
        "subjects": len(subjects),
        "subjects_kept": len(subjects - rejected),
        "subjects_rejected": len(rejected & subjects),
        "rejections": len(method_config["rejections"]),
    }


def _subjects_summary(counts: dict) -> dict:
    return {
        "total": counts["subjects"],
        "kept": counts["subjects_kept"],
        "rejected": counts["subjects_rejected"],
    }


# --- the one writer -----------------------------------------------------------------------


def release_write(
    *,
    study: Study,
    source: str,
    mos: MosTable | PairwiseScoresTable,
    method_config: dict,
    counts: dict,
    created_by: AbstractBaseUser | None = None,
    raw: Path | None = None,
    raw_sha256: str = "",
    raw_name: str = FILES["raw"],
    written: list[str] | None = None,
) -> LabelRelease:
    """Write release v<next> of ``study``: the MOS CSV (a pairwise study's scores CSV and
    its training manifest), the raw ratings or choices (a staged file, moved into place as
    ``raw_name``) when there are any, and the release.json sidecar. On failure every
    file written is deleted; names written are also appended to ``written``, so a caller
    whose own transaction fails later can delete them too."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            # Concurrent freezes of one study queue here; each then sees the other's version.
            list(Study.objects.select_for_update().filter(pk=study.pk).values_list("pk"))
            version = (study.releases.aggregate(top=Max("version"))["top"] or 0) + 1
            folder = release_dir(study_id=study.pk, version=version)
            tables = release_formats.release_tables(mos, folder)
            (main_name, data), *derived = tables.items()
            if derived:
                method_config = {
                    **method_config,
                    "derived_files": {
                        name: hashlib.sha256(content).hexdigest() for name, content in derived
                    },
                }
            release = LabelRelease(
                study=study,
                version=version,
                source=source,
                mos_sha256=hashlib.sha256(data).hexdigest(),
                raw_sha256=raw_sha256 if raw is not None else "",
                method_config=method_config,
                counts=counts,
                created_by=created_by,
            )
            release.mos_file.save(main_name, ContentFile(data), save=False)
            stored.append(release.mos_file.name)
            _derived_and_raw_save(release, folder, derived, raw, raw_name, stored)
            release.save()
            _sidecar_save(release, stored)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    if written is not None:
        written.extend(stored)
    return release


def _derived_and_raw_save(
    release: LabelRelease,
    folder: str,
    derived: list[tuple[str, bytes]],
    raw: Path | None,
    raw_name: str,
    stored: list[str],
) -> None:
    """The files beside the main table: derived tables, then the staged raw file."""
    for name, content in derived:
        default_storage.delete(f"{folder}/{name}")  # left by a crashed write
        stored.append(default_storage.save(f"{folder}/{name}", ContentFile(content)))
    if raw is not None:
        with StagedFile(raw.open("rb"), name=str(raw)) as handle:
            release.raw_file.save(raw_name, handle, save=False)
        stored.append(release.raw_file.name)


def _sidecar_save(release: LabelRelease, stored: list[str]) -> None:
    # A file left here by a crashed write must not pose as this release's sidecar.
    name = sidecar_name(release=release)
    default_storage.delete(name)
    stored.append(default_storage.save(name, ContentFile(release_formats.sidecar_bytes(release))))


# --- downloads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseDownload:
    handle: object  # a binary file object, streamed by FileResponse
    filename: str
    content_type: str


def release_download_open(*, release: LabelRelease, what: str) -> ReleaseDownload:
    """The stored file, as written with the release (never regenerated). A pairwise
    release's scores and choices are its "mos" and "raw" files (either name works)."""
    prefix = f"{release.study.slug}-v{release.version}"
    labels = release_formats.release_file_labels(release)
    what = {label: slot for slot, label in labels.items()}.get(what, what)
    if what == "mos":
        return ReleaseDownload(
            media_open(release.mos_file.name),
            f"{prefix}-{labels['mos']}.csv",
            "text/csv; charset=utf-8",
        )
    if what == "raw":
        if not release.raw_file:
            raise ValidationError("This release has no raw ratings (an imported database).")
        return ReleaseDownload(
            media_open(release.raw_file.name),
            f"{prefix}-{labels['raw']}.csv",
            "text/csv; charset=utf-8",
        )
    if what == "package":
        if release.package_status != LabelRelease.PackageStatus.DONE or not release.package_file:
            raise ValidationError("This release has no dataset package yet; package it first.")
        return ReleaseDownload(
            media_open(release.package_file.name), f"{prefix}-dataset.zip", "application/zip"
        )
    if what == "sidecar":
        handle = media_open(sidecar_name(release=release))
        return ReleaseDownload(handle, f"{prefix}-release.json", "application/json")
    known = ", ".join([*FILES, "package"])
    raise ValidationError(f"Unknown release file {what!r}; use one of {known}.")
