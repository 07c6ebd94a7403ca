"""Stimuli and subjects tables at scale: paging, search, filters, sorting and bulk actions."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import Rating, Stimulus
from annotation.services.playlists import playlist_session_start
from annotation.tests.factories import (
    DimensionFactory,
    RatingSessionFactory,
    StudyFactory,
    SubjectFactory,
)

pytestmark = pytest.mark.django_db


def bulk_stimuli(study, n: int, **fields) -> list[Stimulus]:
    """n stimuli without image files (the table never opens them): fast to make."""
    start = Stimulus.objects.count()
    made = Stimulus.objects.bulk_create(
        [
            Stimulus(
                study=study,
                image=f"studies/{study.pk}/stimuli/{start + i}.jpg",
                sha256=f"{study.pk:08x}{start + i:056x}",
                width=64,
                height=64,
                original_name=f"img_{i:03d}.jpg",
                generator=fields.get("generator") or ("SDXL" if i % 3 == 0 else "MJ"),
                prompt=f"a fox number {i}",
            )
            for i in range(n)
        ]
    )
    return list(study.stimuli.order_by("id")) if made else []


def ids_on(html: str) -> list[int]:
    return [int(v) for v in re.findall(r'name="ids" value="(\d+)"', html)]


@pytest.fixture
def study():
    study = StudyFactory(target_ratings_per_stimulus=2)
    DimensionFactory(study=study, key="quality", order=0)
    return study


def rate(stimulus: Stimulus, times: int) -> None:
    dimension = stimulus.study.dimensions.first()
    for _ in range(times):
        session = RatingSessionFactory(subject=SubjectFactory(study=stimulus.study))
        Rating.objects.create(
            session=session, stimulus=stimulus, dimension=dimension, score=50, trial_index=0
        )


def test_stimuli_page_pages_searches_filters_and_sorts(client, study):
    stimuli = bulk_stimuli(study, 60)
    rate(stimuli[5], 3)
    rate(stimuli[7], 1)
    client.force_login(study.owner)
    url = reverse("research:stimulus_list", args=[study.pk])

    page = client.get(url, {"per_page": 25, "page": 3}).content.decode()
    assert ids_on(page) == [s.pk for s in stimuli[50:]]
    assert "51–60 of 60" in page and "page 3 of 3" in page

    assert ids_on(client.get(url, {"q": "fox number 42"}).content.decode()) == [stimuli[42].pk]
    by_id = ids_on(client.get(url, {"q": str(stimuli[9].pk)}).content.decode())
    assert stimuli[9].pk in by_id  # an id, or that number in a name or prompt
    sdxl = ids_on(client.get(url, {"generator": "SDXL", "per_page": 100}).content.decode())
    assert sdxl == [s.pk for s in stimuli if s.generator == "SDXL"]
    below = ids_on(client.get(url, {"below_target": "1", "per_page": 100}).content.decode())
    assert stimuli[5].pk not in below and stimuli[7].pk in below and len(below) == 59
    by_ratings = ids_on(client.get(url, {"sort": "-ratings"}).content.decode())
    assert by_ratings[:2] == [stimuli[5].pk, stimuli[7].pk]
    assert ids_on(client.get(url, {"sort": "-id"}).content.decode())[0] == stimuli[-1].pk

    empty = client.get(url, {"q": "no such words"}).content.decode()
    assert "No stimulus matches these filters" in empty


def test_bulk_action_on_a_filtered_selection_stays_in_its_study(client, study):
    mine = bulk_stimuli(study, 9)
    other = StudyFactory(owner=study.owner)
    theirs = bulk_stimuli(other, 9)
    client.force_login(study.owner)
    response = client.post(
        reverse("research:stimulus_bulk", args=[study.pk]),
        {"action": "exclude", "scope": "filtered", "generator": "SDXL", "q": "fox"},
    )
    assert response.status_code == 302 and "generator=SDXL" in response["Location"]
    excluded = set(Stimulus.objects.filter(excluded_from_playlists=True).values_list("pk", flat=1))
    assert excluded == {s.pk for s in mine if s.generator == "SDXL"}
    assert not any(s.pk in excluded for s in theirs)

    # Ticked ids of another study's stimuli change nothing there.
    client.post(
        reverse("research:stimulus_bulk", args=[study.pk]),
        {"action": "exclude", "scope": "selected", "ids": [theirs[1].pk, mine[1].pk]},
    )
    assert Stimulus.objects.get(pk=mine[1].pk).excluded_from_playlists
    assert not Stimulus.objects.filter(study=other, excluded_from_playlists=True).exists()


def test_bulk_role_normal_and_excluded_stimuli_leave_new_playlists(client, study):
    stimuli = bulk_stimuli(study, 6)
    Stimulus.objects.filter(pk=stimuli[0].pk).update(role="gold", expected_scores={"quality": 9})
    client.force_login(study.owner)
    bulk = reverse("research:stimulus_bulk", args=[study.pk])
    client.post(bulk, {"action": "role_normal", "scope": "selected", "ids": [stimuli[0].pk]})
    gold = Stimulus.objects.get(pk=stimuli[0].pk)
    assert gold.role == "normal" and gold.expected_scores == {}
    client.post(
        bulk, {"action": "exclude", "scope": "selected", "ids": [s.pk for s in stimuli[:2]]}
    )
    session = playlist_session_start(subject=SubjectFactory(study=study))
    shown = {entry["stimulus"] for entry in session.playlist}
    assert shown and not shown & {stimuli[0].pk, stimuli[1].pk}

    nothing = client.post(bulk, {"action": "exclude", "scope": "selected"}, follow=True)
    assert "Tick at least one stimulus" in nothing.content.decode()


def test_stimuli_page_queries_do_not_grow_with_the_page_size(
    client, study, django_assert_num_queries
):
    """PostgreSQL (CI): 25 rows or 200 rows, the page costs the same queries."""
    bulk_stimuli(study, 210)
    for stimulus in study.stimuli.order_by("id")[:30]:
        rate(stimulus, 1)
    # Rows sharing another's file name it ("same file as ...") without a query per row.
    first = study.stimuli.order_by("id").first()
    study.stimuli.filter(id__gt=first.pk + 100).update(same_file_as=first)
    client.force_login(study.owner)
    url = reverse("research:stimulus_list", args=[study.pk])
    client.get(url)  # the session and the user are loaded alike on every request
    with CaptureQueriesContext(connection) as small:
        assert len(ids_on(client.get(url, {"per_page": 25}).content.decode())) == 25
    assert len(small) <= 10
    # assertNumQueries: the bigger page issues exactly as many queries as the small one,
    # sorted by ratings too (the count then comes from one subquery, not one per row).
    with django_assert_num_queries(len(small)):
        page = client.get(url, {"per_page": 200}).content.decode()
    assert len(ids_on(page)) == 200
    assert page.count(f"same file as {first.original_name}") == 200 - 101
    with CaptureQueriesContext(connection) as sorted_small:
        client.get(url, {"per_page": 25, "sort": "-ratings"})
    with django_assert_num_queries(len(sorted_small)):
        client.get(url, {"per_page": 200, "sort": "-ratings"})


def test_subjects_page_searches_codes_filters_states_and_pages(client, study):
    for n in range(30):
        subject = SubjectFactory(study=study, label=f"P{n:02d}")
        if n % 3 == 0:
            RatingSessionFactory(subject=subject, playlist=[{}] * 4, cursor=1)
        elif n % 3 == 1:
            RatingSessionFactory(
                subject=subject, playlist=[{}] * 4, cursor=4, completion_code=f"PAY{n:02d}"
            )
            subject.session.completed_at = subject.created_at
            subject.session.save()
    client.force_login(study.owner)
    url = reverse("research:subject_list", args=[study.pk])
    found = client.get(url, {"q": "PAY13"}).content.decode()
    assert "P13" in found and "P12" not in found and "1–1 of 1" in found
    in_progress = client.get(url, {"state": "in_progress"}).content.decode()
    assert "In progress: 1 of 4 trials" in in_progress and "1–10 of 10" in in_progress
    page = client.get(url, {"per_page": 25, "page": 2, "sort": "-label"}).content.decode()
    assert "26–30 of 30" in page and "P04" in page and "P05" not in page


def test_api_lists_are_paged_searchable_and_documented(study):
    stimuli = bulk_stimuli(study, 30)
    rate(stimuli[0], 2)
    api = APIClient()
    api.force_login(study.owner)
    url = reverse("api:stimulus_list", args=[study.pk])
    body = api.get(url, {"page_size": 10, "page": 2}).json()
    assert body["count"] == 30 and len(body["results"]) == 10 and body["next"] and body["previous"]
    assert [r["id"] for r in body["results"]] == [s.pk for s in stimuli[10:20]]
    first = api.get(url, {"q": "fox number 0", "sort": "id"}).json()["results"][0]
    assert (
        first["id"] == stimuli[0].pk and first["rating_count"] == 2 and first["rated_trials"] == 2
    )
    assert api.get(url, {"page": 99}).status_code == 404

    schema = api.get(reverse("api-schema"), {"format": "json"}).json()
    (listed,) = [v["get"] for k, v in schema["paths"].items() if k.endswith("/stimuli/")]
    names = {p["name"] for p in listed["parameters"]}
    assert {"page", "page_size", "q", "generator", "role", "sort"} <= names
    assert "PaginatedStimulusOutputList" in str(listed["responses"]["200"])
