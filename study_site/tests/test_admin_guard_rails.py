"""The Django admin cannot forge or alter evidence, nor save objects only a service can make."""

import pytest
from django.urls import reverse

from annotation.models import ImportJob, Rating, RatingSession, Study
from annotation.tests.factories import RatingFactory
from benchmark.models import BenchmarkRun, BenchmarkSweep
from benchmark.tests.factories import BenchmarkRunFactory

pytestmark = pytest.mark.django_db


def test_ratings_are_view_only(admin_client):
    rating = RatingFactory(score=50.0)
    listing = admin_client.get(reverse("admin:annotation_rating_changelist"))
    assert listing.status_code == 200
    assert reverse("admin:annotation_rating_add") not in listing.content.decode()
    change = reverse("admin:annotation_rating_change", args=[rating.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(change, {"score": "99"}).status_code == 403
    assert admin_client.get(reverse("admin:annotation_rating_add")).status_code == 403
    delete = reverse("admin:annotation_rating_delete", args=[rating.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        reverse("admin:annotation_rating_changelist"),
        {"action": "delete_selected", "_selected_action": [rating.pk], "post": "yes"},
    )
    assert bulk.status_code == 200  # "no action selected": the action is not offered
    rating.refresh_from_db()
    assert rating.score == 50.0 and Rating.objects.count() == 1


def test_rating_sessions_are_view_only(admin_client):
    session = RatingFactory().session
    change = reverse("admin:annotation_ratingsession_change", args=[session.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    form = {"cursor": "0", "subject": session.subject_id, "completed_at_0": "2020-01-01"}
    assert admin_client.post(change, form).status_code == 403
    assert admin_client.get(reverse("admin:annotation_ratingsession_add")).status_code == 403
    delete = reverse("admin:annotation_ratingsession_delete", args=[session.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    session.refresh_from_db()
    assert session.subject_id == form["subject"] and RatingSession.objects.count() == 1


def test_a_subject_or_study_with_ratings_cannot_be_deleted_through_the_admin(admin_client):
    subject = RatingFactory().session.subject
    delete = reverse("admin:annotation_subject_delete", args=[subject.pk])
    page = admin_client.get(delete).content.decode()
    assert "have permission to delete the following types of objects" in page
    assert "<li>rating</li>" in page
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    study_delete = reverse("admin:annotation_study_delete", args=[subject.study_id])
    assert "Cannot delete study" in admin_client.get(study_delete).content.decode()
    admin_client.post(study_delete, {"post": "yes"})
    assert Study.objects.filter(pk=subject.study_id).exists() and Rating.objects.count() == 1


def test_import_jobs_cannot_be_added_or_edited_by_hand(admin_client):
    job = ImportJob.objects.create(status=ImportJob.Status.DONE)
    assert admin_client.get(reverse("admin:annotation_importjob_add")).status_code == 403
    assert admin_client.post(reverse("admin:annotation_importjob_add"), {}).status_code == 403
    change = reverse("admin:annotation_importjob_change", args=[job.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(change, {"status": "pending"}).status_code == 403
    assert list(ImportJob.objects.values_list("status", flat=True)) == ["done"]
    # Old jobs may still be tidied away.
    delete = reverse("admin:annotation_importjob_delete", args=[job.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not ImportJob.objects.exists()


def test_benchmark_runs_and_sweeps_cannot_be_added_in_the_admin(admin_client):
    run = BenchmarkRunFactory()
    for model in ("benchmarkrun", "benchmarksweep"):
        add = reverse(f"admin:benchmark_{model}_add")
        assert admin_client.get(add).status_code == 403
        assert admin_client.post(add, {"sweep": run.sweep_id, "backbone": "x"}).status_code == 403
        listing = admin_client.get(reverse(f"admin:benchmark_{model}_changelist"))
        assert listing.status_code == 200 and add not in listing.content.decode()
    assert BenchmarkRun.objects.count() == 1 and BenchmarkSweep.objects.count() == 1
