"""The one stimulus writer: a checked image (and its reference) into media, with its
thumbnail, and its row into the database.

Imports (:mod:`annotation.services.imports`) write many rows at once after validating them
all; :func:`stimulus_create_from_path` (the demo and the load test) writes one image the
same way. Every file written is appended to ``written`` so a caller that fails later can
delete them again.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.imports.images import CheckedImage, image_check, thumbnail_bytes, thumbnail_name
from annotation.imports.manifest import ImportRow
from annotation.models import ImportJob, Stimulus, Study
from common.progress import Progress, progress_noop


def _save(name: str, data: bytes, written: list[str]) -> str:
    stored = default_storage.save(name, ContentFile(data))
    written.append(stored)
    return stored


def _save_path(name: str, path: Path, written: list[str]) -> str:
    with path.open("rb") as handle:
        stored = default_storage.save(name, ContentFile(handle.read()))
    written.append(stored)
    return stored


def stimulus_file_name(*, study: Study, field: str, image: CheckedImage) -> str:
    """Where ``image`` is stored for ``field`` (``image`` or ``reference_image``): the
    folder is the model field's own ``upload_to``, the name comes from the content."""
    content_name = f"{image.sha256[:16]}{image.path.suffix.lower()}"
    model_field = Stimulus._meta.get_field(field)
    return model_field.generate_filename(Stimulus(study=study), content_name)


def _stored_image(*, study: Study, row: ImportRow, stored: dict[int, str], written) -> str:
    """The storage name of the row's image: written once per content, shared by duplicates."""
    if row.same_file_as_row is not None:
        return stored[row.same_file_as_row]
    if row.same_file_as_stimulus is not None:
        return Stimulus.objects.get(pk=row.same_file_as_stimulus).image.name
    name = stimulus_file_name(study=study, field="image", image=row.image)
    return _save_path(name, row.image.path, written)


def _stored_reference(
    *, study: Study, reference: CheckedImage | None, stored: dict[Path, str], written
) -> str:
    """The storage name of a reference image, written once however many rows share it."""
    if reference is None:
        return ""
    if reference.path not in stored:
        name = stimulus_file_name(study=study, field="reference_image", image=reference)
        stored[reference.path] = _save_path(name, reference.path, written)
    return stored[reference.path]


def stimuli_files_write(
    *, study: Study, rows: list[ImportRow], written: list[str], progress: Progress
) -> list[Stimulus]:
    """Write each validated row's files (image, reference, thumbnail) and return its
    unsaved :class:`Stimulus`, in the rows' order (insert them with :func:`stimuli_insert`)."""
    stimuli = []
    references: dict[Path, str] = {}
    stored: dict[int, str] = {}
    for index, row in enumerate(rows, start=1):
        image = row.image
        name = stored[row.row] = _stored_image(study=study, row=row, stored=stored, written=written)
        reference_name = _stored_reference(
            study=study, reference=row.reference, stored=references, written=written
        )
        thumb = thumbnail_name(image.sha256)
        if not default_storage.exists(thumb):
            _save(thumb, thumbnail_bytes(image.path), written)
        stimuli.append(
            Stimulus(
                study=study,
                image=name,
                reference_image=reference_name,
                sha256=image.sha256,
                same_file_as_id=row.same_file_as_stimulus,
                width=image.width,
                height=image.height,
                file_size=image.file_size,
                original_name=row.name[:300],
                generator=row.generator[:100],
                prompt=row.prompt,
                prompt_group=row.prompt_group[:100],
                metadata=row.metadata,
                **row.stimulus_fields,
            )
        )
        progress(ImportJob.Status.WRITING, index, len(rows))
    return stimuli


def stimuli_insert(*, stimuli: list[Stimulus], rows: list[ImportRow]) -> list[Stimulus]:
    """Insert in the rows' order; a duplicate needs its original's id, so the pending batch
    is flushed before it whenever that original is still in it (rare: a few per database)."""
    by_row: dict[int, Stimulus] = {}
    pending: list[Stimulus] = []
    for stimulus, row in zip(stimuli, rows, strict=True):
        if row.same_file_as_row is not None:
            original = by_row[row.same_file_as_row]
            if original.pk is None:
                Stimulus.objects.bulk_create(pending, batch_size=500)
                pending = []
            stimulus.same_file_as_id = original.same_file_as_id or original.pk
        pending.append(stimulus)
        by_row[row.row] = stimulus
    Stimulus.objects.bulk_create(pending, batch_size=500)
    return stimuli


def files_delete(written: list[str]) -> None:
    for name in written:
        default_storage.delete(name)


def _checked(path: Path) -> CheckedImage:
    try:
        return image_check(path)
    except ValueError as exc:
        raise ValidationError(f"{path.name}: {exc}.") from None


def stimulus_create_from_path(
    *,
    study: Study,
    image_path: Path,
    reference_path: Path | None = None,
    generator: str = "",
    prompt: str = "",
    prompt_group: str = "",
    role: str = Stimulus.Role.NORMAL,
    metadata: dict | None = None,
    explanation: str = "",
    expected_scores: dict | None = None,
) -> Stimulus:
    """Copy one image (and its reference) into media as a stimulus, as an import would."""
    image = _checked(image_path)
    if Stimulus.objects.filter(study=study, sha256=image.sha256).exists():
        raise ValidationError(f"{image_path.name}: the same image is already in this study.")
    row = ImportRow(
        row=1,
        name=image_path.name,
        image=image,
        reference=_checked(reference_path) if reference_path is not None else None,
        generator=generator,
        prompt=prompt,
        prompt_group=prompt_group,
        metadata=metadata or {},
        stimulus_fields={
            "role": role,
            "explanation": explanation,
            "expected_scores": expected_scores or {},
        },
    )
    written: list[str] = []
    try:
        [stimulus] = stimuli_files_write(
            study=study, rows=[row], written=written, progress=progress_noop
        )
        return stimuli_insert(stimuli=[stimulus], rows=[row])[0]
    except BaseException:
        files_delete(written)
        raise
