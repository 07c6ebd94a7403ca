"""A small pairwise study that the pairwise tests share: prompts of a few images each."""

import json

from django.core.files.base import ContentFile
from django.test import Client

from annotation.models import RatingSession, Study, Subject
from annotation.services.subjects import subject_invite_create
from annotation.tests.factories import (
    DimensionFactory,
    StimulusFactory,
    StudyFactory,
    jpeg_bytes,
)
from annotation.tests.subject_support import display_check_pass, session_for

PAIRWISE = {"scale_type": Study.ScaleType.PAIRWISE}


def pairwise_study_create(
    *,
    prompts: int = 2,
    per_prompt: int = 4,
    dimensions: tuple[str, ...] = ("match",),
    image_size: tuple[int, int] | None = None,
    **fields,
) -> Study:
    """An open pairwise study; images of one prompt share a prompt_group."""
    study = StudyFactory(**{**PAIRWISE, "session_size": 6, "break_interval": 0, **fields})
    for order, key in enumerate(dimensions):
        DimensionFactory(
            study=study, key=key, order=order, question="Which image matches the prompt better?"
        )
    for prompt in range(prompts):
        for number in range(per_prompt):
            image = {}
            if image_size is not None:
                colour = (40 + 50 * number, 90, 30 + 60 * prompt)
                content = jpeg_bytes(size=image_size, colour=colour)
                image = {"image": ContentFile(content, name=f"p{prompt}-{number}.jpg")}
            StimulusFactory(
                study=study, prompt=f"prompt {prompt}", prompt_group=f"p{prompt}", **image
            )
    return study


def pairwise_subject_start(client: Client, study: Study) -> tuple[Subject, str, RatingSession]:
    """Invite, consent and pass the display check: the subject's session is served."""
    subject, token = subject_invite_create(study=study)
    response = client.post(f"/s/{token}/consent/", {"decision": "accept"})
    assert response.status_code == 302, response.content
    display_check_pass(client, token)
    return subject, token, session_for(token)


def pair_post(client: Client, token: str, index: int, body: dict):
    return client.post(
        f"/s/{token}/trials/{index}/", json.dumps(body), content_type="application/json"
    )


def pair_answer(entry: dict, choice: str = "left", keys: tuple[str, ...] = ("match",)) -> dict:
    """The body a subject's browser posts for a served pairwise playlist entry."""
    return {
        "left": entry["stimulus"],
        "right": entry["right"],
        "choices": dict.fromkeys(keys, choice),
        "response_time_ms": 1500,
    }


def reference_pairs_add(
    study: Study,
    *,
    role: str,
    pairs: int = 1,
    scores: tuple[float, float] = (5.0, 1.0),
    key: str = "match",
    image_size: tuple[int, int] | None = None,
) -> list[tuple[int, int]]:
    """`pairs` training or gold pairs of one prompt each: the first image of a pair should
    win (its expected score is the higher). Returns the pairs' (winner, loser) ids."""
    created = []
    for pair in range(pairs):
        ids = []
        for number, score in enumerate(scores):
            image = {}
            if image_size is not None:
                content = jpeg_bytes(size=image_size, colour=(200 - 120 * number, 60, 60))
                image = {"image": ContentFile(content, name=f"{role}{pair}-{number}.jpg")}
            stimulus = StimulusFactory(
                study=study,
                role=role,
                prompt=f"{role} prompt {pair}",
                prompt_group=f"{role}{pair}",
                expected_scores={key: score},
                **image,
            )
            ids.append(stimulus.pk)
        created.append((ids[0], ids[1]))
    return created


def playlist_answer_all(client: Client, token: str, playlist: list, *, correct: bool) -> None:
    """Answer every pair "left"; a training or gold pair with its expected side when
    ``correct``, else the other."""
    for index, entry in enumerate(playlist):
        choice = "left"
        if entry.get("stage"):
            expected = entry["expected"]["match"]
            choice = expected if correct else ("right" if expected == "left" else "left")
        response = pair_post(client, token, index, pair_answer(entry, choice))
        assert response.status_code == 200, response.content
