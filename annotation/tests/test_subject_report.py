"""The per-subject report (page, CSV, API, completion-code lookup) against hand-computed
numbers on a small study."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import AnalysisRun, Rating
from annotation.tests.factories import (
    DimensionFactory,
    RatingSessionFactory,
    ResearcherFactory,
    StimulusFactory,
    StudyFactory,
    SubjectFactory,
)

pytestmark = pytest.mark.django_db

# Subject A's five trials: (stimulus index, response ms, quality, colour, repeat).
# Trial 4 shows stimulus 0 again. Stimulus 3 is gold, expected quality 70, colour 30.
TRIALS = [
    (0, 500, 40, 60, False),
    (1, 1500, 55, 50, False),
    (2, 2500, 20, 25, False),
    (3, 4000, 75, 50, False),
    (0, 3000, 50, 56, True),
]


@pytest.fixture
def study():
    study = StudyFactory(repeats_per_session=1, scale_min=0, scale_max=100)
    quality = DimensionFactory(study=study, key="quality", order=0)
    colour = DimensionFactory(study=study, key="colour", order=1)
    stimuli = [StimulusFactory(study=study) for _ in range(4)]
    stimuli[3].role = "gold"
    stimuli[3].expected_scores = {"quality": 70, "colour": 30}
    stimuli[3].save()
    a = SubjectFactory(study=study, label="A", consented_at=timezone.now())
    session = RatingSessionFactory(
        subject=a,
        playlist=[{"stimulus": stimuli[i].pk} for i, *_ in TRIALS],
        cursor=5,
        completed_at=timezone.now(),
        completion_code="PAY-A-123",
    )
    for trial, (index, ms, q, c, repeat) in enumerate(TRIALS):
        for dimension, score in ((quality, q), (colour, c)):
            Rating.objects.create(
                session=session,
                stimulus=stimuli[index],
                dimension=dimension,
                score=score,
                trial_index=trial,
                is_repeat=repeat,
                response_time_ms=ms,
            )
    SubjectFactory(study=study, label="B")  # invited, never started
    # Two analyses: only the latest finished one's decision shows.
    for when, rejected, reason in ((1, False, "old"), (2, True, "kurtosis test: P+Q > 5 %")):
        AnalysisRun.objects.create(
            study=study,
            status=AnalysisRun.Status.DONE,
            options_hash="x",
            finished_at=timezone.now() + timezone.timedelta(minutes=when),
            summary={
                "screening": [
                    {
                        "method": "bt500",
                        "rows": [
                            {
                                "subject": "A",
                                "dimension": "quality",
                                "rejected": rejected,
                                "reason": reason,
                            },
                            {
                                "subject": "A",
                                "dimension": "colour",
                                "rejected": False,
                                "reason": "ok",
                            },
                        ],
                    }
                ]
            },
        )
    return study


# By hand: 5 trials; times 500 1500 2500 3000 4000 -> median 2500, fastest 500; one under
# 1000 ms -> 0.2. Repeat of stimulus 0: |50-40| and |56-60| -> 2 pairs, mean 7. Gold
# (stimulus 3): |75-70| = 5 and |50-30| = 20 -> mean 12.5, one of two within 15 -> 0.5.
EXPECTED_A = {
    "trials": 5,
    "median_ms": 2500,
    "fastest_ms": 500,
    "too_fast_share": 0.2,
    "repeat_pairs": 2,
    "repeat_mean_abs_diff": 7.0,
    "gold_answers": 2,
    "gold_mean_abs_error": 12.5,
    "gold_accuracy": 0.5,
    "screening": "rejected",
}


def test_report_api_matches_hand_computed_numbers(study):
    api = APIClient()
    api.force_login(study.owner)
    body = api.get(reverse("api:subject_report", args=[study.pk])).json()
    a, b = body["results"]
    assert {k: a[k] for k in EXPECTED_A} == EXPECTED_A
    assert a["state"] == "completed" and a["completion_code"] == "PAY-A-123"
    assert a["screening_reason"] == "quality: kurtosis test: P+Q > 5 %"
    assert a["too_fast_threshold_ms"] == 1000 and a["started_at"] and a["finished_at"]
    assert b["label"] == "B" and b["state"] == "not_started" and b["trials"] == 0
    assert b["median_ms"] is None and b["screening"] == ""


def test_a_threshold_of_zero_flags_no_answer_as_too_fast(study):
    study.too_fast_ms = 0
    study.save(update_fields=["too_fast_ms"])
    api = APIClient()
    api.force_login(study.owner)
    a = api.get(reverse("api:subject_report", args=[study.pk])).json()["results"][0]
    assert (a["too_fast_threshold_ms"], a["too_fast_share"]) == (0, 0.0)


def test_report_page_and_csv(client, study):
    client.force_login(study.owner)
    page = client.get(reverse("research:subject_report", args=[study.pk])).content.decode()
    assert "PAY-A-123" in page and "2500 ms" in page and "500 ms" in page
    assert "20 %" in page and "7.0 (2)" in page and "50 % within" in page
    assert "rejected" in page and "P+Q &gt; 5 %" in page
    found = client.get(reverse("research:subject_report", args=[study.pk]), {"q": "pay-a-123"})
    assert "PAY-A-123" in found.content.decode()

    response = client.get(reverse("research:subject_report_csv", args=[study.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["subject"] for r in rows] == ["A", "B"]
    a = rows[0]
    assert (a["trials"], a["median_ms_per_trial"], a["fastest_ms"]) == ("5", "2500.0", "500")
    assert (a["too_fast_share"], a["repeat_mean_abs_diff"], a["gold_accuracy"]) == (
        "0.2",
        "7.0",
        "0.5",
    )
    assert a["completion_code"] == "PAY-A-123" and a["screening"] == "rejected"
    only_b = client.get(reverse("research:subject_report_csv", args=[study.pk]), {"q": "B"})
    assert b"".join(only_b.streaming_content).decode().count("\n") == 2


def test_completion_code_lookup_is_limited_to_the_researchers_studies(study):
    api = APIClient()
    api.force_login(study.owner)
    found = api.get(reverse("api:completion_code", args=["PAY-A-123"]))
    assert found.status_code == 200
    assert found.json()["label"] == "A" and found.json()["study"] == study.pk
    assert api.get(reverse("api:completion_code", args=["NOPE"])).status_code == 404
    api.force_login(ResearcherFactory())
    assert api.get(reverse("api:completion_code", args=["PAY-A-123"])).status_code == 404
    assert api.get(reverse("api:subject_report", args=[study.pk])).status_code == 404


def test_a_search_holding_a_nul_character_finds_nothing_instead_of_failing(study):
    # PostgreSQL text cannot hold NUL; schemathesis found this search answering 500 there.
    api = APIClient()
    api.force_login(study.owner)
    reports = api.get(reverse("api:subject_report", args=[study.pk]), {"q": "A\x00"})
    assert reports.status_code == 200 and [row["label"] for row in reports.json()["results"]] == [
        "A"
    ]
    stimuli = api.get(
        reverse("api:stimulus_list", args=[study.pk]), {"q": "\x00", "generator": "\x00x"}
    )
    assert stimuli.status_code == 200
