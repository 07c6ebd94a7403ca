"""The subject submit's body parse: each field's shape, with a one-line error naming it."""

import json

import pytest

from annotation.errors import SessionRejected
from annotation.services.submissions import TrialSubmission, trial_submission_parse


def parse(body: object) -> TrialSubmission:
    return trial_submission_parse(json.dumps(body).encode())


def test_a_well_formed_body_becomes_a_submission_with_a_whole_millisecond_count():
    submission = parse({"stimulus": 7, "scores": {"quality": 3}, "response_time_ms": 812.6})
    assert submission == TrialSubmission(stimulus_id=7, scores={"quality": 3}, response_time_ms=813)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"{oops", "bad_json", "The request body must be JSON."),
        (b"\xff", "bad_json", "The request body must be JSON."),
        (b"[1, 2]", "bad_json", "The request body must be a JSON object."),
        (b'{"stimulus": true, "scores": {}}', "bad_stimulus", "'stimulus' must be the id"),
        (b'{"stimulus": 1.0, "scores": {}}', "bad_stimulus", "'stimulus' must be the id"),
        (b'{"stimulus": 1, "scores": [1]}', "dimension_keys", "'scores' must be an object"),
        (
            b'{"stimulus": 1, "scores": {}}',
            "bad_response_time",
            "response_time_ms must be a number of milliseconds.",
        ),
        (
            b'{"stimulus": 1, "scores": {}, "response_time_ms": -1}',
            "bad_response_time",
            "response_time_ms=-1 is outside 0..86400000.",
        ),
        (
            b'{"stimulus": 1, "scores": {}, "response_time_ms": NaN}',
            "bad_response_time",
            "response_time_ms=nan is outside",
        ),
    ],
)
def test_each_malformed_field_is_named_in_one_line(body, code, message):
    with pytest.raises(SessionRejected) as rejected:
        trial_submission_parse(body)
    assert rejected.value.code == code
    assert "\n" not in rejected.value.message
    assert rejected.value.message.startswith(message)


def test_the_connection_lost_state_is_worded_in_english_and_simplified_chinese():
    from django.utils import translation

    from annotation.views_subject import _js_strings

    with translation.override("en"):
        assert _js_strings()["connectionLost"].startswith("Connection lost, retrying")
    with translation.override("zh-hans"):
        assert _js_strings()["connectionLost"].startswith("连接中断，正在重试")
