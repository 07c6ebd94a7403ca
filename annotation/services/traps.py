"""Trap (attention-check) stimuli made by the site itself, offline.

Each trap is an image that states the answer to give, as the P.910 crowd toolkit's trap
questions do, with the same instruction as its prompt in the study's language (the image's
own words are English and the number, which every subject can read). The required answer
is the trap's expected score on every dimension; ``annotation.services.quality`` checks it.
"""

import tempfile
from pathlib import Path

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

from annotation.models import Stimulus, Study
from annotation.services.stimuli import stimulus_create_from_path

TRAP_SIZE = (768, 512)
TRAP_GREY = 128


def trap_answers(*, study: Study, count: int) -> list[float]:
    """The required answers, varied so a subject who always gives one answer fails some:
    the top of the scale, the bottom, then the middle (on a step), and round again."""
    middle = (study.scale_min + study.scale_max) / 2
    if study.scale_step:
        steps = round((middle - study.scale_min) / study.scale_step)
        middle = study.scale_min + steps * study.scale_step
    cycle = [study.scale_max, study.scale_min, middle]
    return [float(cycle[i % len(cycle)]) for i in range(count)]


def answer_words(*, study: Study, answer: float) -> str:
    """The answer as the subject sees it: the number, and its label where the scale has one
    at that point."""
    labels = list(study.scale_labels or [])
    number = f"{answer:g}"
    if len(labels) >= 2:
        position = (answer - study.scale_min) / (study.scale_max - study.scale_min)
        index = position * (len(labels) - 1)
        if abs(index - round(index)) < 1e-9:
            return f"{number} ({labels[round(index)]})"
    return number


def _trap_image(path: Path, answer: str) -> None:
    image = Image.new("RGB", TRAP_SIZE, (TRAP_GREY,) * 3)
    draw = ImageDraw.Draw(image)
    small, large = ImageFont.load_default(size=40), ImageFont.load_default(size=120)
    centre = TRAP_SIZE[0] / 2
    draw.text((centre, 110), "ATTENTION CHECK", fill="white", font=small, anchor="mm")
    draw.text((centre, 175), "Please answer:", fill="white", font=small, anchor="mm")
    draw.text((centre, 320), answer.split(" ")[0], fill="yellow", font=large, anchor="mm")
    draw.text((centre, 440), "for every question", fill="white", font=small, anchor="mm")
    image.save(path, format="PNG")


@transaction.atomic
def trap_stimuli_create(*, study: Study, count: int = 3) -> list[Stimulus]:
    """Add ``count`` trap stimuli to the study (role ``trap``), each with its answer."""
    if count < 1:
        raise ValueError("Make at least one trap.")
    keys = list(study.dimensions.values_list("key", flat=True))
    existing = study.stimuli.filter(role=Stimulus.Role.TRAP).count()
    made = []
    with tempfile.TemporaryDirectory() as folder, translation.override(study.language):
        for number, answer in enumerate(trap_answers(study=study, count=count), start=1):
            words = answer_words(study=study, answer=answer)
            path = Path(folder) / f"trap-{existing + number:03d}-{answer:g}.png"
            _trap_image(path, words)
            prompt = _(
                "Attention check: whatever you think of this image, answer %(answer)s to "
                "every question."
            ) % {"answer": words}
            made.append(
                stimulus_create_from_path(
                    study=study,
                    image_path=path,
                    prompt=prompt,
                    role=Stimulus.Role.TRAP,
                    expected_scores={key: answer for key in keys},
                    metadata={"trap": True},
                )
            )
    return made
