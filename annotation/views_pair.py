"""The pairwise trial page: two images side by side, which one is better on each question.

`views_subject` routes a pairwise playlist entry here; the page posts its answer to the same
trial URL, which `services.pair_submissions` stores, and shows the next pair from the
answer in place, as the rating page does (so full screen stays). Breaks, the end page and
resuming are the rating session's own.
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
        "noPrompt": _("(no text prompt)"),
        "promptLeft": _("Left:"),
        "promptRight": _("Right:"),
        "fullscreenResume": _("Press any key or click to continue in full screen."),
        "expectedLeft": _("The expected answer was the left image."),
        "expectedRight": _("The expected answer was the right image."),
        "expectedNone": _("The expected answer was no preference."),
        "yourAnswerRight": _("Your answer was right."),
        "yourAnswerWrong": _("Your answer was not the expected one."),
        "connectionLost": _(
            "Connection lost, retrying… Your answer is kept and will be sent as soon as "
            "the server answers."
        ),
    }


def _prompts(trial: PairTrialPage) -> list[str]:
    """One prompt for a pair of one prompt; both where the groups mix prompts."""
    left, right = trial.left.prompt, trial.right.prompt
    return [left] if left == right else [left, right]


def _progress_label(trial: PairTrialPage) -> str:
    return _("Pair %(number)s of %(total)s") % {"number": trial.index + 1, "total": trial.total}


def _progress_percent(trial: PairTrialPage) -> str:
    return str(round(100 * trial.index / max(trial.total, 1)))


def pair_trial_payload(*, token: str, trial: PairTrialPage) -> dict:
    """What the page needs to show a pair; the next pair arrives as this in the submit's
    answer and is shown in place (no page load, so full screen stays)."""
    return {
        "submitUrl": reverse(
            "annotation:subject-trial", kwargs={"token": token, "trial_index": trial.index}
        ),
        "trialIndex": trial.index,
        "left": trial.left.pk,
        "right": trial.right.pk,
        "leftUrl": _image_url(token, trial.left.pk),
        "rightUrl": _image_url(token, trial.right.pk),
        "leftSize": [trial.left.width, trial.left.height],
        "rightSize": [trial.right.width, trial.right.height],
        "prompts": _prompts(trial),
        "training": trial.training,
        "progressLabel": _progress_label(trial),
        "progressPercent": _progress_percent(trial),
        "preload": [_image_url(token, stimulus.pk) for stimulus in trial.preload],
    }


def pair_page_context(*, study: Study, trial: PairTrialPage, token: str, surround: str) -> dict:
    return {
        "study": study,
        "trial": trial,
        "surround": surround,
        "dimensions": study_dimensions(study=study),
        "no_preference": study.pairwise_no_preference,
        "prompts": _prompts(trial),
        "progress_label": _progress_label(trial),
        "progress_percent": _progress_percent(trial),
        "left_url": _image_url(token, trial.left.pk),
        "right_url": _image_url(token, trial.right.pk),
        "trial_data": {
            "trial": pair_trial_payload(token=token, trial=trial),
            "language": translation.get_language(),
            "strings": _js_strings(),
        },
    }
