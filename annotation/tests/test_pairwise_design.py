"""Pairwise studies: the design form, comparison groups, the pairs served and the choices
stored (the submission endpoint through the test client)."""

import html
import io
import random
from datetime import timedelta

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from analysis.pairwise import scale_choices, validate_choices
from annotation.models import PairwiseChoice, Rating, RatingSession, Stimulus, Study
from annotation.playlist_entries import KIND_PAIR, pair_served
from annotation.selectors.pairwise import GroupingRow
from annotation.services.pairwise import comparison_groups, pair_trials_build
from annotation.services.studies import study_set_status
from annotation.tests.factories import StimulusFactory
from annotation.tests.pairwise_support import (
    pair_answer,
    pair_post,
    pairwise_study_create,
    pairwise_subject_start,
)
from annotation.tests.test_study_design import (
    STUDY_FIELDS,
    dimension_rows,
    researcher_client,
    row,
)

pytestmark = pytest.mark.django_db
__all__ = ["researcher_client"]


def grouping_row(stimulus_id: int, prompt: str = "", **metadata) -> GroupingRow:
    return GroupingRow(stimulus_id, f"img{stimulus_id}.png", "", prompt, metadata)


# --- design -------------------------------------------------------------------------------


def test_the_form_makes_a_pairwise_study_with_its_grouping_design_and_question(
    researcher_client,
):
    rows = [
        {
            "key": "match",
            "label": "Match",
            "question": "Which image matches the prompt better?",
            "anchor_text": "",
            "ORDER": 1,
        }
    ]
    data = STUDY_FIELDS | dimension_rows(rows)
    data |= {
        "name": "Pairs",
        "scale_type": "pairwise",
        "pairwise_grouping": "column",
        "pairwise_group_column": "scene",
        "pairwise_design": "random",
        "pairwise_no_preference": "on",
    }
    response = researcher_client.post(reverse("research:study_new"), data)
    assert response.status_code == 302, response.context["form"].errors
    study = Study.objects.get(name="Pairs")
    assert study.scale_type == Study.ScaleType.PAIRWISE
    assert (study.pairwise_grouping, study.pairwise_group_column) == ("column", "scene")
    assert study.pairwise_design == "random" and study.pairwise_no_preference
    assert study.dimensions.get().question == "Which image matches the prompt better?"


def test_the_form_shows_the_pairwise_section_and_refuses_a_column_grouping_without_a_column(
    researcher_client,
):
    page = researcher_client.get(reverse("research:study_new") + "?preset=pairwise")
    content = page.content.decode()
    assert "Pairwise comparison" in content and "Which image matches the prompt better?" in content
    data = STUDY_FIELDS | dimension_rows([row("match", 1)])
    data |= {"scale_type": "pairwise", "pairwise_grouping": "column", "pairwise_design": "full"}
    response = researcher_client.post(reverse("research:study_new"), data)
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Grouping by a manifest column needs the column's name." in page
    assert not Study.objects.filter(scale_type="pairwise").exists()


def test_groups_by_prompt_all_or_a_column():
    rows = [grouping_row(1, "fox", scene="a"), grouping_row(2, "fox", scene="b")]
    rows += [grouping_row(3, "owl", scene="a"), grouping_row(4, "owl", scene="b")]
    assert comparison_groups(rows, grouping="prompt") == {"fox": [1, 2], "owl": [3, 4]}
    assert comparison_groups(rows, grouping="all") == {"all": [1, 2, 3, 4]}
    assert comparison_groups(rows, grouping="column", column="scene") == {
        "a": [1, 3],
        "b": [2, 4],
    }


def test_a_group_of_one_image_is_refused_in_one_line_naming_it():
    rows = [grouping_row(1, "fox"), grouping_row(2, "fox"), grouping_row(3, "owl")]
    with pytest.raises(ValidationError) as caught:
        comparison_groups(rows, grouping="prompt")
    (message,) = caught.value.messages
    assert message == (
        "Comparison group 'owl' has one image (img3.png); a pair needs two: add images to it "
        "or group the study differently."
    )
    with pytest.raises(ValidationError, match="img1.png has no value in the manifest column"):
        comparison_groups(rows, grouping="column", column="scene")


def test_opening_a_study_with_a_group_of_one_image_is_refused_and_changes_nothing():
    study = pairwise_study_create(status=Study.Status.DRAFT)
    StimulusFactory(study=study, prompt="lonely", prompt_group="lonely")
    with pytest.raises(ValidationError, match="Comparison group 'lonely' has one image"):
        study_set_status(study=study, status=Study.Status.OPEN)
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_a_subject_of_a_study_with_a_group_of_one_reads_why_there_are_no_pairs(client):
    study = pairwise_study_create()
    StimulusFactory(study=study, prompt="lonely", prompt_group="lonely")
    from annotation.services.subjects import subject_invite_create

    _, token = subject_invite_create(study=study)
    response = client.post(f"/s/{token}/consent/", {"decision": "accept"}, follow=True)
    assert "This study cannot show pairs yet: Comparison group" in response.content.decode()


