"""Training and gold pairs of a pairwise study: served, answered, scored and kept out of the data."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import PairwiseChoice, Stimulus
from annotation.selectors.pairwise import (
    GroupingRow,
    pairwise_choice_rows,
    pairwise_first_dimension,
    pairwise_history,
    pairwise_pending,
    pairwise_stage_counts,
    pairwise_trials_per_hour,
    pairwise_trials_per_stimulus,
)
from annotation.selectors.research import study_progress
from annotation.selectors.subject_reports import subject_reports, subject_rows
from annotation.services.pairwise import reference_pairs, reference_winners
from annotation.tests.pairwise_support import (
    pair_answer,
    pair_post,
    pairwise_study_create,
    pairwise_subject_start,
    playlist_answer_all,
    reference_pairs_add,
)

pytestmark = pytest.mark.django_db
TRAINING, GOLD = Stimulus.Role.TRAINING, Stimulus.Role.GOLD


def _row(stimulus_id: int, group: str) -> GroupingRow:
    return GroupingRow(stimulus_id, f"img{stimulus_id}", group, "", {})


def test_the_higher_expected_score_wins_and_a_pair_without_an_answer_is_left_out():
    assert reference_winners(first={"a": 5}, second={"a": "1"}, keys=["a"]) == {"a": "first"}
    assert reference_winners(first={"a": 1}, second={"a": 4}, keys=["a"]) == {"a": "second"}
    assert reference_winners(first={"a": 3}, second={"a": 3}, keys=["a"]) == {"a": "none"}
    assert reference_winners(first={"a": 3}, second={}, keys=["a"]) is None
    rows = [_row(1, "g"), _row(2, "g"), _row(3, "h"), _row(4, "h"), _row(5, "h")]
    expected = {1: {"a": 5}, 2: {"a": 1}, 3: {"a": 2}, 4: {"a": 2}, 5: {"a": 9}}
    common = {"expected": expected, "keys": ["a"], "grouping": "prompt", "column": ""}
    # 3 and 4 tie: only a study offering "no preference" keeps them; 5 has no partner.
    assert reference_pairs(rows=rows, allow_none=False, **common) == [("g", 1, 2, {"a": "first"})]
    assert reference_pairs(rows=rows, allow_none=True, **common)[1] == ("h", 3, 4, {"a": "none"})


def test_training_pairs_come_first_and_gold_pairs_are_mixed_in_with_their_expected_sides(client):
    study = pairwise_study_create(session_size=4, gold_per_session=2, repeats_per_session=1)
    training = reference_pairs_add(study, role=TRAINING, pairs=2)
    gold = reference_pairs_add(study, role=GOLD, pairs=1)
    _, _, session = pairwise_subject_start(client, study)
    playlist = session.playlist
    assert [entry.get("stage") for entry in playlist[:2]] == ["training", "training"]
    golds = [entry for entry in playlist if entry.get("stage") == "gold"]
    assert len(golds) == 2 and len(playlist) == 2 + 4 + 1 + 2
    reference_ids = {stimulus for pair in training + gold for stimulus in pair}
    for entry in playlist:
        shown = {entry["stimulus"], entry["right"]}
        if entry.get("stage"):
            winner = next(w for w, loser in training + gold if {w, loser} == shown)
            winner_side = "left" if entry["stimulus"] == winner else "right"
            assert entry["expected"] == {"match": winner_side}
        else:
            assert not shown & reference_ids
    # Reference pairs are no design pairs: concurrent sessions need not avoid them.
    pending = {pair for pairs in pairwise_pending(study=study).values() for pair in pairs}
    assert not {stimulus for pair in pending for stimulus in map(int, pair)} & reference_ids


def test_a_training_answer_gets_the_expected_side_and_is_stored_as_training_once(client):
    study = pairwise_study_create(session_size=2)
    reference_pairs_add(study, role=TRAINING)
    _, token, session = pairwise_subject_start(client, study)
    entry = session.playlist[0]
    wrong = "right" if entry["expected"]["match"] == "left" else "left"
    first = pair_post(client, token, 0, pair_answer(entry, wrong))
    again = pair_post(client, token, 0, pair_answer(entry, wrong))
    assert first.json()["feedback"] == {"expected": {"match": entry["expected"]["match"]}}
    assert again.json() == first.json()
    stored = PairwiseChoice.objects.get()
    assert (stored.stage, stored.expected, stored.choice) == (
        "training",
        entry["expected"]["match"],
        wrong,
    )
    # The next pair comes in the answer (shown in place, so full screen stays).
    assert first.json()["next_trial"]["trialIndex"] == 1
    assert first.json()["next_trial"]["training"] is False
    normal = pair_post(client, token, 1, pair_answer(session.playlist[1]))
    assert normal.json()["feedback"] is None


def test_training_and_gold_answers_stay_out_of_the_history_the_export_and_the_counts(client):
    study = pairwise_study_create(session_size=3, gold_per_session=1)
    reference_pairs_add(study, role=TRAINING)
    reference_pairs_add(study, role=GOLD)
    _, token, session = pairwise_subject_start(client, study)
    playlist_answer_all(client, token, session.playlist, correct=True)
    assert PairwiseChoice.objects.count() == 5
    history = pairwise_history(study=study, dimension=pairwise_first_dimension(study=study))
    assert sum(len(frame) for frame in history.values()) == 3
    assert len(list(pairwise_choice_rows(study=study))) == 3
    assert pairwise_stage_counts(study=study) == {"normal": 3, "training": 1, "gold": 1}
    assert sum(pairwise_trials_per_stimulus(study=study)) == 6
    assert sum(row["n"] for row in pairwise_trials_per_hour(study=study)) == 3
    progress = study_progress(study=study)
    assert progress["pairs_by_stage"]["normal"] == 3
    assert sum(progress["ratings_per_stimulus"]) == 6
    assert sum(row["count"] for row in progress["ratings_per_hour"]) == 3
    # The API serves the pairwise counts as the progress page's JSON does.
    api = APIClient()
    api.force_login(study.owner)
    served = api.get(reverse("api:study_progress", args=[study.pk])).json()
    assert served["pairs_by_stage"] == {"normal": 3, "training": 1, "gold": 1}
    assert served["ratings_per_stimulus"] == progress["ratings_per_stimulus"]


@pytest.mark.parametrize("correct", [True, False])
def test_the_subject_report_counts_choices_too_fast_repeats_and_gold_pass_share(client, correct):
    study = pairwise_study_create(
        session_size=4, gold_per_session=2, repeats_per_session=2, too_fast_ms=2000
    )
    reference_pairs_add(study, role=GOLD, pairs=2)
    _, token, session = pairwise_subject_start(client, study)
    playlist_answer_all(client, token, session.playlist, correct=correct)
    (report,) = subject_reports(study=study, subjects=list(subject_rows(study=study)))
    # 4 pairs and 2 repeats are choices; gold pairs are scored, not counted as choices.
    assert report.trials == 6
    assert report.too_fast_share == 1.0  # every answer took 1500 ms, under 2000
    # Every answer was "left": a repeat shows the pair swapped, so the other image won.
    assert (report.repeat_pairs, report.repeat_agreement) == (2, 0.0)
    assert report.gold_answers == 2
    assert report.gold_accuracy == (1.0 if correct else 0.0)
    assert (report.checks.gold_passed, report.checks.gold_failed) == ((2, 0) if correct else (0, 2))


def test_the_report_page_and_csv_show_pairwise_repeats_and_gold(client, admin_client):
    study = pairwise_study_create(session_size=2, gold_per_session=1, repeats_per_session=1)
    reference_pairs_add(study, role=GOLD)
    _, token, session = pairwise_subject_start(client, study)
    playlist_answer_all(client, token, session.playlist, correct=True)
    page = admin_client.get(f"/studies/{study.pk}/subjects/report/").content.decode()
    assert "0 % same winner (1)" in page and "100 % passed (1)" in page
    csv_text = b"".join(
        admin_client.get(f"/studies/{study.pk}/subjects/report.csv").streaming_content
    ).decode()
    header, row = (line.split(",") for line in csv_text.strip().splitlines())
    # The new column comes last, so readers of the earlier columns see them where they were.
    assert header[-1] == "repeat_agreement" and header[:3] == [
        "subject",
        "state",
        "completion_code",
    ]
    values = dict(zip(header, row, strict=True))
    assert (values["trials"], values["gold_answers"], values["gold_accuracy"]) == ("3", "1", "1.0")
    assert values["repeat_agreement"] == "0.0"
