"""The one place where a score is checked against its study's scale."""

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