# --- serving pairs ------------------------------------------------------------------------


def test_sides_are_randomised_per_trial_and_repeats_come_later_with_sides_swapped():
    pairs = [("g", k, k + 100) for k in range(20)]
    trials = pair_trials_build(pairs=pairs, repeats=4, rng=random.Random(3))
    assert len(trials) == 24
    assert {entry["side"] for entry in trials} == {"left", "right"}
    for entry in trials:
        assert entry["kind"] == KIND_PAIR
        assert pair_served(entry) in {(first, second) for _, first, second in pairs}
    for position, copy in enumerate(trials):
        if copy["repeat"]:
            source = next(k for k, e in enumerate(trials) if pair_served(e) == pair_served(copy))
            assert source < position
            assert (trials[source]["stimulus"], trials[source]["right"]) == (
                copy["right"],
                copy["stimulus"],
            )


@pytest.mark.parametrize("design", ["full", "random", "active", "variance"])
def test_concurrent_subjects_get_pairs_of_one_group_and_no_pair_twice(client, design):
    # Two groups of four images: 12 possible pairs; two sessions of six take all of them.
    study = pairwise_study_create(pairwise_design=design)
    group_of = dict(Stimulus.objects.filter(study=study).values_list("id", "prompt_group"))
    served = []
    for _ in range(2):
        _, _, session = pairwise_subject_start(client, study)
        for entry in session.playlist:
            assert group_of[entry["stimulus"]] == group_of[entry["right"]] == entry["group"]
            served.append(frozenset(pair_served(entry)))
    assert len(served) == 12 and len(set(served)) == 12


def test_the_active_design_chooses_from_the_choices_so_far(client):
    # One group of five: after a subject has answered a full tree, the next session's first
    # batch avoids nothing it need not and still covers the group (a spanning tree).
    study = pairwise_study_create(
        prompts=1, per_prompt=5, session_size=4, pairwise_design=Study.PairDesign.ACTIVE
    )
    _, token, session = pairwise_subject_start(client, study)
    for index, entry in enumerate(session.playlist):
        assert pair_post(client, token, index, pair_answer(entry)).status_code == 200
    _, _, second = pairwise_subject_start(client, study)
    touched = {stimulus for entry in second.playlist for stimulus in pair_served(entry)}
    assert len(touched) == 5
    assert len({frozenset(pair_served(entry)) for entry in second.playlist}) == 4


def test_new_studies_get_the_least_variance_design_and_it_serves_what_the_library_chooses(
    client,
):
    # The session's pairs are VarianceDesign's batch for the stored choices: after one
    # subject answered, the next session's pairs are not the answered ones again.
    study = pairwise_study_create(prompts=1, per_prompt=5, session_size=4)
    assert study.pairwise_design == Study.PairDesign.VARIANCE
    _, token, session = pairwise_subject_start(client, study)
    answered = {frozenset(pair_served(entry)) for entry in session.playlist}
    for index, entry in enumerate(session.playlist):
        assert pair_post(client, token, index, pair_answer(entry)).status_code == 200
    _, _, second = pairwise_subject_start(client, study)
    again = {frozenset(pair_served(entry)) for entry in second.playlist}
    assert len(again) == 4 and not again & answered


# --- choices ------------------------------------------------------------------------------


def test_a_choice_is_stored_with_sides_group_time_and_too_fast(client):
    study = pairwise_study_create(dimensions=("match", "quality"), too_fast_ms=2000)
    _, token, session = pairwise_subject_start(client, study)
    entry = session.playlist[0]
    body = pair_answer(entry, keys=("match", "quality")) | {
        "choices": {"match": "left", "quality": "right"}
    }
    response = pair_post(client, token, 0, body)
    assert response.status_code == 200, response.json()
    assert response.json()["next_url"] == f"/s/{token}/trials/1/"
    stored = PairwiseChoice.objects.order_by("dimension__order")
    assert [choice.choice for choice in stored] == ["left", "right"]
    for choice in stored:
        assert (choice.left_id, choice.right_id, choice.side) == (
            entry["stimulus"],
            entry["right"],
            entry["side"],
        )
        assert choice.group == entry["group"] and choice.response_time_ms == 1500
        assert choice.too_fast
    assert not Rating.objects.exists()


