"""The one place where a score is checked against its study's scale, and where an ACR
scale's categories are worked out."""

import math

from annotation.errors import ScoreOutOfRange
from annotation.models import Study

_STEP_TOLERANCE = 1e-6


def score_validate(*, study: Study, score: float) -> float:
    try:
        value = float(score)
    except (TypeError, ValueError):
        raise ScoreOutOfRange(f"Score {score!r} is not a number.", code="score_nan") from None
    if not math.isfinite(value):
        raise ScoreOutOfRange(f"Score {score!r} is not a finite number.", code="score_nan")
    if not study.scale_min <= value <= study.scale_max:
        raise ScoreOutOfRange(
            f"Score {value:g} is outside the study's scale "
            f"[{study.scale_min:g}, {study.scale_max:g}].",
            code="score_out_of_range",
        )
    if study.scale_step > 0:
        steps = (value - study.scale_min) / study.scale_step
        if abs(steps - round(steps)) > _STEP_TOLERANCE:
            raise ScoreOutOfRange(
                f"Score {value:g} is not on the scale's step of {study.scale_step:g} "
                f"from {study.scale_min:g}.",
                code="score_off_step",
            )
    return value


def acr_values(study: Study) -> list[float]:
    """The categories of an ACR scale: its minimum, then a step at a time to its maximum."""
    count = round((study.scale_max - study.scale_min) / study.scale_step)
    return [study.scale_min + i * study.scale_step for i in range(count + 1)]


def acr_choices(study: Study) -> list[dict]:
    """One button per category: its value as shown, its label and its number key; none
    for a continuous scale."""
    if study.scale_type != Study.ScaleType.ACR:
        return []
    values = acr_values(study)
    labels = list(study.scale_labels or [])
    # One label per button when the researcher gave exactly one per category.
    per_button = labels if len(labels) == len(values) else [""] * len(values)
    keys = _acr_keys(values)
    return [
        {"value": f"{value:g}", "label": label, "key": key}
        for value, label, key in zip(values, per_button, keys, strict=True)
    ]


def _acr_keys(values: list[float]) -> list[str]:
    """The number key that gives each category: its own value when every value is a digit
    (1-5 keys for a 1-5 scale), else its position (1 for the lowest); none past nine.
    """
    if all(float(value).is_integer() and 0 <= value <= 9 for value in values):
        return [str(int(value)) for value in values]
    if len(values) <= 9:
        return [str(position) for position in range(1, len(values) + 1)]
    return [""] * len(values)
