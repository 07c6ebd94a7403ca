"""A subject's answer to a pairwise trial: parse, check against the served pair, store once.

POST JSON {"left": id, "right": id, "choices": {dimension key: "left"|"right"|"none"},
"response_time_ms": ms}. `pair_submission_parse` checks the shape; `pair_submit` locks the
session like `sessions.trial_submit`, refuses a pair that this trial did not serve (or the
sides the other way round), stores one row per dimension and advances the cursor in one
transaction. A replayed submit with the same choices gets the same acknowledgement and
writes nothing; different choices for a stored trial are refused. A training pair's
acknowledgement carries the expected side per dimension (the feedback); training and gold
rows keep their stage and expected side, so they are scored and never read as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from annotation.errors import SessionRejected
from annotation.models import PairwiseChoice, RatingSession
from annotation.playlist_entries import KIND_PAIR, STAGE_TRAINING
from annotation.selectors.subject import DimensionView, study_dimensions
from annotation.services.quality import is_past_max_duration
from annotation.services.sessions import (
    TrialAck,
    cursor_advance,
    cursor_reached,
    ended_ack,
    is_too_fast,
    next_step_after,
    session_locked,
    study_open_required,
)
from annotation.services.submissions import json_object, response_time_ms_parse, stimulus_id_parse


@dataclass(frozen=True)
class PairSubmission:
    left_id: int
    right_id: int
    choices: Mapping[str, object]
    response_time_ms: int


def is_pair_submission(body: bytes) -> bool:
    """Whether a trial POST answers a pair (it carries "choices"); bad JSON is not."""
    try:
        return b'"choices"' in body and "choices" in json_object(body)
    except SessionRejected:
        return False


def pair_submission_parse(body: bytes) -> PairSubmission:
    raw = json_object(body)
    choices = raw.get("choices")
    if not isinstance(choices, dict):
        raise SessionRejected(
            "'choices' must be an object of {dimension key: left, right or none}.",
            code="dimension_keys",
        )
    return PairSubmission(
        left_id=stimulus_id_parse(raw.get("left")),
        right_id=stimulus_id_parse(raw.get("right")),
        choices=choices,
        response_time_ms=response_time_ms_parse(raw.get("response_time_ms")),
    )


def _served_entry(*, playlist: list[dict], trial_index: int, left: int, right: int) -> dict:
    if not 0 <= trial_index < len(playlist):
        raise SessionRejected(
            f"This session has no trial {trial_index} (it has {len(playlist)}).",
            code="no_such_trial",
        )
    entry = playlist[trial_index]
    if entry.get("kind") != KIND_PAIR or (entry["stimulus"], entry["right"]) != (left, right):
        raise SessionRejected(
            f"Trial {trial_index} did not show images {left} (left) and {right} (right); "
            "a choice can only answer the pair that was served.",
            code="pair_not_served",
        )
    return entry


def _choices_validate(
    *, dimensions: tuple[DimensionView, ...], choices: Mapping[str, object], allow_none: bool
) -> dict[int, str]:
    """Choices keyed by dimension id; every dimension must be answered at once."""
    keys = [dimension.key for dimension in dimensions]
    if sorted(str(key) for key in choices) != sorted(keys):
        raise SessionRejected(
            f"Answer every question of this study ({', '.join(keys)}); got "
            f"{', '.join(sorted(str(key) for key in choices)) or 'none'}.",
            code="dimension_keys",
        )
    allowed = ("left", "right", "none") if allow_none else ("left", "right")
    values = {}
    for dimension in dimensions:
        value = choices[dimension.key]
        if value not in allowed:
            raise SessionRejected(
                f"{dimension.key}: the choice must be one of {', '.join(allowed)}; got {value!r}.",
                code="bad_choice",
            )
        values[dimension.id] = str(value)
    return values


def _replay_or_conflict(
    *, session: RatingSession, trial_index: int, values: dict[int, str]
) -> None:
    stored = dict(
        PairwiseChoice.objects.filter(session=session, trial_index=trial_index)
        .order_by()
        .values_list("dimension_id", "choice")
    )
    if stored != values:
        raise SessionRejected(
            f"Trial {trial_index} was already answered with other choices; "
            "a stored choice cannot be changed.",
            code="rating_conflict",
        )


def pair_feedback(*, entry: Mapping) -> dict | None:
    """A training pair answers with the side that should have won on each dimension."""
    if entry.get("stage") != STAGE_TRAINING:
        return None
    return {"expected": dict(entry.get("expected", {}))}


def _choices_create(
    *,
    session: RatingSession,
    entry: dict,
    trial_index: int,
    values: dict[int, str],
    ms: int,
    keys: Mapping[int, str],
) -> None:
    too_fast = is_too_fast(response_time_ms=ms, threshold_ms=session.subject.study.too_fast_ms)
    expected = entry.get("expected", {})
    PairwiseChoice.objects.bulk_create(
        PairwiseChoice(
            session_id=session.pk,
            dimension_id=dimension_id,
            trial_index=trial_index,
            group=entry["group"],
            left_id=entry["stimulus"],
            right_id=entry["right"],
            choice=choice,
            side=entry["side"],
            is_repeat=bool(entry.get("repeat")),
            response_time_ms=ms,
            too_fast=too_fast,
            stage=entry.get("stage") or PairwiseChoice.Stage.NORMAL,
            expected=expected.get(keys[dimension_id], ""),
        )
        for dimension_id, choice in values.items()
    )


def _submit_once(
    *, token: str, trial_index: int, submission: PairSubmission, rows_may_exist: bool
) -> TrialAck:
    with transaction.atomic():
        session = session_locked(token)
        study = session.subject.study
        playlist = session.playlist
        entry = _served_entry(
            playlist=playlist,
            trial_index=trial_index,
            left=submission.left_id,
            right=submission.right_id,
        )
        dimensions = study_dimensions(study=study)
        values = _choices_validate(
            dimensions=dimensions,
            choices=submission.choices,
            allow_none=study.pairwise_no_preference,
        )
        ack = TrialAck(
            trial_index=trial_index,
            ratings=len(values),
            next_step=next_step_after(
                playlist=playlist, trial_index=trial_index, break_interval=study.break_interval
            ),
            feedback=pair_feedback(entry=entry),
            playlist=playlist,
        )
        cursor_reached(session=session, trial_index=trial_index)
        replay = trial_index < session.cursor
        if replay or rows_may_exist:
            _replay_or_conflict(session=session, trial_index=trial_index, values=values)
            if replay:
                return ack
        study_open_required(study)
        if is_past_max_duration(session=session, study=study):
            return ended_ack(session, trial_index)
        if not rows_may_exist:
            _choices_create(
                session=session,
                entry=entry,
                trial_index=trial_index,
                values=values,
                ms=submission.response_time_ms,
                keys={dimension.id: dimension.key for dimension in dimensions},
            )
        cursor_advance(session=session, trial_index=trial_index, complete=ack.complete)
        return ack


def pair_submit(*, token: str, trial_index: int, submission: PairSubmission) -> TrialAck:
    """Store one pairwise trial (all dimensions) and advance the session; idempotent."""
    try:
        return _submit_once(
            token=token, trial_index=trial_index, submission=submission, rows_may_exist=False
        )
    except IntegrityError:
        # Rows for a trial the cursor had not passed, written by a concurrent request that
        # lost the cursor race: accept them if they match, as a replay would be.
        return _submit_once(
            token=token, trial_index=trial_index, submission=submission, rows_may_exist=True
        )
