"""Imports that are all or nothing: validate every row first, then write files and rows.

Files are written to MEDIA_ROOT only after validation passed; if anything fails while
writing (disk full, a constraint, a crash in the release), the rows roll back with the
transaction and every file written so far is deleted, so media is left as it was.
"""

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from annotation.imports.archives import zip_extract
from annotation.imports.errors import ImportProblem, ImportRejected
from annotation.imports.external import layout_get, layouts_listed  # noqa: F401 (re-exported)
from annotation.imports.images import sha256_of
from annotation.imports.manifest import ImportRow, manifest_read, rows_validate
from annotation.models import ImportJob, LabelRelease, Study
from annotation.services.pair_imports import package_choices_insert
from annotation.services.release_formats import mos_table_external
from annotation.services.releases import release_write
from annotation.services.stimuli import files_delete, stimuli_files_write, stimuli_insert
from annotation.services.studies import study_create
from common.progress import Progress, ThrottledProgress, progress_noop
from core.jobs import IMPORT_JOB, enqueue_on_commit, failure_handler


@dataclass(frozen=True)
class ImportResult:
    study: Study
    created: int
    release: LabelRelease | None = None
    # Rows whose file is byte-identical to another's: {"row", "image", "same_file_as"}.
    duplicates: tuple[dict, ...] = ()
    unlabelled: int = 0
    choices: int = 0  # pairwise choices of a pairwise dataset package


def _duplicates(rows: list[ImportRow]) -> tuple[dict, ...]:
    return tuple(
        {"row": row.row, "image": row.name, "same_file_as": row.same_file_as_name}
        for row in rows
        if row.is_duplicate
    )


def _validate(
    *, study: Study | None, rows, root: Path, allow_duplicates: bool, progress: Progress
) -> list[ImportRow]:
    existing = {}
    if study is not None:
        owners = study.stimuli.filter(same_file_as__isnull=True)
        existing = {sha: (pk, name) for pk, sha, name in owners.values_list(
            "pk", "sha256", "original_name"
        )}  # fmt: skip
    total = len(rows)
    return rows_validate(
        rows=rows,
        root=root,
        existing_sha256=existing,
        allow_duplicates=allow_duplicates,
        progress=lambda done: progress(ImportJob.Status.VALIDATING, done, total),
    )


def stimuli_import(
    *,
    study: Study,
    manifest: Path,
    images: Path | None = None,
    allow_duplicates: bool = False,
    progress: Progress = progress_noop,
) -> ImportResult:
    """Import a manifest CSV and its images (a folder or a zip); all rows or none.

    Byte-identical images are refused unless ``allow_duplicates``: then each is its own
    stimulus, sharing the one stored file ("same file as ..." in the stimuli list).
    """
    with tempfile.TemporaryDirectory(prefix="study-import-") as scratch:
        root = manifest.parent if images is None else images
        if images is not None and images.is_file():
            root = zip_extract(archive=images, dest=Path(scratch))
        if not root.is_dir():
            raise ImportRejected([ImportProblem(0, str(root), "image folder not found")])
        raw = manifest_read(manifest)
        rows = _validate(
            study=study, rows=raw, root=root, allow_duplicates=allow_duplicates, progress=progress
        )
        written: list[str] = []
        try:
            # Files first, outside the transaction, so a job's progress is visible meanwhile.
            unsaved = stimuli_files_write(
                study=study, rows=rows, written=written, progress=progress
            )
            with transaction.atomic():
                created = stimuli_insert(stimuli=unsaved, rows=rows)
        except BaseException:
            files_delete(written)
            raise
    return ImportResult(study=study, created=len(created), duplicates=_duplicates(rows))


def _external_study_create(
    *, adapter, table, name: str, owner, slug: str
) -> tuple[Study, list[str]]:
    """The closed study that holds a published database, and its dimension keys."""
    # A layout whose files name their own dimensions and scale (a dataset package) says so
    # in its table.
    dimensions = getattr(table, "dimensions", None) or adapter.dimensions
    scale = getattr(table, "scale", None) or adapter.scale
    study = study_create(
        name=name,
        owner=owner,
        slug=slug or slugify(name)[:80],
        dimensions=dimensions,
        scale_min=scale[0],
        scale_max=scale[1],
        status=Study.Status.CLOSED,
        metadata={"external": {"layout": adapter.key, "title": adapter.title}},
        **getattr(table, "study_fields", {}),
    )
    return study, [d.key for d in dimensions]


