"""Dataset package of a frozen release: one zip a colleague loads with pandas and PIL alone.

The package holds the images (``images/``, ``prompt_images/`` for image-to-image) under
names derived from their content, ``mos.csv`` with relative paths and the columns of the
published databases, ``ratings.csv`` and ``subjects.csv`` under random pseudonyms,
``anchors.csv`` (training and gold images without a MOS), the datasheet ``README.md`` with its figures,
``croissant.json``, a sanitised ``release.json`` and ``SHA256SUMS``. A pairwise release's
package has ``scores.csv`` (JOD, se, CI per image and group) and ``choices.csv`` (every
choice, pseudonymous) in place of mos.csv and ratings.csv, and no MOS histograms. It is built from the
release's stored files (never from live ratings), by a Celery task that reports progress
on the release row; every file is copied into the zip in chunks, so a 20,000-image
package is never in memory, and the archive's sha256 is recorded on the release.

Privacy: subject labels become pseudonyms made at random for each package (stable
within it); session ids, rating ids and timestamps are dropped; demographic fields leave
the server only when the researcher ticks them.

This module is the job: the request, the task body and the build's order. The parts live
beside it: what goes in (:mod:`release_contents`), the zip (:mod:`release_zip`), the
files in order (:mod:`release_package_writer`), pseudonyms (:mod:`release_pseudonyms`),
the package's columns and storage names (:mod:`release_formats`), the README
(:mod:`release_datasheet`) and croissant.json (:mod:`release_croissant`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.models import LabelRelease, Subject
from annotation.services.release_contents import contents_read
from annotation.services.release_formats import (
    StagedFile,
    package_name,
    release_is_pairwise,
    staging_dir,
)
from annotation.services.release_package_writer import PackageWriter
from annotation.services.release_zip import PackageZip
from common.files import sha256_of
from common.progress import (
    Progress,
    ThrottledProgress,
    progress_fraction,
    progress_noop,
    progress_scaled,
)
from core.jobs import RELEASE_PACKAGE, enqueue_on_commit, failure_handler
from core.storage import media_local_path

log = logging.getLogger(__name__)

PACKAGE_FIELDS = [
    "licence",
    "citation",
    "package_options",
    "package_status",
    "package_step",
    "package_progress",
    "package_error",
]


# --- requests and jobs ---------------------------------------------------------------------


def demographic_fields(*, release: LabelRelease) -> list[str]:
    """Demographic field names the study's subjects have: what the researcher may tick."""
    fields: set[str] = set()
    for demographics in Subject.objects.filter(study_id=release.study_id).values_list(
        "demographics", flat=True
    ):
        if isinstance(demographics, dict):
            fields.update(str(key) for key in demographics)
    return sorted(fields)


def release_package_request(
    *,
    release: LabelRelease,
    licence: str = "",
    citation: str = "",
    demographics: Iterable[str] = (),
    inline: bool = False,
) -> LabelRelease:
    """Record the licence, citation and chosen demographics, then build the package on a
    worker (``inline``: now, in this process). Refused while a build is under way."""
    chosen = sorted({str(field).strip() for field in demographics if str(field).strip()})
    unknown = sorted(set(chosen) - set(demographic_fields(release=release)))
    if unknown:
        raise ValidationError(f"No subject has the demographic field(s) {', '.join(unknown)}.")
    with transaction.atomic():
        locked = LabelRelease.objects.select_for_update().get(pk=release.pk)
        busy = (LabelRelease.PackageStatus.PENDING, LabelRelease.PackageStatus.RUNNING)
        if locked.package_status in busy:
            raise ValidationError(
                f"Release v{release.version} is already being packaged; wait until its package is "
                "ready (the releases page shows its progress)."
            )
        locked.licence, locked.citation = licence.strip()[:200], citation.strip()
        locked.package_options = {"demographics": chosen}
        locked.package_status = LabelRelease.PackageStatus.PENDING
        locked.package_step, locked.package_progress, locked.package_error = "queued", 0.0, ""
        locked.save(update_fields=PACKAGE_FIELDS)
        if not inline:
            enqueue_on_commit(RELEASE_PACKAGE, locked.pk)
    if inline:
        return release_package_execute(release=locked)
    return locked


def _release_progress(release: LabelRelease) -> ThrottledProgress:
    """Writes the step and fraction to the release row, so the releases page sees them move."""

    def write(step: str, done: float, total: float) -> None:
        LabelRelease.objects.filter(pk=release.pk).update(
            package_step=step, package_progress=round(progress_fraction(done, total), 3)
        )

    return ThrottledProgress(write)


