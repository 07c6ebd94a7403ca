"""The shape of a subject's trial submission, checked before any session is read.

`trial_submission_parse` turns the request body into a `TrialSubmission` or raises
`SessionRejected` with a one-line message naming the field. What needs the study (which
dimension keys, which scale) is checked by `sessions.trial_submit` under its lock.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext

from annotation.errors import SessionRejected

# A day in milliseconds: anything longer is a broken clock, not a slow subject.
MAX_RESPONSE_TIME_MS = 86_400_000


@dataclass(frozen=True)
class TrialSubmission:
    """POST JSON {"stimulus": id, "scores": {key: number}, "response_time_ms": ms}."""

    stimulus_id: int
    scores: Mapping[str, object]
    response_time_ms: int


def trial_submission_parse(body: bytes) -> TrialSubmission:
    """Check each field in the order a subject's browser could get one wrong."""
    raw = json_object(body)
    return TrialSubmission(
        stimulus_id=stimulus_id_parse(raw.get("stimulus")),
        scores=_scores(raw.get("scores")),
        response_time_ms=response_time_ms_parse(raw.get("response_time_ms")),
    )


def json_object(body: bytes) -> dict:
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SessionRejected(gettext("The request body must be JSON."), code="bad_json") from None
    if not isinstance(raw, dict):
        raise SessionRejected(gettext("The request body must be a JSON object."), code="bad_json")
    return raw


def stimulus_id_parse(value: object) -> int:
    # JSON true/false are ints to Python, never an image's id.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SessionRejected(
            "'stimulus' must be the id of the image that was shown.", code="bad_stimulus"
        )
    return value


def _scores(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise SessionRejected(
            "'scores' must be an object of {dimension key: score}.", code="dimension_keys"
        )
    return value


def response_time_ms_parse(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SessionRejected(
            "response_time_ms must be a number of milliseconds.", code="bad_response_time"
        )
    if not 0 <= value <= MAX_RESPONSE_TIME_MS:
        raise SessionRejected(
            f"response_time_ms={value!r} is outside 0..{MAX_RESPONSE_TIME_MS}.",
            code="bad_response_time",
        )
    return round(value)
