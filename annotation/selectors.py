"""Reads of the annotation domain, shaped for the pages and APIs that need them."""

from django.db.models import Count, Q, QuerySet

from annotation.models import Rating, Study


def study_list_for_user(*, user) -> QuerySet[Study]:
    """Researchers see their own studies; admins (superusers) see all."""
    studies = Study.objects.all()
    if not user.is_superuser:
        studies = studies.filter(owner=user)
    return studies.annotate(
        stimulus_count=Count("stimuli", distinct=True),
        subject_count=Count("subjects", distinct=True),
        completed_count=Count(
            "subjects", filter=Q(subjects__session__completed_at__isnull=False), distinct=True
        ),
    ).order_by("-created_at")


def ratings_long_format(*, study: Study) -> QuerySet:
    """One row per rating, in the column names the analysis library reads."""
    return (
        Rating.objects.filter(session__subject__study=study, is_training=False)
        .values_list(
            "stimulus_id",
            "session__subject__label",
            "dimension__key",
            "score",
            "is_repeat",
            "session_id",
            "response_time_ms",
            "stimulus__generator",
        )
        .order_by("id")
    )


RATINGS_COLUMNS = (
    "stimulus",
    "subject",
    "dimension",
    "score",
    "repeat",
    "session",
    "response_time_ms",
    "generator",
)
