"""The pairwise trial page: two images side by side, which one is better on each question.

`views_subject` routes a pairwise playlist entry here; the page posts its answer to the same
trial URL, which `services.pair_submissions` stores. Breaks, the end page and resuming are
the rating session's own.
"""

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from annotation.models import Study
from annotation.selectors.subject import PairTrialPage, study_dimensions


def _image_url(token: str, stimulus_id: int) -> str:
    return reverse("annotation:subject-image", kwargs={"token": token, "stimulus_id": stimulus_id})


def _js_strings() -> dict[str, str]:
    return {
        "toggleView": _(
            "Your window is too small to show both images side by side at full size, so they "
            "are shown one at a time: press Space or the button to switch. Please maximise the "
            "window or zoom out (Ctrl and −) to see them side by side."
        ),
        "tooSmall": _(
            "Your window is too small to show this image at full size (%(width)s × %(height)s "
            "pixels): scroll to see all of it, or maximise the window or zoom out (Ctrl and −)."
        ),
        "showLeft": _("Show the left image"),
        "showRight": _("Show the right image"),
        "notAccepted": _("The answer was not accepted (%(status)s)."),
        "connectionLost": _(
            "Connection lost, retrying… Your answer is kept and will be sent as soon as "
            "the server answers."
        ),
    }


def _prompts(trial: PairTrialPage) -> list[str]:
    """One prompt for a pair of one prompt; both where the groups mix prompts."""
    left, right = trial.left.prompt, trial.right.prompt
    return [left] if left == right else [left, right]


def pair_page_context(*, study: Study, trial: PairTrialPage, token: str, surround: str) -> dict:
    submit_url = reverse(
        "annotation:subject-trial", kwargs={"token": token, "trial_index": trial.index}
    )
    return {
        "study": study,
        "trial": trial,
        "surround": surround,
        "dimensions": study_dimensions(study=study),
        "no_preference": study.pairwise_no_preference,
        "prompts": _prompts(trial),
        "progress_label": _("Pair %(number)s of %(total)s")
        % {"number": trial.index + 1, "total": trial.total},
        "progress_percent": str(round(100 * trial.index / max(trial.total, 1))),
        "left_url": _image_url(token, trial.left.pk),
        "right_url": _image_url(token, trial.right.pk),
        "trial_data": {
            "submitUrl": submit_url,
            "trialIndex": trial.index,
            "left": trial.left.pk,
            "right": trial.right.pk,
            "preload": [_image_url(token, stimulus.pk) for stimulus in trial.preload],
            "language": translation.get_language(),
            "strings": _js_strings(),
        },
    }
