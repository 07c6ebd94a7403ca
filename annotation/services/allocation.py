"""Adaptive allocation: its settings on a study, and the stimuli a new session gets.

In ``adaptive`` mode a session is given the stimuli whose MOS is still least precise instead
of the least-rated ones; see :mod:`analysis.allocation` for the estimator and the policy, and
:mod:`annotation.selectors.allocation` for what is read from the database.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError

from analysis.allocation import PRIOR_DF, allocation_choose
from annotation.models import Study
from annotation.selectors.allocation import allocation_state_for_study

ALLOCATION_FIELDS = (
    "allocation",
    "allocation_targets",
    "allocation_min_ratings",
    "allocation_max_ratings",
    "allocation_confidence",
)
MAX_RATINGS_CEILING = 10_000


def _target_value(key: str, value: object, scale_range: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"The precision target of {key} must be a number; got {value!r}.")
    if not 0 < value < scale_range or not math.isfinite(value):
        raise ValidationError(
            f"The precision target of {key} must be a half-width above 0 and below the "
            f"scale's range ({scale_range:g}); got {value!r}."
        )
    return float(value)


def allocation_validate(
    *,
    allocation: str,
    targets: object,
    min_ratings: int,
    max_ratings: int,
    confidence: float,
    dimension_keys: Sequence[str],
    scale_range: float,
) -> dict[str, float]:
    """Check a study's allocation settings; returns the targets as {key: float}.

    Targets are required for every dimension only in adaptive mode, but any given are
    checked in both modes, so a study can be prepared before it is switched.
    """
    if allocation not in Study.Allocation.values:
        raise ValidationError(
            f"Unknown allocation {allocation!r}; use one of {', '.join(Study.Allocation.values)}."
        )
    if targets in (None, ""):
        targets = {}
    if not isinstance(targets, Mapping):
        raise ValidationError(
            'Precision targets must be an object of dimension key to half-width, e.g. {"quality": 5}.'
        )
    unknown = sorted(str(key) for key in targets if key not in dimension_keys)
    if unknown:
        raise ValidationError(
            f"Precision targets name unknown dimension(s) {', '.join(unknown)}; "
            f"the study's dimensions are {', '.join(dimension_keys)}."
        )
    clean = {key: _target_value(key, value, scale_range) for key, value in targets.items()}
    if not 1 <= min_ratings <= max_ratings <= MAX_RATINGS_CEILING:
        raise ValidationError(
            "Ratings per stimulus: the minimum must be at least 1 and at most the maximum "
            f"(at most {MAX_RATINGS_CEILING}); got minimum {min_ratings}, maximum {max_ratings}."
        )
    if not 0.5 <= confidence <= 0.999:
        raise ValidationError(f"The confidence level must be in 0.5..0.999; got {confidence!r}.")
    if allocation == Study.Allocation.ADAPTIVE:
        missing = [key for key in dimension_keys if key not in clean]
        if missing:
            raise ValidationError(
                f"Adaptive allocation needs a precision target for every dimension; "
                f"missing: {', '.join(missing)}."
            )
        if min_ratings < 2:
            raise ValidationError(
                "Adaptive allocation needs a minimum of at least 2 ratings per stimulus, "
                "so that every stimulus has a spread of its own."
            )
    return clean


def study_allocation_validate(*, study: Study, dimension_keys: Sequence[str]) -> None:
    """Check the study's current settings in place (targets normalised to floats)."""
    study.allocation_targets = allocation_validate(
        allocation=study.allocation,
        targets=study.allocation_targets,
        min_ratings=study.allocation_min_ratings,
        max_ratings=study.allocation_max_ratings,
        confidence=study.allocation_confidence,
        dimension_keys=list(dimension_keys),
        scale_range=float(study.scale_max - study.scale_min),
    )


def allocation_config(*, study: Study) -> dict:
    """The allocation settings as a release records them (method_config["allocation"])."""
    config: dict = {"mode": study.allocation}
    if study.allocation == Study.Allocation.ADAPTIVE:
        config.update(
            targets_ci_half_width=dict(study.allocation_targets),
            confidence=study.allocation_confidence,
            min_ratings=study.allocation_min_ratings,
            max_ratings=study.allocation_max_ratings,
            estimator="moderated t (Smyth 2004): variance shrunk toward the pooled "
            f"within-stimulus variance with {PRIOR_DF:g} prior degrees of freedom",
            note="ratings per stimulus differ by design; see the n_<dimension> columns",
        )
    else:
        config["target_ratings_per_stimulus"] = study.target_ratings_per_stimulus
    return config


def adaptive_rating_ids(*, study: Study, count: int, rng: random.Random) -> list[int]:
    """The normal stimuli a new session of an adaptive study rates, most needed first.

    Call under the study-row lock (as `playlist_session_start` does), so each start sees
    the trials promised to every session started before it.
    """
    snapshot, _, state = allocation_state_for_study(study=study)
    # One draw per stimulus in id order, so the tie-break depends on the seed alone.
    tie_break = [rng.random() for _ in snapshot.stimulus_ids]
    rows = allocation_choose(state, count=count, tie_break=tie_break)
    return [snapshot.stimulus_ids[row] for row in rows]