def _external_release_write(
    *, study: Study, keys: list[str], adapter, table, stimuli, rows, duplicates, owner, written
) -> tuple[LabelRelease, int]:
    """The external release of the published scores; returns it and its unlabelled count."""
    # Rows with no MOS at all (a package's training and gold anchors) stay out of the
    # release; rows with a withheld MOS (None) are in it as unlabelled.
    scored = [(s, r) for s, r in zip(stimuli, rows, strict=True) if r.mos]
    mos = mos_table_external(stimuli=[s for s, _ in scored], rows=[r for _, r in scored], keys=keys)
    release = release_write(
        study=study,
        source=LabelRelease.Source.EXTERNAL,
        mos=mos,
        method_config={
            "database": adapter.title,
            "layout": adapter.key,
            "label_file": table.label_file.name,
            "label_file_sha256": sha256_of(table.label_file),
            "dimensions": keys,
            "mos_column": f"mos_{keys[0]}",
            "imported_at": timezone.now().isoformat(),
            "same_file": list(duplicates),
        },
        counts={
            "stimuli": len(scored),
            "dimensions": len(keys),
            "ratings": 0,
            "same_file": len(duplicates),
            "unlabelled": len(mos.incomplete),
        },
        created_by=owner,
        written=written,
    )
    return release, len(mos.incomplete)


def external_import(
    *,
    layout: str,
    source: Path,
    name: str,
    owner: AbstractBaseUser | None = None,
    slug: str = "",
    progress: Progress = progress_noop,
) -> ImportResult:
    """Create a closed study holding a published database's images plus an external release.

    Byte-identical files listed under different names are data (each has its own scores):
    separate stimuli sharing one stored file. Rows published without a MOS (a withheld
    validation set) become stimuli without a MOS in the release.
    """
    adapter = layout_get(layout)
    table = adapter.read(source)
    rows = _validate(
        study=None,
        rows=table.rows,
        root=table.image_root,
        allow_duplicates=adapter.allow_duplicates,
        progress=progress,
    )
    written: list[str] = []
    try:
        with transaction.atomic():
            return _external_contents_write(
                adapter=adapter,
                table=table,
                rows=rows,
                name=name,
                owner=owner,
                slug=slug,
                written=written,
                progress=progress,
            )
    except BaseException:
        files_delete(written)
        raise


def _external_contents_write(
    *,
    adapter,
    table,
    rows: list,
    name: str,
    owner: AbstractBaseUser | None,
    slug: str,
    written: list[str],
    progress: Progress,
) -> ImportResult:
    """The study, its stimuli and their files, then the release (or a pairwise package's
    choices), inside the caller's transaction; files written are listed in ``written``."""
    duplicates = _duplicates(rows)
    study, keys = _external_study_create(
        adapter=adapter, table=table, name=name, owner=owner, slug=slug
    )
    stimuli = stimuli_insert(
        stimuli=stimuli_files_write(study=study, rows=rows, written=written, progress=progress),
        rows=rows,
    )
    if getattr(table, "choices", None):
        # A pairwise package: its study gets the choices back, and its scores come from a
        # freeze of them, not from an external release.
        choices = package_choices_insert(
            study=study,
            choices=table.choices,
            stimulus_of=dict(zip(table.stimulus_ids, stimuli, strict=True)),
        )
        return ImportResult(study=study, created=len(stimuli), choices=choices)
    release, unlabelled = _external_release_write(
        study=study,
        keys=keys,
        adapter=adapter,
        table=table,
        stimuli=stimuli,
        rows=rows,
        duplicates=duplicates,
        owner=owner,
        written=written,
    )
    return ImportResult(
        study=study,
        created=len(stimuli),
        release=release,
        duplicates=duplicates,
        unlabelled=unlabelled,
    )


