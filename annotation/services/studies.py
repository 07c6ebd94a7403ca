from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from annotation.dimensions import DimensionSpec
from annotation.models import Dimension, Stimulus, Study
from annotation.services.allocation import ALLOCATION_FIELDS, study_allocation_validate
from annotation.services.pairwise import (
    PAIRWISE_FIELDS,
    pairwise_settings_validate,
    study_comparison_groups,
)
from annotation.services.scores import score_validate

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


AIGIQA_20K_DIMENSIONS = (
    DimensionSpec(
        "quality",
        "Quality",
        "How good is this AI-generated image overall?",
        "Judge it as a whole: visual quality, artefacts, aesthetics and how well it shows "
        "what its prompt asks for.",
    ),
)

PAIRWISE_DIMENSIONS = (
    DimensionSpec(
        "correspondence",
        "Correspondence",
        "Which image matches the prompt better?",
        "Judge content, layout and style against what the prompt asks for.",
    ),
    DimensionSpec(
        "quality",
        "Quality",
        "Which image has the better visual quality?",
        "Consider sharpness, noise, artefacts, colour and composition.",
    ),
)

# Dimension sets of published databases, offered on the study form as starting points.
DIMENSION_PRESETS: dict[str, tuple[str, tuple[DimensionSpec, ...]]] = {
    "pku-i2iqa": ("PKU-I2IQA: quality, authenticity, correspondence", PKU_I2IQA_DIMENSIONS),
    "aigiqa-20k": ("AIGIQA-20K: quality", AIGIQA_20K_DIMENSIONS),
    "pairwise": (
        "Pairwise: prompt match and quality, as questions between two images",
        PAIRWISE_DIMENSIONS,
    ),
}


def validate_scale(
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


def _slug_for(*, name: str, slug: str) -> str:
    """An explicit slug must be free; a derived one gets -2, -3 ... until it is."""
    if slug:
        if Study.objects.filter(slug=slug).exists():
            raise ValidationError(
                f"A study with the slug {slug!r} already exists; choose another slug, or leave it "
                "empty to derive one from the name."
            )
        return slug
    base = slugify(name)[:70] or "study"
    candidate, n = base, 1
    while Study.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


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
    validate_scale(
        scale_type=scale_type, scale_min=scale_min, scale_max=scale_max, scale_step=scale_step
    )
    if not dimensions:
        raise ValidationError("A study needs at least one dimension to rate.")
    study = Study(
        name=name,
        owner=owner,
        scale_type=scale_type,
        scale_min=scale_min,
        scale_max=scale_max,
        scale_step=scale_step,
        scale_labels=scale_labels if scale_labels is not None else [],
        **fields,
    )
    study_allocation_validate(study=study, dimension_keys=[spec.key for spec in dimensions])
    _pairwise_validate(study)
    study.slug = _slug_for(name=name, slug=slug)
    study.save()
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
    if status == Study.Status.OPEN and study.scale_type == Study.ScaleType.PAIRWISE:
        # Refused before any subject arrives: every group must be able to form a pair.
        study_comparison_groups(study=study)
    study.status = status
    study.save(update_fields=["status", "updated_at"])
    return study


STUDY_EDITABLE_FIELDS = (
    "name",
    "description",
    "consent_text",
    "instructions",
    "scale_type",
    "scale_min",
    "scale_max",
    "scale_step",
    "scale_labels",
    "target_ratings_per_stimulus",
    "session_size",
    "break_interval",
    "repeats_per_session",
    "gold_per_session",
    "language",
    "surround_grey",
    "allow_small_screens",
    "viewing_distance_text",
    "too_fast_ms",
    *ALLOCATION_FIELDS,
    *PAIRWISE_FIELDS,
)


def _pairwise_validate(study: Study) -> None:
    pairwise_settings_validate(grouping=study.pairwise_grouping, column=study.pairwise_group_column)
    if (
        study.scale_type == Study.ScaleType.PAIRWISE
        and study.allocation != Study.Allocation.BALANCED
    ):
        raise ValidationError(
            "A pairwise study chooses its pairs by its pair design; set allocation to balanced."
        )


@transaction.atomic
def study_update(
    *, study: Study, dimensions: tuple[DimensionSpec, ...] | None = None, **fields
) -> Study:
    """Change a study's design; dimensions (when given) replace the current ones by key."""
    unknown = set(fields) - set(STUDY_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"These study fields cannot be edited: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(study, name, value)
    validate_scale(
        scale_type=study.scale_type,
        scale_min=study.scale_min,
        scale_max=study.scale_max,
        scale_step=study.scale_step,
    )
    # Targets must name the dimensions the study will have once this update is saved.
    keys = (
        [spec.key for spec in dimensions]
        if dimensions is not None
        else list(study.dimensions.values_list("key", flat=True))
    )
    study_allocation_validate(study=study, dimension_keys=keys)
    _pairwise_validate(study)
    study.save()
    if dimensions is not None:
        study_dimensions_set(study=study, dimensions=dimensions)
    return study


def study_dimensions_set(*, study: Study, dimensions: tuple[DimensionSpec, ...]) -> None:
    if not dimensions:
        raise ValidationError("A study needs at least one dimension to rate.")
    keys = [spec.key for spec in dimensions]
    if len(set(keys)) != len(keys):
        raise ValidationError("Each dimension needs its own key.")
    rated = set(
        study.dimensions.filter(ratings__isnull=False).values_list("key", flat=True).distinct()
    )
    if rated - set(keys):
        raise ValidationError(
            f"Dimension(s) {', '.join(sorted(rated - set(keys)))} already have ratings and "
            "cannot be removed."
        )
    study.dimensions.exclude(key__in=keys).delete()
    for order, spec in enumerate(dimensions):
        Dimension.objects.update_or_create(
            study=study,
            key=spec.key,
            defaults={
                "label": spec.label,
                "question": spec.question,
                "anchor_text": spec.anchor_text,
                "order": order,
            },
        )


def stimulus_role_set(
    *,
    stimulus: Stimulus,
    role: str,
    explanation: str = "",
    expected_scores: dict[str, float] | None = None,
) -> Stimulus:
    """Mark a stimulus as normal, training (with explanation) or gold, with expected scores."""
    if role not in Stimulus.Role.values:
        raise ValidationError(
            f"Unknown role {role!r}; use one of {', '.join(Stimulus.Role.values)}."
        )
    expected = dict(expected_scores or {})
    study = stimulus.study
    keys = set(study.dimensions.values_list("key", flat=True))
    if unknown := set(expected) - keys:
        raise ValidationError(f"Unknown dimension key(s): {', '.join(sorted(unknown))}.")
    for value in expected.values():
        score_validate(study=study, score=value)
    if role == Stimulus.Role.TRAINING and not explanation.strip():
        raise ValidationError("A training stimulus needs an explanation for the subject.")
    if role != Stimulus.Role.NORMAL and set(expected) != keys:
        raise ValidationError(
            f"Give an expected score for every dimension ({', '.join(sorted(keys))})."
        )
    stimulus.role = role
    stimulus.explanation = explanation if role == Stimulus.Role.TRAINING else ""
    stimulus.expected_scores = expected if role != Stimulus.Role.NORMAL else {}
    stimulus.save(update_fields=["role", "explanation", "expected_scores"])
    return stimulus