def release_package_execute(*, release: LabelRelease) -> LabelRelease:
    """Build the package; a failure is recorded on the release, never raised."""
    if release.package_status == LabelRelease.PackageStatus.DONE:
        return release  # a redelivered task after the work was saved
    LabelRelease.objects.filter(pk=release.pk).update(
        package_status=LabelRelease.PackageStatus.RUNNING
    )
    try:
        release_package_build(release=release, progress=_release_progress(release))
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    except Exception as exc:  # shown on the releases page instead of lost in a worker log
        log.exception("packaging release %s crashed", release.pk)
        error = f"Packaging crashed: {exc!r}"
    else:
        error = ""
    if error:
        LabelRelease.objects.filter(pk=release.pk).update(
            package_status=LabelRelease.PackageStatus.FAILED, package_error=error
        )
    release.refresh_from_db()
    return release


# --- the build -----------------------------------------------------------------------------


def release_package_build(*, release: LabelRelease, progress: Progress = progress_noop) -> None:
    """Write the package zip into the release folder and record its sha256 and size."""
    progress("reading the release", 0, 1)
    contents = contents_read(release)
    reliability = _reliability(
        release=release, progress=progress_scaled(progress, start=0, end=0.1)
    )
    staged = staging_dir() / f"package-{uuid.uuid4().hex}.zip"
    top = f"{release.study.slug}-v{release.version}"
    package = PackageZip(staged, top=top, date_time=release.created_at.timetuple()[:6])
    try:
        writer = PackageWriter(release=release, contents=contents, package=package)
        writer.images(progress_scaled(progress, start=0.1, end=0.75))
        if release_is_pairwise(release):
            writer.scores()
            progress("pseudonymising choices", 0.75, 1.0)
            writer.choices()
        else:
            writer.mos()
            progress("pseudonymising ratings", 0.75, 1.0)
            writer.ratings()
        progress("datasheet", 0.95, 1.0)
        if not release_is_pairwise(release):  # JOD are relative: no fixed axis to bin on
            writer.figures_draw()
        writer.metadata(reliability)
        package.close()
        progress("recording", 0.99, 1.0)
        _package_store(release=release, staged=staged)
    finally:
        package.close()
        staged.unlink(missing_ok=True)
    progress("done", 1.0, 1.0)


def _reliability(*, release: LabelRelease, progress: Progress) -> dict:
    """Reliability of the release's ratings (split-half, ICC, alpha): recorded by the freeze;
    for a release frozen before that, the analysis re-run on the stored raw CSV with the
    release's options (which reproduces its MOS)."""
    if "reliability" in release.method_config:  # frozen with it (every release since issue 20)
        return release.method_config["reliability"]
    if release_is_pairwise(release):
        return {}  # split-half, ICC and alpha are measures of ratings
    options = release.method_config.get("options")
    if not release.raw_file or not options:
        return {}
    from analysis.io import load_ratings
    from annotation.services.analysis_digest import reliability_table
    from annotation.services.analysis_options import pipeline_run

    progress("reliability", 0, 1)
    try:
        frame = load_ratings(str(media_local_path(release.raw_file.name)))
        result = pipeline_run(study=release.study, options=options, snapshot_frame=frame)
    except (NotImplementedError, ValidationError) as exc:
        log.warning("no reliability for release %s: %s", release.pk, exc)
        return {}
    progress("reliability", 1, 1)
    return reliability_table(result)


def _package_store(*, release: LabelRelease, staged: Path) -> None:
    """Move the zip into the release folder (replacing an earlier package) and record it."""
    digest, size = sha256_of(staged), staged.stat().st_size
    old = release.package_file.name if release.package_file else ""
    if old:
        default_storage.delete(old)
    name = package_name(release=release)
    default_storage.delete(name)  # a file left by a crashed build
    with StagedFile(staged.open("rb"), name=str(staged)) as handle:
        stored = default_storage.save(name, handle)
    LabelRelease.objects.filter(pk=release.pk).update(
        package_file=stored,
        package_sha256=digest,
        package_size=size,
        package_status=LabelRelease.PackageStatus.DONE,
        package_step="done",
        package_progress=1.0,
        package_error="",
        packaged_at=timezone.now(),
    )


@failure_handler(RELEASE_PACKAGE)
def release_package_fail(release_id: int, reason: str) -> None:
    """The build failed outside the build itself (queue unreachable, worker died); a zip
    it left half-written is never the release's package (only `_package_store` sets it)."""
    busy = (LabelRelease.PackageStatus.PENDING, LabelRelease.PackageStatus.RUNNING)
    LabelRelease.objects.filter(pk=release_id, package_status__in=busy).update(
        package_status=LabelRelease.PackageStatus.FAILED, package_error=reason
    )