def test_a_replayed_submit_stores_nothing_twice_and_other_choices_are_refused(client):
    study = pairwise_study_create()
    _, token, session = pairwise_subject_start(client, study)
    body = pair_answer(session.playlist[0])
    first = pair_post(client, token, 0, body)
    again = pair_post(client, token, 0, body)
    assert again.status_code == 200 and again.json() == first.json()
    assert PairwiseChoice.objects.count() == 1
    changed = pair_post(client, token, 0, body | {"choices": {"match": "right"}})
    assert changed.status_code == 409
    assert changed.json()["error"] == (
        "Trial 0 was already answered with other choices; a stored choice cannot be changed."
    )
    assert PairwiseChoice.objects.get().choice == "left"


def test_past_the_maximum_duration_a_pair_answer_ends_the_session_unstored(client):
    study = pairwise_study_create(max_duration_minutes=30)
    _, token, session = pairwise_subject_start(client, study)
    RatingSession.objects.filter(pk=session.pk).update(
        started_at=timezone.now() - timedelta(minutes=31)
    )
    response = pair_post(client, token, 0, pair_answer(session.playlist[0]))
    assert response.status_code == 200 and response.json()["ratings"] == 0
    session.refresh_from_db()
    assert session.ended_reason == "max_duration"
    assert not PairwiseChoice.objects.exists()


def test_a_choice_for_a_pair_that_was_not_served_is_refused_in_one_line(client):
    study = pairwise_study_create()
    _, token, session = pairwise_subject_start(client, study)
    entry = session.playlist[0]
    swapped = pair_answer(entry) | {"left": entry["right"], "right": entry["stimulus"]}
    response = pair_post(client, token, 0, swapped)
    assert response.status_code == 409
    assert response.json()["code"] == "pair_not_served"
    assert "a choice can only answer the pair that was served" in response.json()["error"]
    scored = {"stimulus": entry["stimulus"], "scores": {"match": 50}, "response_time_ms": 900}
    assert pair_post(client, token, 0, scored).json()["code"] == "pair_not_served"
    assert not PairwiseChoice.objects.exists() and not Rating.objects.exists()


def test_no_preference_only_where_the_study_offers_it(client):
    study = pairwise_study_create()
    _, token, session = pairwise_subject_start(client, study)
    refused = pair_post(client, token, 0, pair_answer(session.playlist[0], "none"))
    assert refused.status_code == 400
    assert refused.json()["error"] == "match: the choice must be one of left, right; got 'none'."
    offering = pairwise_study_create(pairwise_no_preference=True)
    _, token, session = pairwise_subject_start(client, offering)
    accepted = pair_post(client, token, 0, pair_answer(session.playlist[0], "none"))
    assert accepted.status_code == 200
    assert PairwiseChoice.objects.get().choice == "none"


# --- the page -----------------------------------------------------------------------------


def test_the_pair_page_serves_both_images_and_speaks_chinese_where_the_study_does(client):
    study = pairwise_study_create(language=Study.Language.CHINESE_SIMPLIFIED)
    _, token, session = pairwise_subject_start(client, study)
    entry = session.playlist[0]
    page = client.get(f"/s/{token}/trials/0/").content.decode()
    assert 'id="image-left"' in page and 'id="image-right"' in page
    assert "左图" in page and "右图" in page and "第 1 对，共 6 对" in page
    for stimulus_id in (entry["stimulus"], entry["right"]):
        assert client.get(f"/s/{token}/images/{stimulus_id}/").status_code == 200


# --- export -------------------------------------------------------------------------------


def test_the_live_export_of_a_pairwise_study_is_its_choices_table_the_library_reads(client):
    study = pairwise_study_create()
    _, token, session = pairwise_subject_start(client, study)
    for index, entry in enumerate(session.playlist[:3]):
        pair_post(client, token, index, pair_answer(entry, "right" if index else "left"))
    client.force_login(study.owner)
    response = client.get(reverse("research:ratings_live_csv", args=[study.pk]))
    assert response.status_code == 200
    assert f"{study.slug}-choices-live.csv" in response["Content-Disposition"]
    table = pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))
    assert list(table.columns[:7]) == [
        "subject",
        "group",
        "left",
        "right",
        "choice",
        "side",
        "time",
    ]
    checked = validate_choices(table[table["dimension"] == "match"])
    scores = scale_choices(checked)
    assert scores["comparisons"].sum() == 6 and scores["score"].notna().any()
    assert list(checked["choice"]) == ["left", "right", "right"]
    for (_, line), entry in zip(table.iterrows(), session.playlist[:3], strict=True):
        assert (line["left"], line["right"], line["side"]) == (
            entry["stimulus"],
            entry["right"],
            entry["side"],
        )
        assert line["time"] == 1.5 and line["dimension"] == "match"
