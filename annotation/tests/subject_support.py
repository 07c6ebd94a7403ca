"""Steps of the subject flow that many subject tests pass through."""

import json
import re

from django.test import Client

from annotation.models import RatingSession, Study
from annotation.services.subjects import token_hash

# A five-level absolute category rating scale, as the ACR studies of these tests use it.
ACR_FIVE_LEVELS = {
    "scale_type": Study.ScaleType.ACR,
    "scale_min": 1,
    "scale_max": 5,
    "scale_step": 1,
    "scale_labels": ["Bad", "Poor", "Fair", "Good", "Excellent"],
}

# What a 1366x768 laptop browser sends from the display check.
DISPLAY_CHECK = {
    "window_width": 1366,
    "window_height": 768,
    "screen_width": 1366,
    "screen_height": 768,
    "device_pixel_ratio": 1,
    "fullscreen": False,
    "grey_steps_distinguishable": True,
}


def display_check_pass(client: Client, token: str, **changes) -> dict:
    """Post the display check that comes before the first trial; returns the answer."""
    response = client.post(
        f"/s/{token}/display-check/",
        json.dumps({**DISPLAY_CHECK, **changes}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def session_for(token: str) -> RatingSession:
    """The rating session of the subject invited with ``token``."""
    return RatingSession.objects.get(subject__token_hash=token_hash(token))


def wait_for_trial(page, index: int) -> None:
    """In a browser page: trial ``index`` is at its URL and its image is on screen."""
    page.wait_for_url(re.compile(rf"/trials/{index}/$"))
    # Trials follow each other in place: wait until this one's image is on screen.
    page.wait_for_function(f"() => document.body.dataset.trialShown === '{index}'")
