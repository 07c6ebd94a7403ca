"""The study form (sections, help, a dimension formset with presets), preview as subject,
the one studies page with its navigation and empty state, the 403 page, and the small
things: import summaries, full sha256 and the freeze warning below the target."""

import logging

import pytest
from django.urls import reverse

from annotation.models import ImportJob, Rating, RatingSession, Study, Subject
from annotation.services.releases import release_freeze
from annotation.tests.factories import (
    AdminFactory,
    DimensionFactory,
    ResearcherFactory,
    StimulusFactory,
    StudyFactory,
    rated_study_create,
)

pytestmark = pytest.mark.django_db

STUDY_FIELDS = {
    "name": "Three at once",
    "description": "",
    "consent_text": "",
    "instructions": "",
    "scale_type": "continuous",
    "scale_min": "0",
    "scale_max": "100",
    "scale_step": "0",
    "scale_labels_text": "Bad\nExcellent",
    "target_ratings_per_stimulus": "15",
    "session_size": "100",
    "break_interval": "50",
    "repeats_per_session": "0",
    "gold_per_session": "0",
    "language": "en",
    "surround_grey": "128",
    "too_fast_ms": "1000",
}


def dimension_rows(rows: list[dict], initial: int = 0) -> dict:
    """The formset's POST data: one dict per row (key, label, question, ORDER, DELETE)."""
    data = {
        "dim-TOTAL_FORMS": str(len(rows)),
        "dim-INITIAL_FORMS": str(initial),
        "dim-MIN_NUM_FORMS": "0",
        "dim-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for name, value in row.items():
            if name == "DELETE" and not value:
                continue
            data[f"dim-{index}-{name}"] = "on" if value is True else str(value)
    return data


def row(key: str, order: int | str = "", delete: bool = False) -> dict:
    return {
        "key": key,
        "label": key.title(),
        "question": f"How much {key}?",
        "anchor_text": "",
        "ORDER": order,
        "DELETE": delete,
    }


@pytest.fixture
def researcher_client(client):
    researcher = ResearcherFactory()
    client.force_login(researcher)
    client.researcher = researcher
    return client


def test_a_three_dimension_study_is_made_in_one_post_in_the_chosen_order(researcher_client):
    rows = [row("quality", 3), row("authenticity", 1), row("noise", 2, delete=True)]
    rows.append(row("correspondence", 2))
    data = STUDY_FIELDS | dimension_rows(rows)
    response = researcher_client.post(reverse("research:study_new"), data)
    assert response.status_code == 302, response.context["form"].errors
    study = Study.objects.get(name="Three at once")
    keys = list(study.dimensions.order_by("order").values_list("key", flat=True))
    assert keys == ["authenticity", "correspondence", "quality"]
    assert study.owner == researcher_client.researcher
    assert study.scale_labels == ["Bad", "Excellent"]


def test_the_new_study_form_starts_from_a_preset_and_explains_step_zero(researcher_client):
    page = researcher_client.get(reverse("research:study_new")).content.decode()
    for key in ("quality", "authenticity", "correspondence"):
        assert f'value="{key}"' in page
    assert "0 means a continuous slider" in page
    assert "<table" not in page  # sections of labelled fields, not as_table
    page = researcher_client.get(reverse("research:study_new") + "?preset=aigiqa-20k")
    content = page.content.decode()
    assert 'value="quality"' in content and 'value="authenticity"' not in content


def test_repeated_keys_and_no_dimension_are_refused_with_a_sentence(researcher_client):
    data = STUDY_FIELDS | dimension_rows([row("quality", 1), row("quality", 2)])
    response = researcher_client.post(reverse("research:study_new"), data)
    assert response.status_code == 200
    assert "Each dimension needs its own key; repeated: quality." in response.content.decode()
    data = STUDY_FIELDS | dimension_rows([row("quality", 1, delete=True)])
    response = researcher_client.post(reverse("research:study_new"), data)
    assert "A study needs at least one dimension to rate." in response.content.decode()
    assert not Study.objects.exists()


def test_editing_keeps_rated_dimensions_and_reorders_them(researcher_client):
    study = StudyFactory(owner=researcher_client.researcher)
    DimensionFactory(study=study, key="quality", order=0)
    DimensionFactory(study=study, key="authenticity", order=1)
    rows = [row("quality", 2), row("authenticity", 1)]
    data = STUDY_FIELDS | {"name": study.name} | dimension_rows(rows, initial=2)
    response = researcher_client.post(reverse("research:study_edit", args=[study.pk]), data)
    assert response.status_code == 302
    keys = list(study.dimensions.order_by("order").values_list("key", flat=True))
    assert keys == ["authenticity", "quality"]


def test_preview_renders_the_subject_trial_page_and_writes_nothing(researcher_client):
    study = StudyFactory(owner=researcher_client.researcher)
    DimensionFactory(study=study, key="quality")
    first, second = StimulusFactory(study=study), StimulusFactory(study=study)
    response = researcher_client.get(reverse("research:study_preview", args=[study.pk]))
    assert response.status_code == 200
    assert "annotation/subject/trial.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "Preview as subject" in page and 'id="rating-form"' in page
    assert reverse("research:stimulus_image", args=[study.pk, first.pk]) in page
    assert reverse("research:study_preview_stimulus", args=[study.pk, second.pk]) in page
    assert response.context["trial_data"]["preview"]
    image = researcher_client.get(reverse("research:stimulus_image", args=[study.pk, first.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert not Subject.objects.exists() and not RatingSession.objects.exists()
    assert not Rating.objects.exists()


def test_preview_of_someone_elses_study_or_stimulus_is_a_404(researcher_client):
    theirs = StimulusFactory()
    mine = StudyFactory(owner=researcher_client.researcher)
    for url in (
        reverse("research:study_preview", args=[theirs.study_id]),
        reverse("research:study_preview_stimulus", args=[mine.pk, theirs.pk]),
        reverse("research:stimulus_image", args=[theirs.study_id, theirs.pk]),
    ):
        assert researcher_client.get(url).status_code == 404, url


def test_preview_without_images_points_to_the_import(researcher_client):
    study = StudyFactory(owner=researcher_client.researcher)
    page = researcher_client.get(reverse("research:study_preview", args=[study.pk]))
    assert reverse("research:study_import", args=[study.pk]) in page.content.decode()


def test_one_studies_page_with_benchmarks_in_the_top_bar_for_admins_only(client):
    client.force_login(ResearcherFactory())
    home = client.get(reverse("home"))
    assert home.templates[0].name == "annotation/research/study_list.html"
    assert client.get(reverse("research:study_list")).templates[0].name == home.templates[0].name
    home = home.content.decode()
    assert home.count(">Studies</a>") == 1 and 'class="current"' in home
    assert reverse("benchmark:sweep_list") not in home
    assert reverse("admin:index") not in home  # a researcher has nothing to do there
    client.force_login(AdminFactory())
    page = client.get(reverse("benchmark:sweep_list")).content.decode()
    assert f'<a href="{reverse("benchmark:sweep_list")}" class="current"' in page
    assert reverse("admin:index") in page


def test_the_empty_studies_page_links_to_the_study_form_not_the_admin(researcher_client):
    page = researcher_client.get(reverse("home")).content.decode()
    assert reverse("research:study_new") in page
    assert "in the admin" not in page and "/admin/annotation" not in page


def test_a_researcher_on_a_benchmark_page_reads_why_and_the_log_has_no_traceback(client, caplog):
    client.force_login(ResearcherFactory())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("benchmark:sweep_list"))
    assert response.status_code == 403
    assert "Benchmark retrains (training models on a label release) are for admins" in (
        response.content.decode()
    )
    assert [r for r in caplog.records if r.exc_info] == []


def test_a_finished_import_says_what_it_imported_and_shows_no_empty_error_table(
    researcher_client,
):
    study = StudyFactory(owner=researcher_client.researcher)
    StimulusFactory.create_batch(3, study=study)
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.MANIFEST,
        study=study,
        created_by=researcher_client.researcher,
        status=ImportJob.Status.DONE,
        result={"created": 3, "study": study.pk, "release": None},
    )
    page = researcher_client.get(reverse("research:import_job", args=[job.pk])).content.decode()
    assert f"Imported 3 images into {study.name}." in page
    assert "<table" not in page
    data = researcher_client.get(reverse("research:import_job", args=[job.pk]), {"format": "json"})
    assert data.json()["status_display"] == "Done"


def test_releases_show_the_full_sha256_and_freezing_below_target_warns(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    study = rated_study_create(subjects=3, stimuli=4)  # target 15 per stimulus, 3 rated
    client.force_login(study.owner)
    url = reverse("research:release_list", args=[study.pk])
    page = client.get(url).content.decode()
    assert "4 of 4 stimuli have been rated in fewer than 15 trials" in page
    release = release_freeze(study=study, options={}, created_by=study.owner)
    page = client.get(url).content.decode()
    assert f'<code class="sha">{release.mos_sha256}</code>' in page
    assert f'data-copy="{release.mos_sha256}"' in page
