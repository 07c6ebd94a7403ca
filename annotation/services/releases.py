"""Frozen label releases: versioned, immutable, sha256-stamped MOS and raw ratings CSVs.

A freeze reads the study's ratings in one pass: every chunk goes to the raw CSV (hashed as
it is written, never held in memory) and into the analysis table, so the MOS and the raw
file describe exactly the same ratings even while new ones arrive. The version is taken
under a row lock on the study (SQLite serialises writers anyway), the files are written
once into ``releases/<study>/v<N>/`` and never again: ratings that arrive later cannot
change a release, and downloads stream the stored files. There is deliberately no update
function here; freezing again makes the next version. The file formats live in
:mod:`annotation.services.release_files`.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Mapping
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
from annotation.models import AnalysisRun, LabelRelease, Study
from annotation.selectors_analysis import ratings_snapshot, study_lookups
from annotation.services import release_files
from annotation.services.allocation import allocation_config
from annotation.services.analysis import (
    analysis_options_clean,
    analysis_options_hash,
    analysis_run_dispatch,
    inline_max_ratings,
    options_from_pipeline,
    pipeline_run,
    result_methods,
    result_rejections,
    study_ratings_required,
)
from annotation.services.release_files import (
    FILES,
    RawCsvWriter,
    StagedFile,
    mos_table_build,
    release_dir,
    sidecar_name,
    staging_dir,
)

if TYPE_CHECKING:
    from analysis.pipeline import PipelineResult

Progress = Callable[[str, float], None]

# --- freeze -------------------------------------------------------------------------------


def _method_config(
    *, study: Study, options: dict, result: PipelineResult, keys: list[str], fingerprint
) -> dict:
    rejected = result_rejections(result)
    return {
        "source": LabelRelease.Source.STUDY,
        "options": options,
        "pipeline_options": options_from_pipeline(result.options),
        "library": {"name": "analysis", "version": LIBRARY_VERSION},
        "methods": result_methods(result),
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


def release_freeze(
    *,
    study: Study,
    options: Mapping | None = None,
    created_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> LabelRelease:
    """Analyse the study's ratings with ``options`` and write release v<next>; nothing is
    written when the options or the ratings are refused (ValidationError)."""
    report = progress or (lambda step, fraction: None)
    clean = analysis_options_clean(data=options)
    expected = study_ratings_required(study=study)
    staged = staging_dir() / f"raw-{uuid.uuid4().hex}.csv"
    try:
        lookups = study_lookups(study=study)
        writer = RawCsvWriter(staged, lookups)
        try:
            snapshot = ratings_snapshot(
                study=study,
                lookups=lookups,
                on_chunk=writer,
                progress=lambda n: report("loading ratings", 0.4 * n / max(expected.count, 1)),
            )
        finally:
            raw_sha256 = writer.close()
        if snapshot.fingerprint.count == 0:
            raise ValidationError(f"Study {study.slug} has no ratings to freeze.")
        result = pipeline_run(
            study=study,
            options=clean,
            snapshot_frame=snapshot.frame,
            progress=lambda step, f: report(step if step != "done" else "writing", 0.4 + 0.5 * f),
        )
        keys = [k for k in lookups.dimension_order if k in set(result.mos.table["dimension"])]
        mos = mos_table_build(study=study, result=result, keys=keys)
        if not mos.rows:
            raise ValidationError(
                "No stimulus has a MOS on every dimension after screening; nothing was frozen."
            )
        subjects = snapshot.subject_labels()
        method_config = _method_config(
            study=study, options=clean, result=result, keys=keys, fingerprint=snapshot.fingerprint
        )
        rejected = {r["subject"] for r in method_config["rejections"]}
        counts = {
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
        method_config["subjects"] = {
            "total": counts["subjects"],
            "kept": counts["subjects_kept"],
            "rejected": counts["subjects_rejected"],
        }
        report("writing", 0.95)
        return _release_write(
            study=study,
            mos=mos,
            staged=staged,
            raw_sha256=raw_sha256,
            method_config=method_config,
            counts=counts,
            created_by=created_by,
        )
    finally:
        staged.unlink(missing_ok=True)


def _release_write(
    *, study: Study, mos: release_files.MosTable, staged: Path, raw_sha256: str, **fields
) -> LabelRelease:
    written: list[str] = []
    try:
        with transaction.atomic():
            # Concurrent freezes of one study queue here; each then sees the other's version.
            list(Study.objects.select_for_update().filter(pk=study.pk).values_list("pk"))
            version = (study.releases.aggregate(top=Max("version"))["top"] or 0) + 1
            folder = release_dir(study_id=study.pk, version=version)
            data = release_files.mos_csv(mos, folder)
            release = LabelRelease(
                study=study,
                version=version,
                source=LabelRelease.Source.STUDY,
                mos_sha256=hashlib.sha256(data).hexdigest(),
                raw_sha256=raw_sha256,
                **fields,
            )
            release.mos_file.save(FILES["mos"], ContentFile(data), save=False)
            written.append(release.mos_file.name)
            with StagedFile(staged.open("rb"), name=str(staged)) as handle:
                release.raw_file.save(FILES["raw"], handle, save=False)
            written.append(release.raw_file.name)
            release.save()
            # A file left here by a crashed freeze must not pose as this release's sidecar.
            name = sidecar_name(release=release)
            default_storage.delete(name)
            written.append(
                default_storage.save(name, ContentFile(release_files.sidecar_bytes(release)))
            )
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return release


@dataclass(frozen=True)
class FreezeOutcome:
    """A small study is frozen at once (``release``); a large one is queued (``run``)."""

    release: LabelRelease | None = None
    run: AnalysisRun | None = None


def release_freeze_request(
    *, study: Study, options: Mapping | None, created_by: AbstractBaseUser | None = None
) -> FreezeOutcome:
    clean = analysis_options_clean(data=options)
    fingerprint = study_ratings_required(study=study)
    user = created_by if created_by is not None and created_by.is_authenticated else None
    if fingerprint.count <= inline_max_ratings():
        return FreezeOutcome(release=release_freeze(study=study, options=clean, created_by=user))
    run = AnalysisRun.objects.create(
        study=study,
        kind=AnalysisRun.Kind.FREEZE,
        options=clean,
        options_hash=analysis_options_hash(options=clean),
        ratings_count=fingerprint.count,
        ratings_last_id=fingerprint.last_id,
        created_by=user,
    )
    return FreezeOutcome(run=analysis_run_dispatch(run=run))


# --- downloads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseDownload:
    handle: object  # a binary file object, streamed by FileResponse
    filename: str
    content_type: str


def release_download_open(*, release: LabelRelease, what: str) -> ReleaseDownload:
    """The stored file, as written at freeze time (never regenerated)."""
    prefix = f"{release.study.slug}-v{release.version}"
    if what == "mos":
        return ReleaseDownload(
            release.mos_file.open("rb"), f"{prefix}-mos.csv", "text/csv; charset=utf-8"
        )
    if what == "raw":
        if not release.raw_file:
            raise ValidationError("This release has no raw ratings (an imported database).")
        return ReleaseDownload(
            release.raw_file.open("rb"), f"{prefix}-raw.csv", "text/csv; charset=utf-8"
        )
    if what == "sidecar":
        name = sidecar_name(release=release)
        # Releases imported from a published database have no stored sidecar: derive it
        # from the immutable row instead.
        handle = (
            default_storage.open(name, "rb")
            if default_storage.exists(name)
            else io.BytesIO(release_files.sidecar_bytes(release))
        )
        return ReleaseDownload(handle, f"{prefix}-release.json", "application/json")
    raise ValidationError(f"Unknown release file {what!r}; use one of {', '.join(FILES)}.")