def _archive_root(*, archive: Path, dest: Path) -> Path:
    root = zip_extract(archive=archive, dest=dest)
    # A zip of one top-level folder is read from inside that folder.
    entries = [p for p in root.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root


def _external_from_options(*, options: dict, owner, progress: Progress) -> ImportResult:
    with tempfile.TemporaryDirectory(prefix="study-external-") as scratch:
        if "archive" in options:
            source = _archive_root(archive=Path(options["archive"]), dest=Path(scratch))
        else:
            source = Path(options["source"])
        return external_import(
            layout=options["layout"],
            source=source,
            name=options["name"],
            owner=owner,
            progress=progress,
        )


def upload_stash(upload) -> Path:
    """Keep an upload outside MEDIA_ROOT until the worker has imported it."""
    folder = Path(settings.VAR_DIR) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / Path(upload.name).name
    with target.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return target


def upload_discard(stashed: str | Path) -> None:
    """Remove what :func:`upload_stash` kept (its var/imports/<uuid>/ folder), once used."""
    import shutil

    shutil.rmtree(Path(stashed).parent, ignore_errors=True)


def _stash_remove(options: dict) -> None:
    """Uploaded files wait in var/imports/<uuid>/; remove them once the job has finished."""
    for key in ("manifest", "images", "archive"):
        if options.get("uploaded") and options.get(key):
            upload_discard(options[key])


# --- Jobs: the same imports, run by a Celery task with progress on an ImportJob ---------


def import_job_create(
    *, kind: str, created_by: AbstractBaseUser | None, study: Study | None = None, options: dict
) -> ImportJob:
    job = ImportJob.objects.create(kind=kind, created_by=created_by, study=study, options=options)
    enqueue_on_commit(IMPORT_JOB, job.pk)
    return job


def _job_progress(job: ImportJob) -> Progress:
    def write(phase: str, done: float, total: float) -> None:
        # Validation and writing each count once: the bar runs to twice the rows.
        overall = int(done + (total if phase == ImportJob.Status.WRITING else 0))
        ImportJob.objects.filter(pk=job.pk).update(
            status=phase, progress=overall, total=int(2 * total)
        )

    return ThrottledProgress(write)


def import_job_execute(*, job: ImportJob) -> ImportJob:
    """Run a job's import; record success or the full error report. Never raises ImportRejected."""
    options = job.options
    progress = _job_progress(job)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.VALIDATING)
    try:
        if job.kind == ImportJob.Kind.MANIFEST:
            images = options.get("images")
            result = stimuli_import(
                study=job.study,
                manifest=Path(options["manifest"]),
                images=Path(images) if images else None,
                allow_duplicates=bool(options.get("allow_duplicates")),
                progress=progress,
            )
        else:
            result = _external_from_options(
                options=options, owner=job.created_by, progress=progress
            )
    except ImportRejected as exc:
        job.status, job.error_report = ImportJob.Status.FAILED, exc.report
    except Exception as exc:  # a crash is still reported on the job page, not lost in a log
        job.status = ImportJob.Status.FAILED
        job.error_report = [{"row": 0, "image": "", "message": f"import crashed: {exc}"}]
    else:
        job.status, job.study = ImportJob.Status.DONE, result.study
        job.result = {
            "created": result.created,
            "study": result.study.pk,
            "release": result.release.pk if result.release else None,
            "same_file": list(result.duplicates),
            "unlabelled": result.unlabelled,
        }
        job.progress = job.total = 2 * result.created
    job.finished_at = timezone.now()
    job.save()
    _stash_remove(options)
    return job


@failure_handler(IMPORT_JOB)
def import_job_fail(job_id: int, reason: str) -> None:
    """The job failed outside the import itself (queue unreachable, worker died)."""
    unfinished = (ImportJob.Status.PENDING, ImportJob.Status.VALIDATING, ImportJob.Status.WRITING)
    ImportJob.objects.filter(pk=job_id, status__in=unfinished).update(
        status=ImportJob.Status.FAILED,
        error_report=[{"row": 0, "image": "", "message": reason}],
        finished_at=timezone.now(),
    )
