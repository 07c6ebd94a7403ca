from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File

from annotation.imports.images import sha256_of
from annotation.models import Stimulus, Study


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
    """Copy an already validated image (and its reference) into media as a stimulus."""
    sha = sha256_of(image_path)
    if Stimulus.objects.filter(study=study, sha256=sha).exists():
        raise ValidationError(f"{image_path.name}: the same image is already in this study.")
    stimulus = Stimulus(
        study=study,
        sha256=sha,
        file_size=image_path.stat().st_size,
        original_name=image_path.name,
        generator=generator,
        prompt=prompt,
        prompt_group=prompt_group,
        role=role,
        metadata=metadata or {},
        explanation=explanation,
        expected_scores=expected_scores or {},
    )
    with image_path.open("rb") as handle:
        stimulus.image.save(f"{sha[:16]}{image_path.suffix.lower()}", File(handle), save=False)
    if reference_path is not None:
        ref_sha = sha256_of(reference_path)
        with reference_path.open("rb") as handle:
            stimulus.reference_image.save(
                f"{ref_sha[:16]}{reference_path.suffix.lower()}", File(handle), save=False
            )
    stimulus.save()
    return stimulus
