from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from annotation.models import Dimension, Study


@dataclass(frozen=True)
class DimensionSpec:
    key: str
    label: str
    question: str
    anchor_text: str = ""


PKU_I2IQA_DIMENSIONS = (
    DimensionSpec(
        "quality",
        "Quality",
        "How good is the overall visual quality of the generated image?",
        "Consider sharpness, noise, artefacts, colour and composition.",
    ),
    DimensionSpec(
        "authenticity",
        "Authenticity",
        "How real does the generated image look?",
        "Would it pass for a photograph or a real artwork, or does it look synthetic?",
    ),
    DimensionSpec(
        "correspondence",
        "Correspondence",
        "How well does the image match its prompt (text and, if shown, the prompt image)?",
        "Judge content, layout and style against what was asked for.",
    ),
)


def _validate_scale(
    *, scale_type: str, scale_min: float, scale_max: float, scale_step: float
) -> None:
    if scale_type not in Study.ScaleType.values:
        raise ValidationError(
            f"Unknown scale type {scale_type!r}; use one of {', '.join(Study.ScaleType.values)}."
        )
    if scale_max <= scale_min:
        raise ValidationError(
            f"The scale maximum ({scale_max}) must be above its minimum ({scale_min})."
        )
    if scale_step < 0:
        raise ValidationError("The scale step cannot be negative.")
    if scale_type == Study.ScaleType.ACR and scale_step <= 0:
        raise ValidationError("An ACR scale needs a positive step (usually 1).")


@transaction.atomic
def study_create(
    *,
    name: str,
    owner: AbstractBaseUser | None = None,
    slug: str = "",
    dimensions: tuple[DimensionSpec, ...] = PKU_I2IQA_DIMENSIONS,
    scale_type: str = Study.ScaleType.CONTINUOUS,
    scale_min: float = 0,
    scale_max: float = 100,
    scale_step: float = 0,
    scale_labels: list[str] | None = None,
    **fields,
) -> Study:
    _validate_scale(
        scale_type=scale_type, scale_min=scale_min, scale_max=scale_max, scale_step=scale_step
    )
    if not dimensions:
        raise ValidationError("A study needs at least one dimension to rate.")
    study = Study.objects.create(
        name=name,
        slug=slug or slugify(name)[:80],
        owner=owner,
        scale_type=scale_type,
        scale_min=scale_min,
        scale_max=scale_max,
        scale_step=scale_step,
        scale_labels=scale_labels if scale_labels is not None else [],
        **fields,
    )
    Dimension.objects.bulk_create(
        Dimension(
            study=study,
            key=spec.key,
            label=spec.label,
            question=spec.question,
            anchor_text=spec.anchor_text,
            order=index,
        )
        for index, spec in enumerate(dimensions)
    )
    return study


def study_set_status(*, study: Study, status: str) -> Study:
    if status not in Study.Status.values:
        raise ValidationError(f"Unknown status {status!r}.")
    study.status = status
    study.save(update_fields=["status", "updated_at"])
    return study
